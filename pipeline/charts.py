"""The report's charts (matplotlib, Agg backend), each rendered as one inline ``<svg>`` element.

:class:`ChartData` is what the stages keep for the charts besides the JSON report (arrays too large or too raw for
it): the serve stage's smoke test leaves the holdout's labels and the package's offline predictions, the transform
stage the batch's served scores. The curves are computed here with numpy only (no scikit-learn in the image).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CALIBRATION_BINS = 10
MAX_BARS = 30


@dataclass
class ChartData:
    # Class indices (classification) or values (regression), and the booster's output on the same rows:
    # P(class 1) for a binary model, one probability per class for a multiclass one, the value for a regression.
    holdout_truth: np.ndarray | None = None
    holdout_predictions: np.ndarray | None = None
    batch_scores: list[float] = field(default_factory=list)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    return plt


def preload() -> None:
    """Import matplotlib ahead of the first chart (any thread: imports are thread-safe)."""
    _pyplot()


def _figure(width: float = 5.5, height: float = 3.6) -> tuple[Any, Any]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def to_svg(fig: Any) -> str:
    """The figure as an ``<svg>`` element (the XML prolog and doctype dropped), and the figure closed."""
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


# ------------------------------------------------------------------------------------------------ curves


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct score threshold (ties taken together), from (0, 0)."""
    order = np.argsort(-scores, kind="mergesort")
    positives = truth[order] == 1
    sorted_scores = scores[order]
    distinct = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tps = np.cumsum(positives)[distinct]
    fps = (distinct + 1) - tps
    total_pos, total_neg = max(int(positives.sum()), 1), max(len(positives) - int(positives.sum()), 1)
    return np.r_[0.0, fps / total_neg], np.r_[0.0, tps / total_pos]


def calibration_bins(
    truth: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS
) -> list[tuple[float, float, int]]:
    """(mean predicted probability, observed positive share, rows) for each non-empty equal-width score bin."""
    index = np.clip((scores * bins).astype(int), 0, bins - 1)
    found = []
    for b in range(bins):
        rows = index == b
        if rows.any():
            found.append((float(scores[rows].mean()), float(truth[rows].mean()), int(rows.sum())))
    return found


def roc_chart(truth: np.ndarray, predictions: np.ndarray) -> str:
    """Binary: one curve; multiclass: one-vs-rest per class."""
    fig, ax = _figure(4.8, 4.2)
    curves = [("", truth, predictions)] if predictions.ndim == 1 else _one_vs_rest(truth, predictions)
    for name, labels, scores in curves:
        fpr, tpr = roc_curve(labels, scores)
        auc = float(np.trapezoid(tpr, fpr))
        ax.plot(fpr, tpr, label=f"{name}AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the holdout")
    ax.legend(loc="lower right", fontsize=8)
    return to_svg(fig)


def _one_vs_rest(truth: np.ndarray, predictions: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(f"class {k}: ", (truth == k).astype(np.float64), predictions[:, k]) for k in range(predictions.shape[1])]


def calibration_chart(truth: np.ndarray, predictions: np.ndarray) -> str:
    """Binary: P(class 1) against the positive share; multiclass: top-class confidence against accuracy."""
    if predictions.ndim == 1:
        scores, hits, what = predictions, truth, "positive share"
    else:
        scores = predictions.max(axis=1)
        hits = (predictions.argmax(axis=1) == truth).astype(np.float64)
        what = "accuracy (top class)"
    fig, ax = _figure(4.8, 4.2)
    found = calibration_bins(hits, scores)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="perfectly calibrated")
    ax.plot([f[0] for f in found], [f[1] for f in found], marker="o", label="model")
    ax.set(xlabel="mean predicted probability", ylabel=what, title=f"Calibration ({CALIBRATION_BINS} bins)")
    ax.legend(loc="upper left", fontsize=8)
    return to_svg(fig)


def predicted_vs_actual_chart(truth: np.ndarray, predictions: np.ndarray) -> str:
    fig, ax = _figure(4.8, 4.2)
    ax.scatter(truth, predictions, s=6, alpha=0.5)
    low, high = float(min(truth.min(), predictions.min())), float(max(truth.max(), predictions.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual on the holdout")
    return to_svg(fig)


def residuals_chart(truth: np.ndarray, predictions: np.ndarray) -> str:
    fig, ax = _figure()
    ax.hist(predictions - truth, bins=40)
    ax.axvline(0, color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlabel="predicted - actual", ylabel="rows", title="Residuals on the holdout")
    return to_svg(fig)


def score_distribution_chart(batch_scores: Sequence[float], holdout: np.ndarray | None, task: str) -> str:
    """The batch's served scores, and the holdout's for comparison (the value for a regression, the top-class
    probability for a multiclass model, P(class 1) for a binary one)."""
    fig, ax = _figure()
    if holdout is not None and len(holdout):
        values = holdout.max(axis=1) if holdout.ndim == 2 else holdout
        ax.hist(values, bins=40, alpha=0.5, density=True, label=f"holdout ({len(values)})")
    if len(batch_scores):
        ax.hist(batch_scores, bins=40, alpha=0.5, density=True, label=f"batch ({len(batch_scores)})")
    ax.set(xlabel="predicted value" if task == "regression" else "score", ylabel="density", title="Score distribution")
    ax.legend(fontsize=8)
    return to_svg(fig)


def bar_chart(values: dict[str, float], title: str, xlabel: str, lines: Sequence[float] = ()) -> str:
    """Horizontal bars, largest magnitude first (at most :data:`MAX_BARS`), with optional reference lines."""
    shown = sorted(values.items(), key=lambda item: -abs(item[1]) if math.isfinite(item[1]) else -math.inf)
    shown = shown[:MAX_BARS][::-1]
    fig, ax = _figure(6.0, max(2.0, 0.28 * len(shown) + 1.2))
    ax.barh([name for name, _ in shown], [value if math.isfinite(value) else 0.0 for _, value in shown])
    for line in lines:
        ax.axvline(line, color="red", linestyle="--", linewidth=0.8)
    ax.set(xlabel=xlabel, title=title)
    ax.tick_params(axis="y", labelsize=7)
    return to_svg(fig)
