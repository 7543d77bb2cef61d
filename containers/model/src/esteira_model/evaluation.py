"""evaluation.json: the candidate's metrics on the validation set and, when given, on the holdout rows, next to
the champion's metrics on the same holdout rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xgboost as xgb

from esteira_model.champion import Champion, ChampionScore
from esteira_model.channels import HOLDOUT_CHANNEL
from esteira_model.hyperparameters import Hyperparameters
from esteira_model.metrics import format_value, task_metrics
from esteira_model.prepare import Dataset, PreparedData

# Logged for people; unlike the `validation:<name>=` lines, no metric definition matches them.
_HOLDOUT_LOGGED = ("auc", "accuracy", "f1", "rmse", "r2")


def evaluate(booster: xgb.Booster, data: PreparedData, params: Hyperparameters, best: int) -> dict[str, Any]:
    scores = booster.inplace_predict(data.validation.features)
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
        "validation": task_metrics(params.task, data.validation.labels, scores, params.threshold),
    }


def add_holdout(
    evaluation: dict[str, Any],
    booster: xgb.Booster,
    holdout: Dataset,
    params: Hyperparameters,
    champion: tuple[Champion, ChampionScore] | None,
) -> None:
    """`holdout` (the candidate's metrics), and with a champion `champion_holdout` and `champion_model`.

    `champion_holdout` has the shape of `holdout`, or is null when the champion cannot be scored on these rows;
    `champion_model.reason` then says why.
    """
    scores = booster.inplace_predict(holdout.features)
    evaluation["rows"]["holdout"] = len(holdout.labels)
    evaluation["holdout_source"] = HOLDOUT_CHANNEL
    evaluation["holdout"] = task_metrics(params.task, holdout.labels, scores, params.threshold)
    if champion is None:
        return
    model, score = champion
    schema = model.predictor.schema
    evaluation["champion_holdout"] = score.metrics
    evaluation["champion_model"] = {
        "source": model.source,
        "task": schema.task,
        "objective": schema.objective,
        "features": list(schema.names),
        "best_iteration": schema.best_iteration,
        "comparable": score.metrics is not None,
        "reason": score.reason,
    }


def holdout_lines(evaluation: dict[str, Any]) -> list[str]:
    if "holdout" not in evaluation:
        return []
    rows = evaluation["rows"]["holdout"]
    lines = []
    for who, key in (("candidate", "holdout"), ("champion", "champion_holdout")):
        if key not in evaluation:
            continue
        metrics = evaluation[key]
        if metrics is None:
            lines.append(f"Holdout ({rows} rows), {who}: not comparable: {evaluation['champion_model']['reason']}")
            continue
        shown = ", ".join(f"{name} {format_value(metrics[name])}" for name in _HOLDOUT_LOGGED if name in metrics)
        lines.append(f"Holdout ({rows} rows), {who}: {shown}")
    return lines


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
