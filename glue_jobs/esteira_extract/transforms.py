"""Pure ``DataFrame -> DataFrame`` cleaning and validation transforms.

Validation never drops rows. Failing rows collect reasons in the internal array column
``_esteira_reasons`` (see :func:`with_tracking`); :func:`split_valid` later routes every row
either to the curated output (no reasons) or to quarantine (reason = first failure, plus the
full list), so ``rows read == rows written + rows quarantined`` by construction.

:func:`with_tracking` also snapshots the row exactly as read into ``_esteira_raw`` so quarantine
keeps the original (unparsed, uncleaned) values.

Date parsing needs ``spark.sql.legacy.timeParserPolicy=CORRECTED`` (set by the job) so that an
invalid date such as ``1990-02-31`` yields null instead of a SparkUpgradeException.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import assert_never

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_extract.rules import (
    BinaryMapRule,
    CheckRule,
    DeriveRule,
    FillNullRule,
    FlagRule,
    MapValuesRule,
    NotNullRule,
    ParseDateRule,
    RangeRule,
    Rule,
)
from esteira_extract.spec import OutputType, Scalar, Spec
from esteira_extract.sql_text import ident, scalar, string

REASONS = "_esteira_reasons"
RAW = "_esteira_raw"
INTERNAL = (REASONS, RAW)

REASON_NULL_KEY = "null_key"
REASON_DUPLICATE_KEY = "duplicate_key"

SPARK_TYPES: dict[OutputType, st.DataType] = {
    "int": st.IntegerType(),
    "bigint": st.LongType(),
    "float": st.FloatType(),
    "double": st.DoubleType(),
    "string": st.StringType(),
    "date": st.DateType(),
    "timestamp": st.TimestampType(),
    "boolean": st.BooleanType(),
}


# ------------------------------------------------------------------------------- reason tracking
# Each column is one Spark SQL expression (esteira_extract.sql_text says why); spec values enter it only through
# ident(), string() and scalar().

_REASONS = ident(REASONS)


def with_tracking(df: DataFrame) -> DataFrame:
    """Add the (empty) reasons column and the as-read row snapshot, if not already present."""
    columns = df.columns
    added = {}
    if RAW not in columns:
        added[RAW] = sf.expr(f"struct({', '.join(ident(c) for c in columns)})")
    if REASONS not in columns:
        added[REASONS] = sf.expr("CAST(array() AS ARRAY<STRING>)")
    return df.withColumns(added) if added else df


def _flagged(failed: str | Column, reason: str) -> Column:
    """The reasons column with ``reason`` appended where ``failed`` (SQL text, or a Column for a spec's own SQL,
    which is parsed on its own) is true; null counts as not failed."""
    appended = f"concat({_REASONS}, array({string(reason)}))"
    if isinstance(failed, str):
        return sf.expr(f"CASE WHEN {failed} THEN {appended} ELSE {_REASONS} END")
    return sf.when(failed, sf.expr(appended)).otherwise(sf.col(REASONS))


def flag_rows(df: DataFrame, failed: str | Column, reason: str) -> DataFrame:
    """Append ``reason`` to rows where ``failed`` is true (null counts as not failed)."""
    return with_tracking(df).withColumn(REASONS, _flagged(failed, reason))


# ------------------------------------------------------------------------------------ transforms


def _clean(col: str) -> str:
    return f"upper(trim(CAST({ident(col)} AS STRING)))"


def normalise_flags(
    df: DataFrame,
    columns: Iterable[str],
    true_value: str = "S",
    false_value: str = "N",
    default: Scalar = "N",
) -> DataFrame:
    """S/N flags: trimmed, upper-cased; anything that is not ``true_value``/``false_value``
    (junk, blanks, null) becomes ``default``."""
    normalised = {}
    for col in columns:
        v = _clean(col)
        normalised[col] = sf.expr(
            f"CASE WHEN {v} = {string(true_value.upper())} THEN {string(true_value)} "
            f"WHEN {v} = {string(false_value.upper())} THEN {string(false_value)} "
            f"ELSE CAST({scalar(default)} AS STRING) END"
        )
    return df.withColumns(normalised)  # one projection: each column reads only itself


def map_binary(
    df: DataFrame,
    column: str,
    output: str,
    true_values: Sequence[str],
    false_values: Sequence[str] = (),
    default: int | None = 0,
    drop_source: bool = True,
) -> DataFrame:
    """Categorical -> 0/1 int (e.g. sexo 'M'/'F' -> masculino 1/0). Values are trimmed and
    upper-cased before matching; unmatched values (and null) become ``default``."""
    v = _clean(column)

    def one_of(values: Sequence[str]) -> str:
        return f"{v} IN ({', '.join(string(t.upper()) for t in values)})"

    branches = f"WHEN {one_of(true_values)} THEN 1"
    if false_values:
        branches += f" WHEN {one_of(false_values)} THEN 0"
    df = df.withColumn(output, sf.expr(f"CAST(CASE {branches} ELSE {scalar(default)} END AS INT)"))
    if drop_source and output != column:
        df = df.drop(column)
    return df


def fill_nulls(df: DataFrame, columns: Iterable[str], value: Scalar) -> DataFrame:
    """Replace nulls (and, for strings, blank strings) with ``value``."""
    schema = df.schema
    filled = {}
    for col in columns:
        dtype = schema[col].dataType
        current = ident(col)
        if isinstance(dtype, st.StringType):
            current = f"CASE WHEN trim({current}) = '' THEN NULL ELSE {current} END"
        filled[col] = sf.expr(f"coalesce({current}, CAST({scalar(value)} AS {dtype.simpleString()}))")
    return df.withColumns(filled)  # one projection: each column reads only itself


def parse_dates(df: DataFrame, column: str, formats: Sequence[str], to: str = "date") -> DataFrame:
    """Parse a string column to date/timestamp trying ``formats`` in order. Blank strings become
    null; a non-blank value that no format parses is flagged ``unparseable_date:<column>``."""
    dtype = df.schema[column].dataType
    target = "DATE" if to == "date" else "TIMESTAMP"
    if isinstance(dtype, st.DateType | st.TimestampType):
        return df.withColumn(column, sf.expr(f"CAST({ident(column)} AS {target})"))
    trimmed = f"trim(CAST({ident(column)} AS STRING))"
    text = f"CASE WHEN {trimmed} = '' THEN NULL ELSE {trimmed} END"
    parse = "to_date" if to == "date" else "to_timestamp"
    attempts = [f"{parse}({text}, {string(fmt)})" for fmt in formats]
    parsed = f"coalesce({', '.join(attempts)})" if len(attempts) > 1 else attempts[0]
    # One projection: the flag and the parsed column both read the column as it was (each DataFrame step costs the
    # driver a plan analysis; a rule used to take four).
    df = with_tracking(df)
    failed = f"{text} IS NOT NULL AND {parsed} IS NULL"
    return df.withColumns({REASONS: _flagged(failed, f"unparseable_date:{column}"), column: sf.expr(parsed)})


def raw_fields(df: DataFrame) -> list[str]:
    raw = df.schema[RAW].dataType
    return [f.name for f in raw.fields] if isinstance(raw, st.StructType) else []


def check_range(df: DataFrame, column: str, min_value: float | None, max_value: float | None) -> DataFrame:
    """Flag ``out_of_range:<column>`` when the value is outside [min, max]. Nulls pass (pair with
    ``not_null`` to forbid them). Dates/timestamps are not supported; use a ``check`` rule."""
    value = f"CAST({ident(column)} AS DOUBLE)"
    bounds = [f"{value} < {scalar(min_value)}"] if min_value is not None else []
    if max_value is not None:
        bounds.append(f"{value} > {scalar(max_value)}")
    failed = " OR ".join(f"({bound})" for bound in bounds) or "false"
    return flag_rows(df, failed, f"out_of_range:{column}")


def require_not_null(df: DataFrame, columns: Iterable[str], reason: str | None = None) -> DataFrame:
    """Flag rows where a column is null (``null_value:<column>`` unless ``reason`` is given)."""
    for col in columns:
        df = flag_rows(df, f"{ident(col)} IS NULL", reason or f"null_value:{col}")
    return df


def derive(df: DataFrame, column: str, expression: str) -> DataFrame:
    """Add or replace ``column`` with a Spark SQL expression."""
    return df.withColumn(column, sf.expr(expression))


def check(df: DataFrame, name: str, condition: str) -> DataFrame:
    """Flag ``check_failed:<name>`` where the Spark SQL ``condition`` is false."""
    # The spec's condition is parsed on its own (never spliced into other SQL text), as derive's expression is.
    return flag_rows(df, ~sf.expr(condition), f"check_failed:{name}")


def map_values(df: DataFrame, column: str, mapping: Sequence[tuple[str, Scalar]], default: Scalar) -> DataFrame:
    """Look up trimmed values in ``mapping``; unmapped values become ``default``."""
    v = f"trim(CAST({ident(column)} AS STRING))"
    branches = " ".join(f"WHEN {v} = {string(key)} THEN {scalar(val)}" for key, val in mapping)
    assert branches, "a mapping has at least one entry"
    return df.withColumn(column, sf.expr(f"CASE {branches} ELSE {scalar(default)} END"))


def apply_rule(df: DataFrame, rule: Rule) -> DataFrame:
    """The one place a rule's kind picks its transform (mypy checks every kind is handled)."""
    match rule:
        case FlagRule():
            return normalise_flags(df, rule.columns, rule.true_value, rule.false_value, rule.default)
        case BinaryMapRule():
            return map_binary(
                df, rule.column, rule.output, rule.true_values, rule.false_values, rule.default, rule.drop_source
            )
        case FillNullRule():
            return fill_nulls(df, rule.columns, rule.value)
        case ParseDateRule():
            return parse_dates(df, rule.column, rule.formats, rule.to)
        case RangeRule():
            return check_range(df, rule.column, rule.min, rule.max)
        case NotNullRule():
            return require_not_null(df, rule.columns)
        case DeriveRule():
            return derive(df, rule.column, rule.expression)
        case CheckRule():
            return check(df, rule.name, rule.condition)
        case MapValuesRule():
            return map_values(df, rule.column, rule.mapping, rule.default)
    assert_never(rule)


