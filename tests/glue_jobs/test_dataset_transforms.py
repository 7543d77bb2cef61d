"""The dataset job's pure DataFrame steps on real (local) Spark."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from esteira_contracts.dataset import DatasetJobArgs
from esteira_dataset.spec import DatasetRules, DatasetSpecError, parse_dataset_spec
from esteira_dataset.transforms import (
    LABEL_FINAL,
    SPLIT_COLUMN,
    TO_SCORE,
    batch_rows,
    check_conditions,
    drop_tombstones,
    feature_rows,
    latest_versions,
    row_digest,
    split_bucket,
    with_label_state,
    with_split,
)
from esteira_extract.transforms import output_schema
from tests.glue_jobs.dataset_data import AS_OF, demo_document

VERSIONS = "k string, wm timestamp, dt string, _run_order int, v int, gone boolean"
NEWEST_FIRST = ["wm", "dt", "_run_order"]
VALUES = ["k", "wm", "v", "gone"]


def frame(spark: SparkSession, rows: list[tuple[Any, ...]], schema: str = VERSIONS) -> DataFrame:
    return spark.createDataFrame(rows, schema)


def latest_values(latest: DataFrame) -> dict[str, int]:
    return {r["k"]: r["v"] for r in latest.collect()}


def test_given_several_versions_per_key_when_reduced_then_the_newest_watermark_wins(spark: SparkSession) -> None:
    rows = [
        ("a", datetime(2025, 1, 1), "2025-01-01", 0, 1, False),
        ("a", datetime(2025, 3, 1), "2025-03-01", 2, 3, False),
        ("a", datetime(2025, 2, 1), "2025-02-01", 1, 2, False),
        ("b", datetime(2025, 1, 5), "2025-01-05", 0, 10, False),
        ("b", None, "2025-04-01", 3, 11, False),  # a version without watermark never beats one with it
        (None, datetime(2026, 1, 1), "2026-01-01", 4, 99, False),  # null keys are no one's version
    ]

    latest = latest_versions(frame(spark, rows), "k", NEWEST_FIRST, VALUES)

    assert latest_values(latest) == {"a": 3, "b": 10}


def test_given_equal_watermarks_when_reduced_then_later_dt_then_later_run_then_row_digest_decide(
    spark: SparkSession,
) -> None:
    same = datetime(2025, 5, 5, 12)
    rows = [
        ("dt", same, "2025-05-06", 0, 2, False),
        ("dt", same, "2025-05-05", 1, 1, False),  # later run, earlier dt: dt decides first
        ("run", same, "2025-05-05", 0, 1, False),
        ("run", same, "2025-05-05", 1, 2, False),
        ("digest", same, "2025-05-05", 0, 1, False),
        ("digest", same, "2025-05-05", 0, 2, False),
        ("digest", same, "2025-05-05", 0, 3, False),
    ]

    # WHEN the same versions arrive in two different orders and partitionings
    first = latest_values(latest_versions(frame(spark, rows), "k", NEWEST_FIRST, VALUES))
    second = latest_values(latest_versions(frame(spark, rows[::-1]).repartition(3), "k", NEWEST_FIRST, VALUES))

    # THEN the same version wins each time
    assert first["dt"] == 2 and first["run"] == 2
    assert first == second
    candidates = frame(spark, [r for r in rows if r[0] == "digest"]).select("v", row_digest(VALUES).alias("d"))
    assert first["digest"] == max(candidates.collect(), key=lambda r: str(r["d"]))["v"]


def test_given_tombstones_when_applied_after_the_latest_version_then_only_currently_deleted_keys_vanish(
    spark: SparkSession,
) -> None:
    rows = [
        ("deleted", datetime(2025, 1, 1), "2025-01-01", 0, 1, False),
        ("deleted", datetime(2025, 2, 1), "2025-02-01", 1, 2, True),  # latest version is the tombstone
        ("restored", datetime(2025, 1, 1), "2025-01-01", 0, 1, True),
        ("restored", datetime(2025, 2, 1), "2025-02-01", 1, 2, False),  # re-created after its deletion
        ("kept", datetime(2025, 1, 1), "2025-01-01", 0, 1, None),  # unknown is not deleted
    ]
    rules = DatasetRules(label_final_when="true", tombstone_when="gone")

    latest = latest_versions(frame(spark, rows), "k", NEWEST_FIRST, VALUES)
    live = drop_tombstones(latest, rules, AS_OF)

    assert latest_values(live) == {"restored": 2, "kept": 1}
    assert drop_tombstones(latest, DatasetRules(label_final_when="true"), AS_OF).count() == 3


def test_given_the_demo_rule_when_labels_are_judged_then_open_cases_are_neither_trained_nor_negative(
    spark: SparkSession,
) -> None:
    rules = parse_dataset_spec(demo_document()).rules
    schema = "k string, data_admissao date, desligado_em_12_meses int"
    rows = [
        ("left_early", date(2025, 3, 1), 1),  # left within 12 months: final positive before 12 months pass
        ("stayed_a_year", date(2024, 7, 1), 0),  # 12 months passed on the as-of day: final negative
        ("new_hire", date(2024, 7, 2), 0),  # 12 months not yet passed: open, to score
        ("no_label", date(2020, 1, 1), None),  # no label value: never trained on
    ]

    marked = with_label_state(spark.createDataFrame(rows, schema), rules, "desligado_em_12_meses", AS_OF)

    state = {r["k"]: (r[LABEL_FINAL], r[TO_SCORE]) for r in marked.collect()}
    assert state == {
        "left_early": (True, False),
        "stayed_a_year": (True, False),
        "new_hire": (False, True),
        "no_label": (False, False),
    }
    assert "as_of_date" not in marked.columns


def test_given_no_score_rule_when_judged_then_every_row_not_final_is_scored(spark: SparkSession) -> None:
    rows = [("a", 1), ("b", 0), ("c", None)]
    rules = DatasetRules(label_final_when="y = 1")

    marked = with_label_state(spark.createDataFrame(rows, "k string, y int"), rules, "y", AS_OF)

    assert {r["k"]: r[TO_SCORE] for r in marked.collect()} == {"a": False, "b": True, "c": True}


def test_given_keys_when_bucketed_then_spark_matches_the_documented_python_rule_and_the_fractions(
    spark: SparkSession,
) -> None:
    keys = [f"F{i:07d}" for i in range(1, 20_001)]
    args = DatasetJobArgs(spec_uri="s", curated_uri="c", datasets_uri="d", run_id="r")

    split = with_split(spark.createDataFrame([(k,) for k in keys], "k string"), "k", args.split_cuts)
    buckets = {r["k"]: r["b"] for r in split.select("k", split_bucket(sf.col("k")).alias("b")).collect()}

    python_rule = {k: int(hashlib.sha256(k.encode()).hexdigest()[:8], 16) % 10_000 for k in keys}
    assert buckets == python_rule
    sizes = {r[SPLIT_COLUMN]: r["count"] / len(keys) for r in split.groupBy(SPLIT_COLUMN).count().collect()}
    assert sizes == pytest.approx({"train": 0.7, "validation": 0.15, "holdout": 0.15}, abs=0.015)


def test_given_marked_rows_when_projected_then_features_keep_order_and_booleans_become_numbers(
    spark: SparkSession,
) -> None:
    schema = f"k string, f2 double, f1 boolean, y int, {LABEL_FINAL} boolean, {TO_SCORE} boolean, {SPLIT_COLUMN} string"
    rows = [("a", 1.5, True, 1, True, False, "train"), ("b", None, False, 0, False, True, "train")]
    marked = spark.createDataFrame(rows, schema)

    baseline = feature_rows(marked, ["f2", "f1"]).collect()
    batch = batch_rows(marked, "k", ["f2", "f1"]).collect()

    assert [tuple(r) for r in baseline] == [(1.5, 1)]
    assert [tuple(r) for r in batch] == [("b", None, 0)]
    assert batch_rows(marked, "k", ["f2", "f1"]).columns == ["record_id", "f2", "f1"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"label_final_when": "desligado_em_12_meses = = 1"}, "spec.dataset.label_final_when: Spark cannot use"),
        ({"label_final_when": "no_such_function(data_admissao)"}, "spec.dataset.label_final_when: Spark cannot use"),
        ({"score_when": "no_such_column = 0"}, "spec.dataset.score_when: Spark cannot use"),
        ({"tombstone_when": "salario * 2"}, "spec.dataset.tombstone_when: must be a boolean condition"),
    ],
)
def test_given_a_condition_spark_cannot_use_when_checked_then_the_key_is_named_before_any_row_is_read(
    spark: SparkSession, section: dict[str, str], expected: str
) -> None:
    spec = parse_dataset_spec(demo_document(**section))

    with pytest.raises(DatasetSpecError) as caught:
        check_conditions(spark, output_schema(spec.extraction), spec.rules)

    assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors


def test_given_the_demo_conditions_when_checked_then_spark_accepts_them(spark: SparkSession) -> None:
    spec = parse_dataset_spec(demo_document(tombstone_when="salario < 0"))

    check_conditions(spark, output_schema(spec.extraction), spec.rules)
