"""The quality step's transforms and report on real (local) Spark, against a plain-Python reference.

The reference computes AUC by comparing every positive with every negative (a tie counts a half), an independent
route to the Mann-Whitney figure the job computes from average ranks.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from esteira_contracts import quality as q
from esteira_dataset.quality import ground_truth_lines, labelled_predictions, newest_predictions
from esteira_dataset.quality_io import quality_report
from esteira_dataset.spec import DatasetSpec, parse_dataset_spec
from esteira_dataset.transforms import LABEL_FINAL
from tests.glue_jobs.dataset_data import demo_document

KEY, LABEL = "matricula", "desligado_em_12_meses"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/{}"
RECORDS = (
    "run_id string, model_package_arn string, model_version string, input_run_id string, scored_at string, "
    "threshold double, task string"
)
PREDICTIONS = "scoring_run_id string, record_id string, predicted_label string, score double"
MARKED = f"{KEY} string, {LABEL} int, {LABEL_FINAL} boolean"
AS_OF = date(2026, 12, 6)


@pytest.fixture(scope="module")
def spec() -> DatasetSpec:
    return parse_dataset_spec(demo_document())


def record(run: str, version: int, scored_at: str, threshold: float = 0.5, task: str = "binary") -> tuple[Any, ...]:
    return (run, ARN.format(version), str(version), "ds-0", scored_at, threshold, task)


def labelled(
    spark: SparkSession,
    records: list[tuple[Any, ...]],
    predictions: list[tuple[Any, ...]],
    marked: list[tuple[Any, ...]],
) -> DataFrame:
    newest = newest_predictions(
        spark.createDataFrame(predictions, PREDICTIONS), spark.createDataFrame(records, RECORDS)
    )
    return labelled_predictions(newest, spark.createDataFrame(marked, MARKED), KEY, LABEL)


# ------------------------------------------------------------------------------------------------ the reference


def reference(pairs: list[tuple[float, int]], threshold: float) -> dict[str, Any]:
    """(score, label) pairs -> the report's binary figures, in plain Python."""
    positives = [s for s, y in pairs if y == 1]
    negatives = [s for s, y in pairs if y == 0]
    auc = None
    if positives and negatives:
        wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
        auc = wins / (len(positives) * len(negatives))
    tp = sum(1 for s, y in pairs if s >= threshold and y == 1)
    fp = sum(1 for s, y in pairs if s >= threshold and y == 0)
    fn = sum(1 for s, y in pairs if s < threshold and y == 1)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    bins = []
    for index in range(10):
        inside = [(s, y) for s, y in pairs if min(int(s * 10), 9) == index]
        bins.append(
            {
                "bin_lower": index / 10,
                "bin_upper": (index + 1) / 10,
                "count": len(inside),
                "mean_score": sum(s for s, _ in inside) / len(inside) if inside else None,
                "positive_rate": sum(y for _, y in inside) / len(inside) if inside else None,
            }
        )
    return {
        "labelled_predictions": len(pairs),
        "positives": len(positives),
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "brier_score": sum((s - y) ** 2 for s, y in pairs) / len(pairs),
        "calibration": bins,
    }


