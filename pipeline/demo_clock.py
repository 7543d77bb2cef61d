"""The demo source's clock: the day the demo database is a snapshot of, kept in the demo database itself.

The demo tables are generated as of ``demo_data.REFERENCE_DATE``. The table ``esteira_demo_clock``, which only the
demo source gets (never a user's source), records every day the demo moved to, one row per step; the newest is the
demo's "today", which the dataset stage passes to the dataset job as ``as_of_date``. Moving the clock on by some days
makes time real for the employees whose label was still open (admitted less than 12 months before the old today):

- those the generator's attrition model has leaving within 12 months of admission, on a day that has now come,
  leave: ``data_desligamento`` is set to that day and ``atualizado_em`` to now, so the next incremental extraction
  reads them; their label becomes final, 1;
- those whose 12 months pass without leaving change no row at all: judged as of the new today, their label is
  final, 0, by the clock alone.

Who leaves, and when, depends only on the seed and the employee's id (:func:`demo_data.planned_early_exit`, the
same draw that generated the row), so a run is repeatable. Exits after the first 12 months do not change a label
and are not simulated. No employee is hired: the demo keeps its ``--rows`` employees, and once the clock is 12
months past ``REFERENCE_DATE`` every label is final and nothing is left to score.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from esteira_extract import demo_data

CLOCK_TABLE = "esteira_demo_clock"
DEFAULT_ADVANCE_DAYS = 30  # what a --change-rows run moves the clock by unless --advance-days says otherwise
MAX_ADVANCE_DAYS = 365
# Before this many days before today, no employee without an exit can still leave within 12 months.
OPEN_WINDOW_DAYS = 366

Dialect = Literal["sqlite", "postgresql"]
_DDL = {
    "sqlite": f"CREATE TABLE IF NOT EXISTS {CLOCK_TABLE} (step INTEGER PRIMARY KEY, today TEXT NOT NULL, "
    "moved_at TEXT NOT NULL)",
    "postgresql": f"CREATE TABLE IF NOT EXISTS {CLOCK_TABLE} (step INTEGER PRIMARY KEY, today DATE NOT NULL, "
    "moved_at TIMESTAMP NOT NULL)",
}
_MARK = {"sqlite": "?", "postgresql": "%s"}


@dataclass(frozen=True)
class ClockStep:
    """One move of the clock: from ``before`` to ``today``, and the employees who left in between."""

    before: date
    today: date
    left: tuple[int, ...] = ()

    @property
    def days(self) -> int:
        return (self.today - self.before).days

    def as_report(self) -> dict[str, Any]:
        return {"before": self.before.isoformat(), "today": self.today.isoformat(), "days": self.days}


def _value(dialect: Dialect, value: date | datetime) -> Any:
    """SQLite stores the demo's dates and timestamps as ISO text (timestamps with milliseconds), as demo_data does."""
    if dialect == "postgresql":
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return value.isoformat()


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def today(conn: Any, dialect: Dialect, now: datetime) -> date:
    """The demo's today; a demo database without a clock (made before it existed) starts at REFERENCE_DATE."""
    conn.execute(_DDL[dialect])
    row = conn.execute(f"SELECT today FROM {CLOCK_TABLE} ORDER BY step DESC LIMIT 1").fetchone()
    if row is not None:
        return _day(row[0])
    mark = _MARK[dialect]
    conn.execute(
        f"INSERT INTO {CLOCK_TABLE} (step, today, moved_at) VALUES (0, {mark}, {mark})",
        (_value(dialect, demo_data.REFERENCE_DATE), _value(dialect, now)),
    )
    return demo_data.REFERENCE_DATE


def advance(conn: Any, dialect: Dialect, seed: int, days: int, now: datetime) -> ClockStep:
    """Move the demo's today on by ``days`` (0: read it only) and let the employees whose exit day has come leave.
    The caller commits."""
    if not 0 <= days <= MAX_ADVANCE_DAYS:
        raise ValueError(f"advance_days={days} must be between 0 and {MAX_ADVANCE_DAYS}")
    before = today(conn, dialect, now)
    if days == 0:
        return ClockStep(before, before)
    after = before + timedelta(days=days)
    mark = _MARK[dialect]
    open_since = _value(dialect, before - timedelta(days=OPEN_WINDOW_DAYS))
    candidates = conn.execute(
        f"SELECT id FROM funcionarios WHERE data_desligamento IS NULL AND data_admissao > {mark} ORDER BY id",
        (open_since,),
    ).fetchall()
    exits = {
        int(row_id): exit_day
        for (row_id,) in candidates
        if (exit_day := demo_data.planned_early_exit(int(row_id), seed)) is not None and before < exit_day <= after
    }
    cursor = conn.cursor()
    try:
        cursor.executemany(
            f"UPDATE funcionarios SET data_desligamento = {mark}, atualizado_em = {mark} WHERE id = {mark}",
            [(_value(dialect, exit_day), _value(dialect, now), row_id) for row_id, exit_day in exits.items()],
        )
    finally:
        cursor.close()
    step = int(conn.execute(f"SELECT max(step) FROM {CLOCK_TABLE}").fetchone()[0]) + 1
    conn.execute(
        f"INSERT INTO {CLOCK_TABLE} (step, today, moved_at) VALUES ({mark}, {mark}, {mark})",
        (step, _value(dialect, after), _value(dialect, now)),
    )
    return ClockStep(before, after, tuple(exits))
