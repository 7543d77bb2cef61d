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

from collections.abc import Callable, Iterable, Sequence
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
from esteira_extract.steps import REASONS as REASONS  # the column every module names through transforms
from esteira_extract.steps import Projection, Step, apply_step, names_in

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
# ident(), string() and scalar(). Each rule is a Step (esteira_extract.steps): apply_rules applies consecutive rules in
# one projection where that gives the same result.


def with_tracking(df: DataFrame) -> DataFrame:
    """Add the (empty) reasons column and the as-read row snapshot, if not already present."""
    columns = df.columns
    added = {}
    if RAW not in columns:
        added[RAW] = sf.expr(f"struct({', '.join(ident(c) for c in columns)})")
    if REASONS not in columns:
        added[REASONS] = sf.expr("CAST(array() AS ARRAY<STRING>)")
    return df.withColumns(added) if added else df


def _run(df: DataFrame, step: Step) -> DataFrame:
    return apply_step(with_tracking(df) if step.flags else df, step)


def _names(*columns: str) -> frozenset[str]:
    return frozenset(c.lower() for c in columns)


# ------------------------------------------------------------------------------------ transforms


def _clean(col: str) -> str:
    return f"upper(trim(CAST({ident(col)} AS STRING)))"


def _flags_step(columns: Iterable[str], true_value: str, false_value: str, default: Scalar) -> Step:
    normalised: dict[str, str | Column] = {}
    for col in columns:
        v = _clean(col)
        normalised[col] = (
            f"CASE WHEN {v} = {string(true_value.upper())} THEN {string(true_value)} "
            f"WHEN {v} = {string(false_value.upper())} THEN {string(false_value)} "
            f"ELSE CAST({scalar(default)} AS STRING) END"
        )
    return Step(columns=normalised, reads=_names(*normalised))


def normalise_flags(
    df: DataFrame,
    columns: Iterable[str],
    true_value: str = "S",
    false_value: str = "N",
    default: Scalar = "N",
) -> DataFrame:
    """S/N flags: trimmed, upper-cased; anything that is not ``true_value``/``false_value``
    (junk, blanks, null) becomes ``default``."""
    return _run(df, _flags_step(columns, true_value, false_value, default))


def _binary_step(
    column: str, output: str, true_values: Sequence[str], false_values: Sequence[str], default: int | None, drop: bool
) -> Step:
    v = _clean(column)

    def one_of(values: Sequence[str]) -> str:
        return f"{v} IN ({', '.join(string(t.upper()) for t in values)})"

    branches = f"WHEN {one_of(true_values)} THEN 1"
    if false_values:
        branches += f" WHEN {one_of(false_values)} THEN 0"
    drops = (column,) if drop and output != column else ()
    return Step(
        columns={output: f"CAST(CASE {branches} ELSE {scalar(default)} END AS INT)"}, drops=drops, reads=_names(column)
    )


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
    return _run(df, _binary_step(column, output, true_values, false_values, default, drop_source))


def _fill_step(schema: st.StructType, columns: Iterable[str], value: Scalar) -> Step:
    filled: dict[str, str | Column] = {}
    for col in columns:
        dtype = schema[col].dataType
        current = ident(col)
        if isinstance(dtype, st.StringType):
            current = f"CASE WHEN trim({current}) = '' THEN NULL ELSE {current} END"
        filled[col] = f"coalesce({current}, CAST({scalar(value)} AS {dtype.simpleString()}))"
    return Step(columns=filled, reads=_names(*filled))


def fill_nulls(df: DataFrame, columns: Iterable[str], value: Scalar) -> DataFrame:
    """Replace nulls (and, for strings, blank strings) with ``value``."""
    return _run(df, _fill_step(df.schema, columns, value))


def _dates_step(schema: st.StructType, column: str, formats: Sequence[str], to: str) -> Step:
    dtype = schema[column].dataType
    reads = _names(column)
    if isinstance(dtype, st.DateType | st.TimestampType):
        return Step(
            columns={column: f"CAST({ident(column)} AS {'DATE' if to == 'date' else 'TIMESTAMP'})"}, reads=reads
        )
    trimmed = f"trim(CAST({ident(column)} AS STRING))"
    text = f"CASE WHEN {trimmed} = '' THEN NULL ELSE {trimmed} END"
    parse = "to_date" if to == "date" else "to_timestamp"
    attempts = [f"{parse}({text}, {string(fmt)})" for fmt in formats]
    parsed = f"coalesce({', '.join(attempts)})" if len(attempts) > 1 else attempts[0]
    # The flag and the parsed column both read the column as it was.
    failed = f"{text} IS NOT NULL AND {parsed} IS NULL"
    return Step(columns={column: parsed}, flags=[(failed, f"unparseable_date:{column}")], reads=reads)


def parse_dates(df: DataFrame, column: str, formats: Sequence[str], to: str = "date") -> DataFrame:
    """Parse a string column to date/timestamp trying ``formats`` in order. Blank strings become
    null; a non-blank value that no format parses is flagged ``unparseable_date:<column>``."""
    return _run(df, _dates_step(df.schema, column, formats, to))


def raw_fields(df: DataFrame) -> list[str]:
    raw = df.schema[RAW].dataType
    return [f.name for f in raw.fields] if isinstance(raw, st.StructType) else []


def _range_step(column: str, min_value: float | None, max_value: float | None) -> Step:
    value = f"CAST({ident(column)} AS DOUBLE)"
    bounds = [f"{value} < {scalar(min_value)}"] if min_value is not None else []
    if max_value is not None:
        bounds.append(f"{value} > {scalar(max_value)}")
    failed = " OR ".join(f"({bound})" for bound in bounds) or "false"
    return Step(flags=[(failed, f"out_of_range:{column}")], reads=_names(column))