def assert_close(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if name == "calibration":
            assert len(actual[name]) == len(value)
            for got, want in zip(actual[name], value, strict=True):
                assert_close(got, want)
        elif value is None or isinstance(value, int):
            assert actual[name] == value, name
        else:
            assert actual[name] == pytest.approx(value, abs=1e-12), name


# ------------------------------------------------------------------------------------------------ the scenario

# Version 1 scored run-a (older) and run-b (newer, rescoring F2 and F3); version 2 scored run-c. Ties: 0.8 twice in
# version 1's newest predictions (F1 and F3 after rescoring) across a positive and a negative, 0.4 twice in version 2.
RUNS = [
    record("run-a", 1, "2026-11-01T10:00:00+00:00"),
    record("run-b", 1, "2026-11-15T10:00:00+00:00"),
    record("run-c", 2, "2026-12-01T10:00:00+00:00", threshold=0.35),
]
SCORED = [
    ("run-a", "F1", "1", 0.8),
    ("run-a", "F2", "0", 0.1),  # rescored by run-b: this line must not count
    ("run-a", "F3", "0", 0.3),  # rescored by run-b
    ("run-a", "F4", "0", 0.2),
    ("run-a", "F5", "1", 0.95),
    ("run-a", "F6", "1", 0.7),  # its label is still open: not a labelled prediction
    ("run-b", "F2", "1", 0.6),
    ("run-b", "F3", "1", 0.8),
    ("run-b", "F7", "0", 0.05),
    ("run-b", "F9", "1", 0.9),  # no such key in the curated rows (a tombstoned key): left out
    ("run-c", "F1", "0", 0.4),
    ("run-c", "F2", "0", 0.4),
    ("run-c", "F3", "1", 0.55),
    ("run-c", "F4", "0", 0.1),
    ("run-c", "F8", "1", 1.0),
]
LABELS = [
    ("F1", 1, True),
    ("F2", 0, True),
    ("F3", 0, True),
    ("F4", 0, True),
    ("F5", 1, True),
    ("F6", 0, False),
    ("F7", 0, True),
    ("F8", 1, True),
]
# The newest prediction per (version, record) with a final label, as (score, label).
VERSION_1 = [(0.8, 1), (0.6, 0), (0.8, 0), (0.2, 0), (0.95, 1), (0.05, 0)]
VERSION_2 = [(0.4, 1), (0.4, 0), (0.55, 0), (0.1, 0), (1.0, 1)]


def test_given_two_versions_and_a_rescored_record_when_reported_then_figures_equal_the_reference(
    spark: SparkSession, spec: DatasetSpec
) -> None:
    frame = labelled(spark, RUNS, SCORED, LABELS)

    report = quality_report(frame, "ds-9", AS_OF, spec)

    assert {k: v for k, v in report.items() if k != "models"} == {
        "report_version": 1,
        "dataset_run_id": "ds-9",
        "as_of_date": "2026-12-06",
        "spec_name": spec.extraction.name,
        "label_column": LABEL,
        "task": "binary",
        "latest_model_version": "2",
        "reason": None,
    }
    first, second = report["models"]
    assert (first["model_version"], first["model_package_arn"], first["threshold"]) == ("1", ARN.format(1), 0.5)
    assert first["scoring_runs"] == ["run-a", "run-b"] and second["scoring_runs"] == ["run-c"]
    assert (second["model_version"], second["threshold"], second["skipped"]) == ("2", 0.35, None)
    assert_close(first, reference(VERSION_1, 0.5))
    assert_close(second, reference(VERSION_2, 0.35))
    assert first["auc"] == pytest.approx(7.5 / 8)  # the tie at 0.8 between a positive and a negative counts a half
    assert (first["accuracy"], first["rmse"], first["mae"]) == (None, None, None)


def test_given_one_class_only_when_reported_then_auc_and_recall_are_null_and_the_rest_is_counted(
    spark: SparkSession, spec: DatasetSpec
) -> None:
    frame = labelled(
        spark,
        [record("run-a", 3, "2026-11-01T10:00:00+00:00")],
        [("run-a", "F1", "0", 0.2), ("run-a", "F2", "1", 0.7), ("run-a", "F3", "0", 0.7)],
        [("F1", 0, True), ("F2", 0, True), ("F3", 0, True)],
    )

    [model] = quality_report(frame, "ds-9", AS_OF, spec)["models"]

    assert_close(model, reference([(0.2, 0), (0.7, 0), (0.7, 0)], 0.5))
    assert (model["auc"], model["recall"], model["f1"], model["precision"]) == (None, None, None, 0.0)


def test_given_no_labelled_prediction_or_no_scoring_run_when_reported_then_models_is_empty_with_a_reason(
    spark: SparkSession, spec: DatasetSpec
) -> None:
    open_only = labelled(spark, RUNS, SCORED, [("F6", 0, False), ("F1", None, True)])

    report = quality_report(open_only, "ds-9", AS_OF, spec)
    nothing = quality_report(None, "ds-9", AS_OF, spec, q.REASON_NO_SCORING_RECORDS)

    assert (report["models"], report["reason"], report["latest_model_version"]) == (
        [],
        q.REASON_NO_LABELLED_PREDICTIONS,
        None,
    )
    assert (nothing["models"], nothing["reason"], nothing["task"]) == ([], q.REASON_NO_SCORING_RECORDS, None)


def test_given_multiclass_and_regression_versions_when_reported_then_each_gets_its_own_figures(
    spark: SparkSession, spec: DatasetSpec
) -> None:
    # GIVEN version 4 (multiclass: predicted labels) and version 5 (regression: scores), and a binary version 6
    # whose labels are not 0/1
    runs = [
        record("run-m", 4, "2026-11-01T10:00:00+00:00", task="multiclass"),
        record("run-r", 5, "2026-11-02T10:00:00+00:00", task="regression"),
        record("run-x", 6, "2026-11-03T10:00:00+00:00"),
    ]
    scored = [
        ("run-m", "F1", "2.0", 0.7),
        ("run-m", "F2", "1.0", 0.5),
        ("run-m", "F3", "0.0", 0.9),
        ("run-r", "F1", "2.5", 2.5),
        ("run-r", "F2", "0.5", 0.5),
        ("run-x", "F1", "1", 0.9),
    ]
    frame = labelled(spark, runs, scored, [("F1", 2, True), ("F2", 1, True), ("F3", 1, True)])

    multiclass, regression, binary = quality_report(frame, "ds-9", AS_OF, spec)["models"]

    assert (multiclass["task"], multiclass["accuracy"], multiclass["auc"], multiclass["calibration"]) == (
        "multiclass",
        pytest.approx(2 / 3),
        None,
        [],
    )
    assert regression["task"] == "regression" and regression["positives"] is None
    assert regression["rmse"] == pytest.approx(math.sqrt((0.5**2 + 0.5**2) / 2))
    assert regression["mae"] == pytest.approx(0.5)
    assert binary["skipped"] == "1 labels are not 0 or 1: a binary model's figures need 0/1"
    assert (binary["auc"], binary["brier_score"], binary["calibration"], binary["labelled_predictions"]) == (
        None,
        None,
        [],
        1,
    )


def test_ground_truth_lines_are_sagemakers_format_one_per_labelled_record(spark: SparkSession) -> None:
    frame = labelled(spark, RUNS, SCORED, LABELS)

    lines = [row["value"] for row in ground_truth_lines(frame).collect()]

    # F1-F5, F7 and F8 (F1-F4 were scored by both versions: each is listed once)
    by_id = {json.loads(line)["eventMetadata"]["eventId"]: line for line in lines}
    assert len(lines) == len(by_id) == 7
    assert by_id["F1"] == (
        '{"groundTruthData":{"data":"1","encoding":"CSV"},"eventMetadata":{"eventId":"F1"},"eventVersion":"0"}'
    )
    assert {k: json.loads(v)["groundTruthData"]["data"] for k, v in by_id.items()} == {
        key: str(label) for key, label, final in LABELS if final
    }
