"""The source database: the embedded demo SQLite file, a user's SQLite file, or a PostgreSQL server (``SOURCE_URL``).

A user's source is only read: the run counts the rows of the spec's own query in a read-only session, and the
extraction job reads it over JDBC. Only the demo source (the embedded SQLite file, or a PostgreSQL database named
with ``--load-demo``) is written: its tables (``pessoas_fisicas``, ``funcionarios``) are loaded by
``esteira_extract.demo_data`` when missing, ``change_rows`` updates existing employees and moves their
``atualizado_em`` to now, which is what the next incremental extraction picks up, and ``advance_days`` moves the
demo's clock on (:mod:`pipeline.demo_clock`): employees whose exit day has come leave, others pass their 12 months.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from esteira_extract import demo_data
from pipeline import demo_clock

CHANGED_COLUMNS = "horas_extras_mes, avaliacao_desempenho"


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class PostgresUrl:
    host: str
    port: int
    database: str
    username: str
    password: str

    @classmethod
    def parse(cls, url: str) -> PostgresUrl:
        parsed = urlparse(url)
        if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname or not parsed.path.strip("/"):
            raise SourceError("SOURCE_URL must look like postgresql://user:password@host:5432/database")
        return cls(
            host=parsed.hostname,
            port=parsed.port or 5432,
            database=parsed.path.strip("/"),
            username=unquote(parsed.username or ""),
            password=unquote(parsed.password or ""),
        )

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def connect(self, ca_bundle: Path | None = None, read_only: bool = True) -> Any:
        """A session that cannot write unless ``read_only`` is False (the demo only); TLS verify-full with a bundle."""
        import psycopg

        tls: dict[str, Any] = {"sslmode": "verify-full", "sslrootcert": str(ca_bundle)} if ca_bundle else {}
        conn = psycopg.connect(
            host=self.host, port=self.port, dbname=self.database, user=self.username, password=self.password, **tls
        )
        conn.read_only = read_only
        return conn

    def __repr__(self) -> str:  # never show the password
        return f"PostgresUrl({self.username}@{self.host}:{self.port}/{self.database})"


@dataclass(frozen=True)
class SourceState:
    kind: str  # "sqlite" | "postgresql"
    rows: int  # rows of the spec's query
    created: bool  # loaded by this run
    changed: int  # rows changed by this run (--change-rows)
    jdbc_url: str
    # The demo source only: the clock's move (--advance-days; 0 days when it stood still), and the rows this run
    # gave a new atualizado_em (the changed rows and the employees who left), which the next extraction reads.
    clock: demo_clock.ClockStep | None = None
    rows_updated: int = 0

    @property
    def today(self) -> date | None:
        """The demo's today, as of which the dataset job judges label finality; None for a user's source."""
        return self.clock.today if self.clock else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _now_text() -> str:
    return _now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _changed_ids(total: int, count: int, salt: int) -> list[int]:
    """``count`` distinct employee ids spread over 1..total, shifted per call so repeated changes differ."""
    count = min(count, total)
    if count <= 0:
        return []
    step = total / count
    return sorted({1 + (int(i * step) + salt) % total for i in range(count)})


# ------------------------------------------------------------------------------------------------ sqlite


def count_query(conn: Any, select_sql: str, where: str) -> int:
    """Rows of the spec's own SELECT: what the extraction reads, whatever the tables are called."""
    try:
        return int(conn.execute(f"SELECT count(*) FROM ({select_sql}) esteira_source").fetchone()[0])
    except Exception as error:  # sqlite3 and psycopg errors alike: the spec and the source do not match
        raise SourceError(
            f"the spec's query cannot be read from {where}: {str(error).splitlines()[0]}. "
            "Check spec.source (tables, columns) against the database"
        ) from None


