"""The demo source's clock: time moves in the demo database, employees leave as the attrition model drew it, and
the others' labels become final by the clock alone."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from esteira_extract import demo_data
from esteira_extract.spec import load_spec
from pipeline import demo_clock, source
from pipeline.options import DEMO_SPEC
from tests.glue_jobs.conftest import (  # noqa: F401  (the session fixture, used by name)
    READER_PASSWORD,
    READER_USER,
    PostgresServer,
    postgres,
)

DEMO_SELECT = load_spec(str(DEMO_SPEC)).source.select_sql()
ROWS, SEED = 2000, 42
REFERENCE = demo_data.REFERENCE_DATE


def rows_of(db: Path) -> dict[int, tuple[str, str | None, str]]:
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT id, data_admissao, data_desligamento, atualizado_em FROM funcionarios")
        return {int(i): (adm, desl, upd) for i, adm, desl, upd in found.fetchall()}


def open_ids(rows: dict[int, tuple[str, str | None, str]], today: date) -> set[int]:
    """Employees whose label is not final as of ``today`` (no exit, admitted less than 12 months before)."""
    return {
        i for i, (adm, desl, _) in rows.items() if desl is None and date.fromisoformat(adm) > today - timedelta(365)
    }


def test_a_new_demo_source_starts_at_the_reference_date_and_a_run_without_days_keeps_it(tmp_path: Path) -> None:
    # GIVEN a new demo source WHEN read without moving the clock
    db = tmp_path / "hr.db"
    created = source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT)
    again = source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT)
    # THEN its today is the generator's reference date, kept in the demo database itself, and nothing changed
    assert created.today == again.today == REFERENCE
    assert again.clock == demo_clock.ClockStep(REFERENCE, REFERENCE) and again.rows_updated == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"SELECT step, today FROM {demo_clock.CLOCK_TABLE}").fetchall() == [(0, "2025-06-30")]


def test_moving_the_clock_lets_exactly_the_employees_whose_exit_day_came_leave(tmp_path: Path) -> None:
    # GIVEN a demo source at the reference date, and which employees are still open there
    db = tmp_path / "hr.db"
    source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT)
    before = rows_of(db)
    was_open = open_ids(before, REFERENCE)
    # WHEN the clock moves on 30 days
    moved = source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT, advance_days=30)
    after = rows_of(db)
    today = REFERENCE + timedelta(30)
    # THEN today is 30 days later and the clock's history has both days
    assert moved.clock is not None and (moved.clock.before, moved.today, moved.clock.days) == (REFERENCE, today, 30)
    # AND the employees who left are the open ones the attrition model has leaving in those 30 days, on that day
    left = set(moved.clock.left)
    expected = {i for i in was_open if (d := demo_data.planned_early_exit(i, SEED)) and REFERENCE < d <= today}
    assert left == expected and left, "no employee left in 30 days: the check would prove nothing"
    assert all(after[i][1] == str(demo_data.planned_early_exit(i, SEED)) for i in left)
    # AND only they changed, with a watermark newer than every earlier row, so the next extraction reads them
    assert (
        {i for i in before if after[i] != before[i]}
        == left
        == set(range(1, ROWS + 1)) - {i for i in before if after[i] == before[i]}
    )
    assert min(after[i][2] for i in left) > max(row[2] for row in before.values())
    assert moved.rows_updated == len(left) and moved.changed == 0
    # AND the others whose 12 months passed are no longer open, by the clock alone (their rows are unchanged)
    aged = {i for i in was_open - left if date.fromisoformat(before[i][0]) <= today - timedelta(365)}
    assert aged and aged.isdisjoint(open_ids(after, today))


def test_the_moved_source_is_the_generator_seen_on_the_new_day_and_repeats_for_a_seed(tmp_path: Path) -> None:
    # GIVEN two demo sources of the same seed WHEN both move on 400 days (steps of 365 and 35) with changed rows
    left = []
    for name in ("a.db", "b.db"):
        db = tmp_path / name
        source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT)
        first = source.sqlite_source(db, ROWS, SEED, 5, DEMO_SELECT, advance_days=365)
        second = source.sqlite_source(db, ROWS, SEED, 0, DEMO_SELECT, advance_days=35)
        assert first.clock is not None and second.clock is not None
        assert first.changed == 5 and len(first.clock.left) <= first.rows_updated <= len(first.clock.left) + 5
        left.append((first.clock.left, second.clock.left))
    # THEN both let the same employees leave (the seed and the ids decide it)
    assert left[0] == left[1]
    # AND every exit is what the generator draws as of the new day: time moved in the data, not a new data set
    today = REFERENCE + timedelta(400)
    exits = {i: desl for i, (_, desl, _) in rows_of(tmp_path / "a.db").items()}
    assert exits == {
        record.funcionario[0]: (None if record.data_desligamento is None else str(record.data_desligamento))
        for record in (demo_data.make_record(i, SEED, as_of=today) for i in range(1, ROWS + 1))
    }
    # AND 12 months on, every label that was open at the reference date is final
    assert open_ids(rows_of(tmp_path / "a.db"), today) == set()


def test_the_clock_moves_at_most_a_year_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "hr.db"
    source.sqlite_source(db, 200, SEED, 0, DEMO_SELECT)
    with sqlite3.connect(db) as conn, pytest.raises(ValueError, match="advance_days=400 must be between 0 and 365"):
        demo_clock.advance(conn, "sqlite", SEED, 400, demo_data.UPDATED_FROM)


def test_a_postgres_demo_database_keeps_its_clock_and_moves_as_the_sqlite_one(
    postgres: PostgresServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN a database named for the demo (--load-demo) and an SQLite demo source of the same seed
    db = postgres.create_database("democlock")
    url = source.PostgresUrl.parse(f"postgresql://{READER_USER}:{READER_PASSWORD}@{postgres.host}:{postgres.port}/{db}")
    created = source.postgres_demo_source(url, ROWS, SEED, 0, DEMO_SELECT)
    sqlite_db = tmp_path / "hr.db"
    source.sqlite_source(sqlite_db, ROWS, SEED, 0, DEMO_SELECT)
    # WHEN both change rows and move on 60 days
    moved = source.postgres_demo_source(url, ROWS, SEED, 4, DEMO_SELECT, advance_days=60)
    same = source.sqlite_source(sqlite_db, ROWS, SEED, 4, DEMO_SELECT, advance_days=60)
    # THEN the PostgreSQL demo's clock is in its own table, and the same employees left on the same days
    assert created.today == REFERENCE and moved.today == same.today == REFERENCE + timedelta(60)
    assert moved.clock is not None and same.clock is not None and moved.clock.left == same.clock.left
    with postgres.connect(db) as conn:
        days = conn.execute(f"SELECT today FROM {demo_clock.CLOCK_TABLE} ORDER BY step").fetchall()
        exits = dict(conn.execute("SELECT id, data_desligamento FROM funcionarios WHERE data_desligamento IS NOT NULL"))
    assert [d for (d,) in days] == [REFERENCE, REFERENCE + timedelta(60)]
    assert {i: str(d) for i, d in exits.items()} == {
        i: desl for i, (_, desl, _) in rows_of(sqlite_db).items() if desl is not None
    }
    assert moved.changed == same.changed == 4
    assert len(moved.clock.left) <= moved.rows_updated <= len(moved.clock.left) + 4
