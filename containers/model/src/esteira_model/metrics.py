"""Evaluation metrics in plain numpy, and the log lines CloudWatch and the tuner match."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from esteira_model.hyperparameters import BINARY, MULTICLASS

# Every metric line is printed as `<name>=<value>` alone on a line; values are integers or have six
# decimals ("nan" when undefined, which the regexes skip on purpose).
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

# The names train prints, in the order it prints them. Copy METRIC_DEFINITIONS into the training
# job's MetricDefinitions; "validation:auc" (maximize) is the default tuning objective.
METRIC_NAMES: Final[tuple[str, ...]] = (
    "train:rows",
    "validation:rows",
    "best_iteration",
    "validation:auc",
    "validation:f1",
    "validation:accuracy",
    "validation:precision",
    "validation:recall",
    "validation:rmse",
    "validation:mae",
    "validation:r2",
)
METRIC_DEFINITIONS: Final[list[dict[str, str]]] = [
    {"Name": name, "Regex": f"{name}={_NUMBER}"} for name in METRIC_NAMES
]
TUNING_OBJECTIVE: Final[dict[str, str]] = {"MetricName": "validation:auc", "Type": "Maximize"}


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC AUC with ties averaged (Mann-Whitney U). NaN when one class is absent."""
    positives = int(np.count_nonzero(y_true == 1))
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average rank over each run of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    rank_sum = float(ranks[y_true == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return matrix


def _safe_div(num: float, den: float) -> float:
    return num / den if den else 0.0


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """y_true holds class indices. proba is (n,) for binary or (n, k) for multiclass."""
    if proba.ndim == 1:
        num_classes = 2
        y_pred = (proba >= threshold).astype(np.int64)
        matrix = confusion_matrix(y_true, y_pred, 2)
        tp, fp, fn = int(matrix[1, 1]), int(matrix[0, 1]), int(matrix[1, 0])
        precision = _safe_div(tp, tp + fp)
        recall = _safe_div(tp, tp + fn)
        auc = roc_auc(y_true, proba)
    else:
        num_classes = proba.shape[1]
        y_pred = np.argmax(proba, axis=1)
        matrix = confusion_matrix(y_true, y_pred, num_classes)
        per_precision = [_safe_div(matrix[k, k], matrix[:, k].sum()) for k in range(num_classes)]
        per_recall = [_safe_div(matrix[k, k], matrix[k, :].sum()) for k in range(num_classes)]
        precision = float(np.mean(per_precision))
        recall = float(np.mean(per_recall))
        aucs = [roc_auc((y_true == k).astype(np.int64), proba[:, k]) for k in range(num_classes)]
        finite = [a for a in aucs if not math.isnan(a)]
        auc = float(np.mean(finite)) if finite else math.nan
    f1 = _safe_div(2 * precision * recall, precision + recall)
    accuracy = _safe_div(float(np.trace(matrix)), float(matrix.sum()))
    return {
        "auc": auc,
        "f1": f1,
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "confusion_matrix": matrix.tolist(),
        "num_classes": num_classes,
        "averaging": "binary" if num_classes == 2 and proba.ndim == 1 else "macro",
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    err = y_pred - y_true
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - ss_res / ss_tot if ss_tot else math.nan,
    }


def task_metrics(task: str, y_true: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, Any]:
    """The task's metrics: y_true holds class indices for classification and values for regression."""
    if task in (BINARY, MULTICLASS):
        return classification_metrics(y_true.astype(np.int64), scores, threshold)
    return regression_metrics(y_true, scores)


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.6f}"


def metric_lines(evaluation: dict[str, Any]) -> list[str]:
    """`name=value` lines for every metric in METRIC_NAMES that the evaluation holds."""
    flat: dict[str, float] = {
        "train:rows": evaluation["rows"]["train"],
        "validation:rows": evaluation["rows"]["validation"],
        "best_iteration": evaluation["best_iteration"],
    }
    for key, value in evaluation["validation"].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"validation:{key}"] = value
    return [f"{name}={format_value(flat[name])}" for name in METRIC_NAMES if name in flat]
