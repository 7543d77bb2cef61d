"""Small models of each task for the smoke test's tests: trained by the real ``bin/train`` on train, validation
and holdout channels, with the holdout written as a dataset run's ``holdout/`` split (Parquet part files and
Spark's marker files), and served by the real ``bin/serve``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from esteira_model.schema import EVALUATION_FILENAME
from tests.containers.model.helpers import TRAIN_BIN, MLRoot, make_frame, run_bin

OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
# Each task's gate metric, as a config's training.gate.metric would name it.
GATE_METRICS = {"binary": "auc", "multiclass": "accuracy", "regression": "r2"}
SPLITS = ("train", "validation", "holdout")


@dataclass(frozen=True)
class TaskModel:
    task: str
    root: MLRoot
    holdout: pd.DataFrame  # the dataset run's holdout rows (key, features, label)
    dataset_dir: Path  # a local dataset run: <dataset_dir>/holdout/part-*.parquet

    @property
    def model_dir(self) -> Path:
        return self.root.model_dir

    @property
    def evaluation(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.model_dir / EVALUATION_FILENAME).read_text())
        return loaded

    def holdout_metric(self, metric: str) -> float:
        """What train measured on the holdout channel, with the same metric code."""
        return float(self.evaluation["holdout"][metric])


def write_split(folder: Path, frame: pd.DataFrame, parts: int = 2) -> None:
    """A dataset job split: Spark part files plus a _SUCCESS marker and a checksum file (both skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(frame) // parts)
    for index in range(parts):
        chunk = frame.iloc[index * size : (index + 1) * size]
        chunk.to_parquet(folder / f"part-{index:05d}-abc.snappy.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000-abc.snappy.parquet.crc").write_bytes(b"crc")


def train_task_model(base: Path, task: str, num_round: int = 15) -> TaskModel:
    frames = {split: make_frame(400, seed=60 + offset, task=task) for offset, split in enumerate(SPLITS)}
    root = MLRoot(base / "ml")
    for split, frame in frames.items():
        root.write_parquet_tree(split, frame, parts=2)
    root.write_hyperparameters(
        {"objective": OBJECTIVES[task], "drop_columns": "customer_id", "num_round": str(num_round)}
    )
    result = run_bin(TRAIN_BIN, root.root)
    assert result.returncode == 0, result.stderr
    dataset_dir = base / "datasets" / f"run_id=smoke-{task}"
    write_split(dataset_dir / "holdout", frames["holdout"])
    return TaskModel(task, root, frames["holdout"], dataset_dir)
