"""`train`: SageMaker's training entry point for the default model.

Reads the channels (`channels`), prepares the data (`columns`, `prepare`), boosts with early stopping and
checkpoints (`boosting`, `checkpoints`), then writes the model directory: the model, its feature schema,
`evaluation.json` (`evaluation`, with the champion of `champion` scored on the same holdout rows). No data row goes
into the model directory (so none into model.tar.gz): the smoke test reads the dataset run's holdout at test time.
Any bad input ends in `output/failure` and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from esteira_model.boosting import INTERRUPT_ENV, INTERRUPT_EXIT_CODE, train_booster
from esteira_model.champion import load_champion, score_champion
from esteira_model.channels import (
    CHAMPION_CHANNEL,
    HOLDOUT_CHANNEL,
    LEGACY_TRAIN_CHANNEL,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    read_channels,
)
from esteira_model.columns import check_disjoint_keys
from esteira_model.console import log
from esteira_model.errors import TrainingError
from esteira_model.evaluation import add_holdout, evaluate, holdout_lines, write_json
from esteira_model.hyperparameters import Hyperparameters
from esteira_model.metrics import metric_lines
from esteira_model.paths import MLPaths
from esteira_model.prepare import prepare, prepare_holdout
from esteira_model.schema import EVALUATION_FILENAME, MODEL_FILENAME, FeatureSchema

__all__ = [
    "CHAMPION_CHANNEL",
    "HOLDOUT_CHANNEL",
    "INTERRUPT_ENV",
    "INTERRUPT_EXIT_CODE",
    "LEGACY_TRAIN_CHANNEL",
    "TRAIN_CHANNEL",
    "VALIDATION_CHANNEL",
    "main",
    "run",
]


def run(paths: MLPaths) -> dict[str, Any]:
    params = Hyperparameters.from_file(paths.hyperparameters)
    log(f"Hyperparameters: {json.dumps(params.to_json_dict(), sort_keys=True)}")
    channels = read_channels(paths)
    data = prepare(channels.train, channels.validation, params)
    check_disjoint_keys(channels.given_frames(), params)
    # Everything that can fail on bad input fails here, before any boosting round.
    holdout = None if channels.holdout is None else prepare_holdout(channels.holdout, data, params)
    champion = None
    if channels.champion is not None and channels.holdout is not None:
        model = load_champion(channels.champion)
        champion = (model, score_champion(model, channels.holdout, params))
        log(f"Champion loaded from the {CHAMPION_CHANNEL} channel ({model.source})")
    log(
        f"Training on {len(data.train.labels)} rows x {len(data.names)} features; "
        f"validating on {len(data.validation.labels)} rows ({data.validation_source})"
        + ("" if holdout is None else f"; {len(holdout.labels)} holdout rows scored only")
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
    evaluation = evaluate(booster, data, params, best)
    if holdout is not None:
        add_holdout(evaluation, booster, holdout, params, champion)
    write_json(paths.model_dir / EVALUATION_FILENAME, evaluation)
    write_json(paths.output_data_dir / EVALUATION_FILENAME, evaluation)
    if "confusion_matrix" in evaluation["validation"]:
        log(
            "Confusion matrix (rows: true class, columns: predicted): "
            + str(evaluation["validation"]["confusion_matrix"])
        )
    for line in [*holdout_lines(evaluation), *metric_lines(evaluation)]:
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