def sqlite_source(path: Path, rows: int, seed: int, change: int, select_sql: str, advance_days: int = 0) -> SourceState:
    """The embedded demo file: created when missing, ``change`` rows changed and the clock moved on by
    ``advance_days`` before the extraction."""
    created = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".loading")
        tmp.unlink(missing_ok=True)
        demo_data.load_sqlite(tmp, rows, seed)
        tmp.replace(path)  # a crash mid-load never leaves a half-filled source behind
        created = True
    conn = sqlite3.connect(str(path))
    try:
        total = int(conn.execute("SELECT count(*) FROM funcionarios").fetchone()[0])
        if total != rows:
            raise SourceError(
                f"the source at {path} holds {total} employees but --rows is {rows}; "
                f"pass --rows {total} or --fresh to start over"
            )
        ids: list[int] = []
        if change:
            salt = int(conn.execute("SELECT count(DISTINCT atualizado_em) FROM funcionarios").fetchone()[0])
            ids = _changed_ids(total, change, salt)
            conn.executemany(
                "UPDATE funcionarios SET horas_extras_mes = coalesce(horas_extras_mes, 0) + 3, "
                "avaliacao_desempenho = CASE WHEN avaliacao_desempenho >= 5 THEN 4 ELSE avaliacao_desempenho + 1 END, "
                "atualizado_em = ? WHERE id = ?",
                [(_now_text(), i) for i in ids],
            )
        clock = demo_clock.advance(conn, "sqlite", seed, advance_days, _now())
        conn.commit()
        counted = count_query(conn, select_sql, str(path))
    finally:
        conn.close()
    updated = len(set(ids) | set(clock.left))
    return SourceState("sqlite", counted, created, len(ids), f"jdbc:sqlite:{path.resolve()}", clock, updated)


def read_only_sqlite(path: Path) -> sqlite3.Connection:
    """A connection that cannot write: SQLite's read-only open mode (the file must exist)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def user_sqlite_source(path: Path, select_sql: str) -> SourceState:
    """A user's SQLite file: only read, its rows counted through the spec's query."""
    conn = read_only_sqlite(path)
    try:
        counted = count_query(conn, select_sql, str(path))
    finally:
        conn.close()
    return SourceState("sqlite", counted, False, 0, f"jdbc:sqlite:{path.resolve()}")


# -------------------------------------------------------------------------------------------- postgresql


def postgres_source(url: PostgresUrl, select_sql: str, ca_bundle: Path | None = None) -> SourceState:
    """A user's PostgreSQL database: a read-only session counts the spec's query; nothing is created or changed."""
    with url.connect(ca_bundle, read_only=True) as conn:
        counted = count_query(conn, select_sql, repr(url))
    return SourceState("postgresql", counted, False, 0, url.jdbc_url)


def postgres_demo_source(
    url: PostgresUrl,
    rows: int,
    seed: int,
    change: int,
    select_sql: str,
    ca_bundle: Path | None = None,
    advance_days: int = 0,
) -> SourceState:
    """--load-demo: the demo tables loaded into the named database if missing, ``change`` rows changed, the clock
    moved on by ``advance_days``."""
    with url.connect(ca_bundle, read_only=False) as conn:
        exists = conn.execute("SELECT to_regclass('public.funcionarios') IS NOT NULL").fetchone()[0]
        created = False
        if not exists:
            demo_data.load_postgres(conn, rows, seed)
            created = True
        total = int(conn.execute("SELECT count(*) FROM funcionarios").fetchone()[0])
        ids: list[int] = []
        if change:
            salt = int(conn.execute("SELECT count(DISTINCT atualizado_em) FROM funcionarios").fetchone()[0])
            ids = _changed_ids(total, change, salt)
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE funcionarios SET horas_extras_mes = coalesce(horas_extras_mes, 0) + 3, "
                    "avaliacao_desempenho = CASE WHEN avaliacao_desempenho >= 5 THEN 4 "
                    "ELSE avaliacao_desempenho + 1 END, atualizado_em = clock_timestamp() AT TIME ZONE 'UTC' "
                    "WHERE id = %s",
                    [(i,) for i in ids],
                )
        clock = demo_clock.advance(conn, "postgresql", seed, advance_days, _now())
        conn.commit()
        counted = count_query(conn, select_sql, repr(url))
    updated = len(set(ids) | set(clock.left))
    return SourceState("postgresql", counted, created, len(ids), url.jdbc_url, clock, updated)
