"""The promotion gate: a pure function of the candidate's metric, the threshold and the champion's metric.

For a metric where higher is better (auc, f1, accuracy, ...) the candidate passes iff

    metric >= threshold  AND  (there is no champion metric  OR  metric >= champion + min_improvement)

and for one where lower is better (rmse, mae, logloss, ...) the comparisons flip:

    metric <= threshold  AND  (there is no champion metric  OR  metric <= champion - min_improvement)

Comparisons tolerate float rounding (1e-12), so 0.87 beats 0.85 by 0.02. A failing gate is a result, not an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_TOLERANCE = 1e-12


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _no_worse(value: float, bound: float, maximize: bool) -> bool:
    if math.isclose(value, bound, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE):
        return True
    return value > bound if maximize else value < bound


def gate(
    *,
    metric: str,
    value: float,
    threshold: float,
    min_improvement: float,
    maximize: bool,
    has_champion: bool,
    champion_value: float | None,
) -> GateResult:
    good, bad = (">=", "<") if maximize else ("<=", ">")
    if not _no_worse(value, threshold, maximize):
        return GateResult(False, f"{metric} {_fmt(value)} {bad} threshold {_fmt(threshold)}")
    head = f"{metric} {_fmt(value)} {good} threshold {_fmt(threshold)}"
    if not has_champion:
        return GateResult(True, f"{head} and there is no approved champion")
    if champion_value is None:
        return GateResult(True, f"{head}; the champion records no metric.{metric}, so only the threshold applies")
    needed = champion_value + min_improvement if maximize else champion_value - min_improvement
    margin = f"champion {_fmt(champion_value)} by at least {_fmt(min_improvement)}"
    if _no_worse(value, needed, maximize):
        return GateResult(True, f"{head} and beats {margin}")
    return GateResult(False, f"{head} but does not beat {margin} (needs {good} {_fmt(needed)})")
