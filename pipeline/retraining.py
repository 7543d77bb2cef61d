"""The retraining decision of the local run: the retrain trigger's own rule, on what this run found.

On AWS a Model Monitor execution with violations, or the model-quality alarm in ALARM, invokes the retrain trigger
Lambda, which decides with ``training.retrain.logic.decide`` against the last start it recorded. The local run has no
monitor schedule: the violations are the features the run's drift check flags (``report["drift"]["flagged"]``, written
by the transform stage's drift check; absent, there are none), the alarm's state is the one the dataset stage
judged on the ground-truth quality report (``report["model_quality"]["alarm"]``, ``pipeline.model_quality``), and
the last start is the one the previous run
recorded in its ``pipeline-report.json`` (``retraining.last_started_at``), so consecutive runs debounce as the
Lambda does. A "triggered" decision means the next run is the retraining: the local run does not start itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from esteira_contracts.model_quality import ALARM_STATE_ALARM
from esteira_contracts.retraining import TRIGGER_DATA_QUALITY, TRIGGER_MODEL_QUALITY
from pipeline.context import RunContext
from pipeline.report import REPORT_FILENAME
from training.retrain.logic import decide as decide


def previous_start(report_path: Path) -> datetime | None:
    """``retraining.last_started_at`` of the previous run's report, if it recorded one."""
    try:
        previous = json.loads(report_path.read_text())
    except (OSError, ValueError):
        return None  # no previous run (or --fresh), or an unreadable report: nothing to debounce against
    section = previous.get("retraining") if isinstance(previous, dict) else None
    text = section.get("last_started_at") if isinstance(section, dict) else None
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def decision(
    *,
    enabled: bool,
    window_hours: int,
    violations: list[str],
    last_started_at: datetime | None,
    now: datetime,
    quality_alarm: str | None = None,
) -> dict[str, Any]:
    """The report's ``retraining`` section: the decision, why, and the last start the next run debounces against.
    ``quality_alarm`` is the model-quality alarm's reason when it is in ALARM (None otherwise): the second trigger."""
    section: dict[str, Any] = {"enabled": enabled, "min_interval_hours": window_hours, "violations": violations}
    triggers: list[str] = []
    reasons: list[str] = []
    if violations:
        triggers.append(TRIGGER_DATA_QUALITY)
        reasons.append(f"{len(violations)} violation(s)")
    if quality_alarm:
        triggers.append(TRIGGER_MODEL_QUALITY)
        reasons.append(f"model-quality alarm: {quality_alarm}")
    why = "; ".join(reasons)
    recorded = last_started_at
    if not enabled:
        section |= {"decision": "disabled", "summary": "retraining: disabled (training.retraining.enabled)"}
    elif not triggers:
        section |= {
            "decision": "not_triggered",
            "summary": "retraining: not triggered (no violations, no quality alarm)",
        }
    else:
        outcome = decide(now, last_started_at, timedelta(hours=window_hours))
        # ``trigger``: the first that fired (drift first, as before); ``triggers``: all that fired.
        section |= {"decision": outcome, "trigger": triggers[0], "triggers": triggers}
        if outcome == "triggered":
            recorded = now
            section["summary"] = f"retraining: triggered ({why}; the next run retrains)"
        else:
            section["summary"] = (
                f"retraining: debounced ({why}; last started "
                f"{last_started_at.isoformat() if last_started_at else '?'}, window {window_hours} h)"
            )
    section["last_started_at"] = recorded.isoformat(timespec="seconds") if recorded else None
    return section


def record(ctx: RunContext, now: datetime | None = None) -> None:
    """Decide as the retrain trigger would and put the decision in the report under ``retraining``."""
    config = ctx.config.training.retraining
    drift = ctx.report.get("drift")
    flagged = drift.get("flagged") if isinstance(drift, dict) else None
    violations = [str(name) for name in flagged] if isinstance(flagged, list) else []
    quality = ctx.report.get("model_quality")
    alarm = quality.get("alarm") if isinstance(quality, dict) else None
    fired = isinstance(alarm, dict) and alarm.get("state") == ALARM_STATE_ALARM
    section = decision(
        enabled=config.enabled,
        window_hours=config.min_interval_hours,
        violations=violations,
        last_started_at=previous_start(ctx.out / REPORT_FILENAME),
        now=now or datetime.now(UTC),
        quality_alarm=str(alarm.get("reason")) if fired and isinstance(alarm, dict) else None,
    )
    ctx.report["retraining"] = section
    ctx.progress.say(section["summary"])
