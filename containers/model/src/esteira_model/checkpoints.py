"""Managed-spot checkpoints: the booster and the early-stopping state, written every few rounds.

A checkpoint carries a fingerprint of the hyperparameters and the data; a run resumes only from one written for
the same fingerprint, so a checkpoint left by other data is ignored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from esteira_model.console import log
from esteira_model.hyperparameters import Hyperparameters
from esteira_model.prepare import PreparedData

_CHECKPOINT_PREFIX = "checkpoint-"


@dataclass
class LoopState:
    rounds_done: int
    history: list[float]
    best_score: float | None
    best_iteration: int

    def to_json(self, fingerprint: str) -> str:
        return json.dumps(
            {
                "fingerprint": fingerprint,
                "rounds_done": self.rounds_done,
                "history": self.history,
                "best_score": self.best_score,
                "best_iteration": self.best_iteration,
            }
        )


def fingerprint_of(xgb_params: dict[str, Any], params: Hyperparameters, data: PreparedData) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(xgb_params, sort_keys=True).encode())
    digest.update(json.dumps([params.num_round, params.early_stopping_rounds, list(data.names)]).encode())
    for array in (data.train.features, data.train.labels, data.validation.features, data.validation.labels):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _checkpoint_paths(directory: Path, rounds_done: int) -> tuple[Path, Path]:
    stem = directory / f"{_CHECKPOINT_PREFIX}{rounds_done:07d}"
    return stem.with_suffix(".ubj"), stem.with_suffix(".json")


def _write_atomic(path: Path, payload: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)


def save_checkpoint(directory: Path, booster: xgb.Booster, state: LoopState, fingerprint: str, keep: int) -> bytearray:
    directory.mkdir(parents=True, exist_ok=True)
    model_path, state_path = _checkpoint_paths(directory, state.rounds_done)
    raw = booster.save_raw("ubj")
    _write_atomic(model_path, bytes(raw))
    # The state file is written last: its presence marks a complete checkpoint.
    _write_atomic(state_path, state.to_json(fingerprint).encode())
    for old in sorted(directory.glob(f"{_CHECKPOINT_PREFIX}*.json"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".ubj").unlink(missing_ok=True)
    return raw


def load_checkpoint(directory: Path, fingerprint: str) -> tuple[bytearray, LoopState] | None:
    """The newest complete checkpoint written for this exact configuration and data, if any."""
    if not directory.is_dir():
        return None
    for state_path in sorted(directory.glob(f"{_CHECKPOINT_PREFIX}*.json"), reverse=True):
        model_path = state_path.with_suffix(".ubj")
        try:
            raw = json.loads(state_path.read_text())
            model = bytearray(model_path.read_bytes())
        except (OSError, json.JSONDecodeError) as err:
            log(f"Skipping unreadable checkpoint {state_path.name}: {err}")
            continue
        if raw.get("fingerprint") != fingerprint:
            log(f"Ignoring checkpoint {state_path.name}: written for other hyperparameters or data")
            return None
        state = LoopState(
            rounds_done=int(raw["rounds_done"]),
            history=[float(v) for v in raw["history"]],
            best_score=None if raw["best_score"] is None else float(raw["best_score"]),
            best_iteration=int(raw["best_iteration"]),
        )
        return model, state
    return None
