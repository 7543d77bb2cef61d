"""`training.dataset` in config: the dataset job's key-hash split and its Glue workers (see stacks/config.py)."""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Fraction = Annotated[float, Field(gt=0, le=1)]


class DatasetConfig(BaseModel):
    """The dataset job (glue_jobs/dataset_job.py): how keys are split, and its Glue workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train_fraction: Fraction = 0.7
    validation_fraction: Fraction = 0.15
    holdout_fraction: Fraction = 0.15
    worker_type: Literal["G.1X", "G.2X", "G.4X", "G.8X"] = "G.1X"
    number_of_workers: Annotated[int, Field(ge=2, le=299)] = 2
    timeout_minutes: Annotated[int, Field(ge=5, le=2880)] = 60

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> Self:
        total = self.train_fraction + self.validation_fraction + self.holdout_fraction
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                "training.dataset: train_fraction + validation_fraction + holdout_fraction must sum to 1, "
                f"got {self.train_fraction} + {self.validation_fraction} + {self.holdout_fraction} = {total:g}"
            )
        return self
