"""The quality contract: the names the report's readers (the CloudWatch publisher, the local run) depend on."""

from __future__ import annotations

import pytest

from esteira_contracts import quality as q


def test_the_report_field_names_are_the_published_ones() -> None:
    # GIVEN the names the publisher reads WHEN the contract is imported THEN none was renamed
    top = (q.REPORT_VERSION_KEY, q.DATASET_RUN_ID, q.AS_OF_DATE, q.SPEC_NAME, q.LABEL_COLUMN, q.TASK)
    assert (*top, q.LATEST_MODEL_VERSION, q.REASON, q.MODELS) == (
        "report_version",
        "dataset_run_id",
        "as_of_date",
        "spec_name",
        "label_column",
        "task",
        "latest_model_version",
        "reason",
        "models",
    )
    per_model = (q.MODEL_PACKAGE_ARN, q.MODEL_VERSION, q.THRESHOLD, q.SCORING_RUNS, q.LABELLED_PREDICTIONS)
    assert per_model == ("model_package_arn", "model_version", "threshold", "scoring_runs", "labelled_predictions")
    assert (q.POSITIVES, q.AUC, q.PRECISION, q.RECALL, q.F1, q.BRIER_SCORE, q.CALIBRATION) == (
        "positives",
        "auc",
        "precision",
        "recall",
        "f1",
        "brier_score",
        "calibration",
    )
    assert (q.BIN_LOWER, q.BIN_UPPER, q.COUNT, q.MEAN_SCORE, q.POSITIVE_RATE, q.CALIBRATION_BINS) == (
        "bin_lower",
        "bin_upper",
        "count",
        "mean_score",
        "positive_rate",
        10,
    )
    assert {m for metrics in q.METRICS_BY_TASK.values() for m in metrics} == set(q.ALL_METRICS)
    assert tuple(q.METRICS_BY_TASK) == q.TASKS


@pytest.mark.parametrize(
    ("objective", "task"),
    [("binary:logistic", "binary"), ("multi:softprob", "multiclass"), ("reg:squarederror", "regression"), ("", None)],
)
def test_an_objective_names_the_containers_task(objective: str, task: str | None) -> None:
    assert q.task_of_objective(objective) == task
