"""`train`: SageMaker's training entry point for the default model."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from esteira_model.data import (
    NON_FEATURE_COLUMNS,
    ChannelConfig,
    feature_type,
    is_numeric_column,
    read_channel,
    read_input_data_config,
    to_float_matrix,
)
from esteira_model.errors import TrainingError
from esteira_model.hyperparameters import BINARY, MULTICLASS, REGRESSION, Hyperparameters
from esteira_model.metrics import classification_metrics, metric_lines, regression_metrics
from esteira_model.paths import MLPaths
from esteira_model.schema import EVALUATION_FILENAME, MODEL_FILENAME, FeatureSchema

TRAIN_CHANNEL = "train"
LEGACY_TRAIN_CHANNEL = "training"
VALIDATION_CHANNEL = "validation"

# Test hook: stop the process abruptly (no failure file, no cleanup) after this many rounds,
# as a spot interruption would.
INTERRUPT_ENV = "ESTEIRA_TEST_INTERRUPT_AFTER_ROUNDS"
INTERRUPT_EXIT_CODE = 75

_CHECKPOINT_PREFIX = "checkpoint-"

# Held-out rows that travel with the model (model.tar.gz) for the CD smoke test (pipeline/smoke.py reads them).
SMOKE_HOLDOUT = Path("smoke") / "holdout.csv"


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray
    labels: np.ndarray  # class indices for classification, values for regression


@dataclass(frozen=True)
class PreparedData:
    train: Dataset
    validation: Dataset
    names: tuple[str, ...]
    types: tuple[str, ...]
    classes: tuple[float, ...]
    validation_source: str


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# Data preparation


def _split_frame(frame: pd.DataFrame, params: Hyperparameters) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(frame) < 2:
        raise TrainingError(
            f"The train channel has {len(frame)} row(s); at least 2 are needed to split off validation "
            "data. Provide more rows or a validation channel."
        )
    rng = np.random.default_rng(params.seed)
    order = rng.permutation(len(frame))
    n_valid = min(max(1, round(len(frame) * params.validation_fraction)), len(frame) - 1)
    return frame.iloc[np.sort(order[n_valid:])], frame.iloc[np.sort(order[:n_valid])]


def _labels(frame: pd.DataFrame, target: str, channel: str) -> np.ndarray:
    column = frame[target]
    if pd.api.types.is_bool_dtype(column.dtype):
        column = column.astype("int64")
    if not pd.api.types.is_numeric_dtype(column.dtype):
        sample = [str(v) for v in column.dropna().unique()[:3]]
        raise TrainingError(
            f"The label column {target!r} in the {channel} data is not numeric (dtype {column.dtype}, "
            f"values such as {sample}). Encode labels as numbers: 0/1 for binary classification, "
            "0..k-1 for multiclass, real values for regression."
        )
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = int(np.count_nonzero(~np.isfinite(values)))
    if missing:
        raise TrainingError(
            f"The label column {target!r} in the {channel} data has {missing} missing or infinite value(s); "
            "drop or fill those rows before training."
        )
    return values


def _check_columns(frame: pd.DataFrame, params: Hyperparameters, channel: str) -> None:
    if params.target not in frame.columns:
        raise TrainingError(
            f"The {channel} data has no label column {params.target!r} (hyperparameter 'target'); "
            f"its columns are {list(map(str, frame.columns))[:50]}."
        )


def _feature_columns(frame: pd.DataFrame, params: Hyperparameters) -> list[str]:
    dropped = set(params.drop_columns) | NON_FEATURE_COLUMNS | {params.target}
    names = [str(c) for c in frame.columns if str(c) not in dropped]
    if not names:
        raise TrainingError("No feature columns are left after removing the label and dropped columns.")
    bad = [n for n in names if not is_numeric_column(frame[n])]
    if bad:
        raise TrainingError(
            f"Feature columns {bad[:20]} are not numeric; the default model takes numeric and boolean "
            "features only. Encode them upstream or list them in the 'drop_columns' hyperparameter."
        )
    return names


def _encode_classes(
    train_y: np.ndarray, valid_y: np.ndarray, params: Hyperparameters
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    if params.task not in (BINARY, MULTICLASS):
        return train_y, valid_y, ()
    classes = np.unique(train_y)
    if params.task == BINARY and len(classes) != 2:
        raise TrainingError(
            f"Binary classification needs exactly 2 label values in the train data; found {len(classes)} "
            f"({classes[:10].tolist()}). Use objective multi:softprob for more classes."
        )
    if params.task == MULTICLASS:
        if len(classes) < 2:
            raise TrainingError("Multiclass classification needs at least 2 label values in the train data.")
        if params.num_class and params.num_class != len(classes):
            raise TrainingError(f"num_class is {params.num_class} but the train data has {len(classes)} label values.")
    unseen = np.setdiff1d(np.unique(valid_y), classes)
    if len(unseen):
        raise TrainingError(f"The validation data has label values {unseen[:10].tolist()} that the train data lacks.")
    return (
        np.searchsorted(classes, train_y).astype(np.float64),
        np.searchsorted(classes, valid_y).astype(np.float64),
        tuple(float(c) for c in classes),
    )


def _matrix(frame: pd.DataFrame, names: list[str], channel: str) -> np.ndarray:
    features = to_float_matrix(frame[names])
    infinite = np.isinf(features).any(axis=0)
    if infinite.any():
        cols = [n for n, bad in zip(names, infinite, strict=True) if bad]
        raise TrainingError(f"Feature columns {cols[:20]} in the {channel} data hold infinite values.")
    return features


def prepare(train_frame: pd.DataFrame, valid_frame: pd.DataFrame | None, params: Hyperparameters) -> PreparedData:
    _check_columns(train_frame, params, TRAIN_CHANNEL)
    names = _feature_columns(train_frame, params)
    source = VALIDATION_CHANNEL
    if valid_frame is None:
        train_frame, valid_frame = _split_frame(train_frame, params)
        source = f"random split ({params.validation_fraction:g}, seed {params.seed})"
    else:
        _check_columns(valid_frame, params, VALIDATION_CHANNEL)
        missing = [n for n in names if n not in valid_frame.columns]
        if missing:
            raise TrainingError(f"The validation data lacks feature columns {missing[:20]}.")
        bad = [n for n in names if not is_numeric_column(valid_frame[n])]
        if bad:
            raise TrainingError(f"Feature columns {bad[:20]} are not numeric in the validation data.")
    train_y = _labels(train_frame, params.target, TRAIN_CHANNEL)
    valid_y = _labels(valid_frame, params.target, VALIDATION_CHANNEL)
    train_y, valid_y, classes = _encode_classes(train_y, valid_y, params)
    return PreparedData(
        train=Dataset(_matrix(train_frame, names, TRAIN_CHANNEL), train_y),
        validation=Dataset(_matrix(valid_frame, names, VALIDATION_CHANNEL), valid_y),
        names=tuple(names),
        types=tuple(feature_type(train_frame[n]) for n in names),
        classes=classes,
        validation_source=source,
    )


# ---------------------------------------------------------------------------------------------
# Checkpoints


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


def _fingerprint(xgb_params: dict[str, Any], params: Hyperparameters, data: PreparedData) -> str:
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


def _booster_from(raw: bytearray, xgb_params: dict[str, Any], dtrain: xgb.DMatrix, dvalid: xgb.DMatrix) -> xgb.Booster:
    booster = xgb.Booster(xgb_params, cache=[dtrain, dvalid])
    booster.load_model(raw)
    booster.set_param(xgb_params)
    return booster


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


# ---------------------------------------------------------------------------------------------
# Training


def _parse_eval(line: str) -> float:
    # "[12]\tvalidation-auc:0.912345"
    return float(line.rsplit(":", 1)[1])


def _improved(score: float, best: float | None, maximize: bool) -> bool:
    if best is None:
        return True
    return score > best if maximize else score < best


def train_booster(data: PreparedData, params: Hyperparameters, checkpoint_dir: Path) -> tuple[xgb.Booster, int]:
    num_class = len(data.classes) if params.task == MULTICLASS else 0
    xgb_params = params.xgboost_params(num_class)
    dtrain = xgb.DMatrix(data.train.features, label=data.train.labels)
    dvalid = xgb.DMatrix(data.validation.features, label=data.validation.labels)
    fingerprint = _fingerprint(xgb_params, params, data)
    interrupt_after = int(os.environ.get(INTERRUPT_ENV, "0") or 0)

    resumed = load_checkpoint(checkpoint_dir, fingerprint)
    if resumed is None:
        booster = xgb.Booster(xgb_params, cache=[dtrain, dvalid])
        state = LoopState(rounds_done=0, history=[], best_score=None, best_iteration=0)
    else:
        model_bytes, state = resumed
        booster = _booster_from(model_bytes, xgb_params, dtrain, dvalid)
        log(f"Resuming from checkpoint after {state.rounds_done} round(s)")

    metric = params.effective_eval_metric
    started = time.monotonic()
    finished = state.rounds_done >= params.num_round or _stopped_early(state, params)
    while not finished:
        iteration = state.rounds_done
        booster.update(dtrain, iteration)
        score = _parse_eval(booster.eval(dvalid, "validation", iteration))
        state.history.append(score)
        if _improved(score, state.best_score, params.maximize):
            state.best_score, state.best_iteration = score, iteration
        state.rounds_done += 1
        log(f"[{iteration}]\tvalidation-{metric}:{score:.6f}")
        finished = state.rounds_done >= params.num_round or _stopped_early(state, params)
        if finished or state.rounds_done % params.checkpoint_frequency == 0:
            raw = save_checkpoint(checkpoint_dir, booster, state, fingerprint, params.keep_checkpoints)
            if not finished:
                # Carry on from the checkpoint's bytes, exactly as a resumed run does: XGBoost's
                # samplers keep state inside the booster that a saved model does not hold.
                booster = _booster_from(raw, xgb_params, dtrain, dvalid)
        if interrupt_after and state.rounds_done >= interrupt_after and not finished:
            log(f"Interrupting after {state.rounds_done} round(s) ({INTERRUPT_ENV})")
            sys.stdout.flush()
            os._exit(INTERRUPT_EXIT_CODE)
    if params.early_stopping_rounds and _stopped_early(state, params):
        log(f"Stopped early after {state.rounds_done} rounds; best iteration {state.best_iteration}")
    log(f"Training took {time.monotonic() - started:.1f}s")
    best = state.best_iteration if params.early_stopping_rounds else state.rounds_done - 1
    final = booster[: best + 1]
    final.set_attr(best_iteration=str(best))
    return final, best


def _stopped_early(state: LoopState, params: Hyperparameters) -> bool:
    if not params.early_stopping_rounds or not state.history:
        return False
    return state.rounds_done - 1 - state.best_iteration >= params.early_stopping_rounds


def evaluate(booster: xgb.Booster, data: PreparedData, params: Hyperparameters, best: int) -> dict[str, Any]:
    scores = booster.inplace_predict(data.validation.features)
    if params.task in (BINARY, MULTICLASS):
        validation = classification_metrics(data.validation.labels.astype(np.int64), scores, params.threshold)
    else:
        validation = regression_metrics(data.validation.labels, scores)
    return {
        "task": params.task,
        "objective": params.objective,
        "eval_metric": params.effective_eval_metric,
        "best_iteration": best,
        "validation_source": data.validation_source,
        "rows": {
            "train": len(data.train.labels),
            "validation": len(data.validation.labels),
            "total": len(data.train.labels) + len(data.validation.labels),
        },
        "validation": validation,
    }


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")


def _csv_number(value: float) -> str:
    """A feature as ``serve`` parses it: empty for missing, integers without a fraction, floats round-tripping."""
    if math.isnan(value):
        return ""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _label_text(value: float) -> str:
    """A class label as ``serve`` returns it (``Predictor.class_label_text``): ``1``, not ``1.0``."""
    return str(int(value)) if value.is_integer() and math.isfinite(value) else str(value)


def write_smoke_holdout(model_dir: Path, data: PreparedData, params: Hyperparameters) -> int:
    """Up to ``smoke_rows`` validation rows (never trained on) as ``smoke/holdout.csv``; returns the row count.

    Header ``<target>,<features in schema order>``; each row is the true label as ``serve`` spells a predicted
    label (the first field of its CSV output), then the features exactly as a headerless ``text/csv`` request
    carries them. Rows are a seeded sample, in validation order. Regression writes nothing: a predicted value
    never equals the true one exactly, so a match rate means nothing there.
    """
    path = model_dir / SMOKE_HOLDOUT
    path.unlink(missing_ok=True)
    if params.smoke_rows == 0:
        log("No smoke test rows written (smoke_rows is 0)")
        return 0
    if params.task == REGRESSION:
        log(f"No smoke test rows written: {SMOKE_HOLDOUT} holds classification labels only")
        return 0
    total = len(data.validation.labels)
    index = np.arange(total)
    if total > params.smoke_rows:
        index = np.sort(np.random.default_rng(params.seed).choice(total, size=params.smoke_rows, replace=False))
    labels = [_label_text(data.classes[int(i)]) for i in data.validation.labels[index].tolist()]
    features = data.validation.features[index].tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([params.target, *data.names])
        for label, row in zip(labels, features, strict=True):
            writer.writerow([label, *map(_csv_number, row)])
    log(f"Wrote {len(index)} of {total} validation rows to {SMOKE_HOLDOUT} for the smoke test")
    return len(index)


def run(paths: MLPaths) -> dict[str, Any]:
    params = Hyperparameters.from_file(paths.hyperparameters)
    log(f"Hyperparameters: {json.dumps(params.to_json_dict(), sort_keys=True)}")
    channels = read_input_data_config(paths.input_data_config)
    train_name = TRAIN_CHANNEL
    if not paths.channel(TRAIN_CHANNEL).exists() and paths.channel(LEGACY_TRAIN_CHANNEL).exists():
        train_name = LEGACY_TRAIN_CHANNEL
    train_conf = channels.get(train_name, ChannelConfig(None))
    train_frame = read_channel(train_name, paths.channel(train_name), train_conf.content_type)
    valid_frame = None
    if VALIDATION_CHANNEL in channels or paths.channel(VALIDATION_CHANNEL).exists():
        valid_conf = channels.get(VALIDATION_CHANNEL, ChannelConfig(None))
        valid_frame = read_channel(VALIDATION_CHANNEL, paths.channel(VALIDATION_CHANNEL), valid_conf.content_type)
    data = prepare(train_frame, valid_frame, params)
    log(
        f"Training on {len(data.train.labels)} rows x {len(data.names)} features; "
        f"validating on {len(data.validation.labels)} rows ({data.validation_source})"
    )
    booster, best = train_booster(data, params, paths.checkpoint_dir)

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(paths.model_dir / MODEL_FILENAME)
    schema = FeatureSchema(
        names=data.names,
        types=data.types,
        target=params.target,
        task=params.task,
        objective=params.objective,
        classes=data.classes,
        threshold=params.threshold,
        best_iteration=best,
    )
    schema.save(paths.model_dir)
    write_smoke_holdout(paths.model_dir, data, params)
    evaluation = evaluate(booster, data, params, best)
    _write_json(paths.model_dir / EVALUATION_FILENAME, evaluation)
    _write_json(paths.output_data_dir / EVALUATION_FILENAME, evaluation)
    if "confusion_matrix" in evaluation["validation"]:
        log(
            "Confusion matrix (rows: true class, columns: predicted): "
            + str(evaluation["validation"]["confusion_matrix"])
        )
    for line in metric_lines(evaluation):
        log(line)
    return evaluation


def write_failure(paths: MLPaths, reason: str) -> None:
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(" ".join(reason.split()) + "\n")
    except OSError as err:
        print(f"Could not write {paths.failure_file}: {err}", file=sys.stderr)


def main() -> int:
    paths = MLPaths.from_env()
    try:
        run(paths)
    except TrainingError as err:
        reason = str(err)
        print(f"Training failed: {reason}", file=sys.stderr, flush=True)
        write_failure(paths, reason)
        return 1
    except Exception as err:  # anything else still leaves a reason for the console
        traceback.print_exc()
        write_failure(paths, f"Training failed with an unexpected {type(err).__name__}: {err}")
        return 2
    return 0
