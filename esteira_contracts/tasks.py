"""The model's task as its objective names it, and the metrics each task has: the gate may use only those.

The container (``esteira_model.hyperparameters``) sorts objectives the same way; the stacks validate
``training.gate.metric`` against :data:`TASK_METRICS` at synth, and the local run's reports show
:data:`REPORTED_METRICS`.
"""

from __future__ import annotations

from typing import Final

BINARY: Final = "binary"
MULTICLASS: Final = "multiclass"
REGRESSION: Final = "regression"
DEFAULT_OBJECTIVE: Final = "binary:logistic"

_CLASSIFICATION_METRICS = ("auc", "accuracy", "f1", "precision", "recall")
# What `train` computes for each task (esteira_model.metrics.task_metrics), so what a gate can compare.
TASK_METRICS: Final[dict[str, tuple[str, ...]]] = {
    BINARY: _CLASSIFICATION_METRICS,
    MULTICLASS: _CLASSIFICATION_METRICS,  # precision, recall and f1 macro-averaged over the classes
    REGRESSION: ("r2", "rmse", "mae"),
}
# The few a summary shows, most telling first.
REPORTED_METRICS: Final[dict[str, tuple[str, ...]]] = {
    BINARY: ("auc", "accuracy", "f1"),
    MULTICLASS: ("accuracy", "f1"),
    REGRESSION: ("r2", "rmse", "mae"),
}


def task_of_objective(objective: str | None) -> str:
    """binary:* -> binary, multi:* -> multiclass, anything else (reg:, count:, survival:) -> regression."""
    name = (objective or DEFAULT_OBJECTIVE).strip()
    if name.startswith("binary:"):
        return BINARY
    if name.startswith("multi:"):
        return MULTICLASS
    return REGRESSION


def metric_label(task: str, metric: str) -> str:
    """How a summary names a metric: multiclass f1, precision and recall are macro averages."""
    return f"{metric} macro" if task == MULTICLASS and metric in ("f1", "precision", "recall") else metric
