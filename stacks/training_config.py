"""`training` in config: the training job, its tuning, and the gate a model must pass (see stacks/config.py)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from esteira_contracts.layout import CANDIDATE_IMAGE_TAG_PREFIX
from esteira_contracts.tasks import BINARY, DEFAULT_OBJECTIVE, TASK_METRICS, task_of_objective
from stacks.bias_config import BiasConfig
from stacks.config_base import InstanceType, StrictModel
from stacks.dataset_config import DatasetConfig
from stacks.retraining_config import RetrainingConfig

HyperparameterValue = str | int | float | bool


class ParameterRange(StrictModel):
    type: Literal["continuous", "integer", "categorical"]
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs values")
        elif self.min is None or self.max is None or self.min >= self.max:
            raise ValueError("a numeric range needs min < max")
        return self


class TuningConfig(StrictModel):
    max_jobs: Annotated[int, Field(ge=1, le=500)] = 9
    max_parallel_jobs: Annotated[int, Field(ge=1, le=100)] = 3
    objective_metric: str = "validation:auc"
    objective_type: Literal["Maximize", "Minimize"] = "Maximize"
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
    ranges: Annotated[dict[str, ParameterRange], Field(min_length=1)]

    @model_validator(mode="after")
    def _parallel(self) -> Self:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs ({self.max_parallel_jobs}) > max_jobs ({self.max_jobs})")
        return self


class GateConfig(StrictModel):
    metric: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] = "auc"
    threshold: Annotated[float, Field(ge=0)] = 0.8
    min_improvement: Annotated[float, Field(ge=0)] = 0.0


class TrainingConfig(StrictModel):
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    instance_type: InstanceType = "ml.m5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=20)] = 1
    volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 30
    max_runtime_minutes: Annotated[int, Field(ge=1, le=7200)] = 120
    spot: bool = True
    max_wait_minutes: Annotated[int, Field(ge=1, le=7200)] = 240
    hyperparameters: dict[str, HyperparameterValue] = {}
    gate: GateConfig = GateConfig()
    approval: Literal["Approved", "PendingManualApproval"] = "PendingManualApproval"
    tuning: TuningConfig | None = None
    dataset: DatasetConfig = DatasetConfig()
    retraining: RetrainingConfig = RetrainingConfig()
    bias: BiasConfig = BiasConfig()

    @field_validator("image_tag")
    @classmethod
    def _not_a_candidate(cls, value: str) -> str:
        # The ECR lifecycle expires candidate images; a registered package must never name one.
        if value.startswith(CANDIDATE_IMAGE_TAG_PREFIX):
            raise ValueError(
                f"'{value}' is a candidate image tag ({CANDIDATE_IMAGE_TAG_PREFIX}*), which the ECR lifecycle "
                "expires: train with a commit or release tag"
            )
        return value

    @model_validator(mode="after")
    def _spot_wait(self) -> Self:
        if self.spot and self.max_wait_minutes < self.max_runtime_minutes:
            raise ValueError(
                f"max_wait_minutes ({self.max_wait_minutes}) must be >= max_runtime_minutes "
                f"({self.max_runtime_minutes}) with spot capacity"
            )
        if "target" not in self.hyperparameters:
            raise ValueError("hyperparameters need 'target', the label column")
        return self

    @model_validator(mode="after")
    def _metrics_fit_the_objective(self) -> Self:
        # The gate (and a tuner) can only compare a metric `train` computes for the objective's task.
        objective = str(self.hyperparameters.get("objective", DEFAULT_OBJECTIVE))
        task = task_of_objective(objective)
        known = TASK_METRICS[task]
        chosen = {"gate.metric": self.gate.metric}
        if self.tuning is not None:
            chosen["tuning.objective_metric"] = self.tuning.objective_metric.removeprefix("validation:")
        for key, metric in chosen.items():
            if metric not in known:
                raise ValueError(
                    f"training.{key} '{metric}' does not fit training.hyperparameters.objective '{objective}' "
                    f"(a {task} task): use one of {', '.join(known)}"
                )
        return self

    @model_validator(mode="after")
    def _bias_fits_the_task(self) -> Self:
        # Clarify's predictor reads our container's score as a probability and cuts it at probability_threshold:
        # that is binary classification. The label cannot be its own facet.
        if not self.bias.enabled:
            return self
        objective = str(self.hyperparameters.get("objective", DEFAULT_OBJECTIVE))
        if task_of_objective(objective) != BINARY:
            raise ValueError(
                f"training.bias: the Clarify analysis (a probability cut at training.bias.probability_threshold) "
                f"needs binary classification; training.hyperparameters.objective is '{objective}'"
            )
        target = str(self.hyperparameters.get("target", ""))
        for index, facet in enumerate(self.bias.facets):
            if facet.column == target:
                raise ValueError(f"training.bias.facets.{index}.column: '{target}' is the label, not a facet")
        return self
