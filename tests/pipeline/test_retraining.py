"""The local run's retraining decision: the retrain trigger's rule, debounced against the previous run's report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline import retraining
from training.retrain import logic

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_the_local_run_decides_with_the_lambdas_rule() -> None:
    # The same function, not a copy: one path.
    assert retraining.decide is logic.decide


def test_no_violations_is_not_triggered_and_keeps_the_last_start() -> None:
    # GIVEN a previous start and a run that found no violations
    last = NOW - timedelta(hours=2)
    # WHEN decided
    section = retraining.decision(enabled=True, window_hours=24, violations=[], last_started_at=last, now=NOW)
    # THEN nothing is triggered, the summary says why, and the last start carries over to the next run
    assert section["decision"] == "not_triggered"
    assert section["summary"] == "retraining: not triggered (no violations, no quality alarm)"
    assert section["last_started_at"] == last.isoformat(timespec="seconds")


def test_violations_trigger_and_record_the_start() -> None:
    # GIVEN violations and no earlier start WHEN decided THEN triggered, starting the window now
    section = retraining.decision(enabled=True, window_hours=24, violations=["idade"], last_started_at=None, now=NOW)
    assert section["decision"] == "triggered"
    assert section["trigger"] == "data_quality_violation"
    assert section["last_started_at"] == NOW.isoformat(timespec="seconds")


def test_violations_inside_the_window_are_debounced() -> None:
    # GIVEN a start an hour ago WHEN violations are found THEN debounced, and the window does not move
    last = NOW - timedelta(hours=1)
    section = retraining.decision(
        enabled=True, window_hours=24, violations=["idade", "salario"], last_started_at=last, now=NOW
    )
    assert section["decision"] == "debounced"
    assert section["summary"].startswith("retraining: debounced (2 violation(s)")
    assert section["last_started_at"] == last.isoformat(timespec="seconds")


def test_disabled_retraining_decides_nothing() -> None:
    section = retraining.decision(enabled=False, window_hours=24, violations=["idade"], last_started_at=None, now=NOW)
    assert section["decision"] == "disabled"
    assert section["last_started_at"] is None


def test_the_previous_start_comes_from_the_previous_report(tmp_path: Path) -> None:
    # GIVEN a previous report that recorded a start, one without a section, a broken one, and none
    report = tmp_path / "pipeline-report.json"
    report.write_text(json.dumps({"retraining": {"last_started_at": "2026-12-05T09:00:00+00:00"}}))
    assert retraining.previous_start(report) == NOW - timedelta(days=1)
    report.write_text(json.dumps({"status": "succeeded"}))
    assert retraining.previous_start(report) is None
    report.write_text("{not json")
    assert retraining.previous_start(report) is None
    assert retraining.previous_start(tmp_path / "missing.json") is None
