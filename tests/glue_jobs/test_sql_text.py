"""Spec values enter the transforms' SQL text only as data: every literal reads back as exactly the value, typed as
``functions.lit`` types it, and every name as exactly the column."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from esteira_extract import transforms as tf
from esteira_extract.spec_checker import Scalar
from esteira_extract.sql_text import ident, scalar, string

AWKWARD_STRINGS = [
    "",
    "S",
    "plain text: a-b_c/d.e",
    "it's",
    "two '' quotes",
    "back\\slash",
    "\\u0041 is not A",
    "ends with a backslash \\",
    "new\nline and\ttab",
    "nul \x00 byte",
    "Sí, ñandú",
    "emoji \U0001f389",
    "'); DROP TABLE t; --",
    "`backquoted`",
]


@pytest.fixture(params=["false", "true"], ids=["default-escaping", "escapedStringLiterals"])
def parser_setting(spark: SparkSession, request: pytest.FixtureRequest) -> Iterator[None]:
    key = "spark.sql.parser.escapedStringLiterals"
    before = spark.conf.get(key) or "false"
    spark.conf.set(key, request.param)
    yield
    spark.conf.set(key, before)


def test_every_string_reads_back_as_itself_whatever_the_parsers_escaping(
    spark: SparkSession, parser_setting: None
) -> None:
    # GIVEN strings that quote, escape or end SQL text WHEN each is written as a literal and read back
    row = spark.range(1).select(*[sf.expr(string(v)).alias(f"c{i}") for i, v in enumerate(AWKWARD_STRINGS)]).first()
    # THEN each is exactly the value
    assert row is not None
    assert list(row) == AWKWARD_STRINGS


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**31 - 1, 2**31, -(2**63), 2**63 - 1, 1.5, -0.25, 1e-07, 1e300, 14.0, True, False, None, "it's"],
)
def test_a_scalar_is_typed_and_valued_as_lit_types_it(spark: SparkSession, value: Scalar) -> None:
    # GIVEN a spec scalar WHEN written as SQL text and as functions.lit
    frame = spark.range(1).select(sf.expr(scalar(value)).alias("sql"), sf.lit(value).alias("lit"))
    # THEN both have the same type and value
    assert frame.schema["sql"].dataType == frame.schema["lit"].dataType
    row = frame.first()
    assert row is not None and row["sql"] == row["lit"]


def test_an_integer_beyond_bigint_is_an_exact_decimal(spark: SparkSession) -> None:
    # functions.lit cannot take it at all (py4j parses it as a Java long)
    frame = spark.range(1).select(sf.expr(scalar(2**70)).alias("v"))
    assert frame.schema["v"].dataType.simpleString() == "decimal(38,0)"
    row = frame.first()
    assert row is not None and int(row["v"]) == 2**70


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_doubles(spark: SparkSession, value: float) -> None:
    row = spark.range(1).select(sf.expr(scalar(value)).alias("v")).first()
    assert row is not None
    assert (math.isnan(row["v"]) and math.isnan(value)) or row["v"] == value


def test_a_name_with_a_backquote_is_that_column(spark: SparkSession) -> None:
    # GIVEN a column whose name holds a backquote and a space
    df = spark.createDataFrame([(1, None), (2, "x")], "id int, `we``ird name` string")
    # WHEN rules name it
    out = tf.require_not_null(df, ["we`ird name"])
    # THEN it is the column they read, and the as-read snapshot keeps its name
    assert ident("we`ird name") == "`we``ird name`"
    assert [(r["id"], list(r[tf.REASONS])) for r in out.orderBy("id").collect()] == [
        (1, ["null_value:we`ird name"]),
        (2, []),
    ]
    assert tf.raw_fields(out) == ["id", "we`ird name"]


def test_awkward_spec_values_are_matched_and_written_as_data(spark: SparkSession) -> None:
    # GIVEN values with quotes, backslashes and accents in a mapping, a flag and a fill value
    df = spark.createDataFrame(
        [(1, "it's", " sí ", None), (2, "back\\slash", "no", " "), (3, "other", "x", "kept")],
        "id int, kind string, flag string, note string",
    )
    out = tf.map_values(df, "kind", [("it's", "quote'd"), ("back\\slash", 2.5)], "\\N")
    out = tf.normalise_flags(out, ["flag"], true_value="Sí", false_value="NO", default="?'")
    out = tf.fill_nulls(out, ["note"], "n/a: it's \\")
    # WHEN collected THEN each value matched and each written value is exactly the spec's
    rows = [(r["kind"], r["flag"], r["note"]) for r in out.orderBy("id").collect()]
    assert rows == [
        ("quote'd", "Sí", "n/a: it's \\"),
        ("2.5", "NO", "n/a: it's \\"),
        ("\\N", "?'", "kept"),
    ]


def test_a_date_format_with_quoted_text_parses(spark: SparkSession) -> None:
    # GIVEN a timestamp format with a quoted literal T WHEN parsed
    df = spark.createDataFrame([(1, "2025-07-01T10:20:30"), (2, "2025-07-01 10:20:30")], "id int, at string")
    out = tf.parse_dates(df, "at", ["yyyy-MM-dd'T'HH:mm:ss"], to="timestamp")
    rows = out.orderBy("id").collect()
    # THEN the first parses and the second is flagged
    assert rows[0]["at"] is not None and str(rows[0]["at"]).startswith("2025-07-01 10:20:30")
    assert rows[1]["at"] is None and list(rows[1][tf.REASONS]) == ["unparseable_date:at"]
