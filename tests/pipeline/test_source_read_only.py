"""A user's PostgreSQL source is only read: a SELECT-only role over TLS (verify-full, the test CA), a fresh and then
an incremental run up to the extraction, and the database's contents are the same afterwards, checksum for checksum.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from esteira_extract import demo_data
from tests.glue_jobs.conftest import (  # noqa: F401  (the session fixture, used by name)
    READER_PASSWORD,
    READER_USER,
    TEST_CA_BUNDLE,
    PostgresServer,
    postgres,
)

REPO = Path(__file__).resolve().parents[2]
ROWS = 300
CHANGED = 7

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Run:
    code: int
    output: str
    report: dict[str, Any]


def snapshot(server: PostgresServer, db: str) -> dict[str, str]:
    """Every relation of the database (tables, sequences, indexes) and an md5 of each table's rows, in row order."""
    with server.admin(db) as conn:
        relations = conn.execute(
            "SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1"
        ).fetchall()
        found = {"relations": ",".join(r[0] for r in relations)}
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"):
            digest = conn.execute(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
            row = digest.fetchone()
            assert row is not None
            found[table] = str(row[0])
    return found


def read_only_database(server: PostgresServer) -> str:
    """A database owned by the admin with the demo tables; the reader role may only connect and SELECT."""
    name = f"readonly_{os.getpid()}"
    with server.admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    with server.admin(name) as conn:
        demo_data.load_postgres(conn, ROWS, seed=5)
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER_USER}")
    return name


def run_pipeline(out: Path, url: str, *args: str) -> Run:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SOURCE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--out", str(out), "--source-url", url, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report_file = out / "pipeline-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return Run(done.returncode, done.stdout + done.stderr, report)


@pytest.fixture(scope="module")
def source_db(postgres: PostgresServer) -> tuple[PostgresServer, str, str]:  # noqa: F811
    db = read_only_database(postgres)
    url = f"postgresql://{READER_USER}:{READER_PASSWORD}@{postgres.host}:{postgres.port}/{db}"
    return postgres, db, url


def test_fresh_then_incremental_runs_read_the_source_and_never_change_it(
    source_db: tuple[PostgresServer, str, str], tmp_path: Path, glue_runner_socket: Path
) -> None:
    server, db, url = source_db
    tls = (
        "--source-ca-bundle",
        str(TEST_CA_BUNDLE),
        "--stop-after",
        "extract",
        "--glue-runner",
        str(glue_runner_socket),
    )
    # GIVEN a source the reader role may only SELECT from, and its checksum
    before = snapshot(server, db)
    # WHEN the pipeline runs against it (TLS verified against the test CA)
    first = run_pipeline(tmp_path, url, "--fresh", *tls)
    # THEN it succeeded up to the extraction, counted the spec's query and read every row, creating nothing
    assert first.code == 0, first.output[-4000:]
    assert first.report["status"] == "stopped" and first.report["stopped_after"] == "extract"
    assert first.report["source"] == {**first.report["source"], "demo": False, "created": False, "changed": 0}
    assert first.report["source"]["rows"] == ROWS
    assert first.report["extraction"]["rows_read"] == ROWS and first.report["extraction"]["incremental"] is False
    # AND the database is byte for byte what it was
    assert snapshot(server, db) == before
    # AND the watermark is the spec's own state file
    assert (tmp_path / "lake" / "state" / "employees.json").is_file()

    # GIVEN the source's owner changes CHANGED rows
    with server.admin(db) as conn:
        conn.execute(
            "UPDATE funcionarios SET atualizado_em = clock_timestamp() AT TIME ZONE 'UTC' "
            f"WHERE id IN (SELECT id FROM funcionarios ORDER BY id LIMIT {CHANGED})"
        )
    changed = snapshot(server, db)
    # WHEN the pipeline runs again
    second = run_pipeline(tmp_path, url, *tls)
    # THEN it read exactly the changed rows, incrementally, and the database is unchanged again
    assert second.code == 0, second.output[-4000:]
    ext = second.report["extraction"]
    assert ext["incremental"] is True and ext["rows_read"] == CHANGED
    assert snapshot(server, db) == changed


def test_a_source_without_the_specs_tables_fails_clearly_and_gets_none_created(
    postgres: PostgresServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN an empty database the reader role can read
    db = postgres.create_database("empty")
    before = snapshot(postgres, db)
    url = f"postgresql://{READER_USER}:{READER_PASSWORD}@{postgres.host}:{postgres.port}/{db}"
    # WHEN the pipeline runs against it
    run = run_pipeline(tmp_path, url, "--source-ca-bundle", str(TEST_CA_BUNDLE), "--stop-after", "source")
    # THEN the source stage fails naming the missing table; nothing was loaded into the database
    assert run.code == 1
    stages = {stage["name"]: stage["status"] for stage in run.report["stages"]}
    assert stages["source"] == "failed" and stages["extract"] == "skipped"
    assert "funcionarios" in run.report["error"] and "spec.source" in run.report["error"]
    assert snapshot(postgres, db) == before
