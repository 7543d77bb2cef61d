"""apply_rules puts consecutive rules in one projection only where that gives what applying them one by one gives:
each rule sees what the earlier ones wrote, whether it names the column in any case, reads every column (``*``) or
reads the reasons column itself."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from esteira_extract import transforms as tf
from esteira_extract.spec import Spec, load_spec, parse_spec
from esteira_extract.steps import names_in
from tests.glue_jobs.conftest import DEMO_SPEC

ROWS = [
    (1, "a", " 20 ", "2020-01-01", "S", None),
    (2, "a", "5", "2020-01-02", "n", "x"),
    (3, None, "-1", "bad", "?", " "),
    (4, "d", None, "", "N", "kept"),
    (5, "e", "300", "2021-02-30", "s", None),
]
SCHEMA = "id int, k string, v string, d string, f string, note string"

# Rule sequences where a later rule reads what an earlier one wrote: by name, by another case, through `*`, through
# the reasons column; a rule that writes what an earlier one read; types read after a change of type.
SEQUENCES: dict[str, list[dict[str, Any]]] = {
    "reads a mapped value": [
        {"type": "map_values", "column": "v", "mapping": {"20": "twenty", "5": "five"}, "default": "other"},
        {"type": "derive", "column": "w", "expression": "concat(v, '!')"},
    ],
    "names it in another case": [
        {"type": "flag", "columns": ["f"]},
        {"type": "derive", "column": "g", "expression": "CASE WHEN F = 'S' THEN 1 ELSE 0 END"},
    ],
    "reads every column": [
        {"type": "fill_null", "column": "note", "value": "none"},
        {"type": "derive", "column": "j", "expression": "to_json(struct(*))"},
    ],
    "reads the reasons": [
        {"type": "range", "column": "v", "min": 0, "max": 100},
        {"type": "derive", "column": "n", "expression": "size(_esteira_reasons)"},
        {"type": "range", "column": "n", "max": 0},
    ],
    "writes what an earlier rule read": [
        {"type": "derive", "column": "v2", "expression": "CAST(v AS DOUBLE) * 2"},
        {"type": "map_values", "column": "v", "mapping": {"5": "five"}},
        {"type": "not_null", "columns": ["v", "v2"]},
    ],
    "types after a change of type": [
        {"type": "derive", "column": "d", "expression": "to_date(d, 'yyyy-MM-dd')"},
        {"type": "parse_date", "column": "d", "formats": ["yyyy-MM-dd"]},
        {"type": "derive", "column": "note", "expression": "length(note)"},
        {"type": "fill_null", "column": "note", "value": 0},
    ],
    "drops a column a later rule names": [
        {"type": "binary_map", "column": "f", "output": "fm", "true_values": ["S"], "drop_source": False},
        {"type": "binary_map", "column": "k", "output": "km", "true_values": ["A"]},
        {"type": "derive", "column": "kf", "expression": "concat(coalesce(f, ''), fm, km)"},
        {"type": "check", "name": "has_f", "condition": "f IS NOT NULL"},
        {"type": "range", "column": "km", "max": 0},
    ],
}


def spec_with(rules: list[dict[str, Any]]) -> Spec:
    return parse_spec(
        {
            "name": "t",
            "source": {"query": "SELECT 1"},
            "primary_key": "k",
            "watermark": {"column": "id"},
            "partitioning": {"column": "id", "num_partitions": 1},
            "rules": rules,
            "output_columns": [{"name": "id", "type": "int"}, {"name": "k", "type": "string"}],
        }
    )


def one_by_one(df: DataFrame, spec: Spec) -> DataFrame:
    """The rules applied one DataFrame step each: what apply_rules must equal."""
    df = tf.require_not_null(tf.with_tracking(df), [spec.primary_key], tf.REASON_NULL_KEY)
    df = tf.flag_duplicate_keys(df, spec.primary_key, spec.watermark_column)
    for rule in spec.rules:
        df = tf.apply_rule(df, rule)
    return df


def rows(df: DataFrame) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in df.orderBy("id").collect()]


@pytest.mark.parametrize("sequence", SEQUENCES, ids=list(SEQUENCES))
def test_rules_sharing_a_projection_give_what_one_by_one_gives(spark: SparkSession, sequence: str) -> None:
    # GIVEN a sequence of rules where a later one depends on an earlier one
    spec = spec_with(SEQUENCES[sequence])
    df = spark.createDataFrame(ROWS, SCHEMA)
    # WHEN applied as apply_rules applies them and one by one
    together, alone = tf.apply_rules(df, spec), one_by_one(df, spec)
    # THEN the columns, their types and every row are the same
    assert together.schema == alone.schema
    assert rows(together) == rows(alone)


DEMO_SCHEMA = (
    "funcionario_id bigint, matricula string, cargo string, departamento string, salario double, data_admissao string,"
    " data_desligamento string, possui_plano_saude string, trabalho_remoto string, horas_extras_mes int,"
    " distancia_casa_km double, avaliacao_desempenho int, atualizado_em string, sexo string, estado_civil string,"
    " data_nascimento string, possui_filhos string"
)
DEMO_ROWS = [
    (
        1,
        "M1",
        "dev",
        "ti",
        5000.0,
        "2020-01-10",
        None,
        "S",
        "n",
        10,
        3.5,
        4,
        "2025-06-01 10:00:00",
        "M",
        None,
        "1990-05-01",
        "S",
    ),
    (
        2,
        "M1",
        "dev",
        "ti",
        5100.0,
        "2020-01-10",
        "2020-06-01",
        "x",
        "S",
        400,
        3.5,
        9,
        "2025-06-02 10:00:00.123",
        "f",
        " ",
        "01/05/1991",
        "N",
    ),
    (
        3,
        None,
        "rh",
        "rh",
        -5.0,
        "bad",
        "2019-01-01",
        "N",
        None,
        0,
        1.0,
        1,
        "2025-06-03 10:00:00",
        None,
        "casado",
        "1990-02-31",
        "?",
    ),
    (4, "M4", "fin", "financeiro", 7000.0, None, None, "S", "S", 5, 2.0, 5, "", "M", "solteiro", "2012-01-01", None),
]
PROJECTIONS_ONE_BY_ONE = 26  # measured: the demo spec's rules applied one DataFrame step each


def projections(df: DataFrame) -> int:
    plan = df._jdf.queryExecution().analyzed().treeString()
    return sum(1 for line in plan.splitlines() if line.lstrip(" :+-").startswith("Project ["))


def test_the_demo_spec_takes_a_few_projections_and_gives_what_one_by_one_gives(spark: SparkSession) -> None:
    # GIVEN the demo spec's rules and the key checks, on rows with duplicate and null keys, junk flags, bad dates and
    # values out of range
    spec = load_spec(str(DEMO_SPEC))
    df = spark.createDataFrame(DEMO_ROWS, DEMO_SCHEMA)
    # WHEN applied as apply_rules applies them and one by one
    together, alone = tf.apply_rules(df, spec), one_by_one(df, spec)
    if spec.label is not None and spec.label.expression is not None:
        alone = tf.derive(alone, spec.label.column, spec.label.expression)
    # THEN the result is the same, row for row, in a fraction of the projections (each costs the driver an analysis)
    assert together.schema == alone.schema
    assert [tuple(r) for r in together.orderBy("funcionario_id").collect()] == [
        tuple(r) for r in alone.orderBy("funcionario_id").collect()
    ]
    assert projections(alone) == PROJECTIONS_ONE_BY_ONE
    assert projections(together) <= 9


def test_names_in_sql_text_are_every_word_and_quoted_name() -> None:
    assert names_in("CASE WHEN `a``b` > x.Y THEN 'lit' END") == frozenset(
        {"case", "when", "a`b", "x", "y", "then", "lit", "end"}
    )
    assert names_in("to_json(struct(*))") is None
