"""Load the model directory and predict on float matrices. Loading never runs code from the files."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

from esteira_model.errors import ModelLoadError
from esteira_model.fastpredict import build_fast_predict
from esteira_model.hyperparameters import BINARY, MULTICLASS
from esteira_model.native_csv import LabelTable
from esteira_model.schema import MODEL_FILENAME, FeatureSchema


@dataclass(frozen=True)
class Predictions:
    """One label and one score per input row, in input order.

    label_index: class index per row for classification (labels come from Predictor.class_labels);
    for regression, None, and the label is the score.
    """

    scores: np.ndarray
    label_index: np.ndarray | None


def _label_value(value: float) -> int | float:
    return int(value) if value.is_integer() and math.isfinite(value) else value


class Predictor:
    def __init__(self, booster: xgb.Booster, schema: FeatureSchema) -> None:
        self.booster = booster
        self.schema = schema
        self.class_labels: list[int | float] = [_label_value(c) for c in schema.classes]
        self.class_label_text: list[str] = [str(c) for c in self.class_labels]
        # By class index, for a vectorized lookup when formatting CSV.
        self.class_label_bytes: np.ndarray = np.array([t.encode() for t in self.class_label_text], dtype=object)
        self.class_label_table = LabelTable.of([t.encode() for t in self.class_label_text])  # for the C formatter
        num_features = booster.num_features()
        if num_features != schema.num_features:
            raise ModelLoadError(f"The model takes {num_features} features but the schema lists {schema.num_features}.")
        self._predict_raw: Callable[[np.ndarray], np.ndarray] = self._inplace_predict

    def enable_fast_path(self) -> bool:
        """Use the lean C call when it matches inplace_predict exactly on probe rows."""
        rng = np.random.default_rng(0)
        probe = rng.normal(size=(64, self.num_features)) * 3
        probe[rng.random(probe.shape) < 0.1] = np.nan
        fast = build_fast_predict(self.booster, probe)
        if fast is not None:
            self._predict_raw = fast
        return fast is not None

    def _inplace_predict(self, features: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.booster.inplace_predict(features, validate_features=False)
        return result

    @classmethod
    def load(cls, model_dir: Path, nthread: int = 1) -> Predictor:
        schema = FeatureSchema.load(model_dir)
        path = model_dir / MODEL_FILENAME
        if not path.is_file():
            raise ModelLoadError(f"No model file at {path}.")
        booster = xgb.Booster()
        try:
            booster.load_model(path)
        except xgb.core.XGBoostError as err:
            raise ModelLoadError(f"Cannot load {path}: {err}.") from err
        if nthread > 0:
            booster.set_param({"nthread": nthread})
        return cls(booster, schema)

    @property
    def num_features(self) -> int:
        return self.schema.num_features

    def predict(self, features: np.ndarray) -> Predictions:
        """features: (rows, num_features) float64 or float32; NaN means missing."""
        raw = self._predict_raw(features)
        task = self.schema.task
        if task == BINARY:
            return Predictions(raw, (raw >= self.schema.threshold).astype(np.intp))
        if task == MULTICLASS:
            index = np.argmax(raw, axis=1)
            return Predictions(raw[np.arange(len(raw)), index], index)
        return Predictions(raw, None)
