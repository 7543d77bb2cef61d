"""SageMaker's /opt/ml layout, rooted at ESTEIRA_ML_ROOT when set."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ML_ROOT_ENV = "ESTEIRA_ML_ROOT"
DEFAULT_ML_ROOT = "/opt/ml"
# SageMaker names the training job in the container's environment.
TRAINING_JOB_NAME_ENV = "TRAINING_JOB_NAME"
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class MLPaths:
    root: Path
    training_job_name: str | None = None

    @classmethod
    def from_env(cls) -> MLPaths:
        job = os.environ.get(TRAINING_JOB_NAME_ENV) or None
        if job is not None and not _JOB_NAME.match(job):
            raise ValueError(f"{TRAINING_JOB_NAME_ENV} {job!r} is not a SageMaker training job name")
        return cls(Path(os.environ.get(ML_ROOT_ENV) or DEFAULT_ML_ROOT), job)

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def hyperparameters(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        """The job's own checkpoints. A tuning job gives all its trials one CheckpointConfig.S3Uri, synced into
        /opt/ml/checkpoints, so each trial writes and resumes under its job's name there: a trial never resumes,
        overwrites or prunes another trial's checkpoint, and a spot restart (same job) finds its own."""
        base = self.root / "checkpoints"
        return base / self.training_job_name if self.training_job_name else base
