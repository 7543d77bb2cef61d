"""The local transform stage launches through the batch launcher's own ``launch()`` on moto (server mode, over HTTP):
the run it scores is the launcher's choice, and a run the package must not score fails the stage as the launcher
Lambda fails on AWS, before any model or transform job exists."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from batch.launcher.dataset_run import NoBatchInputError
from esteira_contracts import layout
from esteira_contracts.batch import LauncherSettings, feature_schema_digest
from pipeline import aws, settings
from pipeline.report import StageFailedError
from pipeline.stages.transform import _served_scores, keep_predictions, launch_locally
from stacks.config import load_config
from tests.servers import module_server

SPEC = "employees"
FEATURES = ["idade", "salario", "tempo_de_casa"]
OLDER_RUN = "esteira-local-20261205-080000-aaa111"
RUN = "esteira-local-20261206-080000-bbb222"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture
def session(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh local AWS (moto's state reset): the run's buckets and package group, as the aws stage makes them."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    for name, value in aws.local_aws_environment(endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    local = boto3.session.Session()
    for bucket in (aws.ARTIFACTS_BUCKET, aws.PREDICTIONS_BUCKET):
        local.client("s3").create_bucket(Bucket=bucket)
    local.client("sagemaker").create_model_package_group(ModelPackageGroupName=aws.MODEL_PACKAGE_GROUP)
    return local


@pytest.fixture
def launcher() -> LauncherSettings:
    return settings.launcher_settings(load_config("dev"))


def dataset_run(lake: Path, run_id: str, rows: str = "7,30,5000.0,2\n", features: list[str] = FEATURES) -> Path:
    """A dataset run as the dataset job leaves it in the local lake: its manifest and its batch input's CSV part."""
    run_dir = lake / "datasets" / f"run_id={run_id}"
    batch_input = lake / "batch-input" / f"run_id={run_id}"
    run_dir.mkdir(parents=True)
    batch_input.mkdir(parents=True)
    (batch_input / "part-00000.csv").write_text(rows)
    manifest = {"status": "ok", "spec_name": SPEC, "features": features, "outputs": {"batch_input": str(batch_input)}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def register(session: Any, run_id: str, features: list[str] = FEATURES, **lineage: str) -> str:
    """A package with the lineage the local evaluate stage records (as the state machine's Register does)."""
    metadata = {
        "lineage.dataset": f"s3://{aws.ARTIFACTS_BUCKET}/datasets/run_id={run_id}/",
        "lineage.spec": SPEC,
        "lineage.feature_schema": feature_schema_digest(features),
        "metric.auc": "0.9",
    } | {f"lineage.{key}": value for key, value in lineage.items()}
    metadata = {key: value for key, value in metadata.items() if value}
    return aws.create_package(session.client("sagemaker"), "esteira-model:local", "s3://b/model.tar.gz", metadata)


def transform_jobs(session: Any) -> list[str]:
    summaries = session.client("sagemaker").list_transform_jobs()["TransformJobSummaries"]
    return [job["TransformJobName"] for job in summaries]


def test_the_registered_package_scores_this_runs_input_through_the_launchers_transform_job(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN this run's dataset run on disk and the package it just registered
    run_dir = dataset_run(tmp_path, RUN)
    arn = register(session, RUN)
    # WHEN the stage launches as the state machine's ScoreBatch does
    launched = launch_locally(session, launcher, {"input_run_id": RUN, "model_package_arn": arn}, [run_dir, run_dir])
    # THEN the launcher chose the named run and created the transform job over its batch input
    assert (launched["input_rule"], launched["input_run_id"], launched["source"]) == ("named", RUN, "registered")
    assert launched["input_uri"] == f"s3://{aws.PREDICTIONS_BUCKET}/batch-input/run_id={RUN}/"
    assert launched["output_uri"] == f"s3://{aws.PREDICTIONS_BUCKET}/batch-output/{launched['run_id']}/"
    job = session.client("sagemaker").describe_transform_job(TransformJobName=launched["transform_job_name"])
    assert job["ModelName"] == launched["model_name"]
    # AND the run's manifest is where the launcher reads it on AWS
    manifest_key = layout.run_prefix(layout.DATASETS_PREFIX, RUN) + "manifest.json"
    body = session.client("s3").get_object(Bucket=aws.ARTIFACTS_BUCKET, Key=manifest_key)["Body"].read()
    assert json.loads(body)["features"] == FEATURES


def test_without_a_registration_the_served_package_scores_its_own_run(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN a champion trained on an older run, and this run's data (its candidate was rejected)
    older, current = dataset_run(tmp_path, OLDER_RUN), dataset_run(tmp_path, RUN)
    register(session, OLDER_RUN)
    # WHEN the stage launches as the batch schedule does (no event)
    launched = launch_locally(session, launcher, {}, [current, older])
    # THEN the launcher scores the package's own run, with the newest Approved package
    assert (launched["input_rule"], launched["input_run_id"], launched["source"]) == (
        "package-run",
        OLDER_RUN,
        "latest-approved",
    )


def test_a_run_of_another_feature_schema_fails_the_stage_before_any_transform_job(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN this run's rows made with one feature fewer than the package was trained on
    run_dir = dataset_run(tmp_path, RUN, rows="7,30,5000.0\n", features=FEATURES[:2])
    arn = register(session, OLDER_RUN)
    # WHEN the stage launches this run with that package
    with pytest.raises(StageFailedError, match=r"BatchInputMismatchError: dataset run .* feature schema") as raised:
        launch_locally(session, launcher, {"input_run_id": RUN}, [run_dir])
    # THEN it fails as the launcher does on AWS, naming the package, and no transform job was created
    assert arn in str(raised.value)
    assert transform_jobs(session) == []


def test_a_run_of_another_spec_fails_the_stage(session: Any, launcher: LauncherSettings, tmp_path: Path) -> None:
    run_dir = dataset_run(tmp_path, RUN)
    register(session, RUN, spec="apartment_rents")
    with pytest.raises(StageFailedError, match=r"spec 'employees', the package's is 'apartment_rents'"):
        launch_locally(session, launcher, {"input_run_id": RUN}, [run_dir])
    assert transform_jobs(session) == []


def test_a_package_registered_without_spec_and_schema_is_refused(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN a package from before the lineage recorded its spec and feature schema
    run_dir = dataset_run(tmp_path, RUN)
    register(session, RUN, spec="", feature_schema="")
    # WHEN the stage launches THEN the launcher's own error names the missing metadata
    with pytest.raises(StageFailedError, match=r"PackageLineageError: .* records no lineage.spec, lineage.feature_sch"):
        launch_locally(session, launcher, {}, [run_dir])


def test_a_run_with_no_rows_to_score_is_refused_not_transformed(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    run_dir = dataset_run(tmp_path, RUN, rows="")
    arn = register(session, RUN)
    with pytest.raises(NoBatchInputError, match=r"holds no rows to score"):
        launch_locally(session, launcher, {"input_run_id": RUN, "model_package_arn": arn}, [run_dir])
    assert transform_jobs(session) == []


def test_the_runs_predictions_and_scoring_record_are_kept_in_the_lake_in_the_buckets_layout(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN a launched transform run (the launcher wrote its scoring record) whose job wrote its .out file, and an
    # object under the prefix that is no prediction
    run_dir = dataset_run(tmp_path, RUN)
    arn = register(session, RUN)
    launched = launch_locally(session, launcher, {"input_run_id": RUN, "model_package_arn": arn}, [run_dir])
    s3 = session.client("s3")
    prefix = f"{layout.BATCH_OUTPUT_PREFIX}{launched['run_id']}/"
    s3.put_object(Bucket=launcher.bucket, Key=f"{prefix}part-00000.csv.out", Body=b"F0000007,1,0.91\n")
    s3.put_object(Bucket=launcher.bucket, Key=f"{prefix}nested/other.out", Body=b"x")
    s3.put_object(Bucket=launcher.bucket, Key=f"{prefix}notes.txt", Body=b"x")
    lake = tmp_path / "lake"
    # WHEN the stage keeps the run's predictions (the local S3 lives one run)
    kept = keep_predictions(s3, launcher.bucket, prefix, lake)
    # THEN the .out file and the scoring record are on disk under the same keys as in the predictions bucket
    folder = lake / "batch-output" / launched["run_id"]
    assert kept == {"folder": str(folder), "objects": 2}
    assert sorted(p.name for p in folder.iterdir()) == [layout.SCORING_RECORD_FILENAME, "part-00000.csv.out"]
    assert (folder / "part-00000.csv.out").read_text() == "F0000007,1,0.91\n"
    record = json.loads((folder / layout.SCORING_RECORD_FILENAME).read_text())
    assert (record["run_id"], record["model_package_arn"], record["input_run_id"]) == (launched["run_id"], arn, RUN)


def test_the_served_scores_are_read_from_the_out_objects_beside_the_scoring_record(
    session: Any, launcher: LauncherSettings, tmp_path: Path
) -> None:
    # GIVEN a launch (its scoring record is in the run's output folder) and one output object
    run_dir = dataset_run(tmp_path, RUN)
    arn = register(session, RUN)
    launched = launch_locally(session, launcher, {"input_run_id": RUN, "model_package_arn": arn}, [run_dir])
    prefix = f"batch-output/{launched['run_id']}/"
    s3 = session.client("s3")
    s3.put_object(Bucket=aws.PREDICTIONS_BUCKET, Key=f"{prefix}part-00000.csv.out", Body=b"7,1,0.75\n8,0,0.25\n")
    # WHEN the report's score distribution is read
    scores = _served_scores(s3, aws.PREDICTIONS_BUCKET, prefix)
    # THEN only the .out lines count
    assert s3.head_object(Bucket=aws.PREDICTIONS_BUCKET, Key=f"{prefix}{layout.SCORING_RECORD_FILENAME}")
    assert scores == [0.75, 0.25]
