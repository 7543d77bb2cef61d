"""Which rows the gate compares: the candidate and the champion on the same holdout, when the training job scored both.

The training job gets the dataset run's ``holdout`` channel and, when there is a champion, its model.tar.gz as the
``champion`` channel; it writes the candidate's holdout metrics to evaluation.json's ``holdout`` and the champion's
on the same rows to ``champion_holdout`` (null when the champion cannot be scored on them). So:

* the candidate's gate metric comes from ``holdout`` when present, else from ``validation``;
* the champion's from ``champion_holdout`` when present, else from the metric its package records.

The reason says which rows were compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from training.errors import InvalidEvaluation

logger = Logger(child=True)

HOLDOUT, VALIDATION, CHAMPION_HOLDOUT = "holdout", "validation", "champion_holdout"
# Numeric entries of a metrics object that describe the data, not the model.
NOT_METRICS = frozenset({"num_classes"})


@dataclass(frozen=True)
class Scores:
    source: str  # "holdout" or "validation": the evaluation.json object the candidate's metrics come from
    rows: int | None  # how many rows that object scored, when evaluation.json says
    metrics: dict[str, float]  # finite numeric metrics only
    value: float  # the gate metric
    champion_value: float | None  # the champion on the same holdout rows; None: not scored on them

    @property
    def same_rows(self) -> bool:
        return self.champion_value is not None

    def rows_compared(self, champion_stored: bool) -> str:
        count = f"{self.rows} " if self.rows is not None else ""
        if self.same_rows:
            return f"candidate and champion scored on the same {count}holdout rows"
        where = f"the candidate on {count}{self.source} rows"
        return f"{where}; the champion's stored metric" if champion_stored else where


def finite_metrics(block: dict[str, Any]) -> tuple[dict[str, float], list[str]]:
    metrics: dict[str, float] = {}
    undefined: list[str] = []
    for name, value in block.items():
        if name in NOT_METRICS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            metrics[str(name)] = float(value)
        else:
            undefined.append(str(name))
    return metrics, undefined


def gate_value(block: dict[str, Any], metrics: dict[str, float], metric: str, where: str) -> float:
    if metric not in block:
        raise InvalidEvaluation(
            f"the gate metric {metric!r} is not in {where} (it has {sorted(map(str, block))}); set GATE_METRIC to "
            "one of its metrics"
        )
    if metric not in metrics:
        raise InvalidEvaluation(f"the gate metric {metric!r} in {where} is {block[metric]!r}, not a finite number")
    return metrics[metric]


def scores(body: dict[str, Any], metric: str, where: str) -> Scores:
    """The candidate's metrics (holdout, else validation) and the champion's on the same holdout, if scored."""
    holdout = body.get(HOLDOUT)
    source = HOLDOUT if isinstance(holdout, dict) else VALIDATION
    block = body.get(source)
    if not isinstance(block, dict):
        raise InvalidEvaluation(f"{where} has no 'validation' object of metrics")
    metrics, undefined = finite_metrics(block)
    if undefined:
        logger.warning("evaluation.json holds undefined metrics; they are left out", extra={"metrics": undefined})
    value = gate_value(block, metrics, metric, f"{where} ({source!r})")
    rows = (body.get("rows") or {}).get(source) if isinstance(body.get("rows"), dict) else None
    champion_value: float | None = None
    champion = body.get(CHAMPION_HOLDOUT)
    if source == HOLDOUT and isinstance(champion, dict):
        champion_metrics, _ = finite_metrics(champion)
        champion_value = champion_metrics.get(metric)
        if champion_value is None:
            logger.warning("the champion's holdout metrics lack the gate metric", extra={"metric": metric})
    elif source == HOLDOUT and CHAMPION_HOLDOUT in body:
        reason = (
            (body.get("champion_model") or {}).get("reason") if isinstance(body.get("champion_model"), dict) else ""
        )
        logger.warning("the champion was not comparable on the holdout", extra={"reason": reason})
    return Scores(
        source=source,
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        metrics=metrics,
        value=value,
        champion_value=champion_value,
    )