def flag_duplicate_keys(df: DataFrame, key: str, order_by: str) -> DataFrame:
    """Flag ``duplicate_key`` on every row of a non-null key except the one with the highest
    ``order_by`` value (the latest version), so a batch holds one row per key."""
    rank = f"row_number() OVER (PARTITION BY {ident(key)} ORDER BY {ident(order_by)} DESC NULLS LAST)"
    return flag_rows(df, f"{ident(key)} IS NOT NULL AND {rank} > 1", REASON_DUPLICATE_KEY)


def apply_rules(df: DataFrame, spec: Spec) -> DataFrame:
    """Key checks (null, then duplicates within the batch: the latest watermark wins), then every
    spec rule in order, then the label expression (if any)."""
    df = require_not_null(with_tracking(df), [spec.primary_key], REASON_NULL_KEY)
    df = flag_duplicate_keys(df, spec.primary_key, spec.watermark_column)
    for rule in spec.rules:
        df = apply_rule(df, rule)
    if spec.label is not None and spec.label.expression is not None:
        df = derive(df, spec.label.column, spec.label.expression)
    return df


def select_output(df: DataFrame, spec: Spec) -> DataFrame:
    """Exactly the spec's ``output_columns``, in order, cast to their declared types."""
    return df.selectExpr(
        *[
            f"CAST({ident(c.name)} AS {SPARK_TYPES[c.type].simpleString()}) AS {ident(c.name)}"
            for c in spec.output_columns
        ]
    )


def output_schema(spec: Spec) -> st.StructType:
    return st.StructType([st.StructField(c.name, SPARK_TYPES[c.type], True) for c in spec.output_columns])
