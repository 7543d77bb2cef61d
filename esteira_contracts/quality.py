"""Ground-truth model quality: the scoring record each transform run leaves, and the report the dataset job writes.

**Scoring record** (``batch-output/<run>/_scoring.json``, ``layout.SCORING_RECORD_FILENAME``): written by the batch
launcher before the transform job starts, beside the job's ``.out`` files (``record_id,predicted_label,score``
lines). It says which model version scored the run, so the predictions are stored by model version and record id::

    {"record_version": 1, "run_id": "...", "model_package_arn": "...", "model_version": "3", "input_run_id": "...",
     "scored_at": "2026-12-06T10:00:00+00:00", "threshold": 0.5, "threshold_source": "container-default",
     "task": "binary", "task_source": "container-default"}

``threshold`` is the served classification threshold: the package's CustomerMetadataProperties
``hyperparameter.threshold`` when it records one, else the container's default (hyperparameter ``threshold``,
0.5, which the container keeps only inside the model's feature-schema.json). ``task`` likewise: the metadata's
``hyperparameter.objective`` when recorded, else ``regression`` when the package's metrics are regression metrics
(``metric.rmse``), else the container's default objective (``binary:logistic``).

**Report** (``<quality_uri>run_id=<dataset run>/report.json``, ``layout.MODEL_QUALITY_REPORT_FILENAME``): the
dataset job's quality step joins each scored record's newest prediction per model version with its label once
final as of ``as_of_date``. One entry per model version::

    {"report_version": 1, "dataset_run_id": "...", "as_of_date": "YYYY-MM-DD", "spec_name": "...",
     "label_column": "...", "task": "binary", "latest_model_version": "3", "reason": null,
     "models": [{"model_package_arn": "...", "model_version": "3", "threshold": 0.5, "task": "binary",
                 "scoring_runs": ["..."], "labelled_predictions": 123, "positives": 40, "auc": 0.81,
                 "precision": 0.7, "recall": 0.6, "f1": 0.65, "brier_score": 0.12, "skipped": null,
                 "calibration": [{"bin_lower": 0.0, "bin_upper": 0.1, "count": 10, "mean_score": 0.05,
                                  "positive_rate": 0.1}, ...]}]}

- ``task``/``latest_model_version``: of the newest scoring run that has labelled predictions (null without one);
  ``reason`` says why ``models`` is empty (null otherwise).
- Binary (a positive is a label equal to 1; predicted positive is ``score >= threshold``, as the container does):
  ``auc`` is Mann-Whitney with average ranks for ties, null when the labels hold one class; ``precision`` (null
  with no predicted positive), ``recall`` (null with no positive), ``f1`` (null when either is null); the Brier
  score; always 10 calibration bins of width 0.1 (the last includes 1.0; an empty bin has ``count`` 0 and null
  means).
- Multiclass: ``accuracy`` (``predicted_label`` equal to the label as numbers); regression: ``rmse`` and ``mae``
  of ``score``. The binary-only figures (``positives`` included) are null and ``calibration`` is empty.
  ``skipped`` names why figures are missing (e.g. a binary model's labels that are not 0/1), else null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

# --- the scoring record --------------------------------------------------------------------------------------------
SCORING_RECORD_VERSION: Final = 1
RECORD_VERSION: Final = "record_version"
RUN_ID: Final = "run_id"
MODEL_PACKAGE_ARN: Final = "model_package_arn"
MODEL_VERSION: Final = "model_version"
INPUT_RUN_ID: Final = "input_run_id"
SCORED_AT: Final = "scored_at"
THRESHOLD: Final = "threshold"
THRESHOLD_SOURCE: Final = "threshold_source"
TASK: Final = "task"
TASK_SOURCE: Final = "task_source"

BINARY: Final = "binary"
MULTICLASS: Final = "multiclass"
REGRESSION: Final = "regression"
TASKS: Final = (BINARY, MULTICLASS, REGRESSION)
# The container's defaults (esteira_model.hyperparameters): what serves when the package records nothing else.
DEFAULT_THRESHOLD: Final = 0.5
DEFAULT_TASK: Final = BINARY
SOURCE_METADATA: Final = "customer-metadata"
SOURCE_METRICS: Final = "package-metrics"
SOURCE_DEFAULT: Final = "container-default"
# CustomerMetadataProperties keys a package may carry with its served threshold and objective.
THRESHOLD_METADATA_KEY: Final = "hyperparameter.threshold"
OBJECTIVE_METADATA_KEY: Final = "hyperparameter.objective"
REGRESSION_METRIC_KEY: Final = "metric.rmse"
_VERSION = re.compile(r":model-package/[^/]+/(?P<version>\d+)$")

# --- the report ----------------------------------------------------------------------------------------------------
REPORT_VERSION: Final = 1
REPORT_VERSION_KEY: Final = "report_version"
DATASET_RUN_ID: Final = "dataset_run_id"
AS_OF_DATE: Final = "as_of_date"
SPEC_NAME: Final = "spec_name"
LABEL_COLUMN: Final = "label_column"
LATEST_MODEL_VERSION: Final = "latest_model_version"
REASON: Final = "reason"
MODELS: Final = "models"
# Per model version (with MODEL_PACKAGE_ARN, MODEL_VERSION, THRESHOLD and TASK above).
SCORING_RUNS: Final = "scoring_runs"
LABELLED_PREDICTIONS: Final = "labelled_predictions"
POSITIVES: Final = "positives"
AUC: Final = "auc"
PRECISION: Final = "precision"
RECALL: Final = "recall"
F1: Final = "f1"
BRIER_SCORE: Final = "brier_score"
ACCURACY: Final = "accuracy"
RMSE: Final = "rmse"
MAE: Final = "mae"
SKIPPED: Final = "skipped"
CALIBRATION: Final = "calibration"
# Per calibration bin.
BIN_LOWER: Final = "bin_lower"
BIN_UPPER: Final = "bin_upper"
COUNT: Final = "count"
MEAN_SCORE: Final = "mean_score"
POSITIVE_RATE: Final = "positive_rate"
CALIBRATION_BINS: Final = 10
# The figures a model entry may hold, by task (the rest are null).
METRICS_BY_TASK: Final = {
    BINARY: (AUC, PRECISION, RECALL, F1, BRIER_SCORE),
    MULTICLASS: (ACCURACY,),
    REGRESSION: (RMSE, MAE),
}
ALL_METRICS: Final = (AUC, PRECISION, RECALL, F1, BRIER_SCORE, ACCURACY, RMSE, MAE)
# Why ``models`` is empty.
REASON_NO_SCORING_RECORDS: Final = "no scoring run under predictions_uri has a scoring record"
REASON_NO_LABELLED_PREDICTIONS: Final = "no scored record has a final label yet"


def model_version_of(package_arn: str) -> str:
    """The version number of a model package ARN (``.../model-package/<group>/<version>``), as a string."""
    match = _VERSION.search(package_arn)
    if match is None:
        raise ValueError(f"{package_arn!r} is not a versioned model package ARN")
    return match["version"]


def served_threshold(metadata: Mapping[str, str]) -> tuple[float, str]:
    """(threshold, where it came from): the package's ``hyperparameter.threshold``, else the container's 0.5."""
    raw = metadata.get(THRESHOLD_METADATA_KEY)
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if 0.0 <= value <= 1.0:
            return value, SOURCE_METADATA
    return DEFAULT_THRESHOLD, SOURCE_DEFAULT


def task_of_objective(objective: str) -> str | None:
    """The container's task for an XGBoost objective (``binary:*``, ``multi:*``, ``reg:*``), None if unknown."""
    prefix = objective.split(":", 1)[0]
    return {"binary": BINARY, "multi": MULTICLASS, "reg": REGRESSION}.get(prefix)


def served_task(metadata: Mapping[str, str]) -> tuple[str, str]:
    """(task, where it came from): the recorded objective, else regression metrics, else the container's default."""
    task = task_of_objective(metadata.get(OBJECTIVE_METADATA_KEY, ""))
    if task is not None:
        return task, SOURCE_METADATA
    if REGRESSION_METRIC_KEY in metadata:
        return REGRESSION, SOURCE_METRICS
    return DEFAULT_TASK, SOURCE_DEFAULT
