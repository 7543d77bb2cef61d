"""The training data set, the container's ``train`` in a SageMaker directory layout, and the artefacts it leaves.

Training in AWS reads the whole curated prefix (every ``dt=/run_id=`` folder; ``training.prepare``). Locally the
train channel is that same data with two differences, both needed to check the model on rows it never saw: each
key's latest version only (a changed row appears once per extraction that read it, the README says consumers take
the latest), and a held-out slice chosen by a hash of the key (stable across runs) is kept out for the smoke test
and the batch transform. ``train`` then splits its own validation set from the rest, as on SageMaker.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as pads

PARTITION_COLUMNS = ("dt", "run_id")
TRAIN_BIN = Path("containers/model/bin/train")
SERVE_BIN = Path("containers/model/bin/serve")


@dataclass(frozen=True)
class Dataset:
    rows: int
    versions_read: int  # row versions under curated/ (>= rows once rows have changed)
    train: pd.DataFrame
    held_out: pd.DataFrame


def held_out_mask(keys: pd.Series, fraction: float) -> pd.Series:
    """A stable pseudo-random slice of the keys: crc32(key) decides, so a key stays on its side across runs."""
    buckets = 10_000
    limit = round(fraction * buckets)
    return keys.map(lambda key: zlib.crc32(str(key).encode()) % buckets < limit).astype(bool)


def load_dataset(curated: Path, key: str, watermark: str, fraction: float) -> Dataset:
    table = pads.dataset(str(curated), format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
    frame = table.to_pandas()
    versions = len(frame)
    order = [watermark, "run_id"] if "run_id" in frame.columns else [watermark]
    latest = frame.sort_values(order, kind="stable").drop_duplicates(subset=[key], keep="last")
    latest = latest.drop(columns=[c for c in PARTITION_COLUMNS if c in latest.columns])
    latest = latest.sort_values(key, kind="stable").reset_index(drop=True)
    mask = held_out_mask(latest[key], fraction)
    return Dataset(len(latest), versions, latest[~mask].reset_index(drop=True), latest[mask].reset_index(drop=True))


def unusable_columns(frame: pd.DataFrame, target: str, dropped: list[str]) -> list[str]:
    """Columns ``train`` would refuse as features (not numeric or boolean): they must be dropped or encoded."""
    out = []
    for name in frame.columns:
        if name == target or name in dropped or name in PARTITION_COLUMNS:
            continue
        dtype = frame[name].dtype
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
            out.append(str(name))
    return out


@dataclass(frozen=True)
class TrainLayout:
    root: Path

    @property
    def train_channel(self) -> Path:
        return self.root / "input" / "data" / "train"

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


def write_train_layout(root: Path, train: pd.DataFrame, hyperparameters: dict[str, str]) -> TrainLayout:
    """SageMaker's /opt/ml as ``train`` expects it: hyperparameters (strings), channel config, the train channel."""
    if root.exists():
        shutil.rmtree(root)
    layout = TrainLayout(root)
    layout.train_channel.mkdir(parents=True)
    layout.config_dir.mkdir(parents=True)
    train.to_parquet(layout.train_channel / "part-00000.parquet", index=False)
    (layout.config_dir / "hyperparameters.json").write_text(json.dumps(hyperparameters, indent=2) + "\n")
    (layout.config_dir / "inputdataconfig.json").write_text(
        json.dumps({"train": {"ContentType": "application/x-parquet", "TrainingInputMode": "File"}}) + "\n"
    )
    return layout


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
