"""Deterministic demo source data: an HR database with ``pessoas_fisicas`` and ``funcionarios``.

``generate(n, seed)`` yields :class:`DemoRecord` rows; each row depends only on ``(seed, id)``,
so ``generate(100, s)`` is a prefix of ``generate(1000, s)`` and new rows can be appended with
``start_id``. Early attrition (leaving within 365 days of admission, the demo label
``desligado_em_12_meses``) is drawn from a logistic model of salary, overtime, remote work,
health plan, commute, performance, age and department plus noise, so it is learnable.

About ``bad_fraction`` of rows are deliberately broken for quarantine to catch: null
or duplicated ``matricula`` (the key), unparseable ``data_nascimento`` text, negative salary, birth dates
giving an age over 120, and dismissal before admission. Cleanable junk (sexo 'X', flags ' ' or
'x', missing estado_civil) is separate and common.

Loaders: :func:`load_postgres` (a psycopg 3 connection, uses COPY) and :func:`load_sqlite` (a file
path). SQLite stores dates/timestamps as ISO text (timestamps with milliseconds), which the
extraction spec parses, so one spec serves both databases.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from esteira_extract.demo_schema import FUNCIONARIO_COLUMNS, PESSOA_COLUMNS, POSTGRES_DDL, SQLITE_DDL

if TYPE_CHECKING:
    import psycopg

# The day the demo database is a snapshot of: the dataset job judges label finality as of this day for the demo.
REFERENCE_DATE = date(2025, 6, 30)
FIRST_ADMISSION = date(2012, 1, 1)
LAST_ADMISSION = REFERENCE_DATE  # hires of the last 12 months have no final label yet: they are scored
UPDATED_FROM = datetime(2024, 7, 1)
UPDATED_SPAN_SECONDS = 364 * 24 * 3600
# From this many rows load_sqlite generates in worker processes (below it, starting them costs more than it saves).
PARALLEL_FROM_ROWS = 20_000

CARGOS = {  # cargo: (base salary, spread)
    "assistente": (2800.0, 600.0),
    "operador": (2400.0, 500.0),
    "analista": (6500.0, 1800.0),
    "desenvolvedor": (9000.0, 2500.0),
    "coordenador": (12000.0, 2500.0),
    "gerente": (18000.0, 4000.0),
}
CARGO_NAMES = tuple(CARGOS)  # rng.choice over the same names in the same order: the same draw, no list per record
DEPARTAMENTOS = ("ti", "financeiro", "rh", "operacoes", "comercial")
DEPT_RISK = {"ti": 0.1, "financeiro": -0.2, "rh": -0.1, "operacoes": 0.2, "comercial": 0.5}
ESTADOS_CIVIS = ("solteiro", "casado", "divorciado", "viuvo")
PRENOMES = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fabio", "Gabriela", "Hugo", "Iara", "Joao")
SOBRENOMES = ("Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa", "Almeida")
BAD_KINDS = ("null_key", "duplicate_key", "bad_date", "negative_salary", "too_old", "dismissed_before_admission")

Value = str | int | float | date | datetime | None


class DemoRecord(NamedTuple):
    """One employee: a ``pessoas_fisicas`` row and its ``funcionarios`` row (column order as in
    :data:`PESSOA_COLUMNS` / :data:`FUNCIONARIO_COLUMNS`)."""

    pessoa: tuple[Value, ...]
    funcionario: tuple[Value, ...]

    def field(self, name: str) -> Value:
        """A column by name (``funcionarios`` first, then ``pessoas_fisicas``)."""
        if name in FUNCIONARIO_COLUMNS:
            return self.funcionario[FUNCIONARIO_COLUMNS.index(name)]
        return self.pessoa[PESSOA_COLUMNS.index(name)]

    @property
    def salario(self) -> float:
        value = self.field("salario")
        assert isinstance(value, float)
        return value

    @property
    def data_admissao(self) -> date:
        value = self.field("data_admissao")
        assert isinstance(value, date)
        return value

    @property
    def data_desligamento(self) -> date | None:
        value = self.field("data_desligamento")
        assert value is None or isinstance(value, date)
        return value

    @property
    def atualizado_em(self) -> datetime:
        value = self.field("atualizado_em")
        assert isinstance(value, datetime)
        return value

    @property
    def desligado_em_12_meses(self) -> int:
        """The demo label as the extraction spec derives it."""
        desl = self.data_desligamento
        return int(desl is not None and (desl - self.data_admissao).days <= 365)


def _flag(rng: random.Random, p_yes: float) -> str | None:
    roll = rng.random()
    if roll < 0.03:  # legacy junk that the flag rule normalises to 'N' (or 'S' for 's')
        return rng.choice([" ", "X", "s", "", None])
    return "S" if rng.random() < p_yes else "N"


def make_record(
    row_id: int,
    seed: int,
    bad_fraction: float = 0.01,
    updated_from: datetime = UPDATED_FROM,
    as_of: date = REFERENCE_DATE,
) -> DemoRecord:
    """The deterministic record with id ``row_id``; ``atualizado_em`` falls within the 364 days
    from ``updated_from`` (pass a later one to simulate rows created after an extraction).

    ``as_of`` is the day the record is seen on: an early exit drawn for a later day is not yet known
    (``data_desligamento`` stays empty). Only that cut depends on it, so every other field, and the
    random stream, are the same on any day (see :func:`planned_early_exit`)."""
    rng = random.Random(seed * 1_000_003 + row_id)
    admissao = FIRST_ADMISSION + timedelta(days=rng.randrange((LAST_ADMISSION - FIRST_ADMISSION).days))
    idade = max(16, min(70, int(rng.gauss(34, 10))))
    nascimento = admissao - timedelta(days=idade * 365 + rng.randrange(365))
    cargo = rng.choice(CARGO_NAMES)
    base, spread = CARGOS[cargo]
    salario = round(max(1412.0, rng.gauss(base, spread)), 2)
    departamento = rng.choice(DEPARTAMENTOS)
    remoto = rng.random() < (0.45 if departamento in ("ti", "financeiro") else 0.15)
    plano = rng.random() < (0.85 if salario > 5000 else 0.5)
    horas_extras = max(0, int(rng.gauss(12, 10)))
    distancia = round(rng.expovariate(1 / 15), 1)
    avaliacao: int | None = rng.choice([1, 2, 3, 3, 4, 4, 4, 5]) if rng.random() > 0.05 else None

    # Early-attrition model (log-odds). Coefficients are plausible, not calibrated; the signal is strong
    # enough (best possible AUC about 0.92 on these features) for the demo's 0.8 gate to be meaningful.
    risk = (
        -1.2 * (math.log(salario) - math.log(5000))
        + 0.04 * (horas_extras - 12)
        - 0.9 * remoto
        - 0.5 * plano
        + (0.02 * distancia if not remoto else 0.0)
        - 0.35 * ((avaliacao or 3) - 3)
        + 0.6 * (idade < 25)
        + DEPT_RISK[departamento]
    )
    z = -1.4 + 2.0 * risk
    leaves_early = rng.random() < 1 / (1 + math.exp(-z))
    desligamento: date | None = None
    if leaves_early:
        desligamento = admissao + timedelta(days=rng.randint(20, 365))
        if desligamento > as_of:  # not yet: as of that day this hire is still employed
            desligamento = None
    elif rng.random() < 0.3:
        later = (REFERENCE_DATE - admissao).days
        if later > 366:
            desligamento = admissao + timedelta(days=rng.randint(366, later))

    updated = updated_from + timedelta(seconds=rng.randrange(UPDATED_SPAN_SECONDS), milliseconds=rng.randrange(1000))
    matricula: str | None = f"F{row_id:07d}"
    data_nascimento = nascimento.isoformat() if rng.random() > 0.1 else nascimento.strftime("%d/%m/%Y")
    sexo = rng.choice(["M", "F"]) if rng.random() > 0.04 else rng.choice(["X", "", "m", None])
    estado_civil = rng.choice(ESTADOS_CIVIS) if rng.random() > 0.08 else None
    salario_out: float = salario

    if rng.random() < bad_fraction:
        kind = rng.choice(BAD_KINDS)
        if kind == "null_key":
            matricula = None
        elif kind == "duplicate_key":  # legacy data entry reused the previous employee's matricula
            matricula = f"F{max(1, row_id - 1):07d}"
        elif kind == "bad_date":
            data_nascimento = rng.choice(["desconhecido", "31/02/1990", "1990-13-01", "00/00/0000"])
        elif kind == "negative_salary":
            salario_out = -salario
        elif kind == "too_old":
            data_nascimento = f"18{rng.randrange(50, 99)}-01-01"
        else:
            desligamento = admissao - timedelta(days=rng.randint(1, 200))

    nome = f"{rng.choice(PRENOMES)} {rng.choice(SOBRENOMES)} {rng.choice(SOBRENOMES)}"
    pessoa: tuple[Value, ...] = (row_id, nome, sexo, estado_civil, data_nascimento, _flag(rng, 0.55))
    funcionario: tuple[Value, ...] = (
        row_id,
        matricula,
        row_id,
        cargo,
        departamento,
        salario_out,
        admissao,
        desligamento,
        _flag(rng, 0.7 if plano else 0.02),
        "S" if remoto else _flag(rng, 0.0),
        horas_extras,
        distancia,
        avaliacao,
        updated,
    )
    return DemoRecord(pessoa, funcionario)


def planned_early_exit(row_id: int, seed: int) -> date | None:
    """The day the attrition model has employee ``row_id`` leave within 12 months of admission, known or
    not yet (None: the employee stays past 12 months). The demo clock reveals it once its day has come."""
    record = make_record(row_id, seed, bad_fraction=0.0, as_of=date.max)
    exit_day = record.data_desligamento
    if exit_day is None or not 0 <= (exit_day - record.data_admissao).days <= 365:
        return None
    return exit_day


def generate(
    n: int,
    seed: int = 42,
    start_id: int = 1,
    bad_fraction: float = 0.01,
    updated_from: datetime = UPDATED_FROM,
) -> Iterator[DemoRecord]:
    """Yield ``n`` deterministic records with ids ``start_id .. start_id + n - 1``."""
    for row_id in range(start_id, start_id + n):
        yield make_record(row_id, seed, bad_fraction, updated_from)


# ---------------------------------------------------------------------------------------- loaders


def load_postgres(
    conn: psycopg.Connection[object],
    n: int,
    seed: int = 42,
    start_id: int = 1,
    bad_fraction: float = 0.01,
    create: bool = True,
    updated_from: datetime = UPDATED_FROM,
) -> int:
    """Create the tables (if ``create``) and COPY ``n`` records in. Commits. Returns ``n``."""
    records = list(generate(n, seed, start_id, bad_fraction, updated_from))
    with conn.cursor() as cur:
        if create:
            cur.execute(POSTGRES_DDL)
        with cur.copy(f"COPY pessoas_fisicas ({', '.join(PESSOA_COLUMNS)}) FROM STDIN") as copy:
            for rec in records:
                copy.write_row(rec.pessoa)
        with cur.copy(f"COPY funcionarios ({', '.join(FUNCIONARIO_COLUMNS)}) FROM STDIN") as copy:
            for rec in records:
                copy.write_row(rec.funcionario)
    conn.commit()
    return len(records)


def _sqlite_value(value: Value) -> str | int | float | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the same text as strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], about 4x cheaper
            return value.isoformat(" ", "milliseconds")
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_sqlite(
    path: str | Path,
    n: int,
    seed: int = 42,
    start_id: int = 1,
    bad_fraction: float = 0.01,
    batch_size: int = 10_000,
    updated_from: datetime = UPDATED_FROM,
    workers: int | None = None,
) -> int:
    """Create the tables in the SQLite file at ``path`` (if missing) and insert ``n`` records.

    Rows are generated in ``batch_size`` chunks; from ``PARALLEL_FROM_ROWS`` rows, by ``workers`` processes (one per
    core by default) while this one inserts the chunks in id order. Each record depends only on ``(seed, id)``, so
    the file holds the same rows either way.
    """
    chunks = [(first, min(batch_size, start_id + n - first)) for first in range(start_id, start_id + n, batch_size)]
    jobs = [(first, count, seed, bad_fraction, updated_from) for first, count in chunks]
    processes = workers if workers is not None else (os.cpu_count() or 1) if n >= PARALLEL_FROM_ROWS else 1
    conn = sqlite3.connect(str(path))
    try:
        conn.executescript(SQLITE_DDL)
        p_sql = f"INSERT INTO pessoas_fisicas VALUES ({', '.join('?' * len(PESSOA_COLUMNS))})"
        f_sql = f"INSERT INTO funcionarios VALUES ({', '.join('?' * len(FUNCIONARIO_COLUMNS))})"
        count = 0
        if processes > 1 and len(jobs) > 1:
            # spawn, not fork: the caller may have threads, and a forked child inherits their locks.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(processes, len(jobs)), mp_context=context) as pool:
                for pessoas, funcionarios in pool.map(_sqlite_chunk, jobs):  # in submission order
                    count += _sqlite_insert(conn, p_sql, f_sql, pessoas, funcionarios)
        else:
            for job in jobs:
                count += _sqlite_insert(conn, p_sql, f_sql, *_sqlite_chunk(job))
        conn.commit()
        return count
    finally:
        conn.close()


SqliteRow = tuple[str | int | float | None, ...]


# The only fields make_record gives as date/datetime (data_nascimento is text as the legacy source keeps it): the
# chunks convert just these, a fifth of a chunk's time when every value went through _sqlite_value
# (tests/glue_jobs/test_demo_data.py checks the result against converting every value).
_FUNCIONARIO_DATES = (
    FUNCIONARIO_COLUMNS.index("data_admissao"),
    FUNCIONARIO_COLUMNS.index("data_desligamento"),
    FUNCIONARIO_COLUMNS.index("atualizado_em"),
)


def _sqlite_chunk(job: tuple[int, int, int, float, datetime]) -> tuple[list[SqliteRow], list[SqliteRow]]:
    """One chunk's rows as SQLite values: (pessoas_fisicas rows, funcionarios rows)."""
    first, count, seed, bad_fraction, updated_from = job
    records = list(generate(count, seed, first, bad_fraction, updated_from))
    pessoas = [cast(SqliteRow, r.pessoa) for r in records]  # ints, floats, text and nulls as they are
    admissao, desligamento, atualizado = _FUNCIONARIO_DATES
    funcionarios: list[SqliteRow] = []
    for record in records:
        row: list[Value] = list(record.funcionario)
        row[admissao] = _sqlite_value(row[admissao])
        row[desligamento] = _sqlite_value(row[desligamento])
        row[atualizado] = _sqlite_value(row[atualizado])
        funcionarios.append(cast(SqliteRow, tuple(row)))
    return pessoas, funcionarios


