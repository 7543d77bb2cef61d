"""End-to-end runs of the extraction job against a real PostgreSQL (and SQLite) server, with
credentials from a moto Secrets Manager, writing to local folders (and S3 state via moto)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyspark.sql import DataFrame, SparkSession

from esteira_contracts.extraction import ExtractionJobArgs
from esteira_extract import demo_data
from esteira_extract.jdbc import JdbcSource, incremental_sql, read_bounds, read_source
from esteira_extract.job import MIN_ROWS_PER_OUTPUT_FILE, ROWS_PER_OUTPUT_FILE, output_files, run
from esteira_extract.secrets import SecretError, get_db_credentials
from esteira_extract.spec import load_spec
from esteira_extract.transforms import SPARK_TYPES
from esteira_extract.watermark import Watermark
from tests.glue_jobs.conftest import DEMO_SPEC, READER_PASSWORD, TEST_CA_BUNDLE, AwsEndpoint, PostgresServer

N_ROWS = 1500
SEED = 7
RUN_DATE = date(2025, 7, 1)
LATER = datetime(2025, 7, 1)  # demo rows are updated before this; rows "created later" start here


def make_settings(base: Path, jdbc_url: str, secret_id: str, run_id: str, **overrides: Any) -> ExtractionJobArgs:
    values: dict[str, Any] = {
        "spec_uri": str(DEMO_SPEC),
        "secret_id": secret_id or None,
        "jdbc_url": jdbc_url,
        "raw_uri": str(base / "raw"),
        "curated_uri": str(base / "curated"),
        "quarantine_uri": str(base / "quarantine"),
        "state_uri": str(base / "state" / "watermark.json"),
        "run_date": RUN_DATE.isoformat(),
        "run_id": run_id,
        # The test server speaks TLS only, with a certificate from the test CA.
        "tls_ca_bundle": str(TEST_CA_BUNDLE),
    }
    values.update(overrides)
    return ExtractionJobArgs(**values)


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def parquet(spark: SparkSession, path: str | Path) -> DataFrame:
    return spark.read.parquet(str(path))


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


@dataclass(frozen=True)
class FirstRun:
    settings: ExtractionJobArgs
    manifest: dict[str, Any]
    base: Path
    db: str
    logs: list[str]


@pytest.fixture(scope="module")
def first_run(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FirstRun]:
    """GIVEN a demo database with N_ROWS employees WHEN the job runs for the first time."""
    db = postgres.create_database()
    with postgres.connect(db) as conn:
        demo_data.load_postgres(conn, N_ROWS, seed=SEED)
    base = tmp_path_factory.mktemp("first-run")
    settings = make_settings(base, postgres.jdbc_url(db), aws.secret_id, "run-1")
    handler = ListHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        manifest = run(spark, settings)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    yield FirstRun(settings=settings, manifest=manifest, base=base, db=db, logs=handler.messages)


# ------------------------------------------------------------------------------ first full run


def test_then_curated_rows_join_funcionarios_with_pessoas_fisicas(
    spark: SparkSession, first_run: FirstRun, postgres: PostgresServer
) -> None:
    curated = parquet(spark, first_run.manifest["outputs"]["curated"])
    with postgres.connect(first_run.db) as conn:
        expected = conn.execute(
            "SELECT f.matricula, f.cargo, p.sexo, p.estado_civil FROM funcionarios f "
            "JOIN pessoas_fisicas p ON p.id = f.pessoa_fisica_id WHERE f.id = 42"
        ).fetchone()
    assert expected is not None
    got = curated.where("funcionario_id = 42").collect()

    assert len(got) == 1
    row = got[0]
    assert (row["matricula"], row["cargo"]) == (expected[0], expected[1])
    assert row["masculino"] == (1 if (expected[2] or "").strip().upper() == "M" else 0)
    assert row["estado_civil"] == (expected[3] or "nao_informado")


def test_then_curated_schema_equals_output_columns_exactly(spark: SparkSession, first_run: FirstRun) -> None:
    spec = load_spec(str(DEMO_SPEC))
    curated = parquet(spark, first_run.manifest["outputs"]["curated"])

    assert [(f.name, f.dataType) for f in curated.schema] == [
        (c.name, SPARK_TYPES[c.type]) for c in spec.output_columns
    ]
    assert first_run.manifest["output_schema"] == [{"name": c.name, "type": c.type} for c in spec.output_columns]


def test_then_reading_the_table_root_yields_dt_and_run_id_partitions(spark: SparkSession, first_run: FirstRun) -> None:
    table = parquet(spark, first_run.settings.curated_uri)

    assert table.columns[-2:] == ["dt", "run_id"]
    assert {(str(r["dt"]), r["run_id"]) for r in table.select("dt", "run_id").distinct().collect()} == {
        ("2025-07-01", "run-1")
    }


def test_then_counts_reconcile_and_every_bad_row_is_quarantined_with_a_reason(
    spark: SparkSession, first_run: FirstRun
) -> None:
    m = first_run.manifest
    quarantine = parquet(spark, m["outputs"]["quarantine"])
    by_reason = {r["quarantine_reason"]: r["count"] for r in quarantine.groupBy("quarantine_reason").count().collect()}
    raw_count = parquet(spark, m["outputs"]["raw"]).count()
    curated_count = parquet(spark, m["outputs"]["curated"]).count()
    bad = [r for r in demo_data.generate(N_ROWS, seed=SEED) if r.field("matricula") is None]

    assert m["rows_read"] == raw_count == N_ROWS
    assert m["rows_written"] == curated_count
    assert m["rows_read"] == m["rows_written"] + m["rows_quarantined"]
    assert m["rows_quarantined_by_reason"] == by_reason
    assert by_reason["null_key"] == len(bad)
    keys = Counter(r.field("matricula") for r in demo_data.generate(N_ROWS, seed=SEED))
    assert by_reason["duplicate_key"] == sum(n - 1 for k, n in keys.items() if k is not None) > 0
    assert {"out_of_range:salario", "out_of_range:idade_na_admissao", "unparseable_date:data_nascimento"} <= set(
        by_reason
    )
    assert set(quarantine.columns) >= {"matricula", "data_nascimento", "quarantine_reason", "quarantine_run_id"}
    junk = quarantine.where("quarantine_reason = 'unparseable_date:data_nascimento'").first()
    assert junk is not None and junk["data_nascimento"] in {"desconhecido", "31/02/1990", "1990-13-01", "00/00/0000"}


def test_then_the_manifest_describes_the_run(first_run: FirstRun) -> None:
    m = first_run.manifest
    dated = Path(first_run.settings.curated_uri) / "_manifests" / "dt=2025-07-01" / "run-1.json"
    latest = Path(first_run.settings.curated_uri) / "_manifests" / "latest.json"

    assert read_json(dated) == read_json(latest) == json.loads(json.dumps(m))
    assert m["spec_name"] == "employees"
    assert (m["run_id"], m["run_date"]) == ("run-1", "2025-07-01")
    assert m["watermark"]["from"] is None
    assert m["watermark"]["column"] == "atualizado_em"
    assert m["watermark"]["type"] == "timestamp"
    max_ts = max(r.atualizado_em for r in demo_data.generate(N_ROWS, seed=SEED))
    assert m["watermark"]["to"] == max_ts.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert m["label_column"] == "desligado_em_12_meses"
    assert m["source_partitions"] == 4
    assert m["outputs"]["curated"].endswith("curated/dt=2025-07-01/run_id=run-1")
    assert m["outputs"]["raw"].endswith("raw/dt=2025-07-01/run_id=run-1")


def test_then_the_watermark_state_records_the_max_read(first_run: FirstRun) -> None:
    state = read_json(Path(first_run.settings.state_uri))

    assert state["watermark"]["value"] == first_run.manifest["watermark"]["to"]
    assert state["run_id"] == "run-1"
    assert state["manifest_uri"].endswith("_manifests/dt=2025-07-01/run-1.json")


def test_then_raw_keeps_rows_exactly_as_read(spark: SparkSession, first_run: FirstRun) -> None:
    raw = parquet(spark, first_run.manifest["outputs"]["raw"])
    spec = load_spec(str(DEMO_SPEC))

    assert raw.columns == [c.name for c in spec.source.columns]
    junk_flags = raw.where("possui_filhos IS NULL OR possui_filhos NOT IN ('S', 'N')").count()
    assert junk_flags > 0  # cleaning happened downstream, not in raw


def test_then_the_label_is_derived_from_dismissal_within_a_year(spark: SparkSession, first_run: FirstRun) -> None:
    curated = parquet(spark, first_run.manifest["outputs"]["curated"])
    by_id = {r["funcionario_id"]: r["desligado_em_12_meses"] for r in curated.collect()}
    expected = {rec.field("id"): rec.desligado_em_12_meses for rec in demo_data.generate(N_ROWS, seed=SEED)}

    assert by_id == {k: v for k, v in expected.items() if k in by_id}
    assert 0.1 < sum(by_id.values()) / len(by_id) < 0.4


def test_then_credentials_never_reach_logs_args_or_outputs(
    spark: SparkSession, first_run: FirstRun, aws: AwsEndpoint, postgres: PostgresServer
) -> None:
    spec = load_spec(str(DEMO_SPEC))
    creds = get_db_credentials(aws.secret_id)
    source = JdbcSource(postgres.jdbc_url(first_run.db), creds.username, creds.password, ca_bundle=str(TEST_CA_BUNDLE))
    df = read_source(spark, source, spec, None)
    files = [p.read_text() for p in first_run.base.rglob("*.json")]

    assert first_run.logs, "the run logged nothing"
    assert creds.password == READER_PASSWORD
    assert all(READER_PASSWORD not in m for m in first_run.logs)
    assert READER_PASSWORD not in repr(first_run.settings) + repr(creds)
    assert all(READER_PASSWORD not in text for text in files)
    assert READER_PASSWORD not in df._jdf.queryExecution().toString()
    assert "password" not in {f.name.lower() for f in ExtractionJobArgs.__dataclass_fields__.values()}


# ------------------------------------------------------------------------------ parallel read


@pytest.fixture
def demo_source(first_run: FirstRun, postgres: PostgresServer, aws: AwsEndpoint) -> JdbcSource:
    """The first run's PostgreSQL database as the job reads it: the secret's reader, TLS against the test CA."""
    creds = get_db_credentials(aws.secret_id)
    return JdbcSource(postgres.jdbc_url(first_run.db), creds.username, creds.password, ca_bundle=str(TEST_CA_BUNDLE))


def test_given_num_partitions_when_reading_then_the_dataframe_has_that_many_partitions(
    spark: SparkSession, demo_source: JdbcSource
) -> None:
    spec = load_spec(str(DEMO_SPEC))
    wm = Watermark("atualizado_em", "2025-01-01 00:00:00.000000", "timestamp")

    full = read_source(spark, demo_source, spec, None)
    incremental = read_source(spark, demo_source, spec, wm)
    single = read_source(spark, demo_source, replace(spec, num_partitions=1), None)

    assert full.rdd.getNumPartitions() == 4
    assert full.count() == N_ROWS
    assert incremental.rdd.getNumPartitions() == 4
    assert incremental.count() == sum(
        r.atualizado_em > datetime(2025, 1, 1) for r in demo_data.generate(N_ROWS, seed=SEED)
    )
    assert single.rdd.getNumPartitions() == 1


def test_given_a_window_past_every_row_when_read_then_one_query_finds_no_bounds_and_one_partition_reads_nothing(
    spark: SparkSession, demo_source: JdbcSource
) -> None:
    # GIVEN the PostgreSQL source and a watermark after every row
    spec, future = load_spec(str(DEMO_SPEC)), Watermark("atualizado_em", "2999-01-01 00:00:00.000000", "timestamp")
    # WHEN the bounds are read (MIN/MAX alone: NULL over no rows) and then the window
    bounds = read_bounds(spark, demo_source, incremental_sql(spec, future, demo_source.url), spec.partition_column)
    empty = read_source(spark, demo_source, spec, future)
    # THEN there are none, and the read is one partition of no rows; over every row the bounds are the ids' range
    assert bounds is None
    assert (empty.rdd.getNumPartitions(), empty.count()) == (1, 0)
    assert read_bounds(spark, demo_source, incremental_sql(spec, None, demo_source.url), spec.partition_column) == (
        "1",
        str(N_ROWS),
    )


# ------------------------------------------------------------------------------ incremental


def test_given_new_and_updated_rows_when_run_again_then_only_those_are_read(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, small_db: str, tmp_path: Path
) -> None:
    url = postgres.jdbc_url(small_db)
    first = run(spark, make_settings(tmp_path, url, aws.secret_id, "inc-1"))
    assert first["rows_read"] == 300

    # WHEN 20 rows are inserted and 10 existing rows are updated (atualizado_em bumped)
    with postgres.connect(small_db) as conn:
        demo_data.load_postgres(conn, 20, seed=11, start_id=301, create=False, updated_from=LATER)
        conn.execute("UPDATE funcionarios SET atualizado_em = now(), cargo = 'gerente' WHERE id BETWEEN 11 AND 20")
        conn.commit()
    second = run(spark, make_settings(tmp_path, url, aws.secret_id, "inc-2"))

    # THEN exactly those 30 rows are read, from the first run's watermark
    raw_ids = {r["funcionario_id"] for r in parquet(spark, second["outputs"]["raw"]).collect()}
    assert raw_ids == set(range(11, 21)) | set(range(301, 321))
    assert second["rows_read"] == 30
    assert second["watermark"]["from"] == first["watermark"]["to"]
    assert second["watermark"]["to"] > first["watermark"]["to"]
    state = read_json(tmp_path / "state" / "watermark.json")
    assert (state["run_id"], state["watermark"]["value"]) == ("inc-2", second["watermark"]["to"])

    # AND a third run the same day with no changes reads nothing and keeps the watermark
    third = run(spark, make_settings(tmp_path, url, aws.secret_id, "inc-3"))
    assert (third["rows_read"], third["rows_written"], third["rows_quarantined"]) == (0, 0, 0)
    assert third["watermark"]["to"] == second["watermark"]["to"]

    # AND the dt partition holds no duplicate row versions across the same-day runs
    day = parquet(spark, tmp_path / "curated" / "dt=2025-07-01")
    assert day.count() == day.select("matricula", "atualizado_em").distinct().count()
    assert day.count() == first["rows_written"] + second["rows_written"]


def test_given_a_rerun_with_the_same_run_id_when_run_then_its_folder_is_replaced_not_appended(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, small_db: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, postgres.jdbc_url(small_db), aws.secret_id, "same")
    run(spark, settings)
    (tmp_path / "state" / "watermark.json").unlink()  # force a full re-read into the same run folder

    again = run(spark, settings)

    assert parquet(spark, again["outputs"]["curated"]).count() == again["rows_written"]
    assert parquet(spark, tmp_path / "curated" / "dt=2025-07-01").count() == again["rows_written"]


# ------------------------------------------------------------------------------ failures


def test_given_a_failing_write_when_run_then_outputs_are_removed_and_watermark_unchanged(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, small_db: str, tmp_path: Path
) -> None:
    url = postgres.jdbc_url(small_db)
    ok = run(spark, make_settings(tmp_path, url, aws.secret_id, "ok-1"))
    state_before = (tmp_path / "state" / "watermark.json").read_text()
    latest = tmp_path / "curated" / "_manifests" / "latest.json"
    latest_before = latest.read_text()
    with postgres.connect(small_db) as conn:
        conn.execute("UPDATE funcionarios SET atualizado_em = now() WHERE id <= 5")
        conn.commit()
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the quarantine folder should go")

    # WHEN the quarantine write fails (its parent is a regular file)
    broken = make_settings(tmp_path, url, aws.secret_id, "broken", quarantine_uri=str(blocker / "q"))
    with pytest.raises(Exception, match="not-a-dir"):
        _run_with_bad_rows(spark, postgres, small_db, broken)

    # THEN the watermark and latest manifest are untouched and the run's folders are gone
    assert (tmp_path / "state" / "watermark.json").read_text() == state_before
    assert latest.read_text() == latest_before
    assert not (tmp_path / "raw" / "dt=2025-07-01" / "run_id=broken").exists()
    assert not (tmp_path / "curated" / "dt=2025-07-01" / "run_id=broken").exists()
    assert not (tmp_path / "curated" / "_manifests" / "dt=2025-07-01" / "broken.json").exists()

    # AND a retry re-reads the same window
    retry = run(spark, make_settings(tmp_path, url, aws.secret_id, "retry"))
    assert retry["watermark"]["from"] == ok["watermark"]["to"]
    assert retry["rows_read"] >= 5


def _run_with_bad_rows(spark: SparkSession, postgres: PostgresServer, db: str, settings: ExtractionJobArgs) -> None:
    """Make sure the window has a quarantinable row, then run (so the quarantine write happens)."""
    with postgres.connect(db) as conn:
        conn.execute("UPDATE funcionarios SET salario = -1, atualizado_em = now() WHERE id = 1")
        conn.commit()
    run(spark, settings)


def test_given_a_wrong_password_in_the_secret_when_run_then_it_fails_and_writes_nothing(
    spark: SparkSession, postgres: PostgresServer, aws: AwsEndpoint, small_db: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, postgres.jdbc_url(small_db), aws.bad_secret_id, "badpw")

    with pytest.raises(Exception, match="password authentication failed"):
        run(spark, settings)

    assert not (tmp_path / "state" / "watermark.json").exists()
    assert not (tmp_path / "curated").exists()


def test_given_a_missing_or_malformed_secret_when_fetched_then_a_clear_error_without_values(
    aws: AwsEndpoint,
) -> None:
    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="esteira/no-password", SecretString=json.dumps({"username": "u", "pw": "s3cr3t"}))

    with pytest.raises(SecretError, match="not found"):
        get_db_credentials("esteira/does-not-exist")
    with pytest.raises(SecretError, match="lacks non-empty string key") as info:
        get_db_credentials("esteira/no-password")
    assert "s3cr3t" not in str(info.value)


# ------------------------------------------------------------------------------ SQLite source


def test_given_a_sqlite_source_when_run_twice_then_the_same_spec_extracts_incrementally(
    spark: SparkSession, aws: AwsEndpoint, tmp_path: Path
) -> None:
    db = tmp_path / "hr.db"
    demo_data.load_sqlite(db, 200, seed=3)
    url = f"jdbc:sqlite:{db}"

    first = run(spark, make_settings(tmp_path, url, aws.secret_id, "sq-1"))
    demo_data.load_sqlite(db, 15, seed=3, start_id=201, updated_from=LATER)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE funcionarios SET atualizado_em = '2099-01-01 00:00:00.000' WHERE id = 7")
    second = run(spark, make_settings(tmp_path, url, "", "sq-2"))  # a SQLite file needs no secret

    spec = load_spec(str(DEMO_SPEC))
    curated = parquet(spark, first["outputs"]["curated"])
    assert [(f.name, f.dataType) for f in curated.schema] == [
        (c.name, SPARK_TYPES[c.type]) for c in spec.output_columns
    ]
    assert first["rows_read"] == 200 == first["rows_written"] + first["rows_quarantined"]
    assert first["watermark"]["type"] == "string"
    assert second["rows_read"] == 16
    assert second["watermark"]["to"] == "2099-01-01 00:00:00.000"
    # AND a third run with nothing past the watermark reads an empty window with the spec's partitioning as it is
    # (sqlite-jdbc cannot type MIN/MAX over no rows: read_bounds counts them first)
    third = run(spark, make_settings(tmp_path, url, "", "sq-3"))
    assert (third["rows_read"], third["rows_written"], third["rows_quarantined"]) == (0, 0, 0)
    assert third["watermark"]["to"] == "2099-01-01 00:00:00.000"


@pytest.mark.parametrize(
    ("rows", "source_partitions", "cores", "expected"),
    [
        (3_000, 4, 2, 1),  # small: one file
        (100_000, 4, 2, 2),  # one per core, each of 50k rows
        (100_000, 4, 8, 4),  # not under MIN_ROWS_PER_OUTPUT_FILE rows a file
        (2 * ROWS_PER_OUTPUT_FILE + 1, 4, 2, 3),  # no file over ROWS_PER_OUTPUT_FILE rows
        (10 * ROWS_PER_OUTPUT_FILE, 4, 2, 4),  # ... up to one per source partition
        (0, 4, 2, 1),
    ],
)
def test_curated_files_keep_every_core_busy_without_small_files(
    rows: int, source_partitions: int, cores: int, expected: int
) -> None:
    # GIVEN a run's size WHEN its curated files are counted THEN the count is as sized and each file is big enough
    files = output_files(rows, source_partitions, cores)
    assert files == expected
    assert files == 1 or rows // files >= MIN_ROWS_PER_OUTPUT_FILE