def check_range(df: DataFrame, column: str, min_value: float | None, max_value: float | None) -> DataFrame:
    """Flag ``out_of_range:<column>`` when the value is outside [min, max]. Nulls pass (pair with
    ``not_null`` to forbid them). Dates/timestamps are not supported; use a ``check`` rule."""
    return _run(df, _range_step(column, min_value, max_value))


def _not_null_step(columns: Iterable[str], reason: str | None) -> Step:
    flags: list[tuple[str | Column, str]] = [(f"{ident(c)} IS NULL", reason or f"null_value:{c}") for c in columns]
    return Step(flags=flags, reads=_names(*columns))


def require_not_null(df: DataFrame, columns: Iterable[str], reason: str | None = None) -> DataFrame:
    """Flag rows where a column is null (``null_value:<column>`` unless ``reason`` is given)."""
    return _run(df, _not_null_step(list(columns), reason))


def _derive_step(column: str, expression: str) -> Step:
    # The spec's expression is parsed on its own (sf.expr), never spliced into other SQL text.
    return Step(columns={column: sf.expr(expression)}, reads=names_in(expression))


def derive(df: DataFrame, column: str, expression: str) -> DataFrame:
    """Add or replace ``column`` with a Spark SQL expression."""
    return _run(df, _derive_step(column, expression))


def _check_step(name: str, condition: str) -> Step:
    # The spec's condition is parsed on its own (never spliced into other SQL text), as derive's expression is; its
    # Column cannot join the reasons' SQL text, so it takes a projection of its own.
    return Step(flags=[(~sf.expr(condition), f"check_failed:{name}")], reads=None)


def check(df: DataFrame, name: str, condition: str) -> DataFrame:
    """Flag ``check_failed:<name>`` where the Spark SQL ``condition`` is false."""
    return _run(df, _check_step(name, condition))


def _map_values_step(column: str, mapping: Sequence[tuple[str, Scalar]], default: Scalar) -> Step:
    v = f"trim(CAST({ident(column)} AS STRING))"
    branches = " ".join(f"WHEN {v} = {string(key)} THEN {scalar(val)}" for key, val in mapping)
    assert branches, "a mapping has at least one entry"
    return Step(columns={column: f"CASE {branches} ELSE {scalar(default)} END"}, reads=_names(column))


def map_values(df: DataFrame, column: str, mapping: Sequence[tuple[str, Scalar]], default: Scalar) -> DataFrame:
    """Look up trimmed values in ``mapping``; unmapped values become ``default``."""
    return _run(df, _map_values_step(column, mapping, default))


def _duplicate_keys_step(key: str, order_by: str) -> Step:
    rank = f"row_number() OVER (PARTITION BY {ident(key)} ORDER BY {ident(order_by)} DESC NULLS LAST)"
    return Step(flags=[(f"{ident(key)} IS NOT NULL AND {rank} > 1", REASON_DUPLICATE_KEY)], reads=_names(key, order_by))


def flag_duplicate_keys(df: DataFrame, key: str, order_by: str) -> DataFrame:
    """Flag ``duplicate_key`` on every row of a non-null key except the one with the highest
    ``order_by`` value (the latest version), so a batch holds one row per key."""
    return _run(df, _duplicate_keys_step(key, order_by))


def rule_step(rule: Rule, schema: Callable[[Sequence[str]], st.StructType]) -> Step:
    """The one place a rule's kind picks its transform (mypy checks every kind is handled). ``schema(columns)``: the
    types of the columns as the rule reads them (fill_null and parse_date need them)."""
    match rule:
        case FlagRule():
            return _flags_step(rule.columns, rule.true_value, rule.false_value, rule.default)
        case BinaryMapRule():
            return _binary_step(
                rule.column, rule.output, rule.true_values, rule.false_values, rule.default, rule.drop_source
            )
        case FillNullRule():
            return _fill_step(schema(rule.columns), rule.columns, rule.value)
        case ParseDateRule():
            return _dates_step(schema([rule.column]), rule.column, rule.formats, rule.to)
        case RangeRule():
            return _range_step(rule.column, rule.min, rule.max)
        case NotNullRule():
            return _not_null_step(rule.columns, None)
        case DeriveRule():
            return _derive_step(rule.column, rule.expression)
        case CheckRule():
            return _check_step(rule.name, rule.condition)
        case MapValuesRule():
            return _map_values_step(rule.column, rule.mapping, rule.default)
    assert_never(rule)


def apply_rule(df: DataFrame, rule: Rule) -> DataFrame:
    """One rule, in a projection of its own."""
    return _run(df, rule_step(rule, lambda _columns: df.schema))


def apply_rules(df: DataFrame, spec: Spec) -> DataFrame:
    """Key checks (null, then duplicates within the batch: the latest watermark wins), then every
    spec rule in order, then the label expression (if any). Consecutive rules share a projection where that gives what
    applying them one by one gives (esteira_extract.steps)."""
    projection = Projection(with_tracking(df))
    projection.add(_not_null_step([spec.primary_key], REASON_NULL_KEY))
    projection.add(_duplicate_keys_step(spec.primary_key, spec.watermark_column))
    for rule in spec.rules:
        projection.add(rule_step(rule, projection.schema))
    if spec.label is not None and spec.label.expression is not None:
        projection.add(_derive_step(spec.label.column, spec.label.expression))
    return projection.flush()


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
