"""The container's ``train`` in a SageMaker directory layout fed by the dataset job's splits, and what it leaves.

The channels are the dataset job's own output (``datasets/run_id=R/{train,validation,holdout}``), exactly what the
training state machine gives SageMaker: each key's latest version, split by a stable hash of the key. The
champion's model files are the ``champion`` channel, so the candidate and the champion are scored on the same
holdout rows.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

CHAMPION_CHANNEL = "champion"
TRAIN_BIN = Path("containers/model/bin/train")
SERVE_BIN = Path("containers/model/bin/serve")


@dataclass(frozen=True)
class TrainLayout:
    root: Path

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"


def write_train_layout(
    root: Path, channels: dict[str, Path], hyperparameters: dict[str, str], champion: Path | None = None
) -> TrainLayout:
    """SageMaker's /opt/ml as ``train`` expects it: hyperparameters (strings), channel config, each channel's
    Parquet files (and the champion's model files as the ``champion`` channel)."""
    if root.exists():
        shutil.rmtree(root)
    layout = TrainLayout(root)
    layout.config_dir.mkdir(parents=True)
    config: dict[str, dict[str, str]] = {}
    for name, source in channels.items():
        target = layout.channel(name)
        target.mkdir(parents=True)
        for part in sorted(source.glob("*.parquet")):
            shutil.copyfile(part, target / part.name)
        config[name] = {"ContentType": "application/x-parquet", "TrainingInputMode": "File"}
    if champion is not None:
        shutil.copytree(champion, layout.channel(CHAMPION_CHANNEL))
        config[CHAMPION_CHANNEL] = {"TrainingInputMode": "File"}  # model files, not data
    (layout.config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2) + "\n")
    (layout.config_dir / "inputdataconfig.json").write_text(json.dumps(config, indent=2) + "\n")
    return layout


def read_parquet_dir(folder: Path) -> pd.DataFrame:
    """A split the dataset job wrote (Parquet part files; Spark's checksum and marker files are skipped).

    Integer columns stay integers when they hold nulls (pandas' nullable types), so that CSV lines made from them
    read ``4`` as the dataset job's baseline CSV does, not ``4.0``: the monitor would take that for another type.
    """
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    table = pads.dataset(files, format="parquet").to_table()
    frame: pd.DataFrame = table.to_pandas(types_mapper=_nullable_integers.get)
    return frame


_nullable_integers = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


def train_argv(repo: Path) -> list[str]:
    return [sys.executable, str(repo / TRAIN_BIN)]


def serve_argv(repo: Path) -> list[str]:
    return [sys.executable, str(repo / SERVE_BIN)]


def make_tarball(source: Path, target: Path) -> None:
    """``tar czf target -C source .``: what SageMaker uploads from /opt/ml/model and /opt/ml/output/data."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(source.rglob("*")):
            archive.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)


def feature_names(model_dir: Path) -> list[str]:
    schema: dict[str, Any] = json.loads((model_dir / "feature-schema.json").read_text())
    return [str(feature["name"]) for feature in schema["features"]]


def csv_lines(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Rows as CSV lines without a header; a missing value is an empty field, as ``serve`` expects."""
    text = frame[columns].to_csv(header=False, index=False, na_rep="", lineterminator="\n")
    return text.splitlines()
