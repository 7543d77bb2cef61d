"""The job's entry point: main() parses its arguments with the contract, locally and as Glue starts it."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession

from esteira_contracts import SettingsError
from esteira_contracts.extraction import ExtractionJobArgs
from esteira_extract.job import main
from tests.glue_jobs.conftest import DEMO_SPEC, READER_PASSWORD, TEST_CA_BUNDLE, AwsEndpoint, PostgresServer

# ------------------------------------------------------------------------------ entry points


def test_given_argparse_args_and_s3_state_when_main_runs_locally_then_it_extracts_end_to_end(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, small_db: str, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="esteira-test")
    s3.put_object(Bucket="esteira-test", Key="specs/employees.json", Body=DEMO_SPEC.read_bytes())
    argv = [
        "extract_job.py",
        "--spec_uri", "s3://esteira-test/specs/employees.json",
        "--secret_id", aws.secret_id,
        "--jdbc_url", postgres.jdbc_url(small_db),
        "--tls_ca_bundle", str(TEST_CA_BUNDLE),
        "--raw_uri", str(tmp_path / "raw"),
        "--curated_uri", f"file://{tmp_path}/curated/",
        "--quarantine_uri", str(tmp_path / "quarantine"),
        "--state_uri", "s3://esteira-test/state/employees/watermark.json",
        "--run_date", "2025-07-02",
    ]  # fmt: skip

    manifest = main(argv)

    assert manifest["rows_read"] == 300
    assert manifest["run_id"].startswith("local-")
    state = json.loads(s3.get_object(Bucket="esteira-test", Key="state/employees/watermark.json")["Body"].read())
    assert state["watermark"]["value"] == manifest["watermark"]["to"]
    assert (tmp_path / "curated" / "_manifests" / "latest.json").exists()
    assert spark.read.parquet(str(tmp_path / "curated" / "dt=2025-07-02")).count() == manifest["rows_written"]
    assert all(READER_PASSWORD not in a for a in argv)


def test_given_glue_style_args_when_settings_built_then_job_run_id_and_defaults_apply() -> None:
    args = {
        "spec_uri": "s3://b-1/s.json",
        "secret_id": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "jdbc_url": "jdbc:postgresql://db:5432/hr",
        "raw_uri": "s3://raw/x/",
        "curated_uri": "s3://cur/x/",
        "quarantine_uri": "s3://cur/q/",
        "state_uri": "s3://cur/state/x.json",
        "JOB_RUN_ID": "jr_abc123",
    }

    settings = ExtractionJobArgs.from_args(args).resolved()

    assert settings.run_id == "jr_abc123"
    assert settings.run_day == datetime.now(UTC).date()
    with pytest.raises(SettingsError, match="state_uri is required"):
        ExtractionJobArgs.from_args({k: v for k, v in args.items() if k != "state_uri"})
    with pytest.raises(SettingsError, match="run_date"):
        ExtractionJobArgs.from_args({**args, "run_date": "01/07/2025"})
    sqlite = ExtractionJobArgs.from_args({**args, "secret_id": None, "jdbc_url": "jdbc:sqlite:/tmp/hr.db"})
    assert sqlite.secret_id is None
    with pytest.raises(SettingsError, match="secret_id"):
        ExtractionJobArgs.from_args({**args, "secret_id": None})
    with pytest.raises(SettingsError, match="must not carry credentials"):
        ExtractionJobArgs.from_args({**args, "jdbc_url": "jdbc:postgresql://db/hr?user=a&password=b"})


def test_given_missing_and_bad_arguments_when_main_starts_then_it_exits_naming_each(tmp_path: Path) -> None:
    # GIVEN a local command line without most arguments and with a run id that would escape its folder
    argv = ["extract_job.py", "--spec_uri", str(DEMO_SPEC), "--raw_uri", str(tmp_path), "--run_id", "../x"]

    # WHEN main() parses it THEN it exits before starting Spark, with one message naming every bad argument
    with pytest.raises(SystemExit) as info:
        main(argv)
    message = str(info.value.code)
    assert message.startswith("extract_job: extraction job settings: ")
    for name in ("jdbc_url", "curated_uri", "quarantine_uri", "state_uri", "run_id"):
        assert name in message


# ------------------------------------------------------------------------------ Glue entry path

FAKE_AWSGLUE = {
    "__init__.py": "",
    "utils.py": """
import argparse


def getResolvedOptions(args, options):  # noqa: N802 - mirrors the Glue API: only asked-for options
    parser = argparse.ArgumentParser()
    for name in options:
        parser.add_argument("--" + name, required=True)
    known, _ = parser.parse_known_args(args[1:])
    return vars(known)
""",
    "context.py": """
from pyspark.sql import SparkSession


class GlueContext:
    def __init__(self, sc):
        self.spark_session = SparkSession.builder.getOrCreate()
""",
}


def test_given_the_glue_runtime_when_main_runs_then_resolved_options_and_job_run_id_are_used(
    spark: SparkSession,
    postgres: PostgresServer,
    aws: AwsEndpoint,
    small_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a stand-in for Glue's awsglue library (not installable outside Glue) on sys.path
    pkg = tmp_path / "fake_glue" / "awsglue"
    pkg.mkdir(parents=True)
    for name, text in FAKE_AWSGLUE.items():
        (pkg / name).write_text(text)
    monkeypatch.syspath_prepend(str(pkg.parent))
    for mod in [m for m in sys.modules if m.startswith("awsglue")]:
        monkeypatch.delitem(sys.modules, mod)
    argv = [
        "extract_job.py",
        "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_0123abcd", "--JOB_NAME", "esteira-extract",
        "--TempDir", "s3://tmp/", "--job-bookmark-option", "job-bookmark-disable",
        "--spec_uri", str(DEMO_SPEC),
        "--secret_id", aws.secret_id,
        "--jdbc_url", postgres.jdbc_url(small_db),
        "--tls_ca_bundle", str(TEST_CA_BUNDLE),
        "--raw_uri", str(tmp_path / "raw"),
        "--curated_uri", str(tmp_path / "curated"),
        "--quarantine_uri", str(tmp_path / "quarantine"),
        "--state_uri", str(tmp_path / "state.json"),
    ]  # fmt: skip

    # WHEN main() runs as Glue would start it
    try:
        manifest = main(argv)
    finally:
        for mod in [m for m in sys.modules if m.startswith("awsglue")]:
            del sys.modules[mod]

    # THEN the Glue run id names the run and today's UTC date is the partition
    assert manifest["run_id"] == "jr_0123abcd"
    assert manifest["run_date"] == datetime.now(UTC).date().isoformat()
    assert manifest["rows_read"] == 300
    assert (tmp_path / "curated" / f"dt={manifest['run_date']}" / "run_id=jr_0123abcd").is_dir()
