"""Unit tests for every pure transform, on tiny in-memory DataFrames."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import types as st

from esteira_extract import transforms as tf
from esteira_extract.quarantine import reason_counts, split_valid
from esteira_extract.rules import DeriveRule
from esteira_extract.spec import load_spec, parse_spec
from tests.glue_jobs.conftest import DEMO_SPEC


def collect_by_id(df: DataFrame) -> list[Row]:
    return sorted(df.collect(), key=lambda r: int(r["id"]))


def rows(df: DataFrame, *cols: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in cols) for r in collect_by_id(df)]


def reasons(df: DataFrame) -> list[list[str]]:
    return [list(r[tf.REASONS]) for r in collect_by_id(df)]


def test_given_messy_flags_when_normalised_then_only_s_or_n_remain_defaulting_to_n(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, "S"), (2, "N"), (3, " s "), (4, "X"), (5, ""), (6, None), (7, "sim")], "id int, f string"
    )

    out = tf.normalise_flags(df, ["f"])

    assert rows(out, "f") == [("S",), ("N",), ("S",), ("N",), ("N",), ("N",), ("N",)]


def test_given_a_custom_default_when_flags_normalised_then_junk_takes_that_default(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "Y"), (2, "?")], "id int, f string")

    out = tf.normalise_flags(df, ["f"], true_value="Y", false_value="N", default=None)

    assert rows(out, "f") == [("Y",), (None,)]


def test_given_sexo_when_mapped_to_masculino_then_m_is_1_and_anything_else_0(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "M"), (2, "F"), (3, "m "), (4, "X"), (5, None)], "id int, sexo string")

    out = tf.map_binary(df, "sexo", "masculino", ["M"])

    assert "sexo" not in out.columns
    assert out.schema["masculino"].dataType == st.IntegerType()
    assert rows(out, "masculino") == [(1,), (0,), (1,), (0,), (0,)]


def test_given_false_values_and_null_default_when_mapped_then_unknowns_are_null(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "M"), (2, "F"), (3, "X")], "id int, sexo string")

    out = tf.map_binary(df, "sexo", "masculino", ["M"], ["F"], default=None, drop_source=False)

    assert rows(out, "sexo", "masculino") == [("M", 1), ("F", 0), ("X", None)]


def test_given_nulls_and_blanks_when_filled_then_default_replaces_them_and_keeps_type(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, None, None), (2, "  ", 5), (3, "casado", 7)], "id int, ec string, n int")

    out = tf.fill_nulls(tf.fill_nulls(df, ["ec"], "nao_informado"), ["n"], 0)

    assert rows(out, "ec", "n") == [("nao_informado", 0), ("nao_informado", 5), ("casado", 7)]
    assert out.schema["n"].dataType == st.IntegerType()


def test_given_date_strings_in_two_formats_when_parsed_then_bad_ones_are_flagged(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, "1990-05-17"), (2, "17/05/1990"), (3, "31/02/1990"), (4, "desconhecido"), (5, None), (6, " ")],
        "id int, nasc string",
    )

    out = tf.parse_dates(df, "nasc", ["yyyy-MM-dd", "dd/MM/yyyy"])

    assert out.schema["nasc"].dataType == st.DateType()
    assert rows(out, "nasc") == [(date(1990, 5, 17),), (date(1990, 5, 17),), (None,), (None,), (None,), (None,)]
    assert reasons(out) == [[], [], ["unparseable_date:nasc"], ["unparseable_date:nasc"], [], []]
    # The row as read is kept for quarantine.
    assert [r[tf.RAW]["nasc"] for r in collect_by_id(out)][2] == "31/02/1990"


def test_given_timestamp_text_or_typed_dates_when_parsed_then_cast_without_flags(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "2025-01-02 03:04:05.678", date(2020, 1, 1))], "id int, ts string, d date")

    out = tf.parse_dates(tf.parse_dates(df, "ts", ["yyyy-MM-dd HH:mm:ss.SSS"], to="timestamp"), "d", ["x"])

    assert rows(out, "ts", "d") == [(datetime(2025, 1, 2, 3, 4, 5, 678000), date(2020, 1, 1))]
    assert reasons(out) == [[]]


def test_given_numbers_when_range_checked_then_only_out_of_bounds_are_flagged(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, 10.0), (2, -1.0), (3, 121.0), (4, None), (5, 120.0)], "id int, v double")

    out = tf.check_range(df, "v", 0, 120)

    assert reasons(out) == [[], ["out_of_range:v"], ["out_of_range:v"], [], []]
    assert rows(out, "v") == [(10.0,), (-1.0,), (121.0,), (None,), (120.0,)]


def test_given_a_one_sided_range_when_checked_then_the_other_side_is_open(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, -5), (2, 10**9)], "id int, v long")

    assert reasons(tf.check_range(df, "v", 1, None)) == [["out_of_range:v"], []]


def test_given_required_columns_when_null_then_flagged_with_column_name(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "a"), (2, None)], "id int, k string")

    assert reasons(tf.require_not_null(df, ["k"])) == [[], ["null_value:k"]]
    assert reasons(tf.require_not_null(df, ["k"], "null_key")) == [[], ["null_key"]]


def test_given_derive_and_check_when_applied_then_expression_and_condition_work(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, date(2020, 1, 1), date(2020, 6, 1)), (2, date(2020, 1, 1), date(2019, 1, 1)), (3, date(2020, 1, 1), None)],
        "id int, adm date, desl date",
    )

    out = tf.check(tf.derive(df, "dias", "datediff(desl, adm)"), "desl_after_adm", "desl IS NULL OR desl >= adm")

    assert rows(out, "dias") == [(152,), (-365,), (None,)]
    assert reasons(out) == [[], ["check_failed:desl_after_adm"], []]


def test_given_coded_values_when_mapped_then_unmapped_become_default(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, "C"), (2, " S "), (3, "Z")], "id int, ec string")

    out = tf.map_values(df, "ec", [("C", "casado"), ("S", "solteiro")], "outro")

    assert rows(out, "ec") == [("casado",), ("solteiro",), ("outro",)]


def test_given_several_failures_when_split_then_first_reason_counts_and_all_are_kept(spark: SparkSession) -> None:
    spec = parse_spec(
        {
            "name": "t",
            "source": {"query": "SELECT 1"},
            "primary_key": "k",
            "watermark": {"column": "id"},
            "partitioning": {"column": "id", "num_partitions": 1},
            "rules": [
                {"type": "range", "column": "v", "min": 0},
                {"type": "parse_date", "column": "d", "formats": ["yyyy-MM-dd"]},
            ],
            "label": {"column": "y", "expression": "CASE WHEN v > 10 THEN 1 ELSE 0 END"},
            "output_columns": [
                {"name": "k", "type": "string"},
                {"name": "v", "type": "double"},
                {"name": "d", "type": "date"},
                {"name": "y", "type": "int"},
            ],
        }
    )
    df = spark.createDataFrame(
        [(1, "a", 20, "2020-01-01"), (2, None, -1, "bad"), (3, "c", -2, "2020-01-02"), (4, "d", 5, "x")],
        "id int, k string, v int, d string",
    )

    cleaned = tf.apply_rules(df, spec)
    valid, quarantined = split_valid(cleaned, spec)

    assert [(f.name, f.dataType) for f in valid.schema] == [(f.name, f.dataType) for f in tf.output_schema(spec)]
    assert [tuple(r) for r in valid.collect()] == [("a", 20.0, date(2020, 1, 1), 1)]
    q = {r["id"]: (r["k"], r["d"], r["quarantine_reason"], r["quarantine_reasons"]) for r in quarantined.collect()}
    assert q == {
        2: (None, "bad", "null_key", "null_key,out_of_range:v,unparseable_date:d"),
        3: ("c", "2020-01-02", "out_of_range:v", "out_of_range:v"),
        4: ("d", "x", "unparseable_date:d", "unparseable_date:d"),
    }
    assert quarantined.columns == ["id", "k", "v", "d", "quarantine_reason", "quarantine_reasons"]
    assert reason_counts(cleaned) == (1, {"null_key": 1, "out_of_range:v": 1, "unparseable_date:d": 1})


def test_given_repeated_keys_when_rules_applied_then_only_the_latest_version_is_kept(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [(1, "a", 10), (2, "a", 30), (3, "a", 20), (4, "b", 5), (5, None, 1), (6, None, 2)], "id int, k string, w int"
    )

    out = tf.flag_duplicate_keys(df, "k", "w")

    assert reasons(out) == [["duplicate_key"], [], ["duplicate_key"], [], [], []]


def test_given_the_demo_spec_when_output_selected_then_schema_equals_output_columns(spark: SparkSession) -> None:
    spec = load_spec(str(DEMO_SPEC))
    source_schema = ", ".join(
        f"{c} string" for c in [c.name for c in spec.source.columns] if c not in ("funcionario_id", "salario")
    )
    df = spark.createDataFrame([], f"funcionario_id int, salario decimal(12,2), {source_schema}")

    valid, _ = split_valid(tf.apply_rules(df, spec), spec)

    assert [(f.name, f.dataType) for f in valid.schema.fields] == [
        (c.name, tf.SPARK_TYPES[c.type]) for c in spec.output_columns
    ]


def test_given_the_demo_spec_when_ages_are_derived_then_the_age_band_is_a_category(spark: SparkSession) -> None:
    # GIVEN the demo's faixa_etaria rule (a bias facet, dropped from training) on ages at each band's edges
    spec = load_spec(str(DEMO_SPEC))
    (rule,) = [r for r in spec.rules if isinstance(r, DeriveRule) and r.column == "faixa_etaria"]
    ages = [None, 18, 24, 25, 34, 35, 44, 45, 70]
    df = spark.createDataFrame([(a,) for a in ages], "idade_na_admissao int")
    # WHEN applied THEN each age has its band (0 <25, 1 25-34, 2 35-44, 3 >=45) and a missing age has none
    out = df.selectExpr(f"{rule.expression} AS faixa_etaria").collect()
    assert [row["faixa_etaria"] for row in out] == [None, 0, 0, 1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("bad_rule", [{"type": "derive", "column": "x", "expression": "no_such_col + 1"}])
def test_given_a_rule_on_a_missing_column_when_applied_then_spark_names_the_column(
    spark: SparkSession, bad_rule: dict[str, Any]
) -> None:
    spec = parse_spec(
        {
            "name": "t",
            "source": {"query": "SELECT 1"},
            "primary_key": "k",
            "watermark": {"column": "k"},
            "partitioning": {"column": "k", "num_partitions": 1},
            "rules": [bad_rule],
            "output_columns": [{"name": "k", "type": "string"}],
        }
    )
    df = spark.createDataFrame([("a",)], "k string")

    with pytest.raises(Exception, match="no_such_col"):
        tf.apply_rules(df, spec)
