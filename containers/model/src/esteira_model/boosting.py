"""The boosting loop: early stopping on the validation set, checkpoints, and the resume after an interruption."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import xgboost as xgb

from esteira_model.checkpoints import LoopState, fingerprint_of, load_checkpoint, save_checkpoint
from esteira_model.console import log
from esteira_model.hyperparameters import MULTICLASS, Hyperparameters
from esteira_model.prepare import PreparedData

# Test hook: stop the process abruptly (no failure file, no cleanup) after this many rounds,
# as a spot interruption would.
INTERRUPT_ENV = "ESTEIRA_TEST_INTERRUPT_AFTER_ROUNDS"
INTERRUPT_EXIT_CODE = 75


def _booster_from(raw: bytearray, xgb_params: dict[str, Any], dtrain: xgb.DMatrix, dvalid: xgb.DMatrix) -> xgb.Booster:
    booster = xgb.Booster(xgb_params, cache=[dtrain, dvalid])
    booster.load_model(raw)
    booster.set_param(xgb_params)
    return booster


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
    data_fingerprint = fingerprint_of(xgb_params, params, data)
    interrupt_after = int(os.environ.get(INTERRUPT_ENV, "0") or 0)

    resumed = load_checkpoint(checkpoint_dir, data_fingerprint)
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
            raw = save_checkpoint(checkpoint_dir, booster, state, data_fingerprint, params.keep_checkpoints)
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
