"""The model directory: XGBoost's own model file plus a JSON feature schema. Nothing is pickled."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esteira_model.errors import ModelLoadError

MODEL_FILENAME = "xgboost-model.ubj"
SCHEMA_FILENAME = "feature-schema.json"
EVALUATION_FILENAME = "evaluation.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FeatureSchema:
    """What a request's columns mean and how predictions turn into labels."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    target: str
    task: str
    objective: str
    classes: tuple[float, ...]  # label values, by class index; empty for regression
    threshold: float
    best_iteration: int

    @property
    def num_features(self) -> int:
        return len(self.names)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "features": [{"name": n, "type": t} for n, t in zip(self.names, self.types, strict=True)],
            "target": self.target,
            "task": self.task,
            "objective": self.objective,
            "classes": list(self.classes),
            "threshold": self.threshold,
            "best_iteration": self.best_iteration,
        }

    @classmethod
    def from_json_dict(cls, raw: dict[str, Any]) -> FeatureSchema:
        try:
            if raw["schema_version"] != SCHEMA_VERSION:
                raise ModelLoadError(f"Unsupported feature schema version {raw['schema_version']!r}.")
            features = raw["features"]
            return cls(
                names=tuple(str(f["name"]) for f in features),
                types=tuple(str(f["type"]) for f in features),
                target=str(raw["target"]),
                task=str(raw["task"]),
                objective=str(raw["objective"]),
                classes=tuple(float(c) for c in raw["classes"]),
                threshold=float(raw["threshold"]),
                best_iteration=int(raw["best_iteration"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ModelLoadError(f"Malformed feature schema: {err!r}.") from err

    def save(self, model_dir: Path) -> Path:
        path = model_dir / SCHEMA_FILENAME
        path.write_text(json.dumps(self.to_json_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: Path) -> FeatureSchema:
        path = model_dir / SCHEMA_FILENAME
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"Cannot read feature schema {path}: {err}.") from err
        if not isinstance(raw, dict):
            raise ModelLoadError(f"Feature schema {path} is not a JSON object.")
        return cls.from_json_dict(raw)
