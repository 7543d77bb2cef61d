"""Generate the apartment-rents example source: a listings table joined to a neighbourhoods lookup table.

Deterministic for a seed (stdlib ``random`` only), small, and nothing like the HR demo: a regression on the monthly
rent of a listing, from its size, its building and its neighbourhood. About one listing in ten is not rented yet
(``monthly_rent`` is NULL): those are the rows the batch predictions score.

    python examples/apartment_rents/generate.py --rows 2000 --sqlite /tmp/rents.db
    python examples/apartment_rents/generate.py --rows 2000 --postgres-url postgresql://owner:...@host/db

The tables are created by this script (never by the pipeline, which only reads a source). ``--touch N`` moves the
``updated_at`` of N existing listings to now and changes their rent a little: what the next incremental extraction
picks up.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

DDL = """
CREATE TABLE IF NOT EXISTS neighbourhoods (
    id                     INTEGER PRIMARY KEY,
    name                   VARCHAR(60) NOT NULL,
    zone                   VARCHAR(20) NOT NULL,
    distance_to_centre_km  DOUBLE PRECISION NOT NULL,
    transit_score          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS listings (
    id                INTEGER PRIMARY KEY,
    code              VARCHAR(12) NOT NULL,
    neighbourhood_id  INTEGER NOT NULL REFERENCES neighbourhoods (id),
    area_m2           DOUBLE PRECISION,
    bedrooms          INTEGER NOT NULL,
    bathrooms         INTEGER NOT NULL,
    floor             INTEGER NOT NULL,
    year_built        INTEGER NOT NULL,
    furnished         VARCHAR(1),
    has_elevator      VARCHAR(1),
    parking_spaces    INTEGER NOT NULL,
    listed_on         VARCHAR(10) NOT NULL,
    monthly_rent      DOUBLE PRECISION,
    updated_at        VARCHAR(23) NOT NULL
);
"""
ZONES = ("centre", "north", "south", "east", "west")
NEIGHBOURHOODS = 24
UPDATED_FROM = datetime(2025, 1, 1, 8, 0, 0)
LISTED_FROM = date(2023, 1, 1)


def neighbourhoods(rng: random.Random) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(1, NEIGHBOURHOODS + 1):
        zone = ZONES[i % len(ZONES)]
        distance = round(rng.uniform(0.5, 4.0) if zone == "centre" else rng.uniform(3.0, 22.0), 1)
        transit = max(1, min(10, round(10 - distance / 2.5 + rng.gauss(0, 1))))
        rows.append((i, f"{zone.title()} {i:02d}", zone, distance, transit))
    return rows


def rent(
    area: float,
    bedrooms: int,
    bathrooms: int,
    year: int,
    furnished: bool,
    elevator: bool,
    parking: int,
    hood: tuple[Any, ...],
    rng: random.Random,
) -> float:
    """Price per m2 falls with the distance to the centre and rises with transit; extras add a fixed amount."""
    per_m2 = 48.0 - 1.6 * float(hood[3]) + 1.5 * int(hood[4])
    value = area * per_m2 + 120 * bedrooms + 90 * (bathrooms - 1) + 110 * parking
    value *= 1.0 + 0.004 * (year - 1970)
    value += 250 if furnished else 0
    value += 80 if elevator else 0
    return round(max(350.0, value * rng.gauss(1.0, 0.04)), 2)


def listings(n: int, rng: random.Random, hoods: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for i in range(1, n + 1):
        hood = rng.choice(hoods)
        bedrooms = rng.choices((0, 1, 2, 3, 4), weights=(8, 30, 35, 20, 7))[0]
        area = round(max(18.0, rng.gauss(28 + 24 * bedrooms, 9)), 1)
        bathrooms = 1 + (bedrooms >= 2) + (bedrooms >= 4 and rng.random() < 0.6)
        year = rng.randint(1955, 2024)
        floor = rng.randint(0, 25)
        elevator = floor > 4 or rng.random() < 0.3
        furnished = rng.random() < 0.3
        parking = rng.choices((0, 1, 2), weights=(40, 45, 15))[0]
        listed = LISTED_FROM + timedelta(days=rng.randint(0, 900))
        rented = rng.random() >= 0.1
        value = rent(area, bedrooms, bathrooms, year, furnished, elevator, parking, hood, rng) if rented else None
        updated = UPDATED_FROM + timedelta(minutes=7 * i)
        yield (
            i,
            f"AP{i:07d}",
            hood[0],
            None if rng.random() < 0.005 else area,  # a few listings miss their area: the spec's rules decide
            bedrooms,
            bathrooms,
            floor,
            year,
            "Y" if furnished else "N",
            "Y" if elevator else "N",
            parking,
            listed.isoformat(),
            value,
            updated.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        )


def generate(n: int, seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    hoods = neighbourhoods(rng)
    return hoods, list(listings(n, rng, hoods))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def write_sqlite(path: str, n: int, seed: int) -> None:
    hoods, rows = generate(n, seed)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(DDL)
        conn.executemany("INSERT INTO neighbourhoods VALUES (?, ?, ?, ?, ?)", hoods)
        conn.executemany(f"INSERT INTO listings VALUES ({', '.join('?' * 14)})", rows)
        conn.commit()
    finally:
        conn.close()


def touch_sqlite(path: str, count: int) -> None:
    conn = sqlite3.connect(path)
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM listings ORDER BY id LIMIT ?", (count,))]
        conn.executemany(
            "UPDATE listings SET monthly_rent = round(monthly_rent * 1.03, 2), updated_at = ? WHERE id = ?",
            [(_now(), i) for i in ids],
        )
        conn.commit()
    finally:
        conn.close()


def write_postgres(url: str, n: int, seed: int) -> None:
    import psycopg

    hoods, rows = generate(n, seed)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(DDL)
        with cur.copy("COPY neighbourhoods FROM STDIN") as copy:
            for row in hoods:
                copy.write_row(row)
        with cur.copy("COPY listings FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="listings to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite", help="SQLite file to create (must not exist)")
    target.add_argument("--postgres-url", help="PostgreSQL database to create the tables in (as their owner)")
    parser.add_argument("--touch", type=int, default=0, metavar="N", help="SQLite: update N existing listings")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    if args.sqlite and args.touch:
        touch_sqlite(args.sqlite, args.touch)
        print(f"updated {args.touch} listings in {args.sqlite}")
        return 0
    if args.sqlite:
        write_sqlite(args.sqlite, args.rows, args.seed)
        print(f"wrote {args.rows} listings to {args.sqlite}")
    else:
        write_postgres(args.postgres_url, args.rows, args.seed)
        print(f"wrote {args.rows} listings to the PostgreSQL database")
    return 0


if __name__ == "__main__":
    sys.exit(main())
