"""Parallel, incremental JDBC reads with ``spark.read.format("jdbc")``.

The source SELECT from the spec is wrapped as ``SELECT * FROM (<source>) esteira_base WHERE
<watermark> > <last watermark>`` so the incremental filter runs in the database. For a parallel
read the job first asks the database for MIN/MAX of the partition column over that same filtered
query and hands them to Spark as ``lowerBound``/``upperBound`` with ``numPartitions``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, DataFrameReader, SparkSession

from esteira_extract.secrets import no_payload_logging
from esteira_extract.spec import Spec
from esteira_extract.tls import describe_tls_failure, verified_url
from esteira_extract.watermark import Watermark

log = logging.getLogger(__name__)

DRIVERS = {
    "postgresql": "org.postgresql.Driver",
    "sqlite": "org.sqlite.JDBC",
    "mysql": "com.mysql.cj.jdbc.Driver",
    "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "oracle": "oracle.jdbc.OracleDriver",
}


def driver_for(url: str) -> str:
    """The JDBC driver class for ``jdbc:<subprotocol>:...``."""
    parts = url.split(":", 2)
    if len(parts) < 3 or parts[0] != "jdbc" or parts[1] not in DRIVERS:
        raise ValueError(f"unsupported JDBC URL {url.split('?')[0]!r}; expected jdbc:<{'|'.join(DRIVERS)}>:...")
    return DRIVERS[parts[1]]


@dataclass(frozen=True)
class JdbcSource:
    url: str
    user: str
    password: str = field(repr=False)
    fetch_size: int = 10_000
    # The CA the server's certificate must chain to (esteira_extract.tls): a path or a packaged bundle's name.
    ca_bundle: str | None = None

    def reader(self, spark: SparkSession) -> DataFrameReader:
        """A JDBC reader with connection options set. Spark redacts ``password`` in plans/UI."""
        url = verified_url(self.url, self.ca_bundle)
        with no_payload_logging():
            reader = (
                spark.read.format("jdbc")
                .option("url", url)
                .option("driver", driver_for(url))
                .option("fetchsize", str(self.fetch_size))
            )
            if self.user:
                reader = reader.option("user", self.user).option("password", self.password)
            return reader


def load(reader: DataFrameReader, source: JdbcSource) -> DataFrame:
    """``reader.load()``, with a clear TlsVerificationError when the driver refuses the server's certificate."""
    try:
        return reader.load()
    except Exception as error:
        tls_error = describe_tls_failure(error, source.url, source.ca_bundle)
        if tls_error is None:
            raise
        raise tls_error from error


def watermark_literal(watermark: Watermark, url: str = "") -> str:
    """``watermark`` as a SQL literal in the source's dialect.

    MySQL (unless NO_BACKSLASH_ESCAPES is set) also treats a backslash as an escape inside quotes: ``\\'`` would
    end the literal early. Doubling backslashes keeps the value one literal in either mode.
    """
    literal = watermark.sql_literal()
    if url.startswith("jdbc:mysql:") and watermark.kind == "string":
        literal = "'" + literal[1:-1].replace("\\", "\\\\") + "'"
    return literal


def incremental_sql(spec: Spec, watermark: Watermark | None, url: str = "") -> str:
    """The source SELECT restricted to rows newer than ``watermark`` (all rows if None)."""
    base = spec.source.select_sql()
    if watermark is None:
        return base
    literal = watermark_literal(watermark, url)
    return f"SELECT * FROM ({base}) esteira_base WHERE {spec.watermark_column} > {literal}"


def _bound(value: Any, upper: bool) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return str(math.ceil(value) if upper else math.floor(value))
    return str(value)


def read_bounds(spark: SparkSession, source: JdbcSource, sql: str, column: str) -> tuple[str, str] | None:
    """MIN/MAX of ``column`` over ``sql`` as Spark bound strings, or None when there are no rows.

    One query, so one scan of the window in the user's database and one Spark job: MIN/MAX over no rows is NULL.
    sqlite-jdbc alone cannot type MIN/MAX over an empty window, so for SQLite the rows are counted first.
    """
    if source.url.startswith("jdbc:sqlite:"):
        count = f"SELECT COUNT(*) AS n FROM ({sql}) esteira_count"
        if int(load(source.reader(spark).option("query", count), source).collect()[0]["n"]) == 0:
            return None
    query = f"SELECT MIN({column}) AS lo, MAX({column}) AS hi FROM ({sql}) esteira_bounds"
    row = load(source.reader(spark).option("query", query), source).collect()[0]
    if row["lo"] is None or row["hi"] is None:
        return None
    return _bound(row["lo"], upper=False), _bound(row["hi"], upper=True)


def read_source(spark: SparkSession, source: JdbcSource, spec: Spec, watermark: Watermark | None) -> DataFrame:
    """The spec's source rows newer than ``watermark``, read in up to ``num_partitions`` slices."""
    sql = incremental_sql(spec, watermark, source.url)
    reader = source.reader(spark).option("dbtable", f"({sql}) esteira_src")
    if spec.num_partitions > 1:
        bounds = read_bounds(spark, source, sql, spec.partition_column)
        if bounds is not None:
            lo, hi = bounds
            log.info(
                "parallel read on %s in [%s, %s] with %d partitions",
                spec.partition_column,
                lo,
                hi,
                spec.num_partitions,
            )
            reader = (
                reader.option("partitionColumn", spec.partition_column)
                .option("lowerBound", lo)
                .option("upperBound", hi)
                .option("numPartitions", str(spec.num_partitions))
            )
    return load(reader, source)
