"""The source database: an embedded SQLite file with the demo data, or a PostgreSQL server from ``SOURCE_URL``.

Both hold the demo spec's tables (``pessoas_fisicas``, ``funcionarios``) loaded by ``esteira_extract.demo_data``;
the extraction job reads either over JDBC. ``change_rows`` updates existing employees and moves their
``atualizado_em`` to now, which is what the next incremental extraction picks up.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from esteira_extract import demo_data

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

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.database, user=self.username, password=self.password
        )

    def __repr__(self) -> str:  # never show the password
        return f"PostgresUrl({self.username}@{self.host}:{self.port}/{self.database})"


@dataclass(frozen=True)
class SourceState:
    kind: str  # "sqlite" | "postgresql"
    rows: int  # employees in the source
    created: bool  # loaded by this run
    changed: int  # rows changed by this run (--change-rows)
    jdbc_url: str


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _changed_ids(total: int, count: int, salt: int) -> list[int]:
    """``count`` distinct employee ids spread over 1..total, shifted per call so repeated changes differ."""
    count = min(count, total)
    if count <= 0:
        return []
    step = total / count
    return sorted({1 + (int(i * step) + salt) % total for i in range(count)})


# ------------------------------------------------------------------------------------------------ sqlite


def sqlite_source(path: Path, rows: int, seed: int, change: int) -> SourceState:
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
        changed = 0
        if change:
            salt = int(conn.execute("SELECT count(DISTINCT atualizado_em) FROM funcionarios").fetchone()[0])
            ids = _changed_ids(total, change, salt)
            conn.executemany(
                "UPDATE funcionarios SET horas_extras_mes = coalesce(horas_extras_mes, 0) + 3, "
                "avaliacao_desempenho = CASE WHEN avaliacao_desempenho >= 5 THEN 4 ELSE avaliacao_desempenho + 1 END, "
                "atualizado_em = ? WHERE id = ?",
                [(_now_text(), i) for i in ids],
            )
            conn.commit()
            changed = len(ids)
    finally:
        conn.close()
    return SourceState("sqlite", total, created, changed, f"jdbc:sqlite:{path.resolve()}")


# -------------------------------------------------------------------------------------------- postgresql


def postgres_source(url: PostgresUrl, rows: int, seed: int, change: int) -> SourceState:
    with url.connect() as conn:
        exists = conn.execute("SELECT to_regclass('public.funcionarios') IS NOT NULL").fetchone()[0]
        created = False
        if not exists:
            demo_data.load_postgres(conn, rows, seed)
            created = True
        total = int(conn.execute("SELECT count(*) FROM funcionarios").fetchone()[0])
        changed = 0
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
            conn.commit()
            changed = len(ids)
    return SourceState("postgresql", total, created, changed, url.jdbc_url)


def sqlite_rows_after(path: Path, select_sql: str, column: str, value: str) -> int:
    """Rows of the spec's SELECT whose watermark column is greater than ``value`` (what the next run will read)."""
    conn = sqlite3.connect(str(path))
    try:
        query = f"SELECT count(*) FROM ({select_sql}) esteira_base WHERE {column} > ?"
        return int(conn.execute(query, (value,)).fetchone()[0])
    finally:
        conn.close()
