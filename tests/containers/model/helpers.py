"""Shared helpers for the model image tests: deterministic data, ML roots and process runners."""

from __future__ import annotations

import contextlib
import io
import json
import mmap
import os
import runpy
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from esteira_model import core_board
from esteira_model.boosting import INTERRUPT_ENV

REPO = Path(__file__).resolve().parents[3]
MODEL_DIR = REPO / "containers" / "model"
TRAIN_BIN = MODEL_DIR / "bin" / "train"
SERVE_BIN = MODEL_DIR / "bin" / "serve"
FIXTURES = REPO / "tests" / "fixtures" / "model"
FEATURES = ("f0", "f1", "f2", "f3", "f4", "f5")
BOARD_SLOT = core_board._SLOT  # the core board's record layout, to play another worker's part in-process


def write_slot(path: Path, slot: int, running: int, idle_since: float) -> None:
    with path.open("r+b") as file, mmap.mmap(file.fileno(), 0) as shared:
        BOARD_SLOT.pack_into(shared, slot * BOARD_SLOT.size, running, idle_since)


def read_slot(path: Path, slot: int) -> tuple[int, float]:
    running, idle_since = BOARD_SLOT.unpack_from(path.read_bytes(), slot * BOARD_SLOT.size)
    return running, idle_since


def make_frame(rows: int, seed: int, task: str = "binary") -> pd.DataFrame:
    """Six numeric features (one integer, one boolean), an id column and a learnable label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    count = rng.integers(0, 5, size=rows)
    flag = rng.random(rows) < 0.3
    signal = x[:, 0] + x[:, 1] * x[:, 2] + 0.5 * count - 1.0 + 0.8 * flag + 0.5 * rng.normal(size=rows)
    frame = pd.DataFrame({f"f{i}": x[:, i] for i in range(4)})
    frame["f4"] = count
    frame["f5"] = flag
    frame["customer_id"] = np.arange(rows)
    if task == "binary":
        frame["label"] = (signal > 0).astype(np.int64)
    elif task == "multiclass":
        frame["label"] = np.digitize(signal, [-1.0, 1.0]).astype(np.int64)
    else:
        frame["label"] = signal
    return frame


@dataclass(frozen=True)
class MLRoot:
    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def channel(self, name: str) -> Path:
        path = self.root / "input" / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_hyperparameters(self, values: dict[str, str]) -> None:
        config = self.root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(values))

    def write_input_data_config(self, channels: dict[str, str]) -> None:
        config = self.root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        payload = {name: {"ContentType": ct, "TrainingInputMode": "File"} for name, ct in channels.items()}
        (config / "inputdataconfig.json").write_text(json.dumps(payload))

    def write_parquet_tree(self, channel: str, frame: pd.DataFrame, parts: int = 3) -> None:
        """Like the extraction job: dt= partitions, part files, _SUCCESS, _manifests and dotfiles."""
        base = self.channel(channel)
        chunks = np.array_split(np.arange(len(frame)), parts)
        for i, index in enumerate(chunks):
            folder = base / f"dt=2026-01-{i + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            frame.iloc[index].to_parquet(folder / f"part-{i:05d}-abc.c000.snappy.parquet", index=False)
            (folder / f".part-{i:05d}-abc.c000.snappy.parquet.crc").write_bytes(b"crc")
        (base / "_SUCCESS").write_text("")
        (base / "_manifests").mkdir(exist_ok=True)
        (base / "_manifests" / "manifest.json").write_text("{}")
        (base / "README.txt").write_text("not data")


def run_bin(
    script: Path, root: Path, extra_env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTEIRA_ML_ROOT": str(root), **(extra_env or {})}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_train_in_process(root: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """bin/train as run_bin runs it, in this process: the same script run as `__main__` (runpy, as `python
    bin/train` runs it), with the same environment, its stdout and stderr captured and its exit status returned.

    A subprocess spends about 0.7 s of CPU starting the interpreter and importing pandas and XGBoost before the
    script's first line of work; most runs of the tests are over in less. The runs whose process itself is checked
    stay subprocesses (run_bin): the shared trained models (conftest.py), the interrupted spot runs (the
    interruption hook ends the process with os._exit) and the resumed and uninterrupted runs whose model bytes
    test_checkpoints.py compares, and the console a failed job leaves (test_train_channels.py's text feature in the
    train channel)."""
    env = {"ESTEIRA_ML_ROOT": str(root), **(extra_env or {})}
    if INTERRUPT_ENV in env:
        raise ValueError("an interrupted run ends its process (os._exit): use run_bin")
    stdout, stderr = io.StringIO(), io.StringIO()
    code: int
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "path", list(sys.path))  # bin/train puts ../src first; undone on exit
        try:
            runpy.run_path(str(TRAIN_BIN), run_name="__main__")
            code = 0
        except SystemExit as exit_:
            # As the interpreter ends on SystemExit: None is 0, an int is the status, anything else is printed.
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except Exception:  # an uncaught exception: the traceback on stderr and status 1
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(
        [sys.executable, str(TRAIN_BIN)], code, stdout=stdout.getvalue(), stderr=stderr.getvalue()
    )
