"""Typed hyperparameters. SageMaker passes every value as a string; each field parses its own."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esteira_model.errors import TrainingError

BINARY = "binary"
MULTICLASS = "multiclass"
REGRESSION = "regression"

# Objectives whose predictions are probabilities of classes.
_BINARY_OBJECTIVES = {"binary:logistic", "binary:hinge", "binary:logitraw"}
_MULTI_OBJECTIVES = {"multi:softprob", "multi:softmax"}
_SUPPORTED_BINARY = {"binary:logistic"}
_SUPPORTED_MULTI = {"multi:softprob"}

_MAXIMIZE_METRICS = {"auc", "aucpr", "map", "ndcg", "pre"}


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _parse_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Hyperparameters:
    """Defaults for the default model. Every name is also the key in hyperparameters.json."""

    target: str = "label"
    objective: str = "binary:logistic"
    num_class: int = 0  # 0: inferred from the labels for multi:softprob
    eval_metric: str = ""  # "": auc for binary, mlogloss for multiclass, rmse for regression
    num_round: int = 500
    early_stopping_rounds: int = 20
    eta: float = 0.1
    max_depth: int = 6
    min_child_weight: float = 1.0
    subsample: float = 1.0
    colsample_bytree: float = 1.0
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    gamma: float = 0.0
    max_bin: int = 256
    scale_pos_weight: float = 1.0
    tree_method: str = "hist"
    nthread: int = 0  # 0: every core
    seed: int = 42
    validation_fraction: float = 0.2
    drop_columns: tuple[str, ...] = field(default_factory=tuple)
    id_column: str = ""  # the primary key the channels carry: never a feature; no key may be in two channels
    threshold: float = 0.5
    checkpoint_frequency: int = 10
    keep_checkpoints: int = 2

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Hyperparameters:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        unknown = []
        for key, value in raw.items():
            # SageMaker and its tuner add their own keys; they are not ours to judge.
            if key.startswith(("_", "sagemaker_")):
                continue
            if key not in fields:
                unknown.append(key)
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            default = fields[key].default if fields[key].default is not dataclasses.MISSING else ()
            try:
                values[key] = _coerce(text, default)
            except ValueError as err:
                raise TrainingError(f"Hyperparameter {key!r} has an invalid value {text!r}: {err}.") from err
        if unknown:
            raise TrainingError(f"Unknown hyperparameters {sorted(unknown)}; known ones are {sorted(fields)}.")
        params = cls(**values)
        params.validate()
        return params

    @classmethod
    def from_file(cls, path: Path) -> Hyperparameters:
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise TrainingError(f"{path} is not valid JSON: {err}.") from err
        if not isinstance(raw, dict):
            raise TrainingError(f"{path} must hold a JSON object of hyperparameters.")
        return cls.from_mapping(raw)

    @property
    def task(self) -> str:
        if self.objective in _BINARY_OBJECTIVES:
            return BINARY
        if self.objective in _MULTI_OBJECTIVES:
            return MULTICLASS
        return REGRESSION

    @property
    def effective_eval_metric(self) -> str:
        if self.eval_metric:
            return self.eval_metric
        return {BINARY: "auc", MULTICLASS: "mlogloss", REGRESSION: "rmse"}[self.task]

    @property
    def maximize(self) -> bool:
        return self.effective_eval_metric.split("@")[0] in _MAXIMIZE_METRICS

    def validate(self) -> None:
        problems = []
        if self.task == BINARY and self.objective not in _SUPPORTED_BINARY:
            problems.append(f"objective {self.objective!r} is not supported; use binary:logistic")
        if self.task == MULTICLASS and self.objective not in _SUPPORTED_MULTI:
            problems.append(f"objective {self.objective!r} is not supported; use multi:softprob")
        if self.task == REGRESSION and not self.objective.startswith(("reg:", "count:", "survival:")):
            problems.append(f"objective {self.objective!r} is not a supported XGBoost objective")
        if self.num_round < 1:
            problems.append("num_round must be at least 1")
        if self.early_stopping_rounds < 0:
            problems.append("early_stopping_rounds must be 0 (off) or more")
        if not 0.0 < self.validation_fraction < 1.0:
            problems.append("validation_fraction must be between 0 and 1")
        if not 0.0 <= self.threshold <= 1.0:
            problems.append("threshold must be between 0 and 1")
        if self.checkpoint_frequency < 1:
            problems.append("checkpoint_frequency must be at least 1")
        if self.keep_checkpoints < 1:
            problems.append("keep_checkpoints must be at least 1")
        if not self.target:
            problems.append("target must name the label column")
        if self.id_column and self.id_column == self.target:
            problems.append("id_column must not be the label column")
        if problems:
            raise TrainingError("Invalid hyperparameters: " + "; ".join(problems) + ".")

    def xgboost_params(self, num_class: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": self.objective,
            "eval_metric": self.effective_eval_metric,
            "eta": self.eta,
            "max_depth": self.max_depth,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "alpha": self.reg_alpha,
            "gamma": self.gamma,
            "max_bin": self.max_bin,
            "tree_method": self.tree_method,
            "seed": self.seed,
            # Seeds the sampler from the round number, so a run resumed from a checkpoint
            # draws the same rows and columns as an uninterrupted one.
            "seed_per_iteration": True,
            "verbosity": 1,
        }
        if self.nthread > 0:
            params["nthread"] = self.nthread
        if self.task == BINARY:
            params["scale_pos_weight"] = self.scale_pos_weight
        if self.task == MULTICLASS:
            params["num_class"] = num_class
        return params

    def to_json_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["drop_columns"] = list(self.drop_columns)
        return out


def _coerce(text: str, default: Any) -> Any:
    if isinstance(default, bool):
        return _parse_bool(text)
    if isinstance(default, int):
        as_float = float(text)
        if not as_float.is_integer():
            raise ValueError("expected an integer")
        return int(as_float)
    if isinstance(default, float):
        return float(text)
    if isinstance(default, tuple):
        if text.startswith("["):
            parsed = json.loads(text)
            if not isinstance(parsed, list):
                raise ValueError("expected a list")
            return tuple(str(item) for item in parsed)
        return _parse_list(text)
    return text
