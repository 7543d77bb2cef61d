"""SHAP values of the candidate model on the holdout, from XGBoost's own TreeSHAP (``pred_contribs=True``).

On AWS, Clarify's processing job explains the model with Kernel SHAP on the holdout and writes
``explanations.kernel_shap.label0.global_shap_values`` (mean |SHAP value| per feature) and ``expected_value`` in its
explainability ``analysis.json``. Locally the model is an XGBoost booster, whose exact tree SHAP values XGBoost
computes itself: for each row, one contribution per feature plus the bias, summing to the model's margin (log-odds
for a binary model, each class's margin for a multiclass one, the value for a regression). The booster is the one
``train`` wrote, loaded by the container's own loader (:class:`esteira_model.predictor.Predictor`), so the values
explain exactly the model that serves. The file has Clarify's shape, one ``label<k>`` per class of a multiclass
model; the values are in margin units (Clarify's Kernel SHAP explains the probability), which ``output`` says.

Clarify explains every holdout row; locally a holdout larger than :data:`SAMPLE_ROWS` is explained on a seeded sample
of that many rows (``training.bias.shap.seed``). Exact TreeSHAP costs about 0.9 ms of one core per row for the demo's
103 trees of depth 6: the 100k-row demo's 13,815 holdout rows took 6.2 s on both cores, 15% of the whole local run.
On that holdout the 2,000-row sample's mean |SHAP value| per feature was within 3.2% of the whole holdout's for every
feature (5 seeds), with the same top three; the report says how many rows were explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from esteira_model.channels import HOLDOUT_CHANNEL
from esteira_model.hyperparameters import MULTICLASS
from esteira_model.predictor import Predictor
from esteira_model.prepare import matrix

METHOD = "xgboost TreeSHAP (Booster.predict pred_contribs=True)"
SAMPLE_ROWS = 2_000
OUTPUT = {"binary": "log-odds (margin)", "multiclass": "class margin", "regression": "predicted value"}


@dataclass(frozen=True)
class Contributions:
    """Per-row SHAP values: ``values[row, label, feature]`` and ``bias[row, label]`` (one label but multiclass)."""

    features: tuple[str, ...]
    values: np.ndarray
    bias: np.ndarray

    @property
    def margins(self) -> np.ndarray:
        """What the contributions add up to, per row and label: the model's margin."""
        summed: np.ndarray = self.values.sum(axis=2) + self.bias
        return summed

    def mean_abs(self, label: int) -> dict[str, float]:
        """Global importance of one label: each feature's mean |SHAP value| over the rows."""
        means = np.abs(self.values[:, label, :]).mean(axis=0)
        return {name: float(value) for name, value in zip(self.features, means, strict=True)}


def features_matrix(predictor: Predictor, frame: pd.DataFrame) -> np.ndarray:
    """The holdout's features in the model's order, as ``train`` and ``serve`` read them."""
    return matrix(frame, list(predictor.schema.names), HOLDOUT_CHANNEL)


def sample(features: np.ndarray, seed: int, limit: int = SAMPLE_ROWS) -> np.ndarray:
    """At most ``limit`` rows, drawn without replacement by ``seed`` and kept in holdout order; all rows if fewer."""
    if len(features) <= limit:
        return features
    chosen = np.sort(np.random.default_rng(seed).choice(len(features), size=limit, replace=False))
    sampled: np.ndarray = features[chosen]
    return sampled


def contributions(predictor: Predictor, features: np.ndarray) -> Contributions:
    """XGBoost's SHAP values of each row (the booster's own iteration range, as its predictions use)."""
    data = xgb.DMatrix(features, missing=np.nan)
    raw = np.asarray(predictor.booster.predict(data, pred_contribs=True, validate_features=False), dtype=np.float64)
    if raw.ndim == 2:  # binary or regression: (rows, features + bias)
        raw = raw[:, np.newaxis, :]
    return Contributions(tuple(predictor.schema.names), raw[:, :, :-1], raw[:, :, -1])


def analysis(found: Contributions) -> dict[str, Any]:
    """Clarify's explainability ``analysis.json``: per label, mean |SHAP value| per feature and the expected value."""
    labels = {
        f"label{k}": {"global_shap_values": found.mean_abs(k), "expected_value": float(found.bias[:, k].mean())}
        for k in range(found.values.shape[1])
    }
    return {"version": "1.0", "explanations": {"kernel_shap": labels}}


def report_section(found: Contributions, task: str, analysis_uri: str, holdout_rows: int) -> dict[str, Any]:
    """The run report's ``explainability``: features by mean |SHAP value| (over the classes for a multiclass
    model), largest first; ``rows`` explained of the ``holdout_rows``."""
    importance = np.abs(found.values).mean(axis=(0, 1))
    ranked = sorted(zip(found.features, importance, strict=True), key=lambda item: -item[1])
    return {
        "method": METHOD,
        "output": OUTPUT.get(task, "margin"),
        "rows": int(found.values.shape[0]),
        "holdout_rows": holdout_rows,
        "labels": int(found.values.shape[1]) if task == MULTICLASS else 1,
        "expected_value": float(found.bias.mean()),
        "importance": [{"feature": name, "mean_abs_shap": round(float(value), 6)} for name, value in ranked],
        "analysis_uri": analysis_uri,
    }
