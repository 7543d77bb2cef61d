"""Evaluate's gate (``training/evaluate/gate.py``), pure: the threshold, the champion and the improvement margin."""

from __future__ import annotations

import pytest

from training.evaluate.gate import gate

# --- the gate (pure) ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "threshold", "improvement", "champion", "passed", "reason"),
    [
        (0.87, 0.8, 0.0, None, True, "auc 0.87 >= threshold 0.8 and there is no approved champion"),
        (0.79, 0.8, 0.0, None, False, "auc 0.79 < threshold 0.8"),
        (0.8, 0.8, 0.0, None, True, "auc 0.8 >= threshold 0.8 and there is no approved champion"),
        (0.87, 0.8, 0.0, 0.85, True, "auc 0.87 >= threshold 0.8 and beats champion 0.85 by at least 0"),
        (0.87, 0.8, 0.02, 0.85, True, "auc 0.87 >= threshold 0.8 and beats champion 0.85 by at least 0.02"),
        (
            0.87,
            0.8,
            0.03,
            0.85,
            False,
            "auc 0.87 >= threshold 0.8 but does not beat champion 0.85 by at least 0.03 (needs >= 0.88)",
        ),
        (
            0.84,
            0.8,
            0.0,
            0.85,
            False,
            "auc 0.84 >= threshold 0.8 but does not beat champion 0.85 by at least 0 (needs >= 0.85)",
        ),
        (0.85, 0.8, 0.0, 0.85, True, "auc 0.85 >= threshold 0.8 and beats champion 0.85 by at least 0"),
        (0.75, 0.8, 0.0, 0.5, False, "auc 0.75 < threshold 0.8"),
    ],
)
def test_gate_for_a_metric_to_maximise(
    value: float, threshold: float, improvement: float, champion: float | None, passed: bool, reason: str
) -> None:
    # GIVEN a candidate metric, threshold, minimum improvement and (maybe) a champion
    # WHEN the gate decides
    result = gate(
        metric="auc",
        value=value,
        threshold=threshold,
        min_improvement=improvement,
        maximize=True,
        has_champion=champion is not None,
        champion_value=champion,
    )
    # THEN it passes iff metric >= threshold and metric >= champion + improvement, and says why in one sentence
    assert (result.passed, result.reason) == (passed, reason)


def test_gate_tolerates_float_rounding_of_champion_plus_improvement() -> None:
    # 0.85 + 0.02 == 0.8700000000000001 in binary floating point; 0.87 must still count as enough.
    result = gate(
        metric="auc",
        value=0.87,
        threshold=0.8,
        min_improvement=0.02,
        maximize=True,
        has_champion=True,
        champion_value=0.85,
    )
    assert result.passed


@pytest.mark.parametrize(
    ("value", "champion", "passed", "reason"),
    [
        (0.9, None, True, "rmse 0.9 <= threshold 1 and there is no approved champion"),
        (1.1, None, False, "rmse 1.1 > threshold 1"),
        (0.9, 0.95, True, "rmse 0.9 <= threshold 1 and beats champion 0.95 by at least 0.05"),
        (0.92, 0.95, False, "rmse 0.92 <= threshold 1 but does not beat champion 0.95 by at least 0.05 (needs <= 0.9)"),
    ],
)
def test_gate_for_a_metric_to_minimise(value: float, champion: float | None, passed: bool, reason: str) -> None:
    result = gate(
        metric="rmse",
        value=value,
        threshold=1.0,
        min_improvement=0.05,
        maximize=False,
        has_champion=champion is not None,
        champion_value=champion,
    )
    assert (result.passed, result.reason) == (passed, reason)


def test_gate_with_a_champion_lacking_the_metric_uses_the_threshold_only() -> None:
    result = gate(
        metric="auc",
        value=0.81,
        threshold=0.8,
        min_improvement=0.1,
        maximize=True,
        has_champion=True,
        champion_value=None,
    )
    assert result.passed
    assert "champion records no metric.auc" in result.reason
