"""The demo data generator: deterministic, loadable into PostgreSQL and SQLite, with a learnable
label and a small share of deliberately broken rows."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from statistics import mean

import pytest

from esteira_extract import demo_data
from esteira_extract.demo_data import DemoRecord
from esteira_extract.demo_schema import FUNCIONARIO_COLUMNS, PESSOA_COLUMNS
from tests.glue_jobs.conftest import PostgresServer

F = {name: i for i, name in enumerate(FUNCIONARIO_COLUMNS)}
P = {name: i for i, name in enumerate(PESSOA_COLUMNS)}


def early_leaver(rec: DemoRecord) -> bool:
    desl = rec.data_desligamento
    return desl is not None and 0 <= (desl - rec.data_admissao).days <= 365


def test_given_same_n_and_seed_when_generated_twice_then_rows_are_identical() -> None:
    assert list(demo_data.generate(200, seed=3)) == list(demo_data.generate(200, seed=3))
    assert list(demo_data.generate(200, seed=3)) != list(demo_data.generate(200, seed=4))


def test_given_a_larger_n_when_generated_then_the_smaller_run_is_a_prefix_and_ids_continue() -> None:
    small, large = list(demo_data.generate(50, seed=1)), list(demo_data.generate(80, seed=1))
    tail = list(demo_data.generate(30, seed=1, start_id=51))

    assert large[:50] == small
    assert large[50:] == tail
    assert [r.funcionario[F["id"]] for r in large] == list(range(1, 81))


def test_given_many_rows_when_generated_then_a_small_share_is_deliberately_bad() -> None:
    recs = list(demo_data.generate(5000, seed=42))

    null_keys = sum(r.funcionario[F["matricula"]] is None for r in recs)
    negative = sum(r.salario < 0 for r in recs)
    junk_dates = sum(
        str(r.pessoa[P["data_nascimento"]]) in {"desconhecido", "31/02/1990", "1990-13-01", "00/00/0000"} for r in recs
    )
    too_old = sum(str(r.pessoa[P["data_nascimento"]]).startswith("18") for r in recs)

    assert all(n > 0 for n in (null_keys, negative, junk_dates, too_old))
    assert null_keys + negative + junk_dates + too_old < 0.02 * len(recs)


def test_given_the_attrition_model_when_sampled_then_the_label_depends_on_the_features() -> None:
    recs = list(demo_data.generate(6000, seed=42, bad_fraction=0.0))
    leavers = [r for r in recs if early_leaver(r)]
    stayers = [r for r in recs if not early_leaver(r)]

    rate = len(leavers) / len(recs)
    remote_rate = mean(early_leaver(r) for r in recs if r.funcionario[F["trabalho_remoto"]] == "S")
    office_rate = mean(early_leaver(r) for r in recs if r.funcionario[F["trabalho_remoto"]] != "S")

    assert 0.1 < rate < 0.4
    assert mean(r.salario for r in leavers) < 0.85 * mean(r.salario for r in stayers)
    assert remote_rate < office_rate - 0.05


def test_given_a_sqlite_file_when_loaded_then_both_tables_hold_n_rows_with_iso_text_dates(tmp_path: Path) -> None:
    path = tmp_path / "hr.db"

    assert demo_data.load_sqlite(path, 120, seed=5, batch_size=50) == 120

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM pessoas_fisicas").fetchone() == (120,)
        assert conn.execute("SELECT count(*) FROM funcionarios").fetchone() == (120,)
        ts, adm = conn.execute("SELECT atualizado_em, data_admissao FROM funcionarios WHERE id = 1").fetchone()
    first = next(demo_data.generate(1, seed=5))
    assert adm == first.data_admissao.isoformat()
    assert len(ts) == len("2024-07-01 00:00:00.000")


def test_given_a_postgres_database_when_loaded_then_rows_round_trip(postgres: PostgresServer) -> None:
    db = postgres.create_database("demo")
    with postgres.connect(db) as conn:
        assert demo_data.load_postgres(conn, 100, seed=9) == 100
        got = conn.execute(
            "SELECT f.matricula, f.salario::float, p.data_nascimento FROM funcionarios f "
            "JOIN pessoas_fisicas p ON p.id = f.pessoa_fisica_id WHERE f.id = 7"
        ).fetchone()
    rec = list(demo_data.generate(7, seed=9))[-1]
    assert got == (rec.funcionario[F["matricula"]], rec.funcionario[F["salario"]], rec.pessoa[P["data_nascimento"]])


@pytest.mark.parametrize(
    "moment",
    [datetime(2024, 7, 1), datetime(2024, 7, 1, 9, 5, 3, 999_999), datetime(2025, 1, 31, 23, 59, 59, 1_000)],
)
def test_given_a_timestamp_when_stored_in_sqlite_then_it_is_millisecond_text(moment: datetime) -> None:
    # GIVEN a naive timestamp WHEN it becomes SQLite text THEN it is strftime's form cut to milliseconds (not rounded)
    assert demo_data._sqlite_value(moment) == moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def test_given_a_chunk_when_made_sqlite_rows_then_each_value_is_what_converting_every_field_gives() -> None:
    # GIVEN the records of a chunk large enough to hold every kind of deliberately bad row
    job = (1, 3_000, 42, 0.05, demo_data.UPDATED_FROM)
    records = list(demo_data.generate(3_000, 42, 1, 0.05, demo_data.UPDATED_FROM))
    # WHEN the chunk is made into SQLite rows (converting only the date fields)
    pessoas, funcionarios = demo_data._sqlite_chunk(job)
    # THEN the rows are exactly those of converting every value of every record
    assert pessoas == [tuple(demo_data._sqlite_value(v) for v in r.pessoa) for r in records]
    assert funcionarios == [tuple(demo_data._sqlite_value(v) for v in r.funcionario) for r in records]
    assert any(row[7] is None for row in funcionarios) and any(isinstance(row[7], str) for row in funcionarios)


def test_given_worker_processes_when_a_sqlite_file_is_loaded_then_it_holds_the_same_rows(tmp_path: Path) -> None:
    # GIVEN the same rows loaded by this process alone and by two worker processes, in chunks of 70
    alone, parallel = tmp_path / "alone.db", tmp_path / "parallel.db"
    assert demo_data.load_sqlite(alone, 300, seed=9, start_id=11, batch_size=70, workers=1) == 300
    assert demo_data.load_sqlite(parallel, 300, seed=9, start_id=11, batch_size=70, workers=2) == 300

    # WHEN both files are read THEN every row of both tables is the same, in the same order
    def rows(path: Path, table: str) -> list[tuple[object, ...]]:
        with sqlite3.connect(path) as conn:
            return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()

    for table in ("pessoas_fisicas", "funcionarios"):
        assert rows(alone, table) == rows(parallel, table)
    assert [r[0] for r in rows(parallel, "funcionarios")] == list(range(11, 311))