def _sqlite_insert(
    conn: sqlite3.Connection, p_sql: str, f_sql: str, pessoas: list[SqliteRow], funcionarios: list[SqliteRow]
) -> int:
    conn.executemany(p_sql, pessoas)
    conn.executemany(f_sql, funcionarios)
    return len(pessoas)


# -------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m esteira_extract.demo_data {sqlite PATH | postgres [DSN]} [--rows N] [--seed S]``.

    The PostgreSQL DSN may be empty: libpq then reads PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE,
    which keeps passwords off the command line.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m esteira_extract.demo_data", description=main.__doc__)
    parser.add_argument("target", choices=["sqlite", "postgres"])
    parser.add_argument("location", nargs="?", default="", help="SQLite file path, or PostgreSQL DSN")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start-id", type=int, default=1)
    parser.add_argument("--bad-fraction", type=float, default=0.01)
    args = parser.parse_args(argv)
    if args.target == "sqlite":
        if not args.location:
            parser.error("sqlite needs a file path")
        n = load_sqlite(args.location, args.rows, args.seed, args.start_id, args.bad_fraction)
    else:
        import psycopg

        with psycopg.connect(args.location) as conn:
            n = load_postgres(conn, args.rows, args.seed, args.start_id, args.bad_fraction)
    print(f"loaded {n} demo employees into {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
