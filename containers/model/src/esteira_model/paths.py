"""SageMaker's /opt/ml layout, rooted at ESTEIRA_ML_ROOT when set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ML_ROOT_ENV = "ESTEIRA_ML_ROOT"
DEFAULT_ML_ROOT = "/opt/ml"


@dataclass(frozen=True)
class MLPaths:
    root: Path

    @classmethod
    def from_env(cls) -> MLPaths:
        return cls(Path(os.environ.get(ML_ROOT_ENV) or DEFAULT_ML_ROOT))

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
        return self.root / "checkpoints"
