"""The incremental watermark: a small JSON object at ``--state_uri``.

It holds the highest watermark-column value read by the last *successful* run, plus that run's
id and commit time. The job writes it only after the data and manifests are written, so a
failed run never advances it and the next run re-reads the same window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_extract.storage import read_json, write_json

WatermarkKind = Literal["timestamp", "date", "integer", "string"]
STATE_VERSION = 1

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StateError(RuntimeError):
    """The stored state does not match the spec or is malformed."""


@dataclass(frozen=True)
class Watermark:
    column: str
    value: str | int
    kind: WatermarkKind

    def sql_literal(self) -> str:
        """The value as a SQL literal for the source database (validated, quoted)."""
        if self.kind == "integer":
            return str(int(self.value))
        text = str(self.value)
        if self.kind == "timestamp" and not _TIMESTAMP.match(text):
            raise StateError(f"bad timestamp watermark {text!r}")
        if self.kind == "date" and not _DATE.match(text):
            raise StateError(f"bad date watermark {text!r}")
        return "'" + text.replace("'", "''") + "'"

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "value": self.value, "type": self.kind}


def kind_of(dtype: st.DataType) -> WatermarkKind:
    if isinstance(dtype, st.TimestampType | st.TimestampNTZType):
        return "timestamp"
    if isinstance(dtype, st.DateType):
        return "date"
    if isinstance(dtype, st.ByteType | st.ShortType | st.IntegerType | st.LongType) or (
        isinstance(dtype, st.DecimalType) and dtype.scale == 0
    ):
        return "integer"
    if isinstance(dtype, st.StringType):
        return "string"
    raise StateError(f"unsupported watermark column type {dtype.simpleString()}")


def count_and_max_watermark(df: DataFrame, column: str) -> tuple[int, Watermark | None]:
    """The number of rows of ``df`` and the highest value of ``column`` in it (None if df is empty or all null), in one
    aggregation: one pass over the rows instead of two.

    Timestamps are rendered in Spark (session time zone = the zone the JDBC reader used) with
    microseconds, so the literal round-trips exactly into the next run's filter.
    """
    kind = kind_of(df.schema[column].dataType)
    col = sf.max(sf.col(column))
    if kind == "timestamp":
        expr = sf.date_format(col, "yyyy-MM-dd HH:mm:ss.SSSSSS")
    elif kind == "date":
        expr = sf.date_format(col, "yyyy-MM-dd")
    elif kind == "integer":
        expr = col.cast("long")
    else:
        expr = col
    row = df.agg(sf.count(sf.lit(1)).alias("rows"), expr.alias("wm")).collect()[0]
    rows, value = int(row["rows"]), row["wm"]
    if value is None:
        return rows, None
    return rows, Watermark(column=column, value=int(value) if kind == "integer" else str(value), kind=kind)


@dataclass(frozen=True)
class State:
    spec_name: str
    watermark: Watermark | None
    run_id: str
    run_date: str
    committed_at: str
    manifest_uri: str

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "spec_name": self.spec_name,
            "watermark": self.watermark.to_json() if self.watermark else None,
            "run_id": self.run_id,
            "run_date": self.run_date,
            "committed_at": self.committed_at,
            "manifest_uri": self.manifest_uri,
        }


class WatermarkStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri

    def load(self, spec_name: str, watermark_column: str) -> State | None:
        """The last committed state, or None before the first successful run."""
        data = read_json(self.uri)
        if data is None:
            return None
        try:
            if data["spec_name"] != spec_name:
                raise StateError(
                    f"state at {self.uri} belongs to spec {data['spec_name']!r}, not {spec_name!r}; "
                    "use a separate --state_uri per spec"
                )
            wm_data = data["watermark"]
            wm = None
            if wm_data is not None:
                if wm_data["column"] != watermark_column:
                    raise StateError(
                        f"state at {self.uri} tracks watermark column {wm_data['column']!r} but the spec "
                        f"now uses {watermark_column!r}; delete the state object to re-extract everything"
                    )
                wm = Watermark(column=wm_data["column"], value=wm_data["value"], kind=wm_data["type"])
                wm.sql_literal()  # validates the stored value
            return State(
                spec_name=data["spec_name"],
                watermark=wm,
                run_id=data["run_id"],
                run_date=data["run_date"],
                committed_at=data["committed_at"],
                manifest_uri=data["manifest_uri"],
            )
        except (KeyError, TypeError) as exc:
            raise StateError(f"malformed state at {self.uri}: {exc!r}") from exc

    def save(self, state: State) -> None:
        write_json(self.uri, state.to_json())


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
