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


def with_tracking(df: DataFrame) -> DataFrame:
    """Add the (empty) reasons column and the as-read row snapshot, if not already present."""
    if RAW not in df.columns:
        df = df.withColumn(RAW, sf.struct(*[sf.col(f"`{c}`") for c in df.columns]))
    if REASONS not in df.columns:
        df = df.withColumn(REASONS, sf.array().cast(st.ArrayType(st.StringType())))
    return df


def _flagged(failed: Column, reason: str) -> Column:
    """The reasons column with ``reason`` appended where ``failed`` is true (null counts as not failed)."""
    return sf.when(failed, sf.concat(sf.col(REASONS), sf.array(sf.lit(reason)))).otherwise(sf.col(REASONS))


def flag_rows(df: DataFrame, failed: Column, reason: str) -> DataFrame:
    """Append ``reason`` to rows where ``failed`` is true (null counts as not failed)."""
    return with_tracking(df).withColumn(REASONS, _flagged(failed, reason))


# ------------------------------------------------------------------------------------ transforms


def _clean(col: str) -> Column:
    return sf.upper(sf.trim(sf.col(col).cast("string")))


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
        normalised[col] = (
            sf.when(v == true_value.upper(), sf.lit(true_value))
            .when(v == false_value.upper(), sf.lit(false_value))
            .otherwise(sf.lit(default).cast("string"))
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
    expr = sf.when(v.isin([t.upper() for t in true_values]), sf.lit(1))
    if false_values:
        expr = expr.when(v.isin([f.upper() for f in false_values]), sf.lit(0))
    df = df.withColumn(output, expr.otherwise(sf.lit(default)).cast("int"))
    if drop_source and output != column:
        df = df.drop(column)
    return df


def fill_nulls(df: DataFrame, columns: Iterable[str], value: Scalar) -> DataFrame:
    """Replace nulls (and, for strings, blank strings) with ``value``."""
    schema = df.schema
    filled = {}
    for col in columns:
        dtype = schema[col].dataType
        current = sf.col(col)
        if isinstance(dtype, st.StringType):
            current = sf.when(sf.trim(current) == "", sf.lit(None)).otherwise(current)
        filled[col] = sf.coalesce(current, sf.lit(value).cast(dtype))
    return df.withColumns(filled)  # one projection: each column reads only itself


def parse_dates(df: DataFrame, column: str, formats: Sequence[str], to: str = "date") -> DataFrame:
    """Parse a string column to date/timestamp trying ``formats`` in order. Blank strings become
    null; a non-blank value that no format parses is flagged ``unparseable_date:<column>``."""
    dtype = df.schema[column].dataType
    target = st.DateType() if to == "date" else st.TimestampType()
    if isinstance(dtype, st.DateType | st.TimestampType):
        return df.withColumn(column, sf.col(column).cast(target))
    text = sf.trim(sf.col(column).cast("string"))
    text = sf.when(text == "", sf.lit(None)).otherwise(text)
    parse = sf.to_date if to == "date" else sf.to_timestamp
    parsed = sf.coalesce(*[parse(text, fmt) for fmt in formats]) if len(formats) > 1 else parse(text, formats[0])
    # One projection: the flag and the parsed column both read the column as it was (each DataFrame step costs the
    # driver a plan analysis; a rule used to take four).
    df = with_tracking(df)
    failed = text.isNotNull() & parsed.isNull()
    return df.withColumns({REASONS: _flagged(failed, f"unparseable_date:{column}"), column: parsed})


def raw_fields(df: DataFrame) -> list[str]:
    raw = df.schema[RAW].dataType
    return [f.name for f in raw.fields] if isinstance(raw, st.StructType) else []


def check_range(df: DataFrame, column: str, min_value: float | None, max_value: float | None) -> DataFrame:
    """Flag ``out_of_range:<column>`` when the value is outside [min, max]. Nulls pass (pair with
    ``not_null`` to forbid them). Dates/timestamps are not supported; use a ``check`` rule."""
    value = sf.col(column).cast("double")
    failed = sf.lit(False)
    if min_value is not None:
        failed = failed | (value < sf.lit(min_value))
    if max_value is not None:
        failed = failed | (value > sf.lit(max_value))
    return flag_rows(df, failed, f"out_of_range:{column}")


def require_not_null(df: DataFrame, columns: Iterable[str], reason: str | None = None) -> DataFrame:
    """Flag rows where a column is null (``null_value:<column>`` unless ``reason`` is given)."""
    for col in columns:
        df = flag_rows(df, sf.col(col).isNull(), reason or f"null_value:{col}")
    return df


def derive(df: DataFrame, column: str, expression: str) -> DataFrame:
    """Add or replace ``column`` with a Spark SQL expression."""
    return df.withColumn(column, sf.expr(expression))


def check(df: DataFrame, name: str, condition: str) -> DataFrame:
    """Flag ``check_failed:<name>`` where the Spark SQL ``condition`` is false."""
    return flag_rows(df, ~sf.expr(condition), f"check_failed:{name}")


def map_values(df: DataFrame, column: str, mapping: Sequence[tuple[str, Scalar]], default: Scalar) -> DataFrame:
    """Look up trimmed values in ``mapping``; unmapped values become ``default``."""
    v = sf.trim(sf.col(column).cast("string"))
    expr: Column | None = None
    for key, val in mapping:
        expr = sf.when(v == key, sf.lit(val)) if expr is None else expr.when(v == key, sf.lit(val))
    assert expr is not None
    return df.withColumn(column, expr.otherwise(sf.lit(default)))


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
    from pyspark.sql import Window

    tmp = "__esteira_key_rank"
    window = Window.partitionBy(sf.col(key)).orderBy(sf.col(order_by).desc_nulls_last())
    df = with_tracking(df).withColumn(tmp, sf.row_number().over(window))
    return flag_rows(df, sf.col(key).isNotNull() & (sf.col(tmp) > 1), REASON_DUPLICATE_KEY).drop(tmp)


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
    return df.select(*[sf.col(c.name).cast(SPARK_TYPES[c.type]).alias(c.name) for c in spec.output_columns])


def output_schema(spec: Spec) -> st.StructType:
    return st.StructType([st.StructField(c.name, SPARK_TYPES[c.type], True) for c in spec.output_columns])
