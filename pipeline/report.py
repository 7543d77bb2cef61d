"""Progress lines, the stage timings and the final summary table / ``pipeline-report.json``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from esteira_contracts.tasks import BINARY, REPORTED_METRICS, metric_label
from pipeline.clarify_report import bias_sentence, explainability_sentence
from pipeline.drift import sentence as drift_sentence

REPORT_FILENAME = "pipeline-report.json"
STAGES = (
    "aws",
    "source",
    "extract",
    "dataset",
    "train",
    "evaluate",
    "bias",
    "baseline",
    "register",
    "serve",
    "transform",
    "fanout",
    "consume",
)


class StageFailedError(RuntimeError):
    """A stage decided the run failed (a gate, a count that does not reconcile); the message says why."""


class NoNewDataError(StageFailedError):
    """Nothing labelled to train on: the state machine ends such an execution as NoNewData."""


@dataclass
class Stage:
    name: str
    status: str = "pending"  # pending | running | ok | failed | skipped
    seconds: float = 0.0
    summary: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 2), "summary": self.summary}


@dataclass
class Progress:
    """Prints one line when a stage starts and one when it ends, with the elapsed time."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)
    stages: dict[str, Stage] = field(default_factory=lambda: {name: Stage(name) for name in STAGES})

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[{elapsed:7.1f}s] {text}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[Stage]:
        stage = self.stages[name]
        index = STAGES.index(name) + 1
        stage.status = "running"
        self.say(f"({index:2d}/{len(STAGES)}) {name}: {what} ...")
        begin = time.monotonic()
        try:
            yield stage
        except BaseException as exc:
            stage.seconds = time.monotonic() - begin
            stage.status = "failed"
            if not stage.summary:
                stage.summary = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self.say(f"({index:2d}/{len(STAGES)}) {name}: FAILED after {stage.seconds:.1f}s: {stage.summary}")
            raise
        stage.seconds = time.monotonic() - begin
        stage.status = "ok"
        self.say(f"({index:2d}/{len(STAGES)}) {name}: done in {stage.seconds:.1f}s. {stage.summary}")

    @property
    def total_seconds(self) -> float:
        return time.monotonic() - self.started


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metrics_text(task: str, metrics: dict[str, Any]) -> str:
    """The task's own metrics, e.g. ``r2 0.9812, rmse 1.2034, mae 0.8123`` for a regression."""
    names = REPORTED_METRICS.get(task, REPORTED_METRICS[BINARY])
    return ", ".join(f"{metric_label(task, name)} {_fmt(_number(metrics.get(name)))}" for name in names)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def quality_sentence(section: dict[str, Any]) -> str:
    """Earlier predictions against the labels final since, per model version, and the quality alarm's state."""
    models = [m for m in section.get("models") or [] if isinstance(m, dict)]
    if not models:
        return f"no labelled predictions yet ({_fmt(section.get('reason'))})"
    parts = [
        f"v{m.get('model_version')} {_fmt(m.get('labelled_predictions'))} labelled, auc {_fmt(_number(m.get('auc')))}"
        for m in models
    ]
    alarm = section.get("alarm") or {}
    return "; ".join(parts) + (f"; alarm {alarm['state']}" if alarm.get("state") else "")


def summary_table(report: dict[str, Any]) -> str:
    """The human summary: counts, model and gate, deliveries, then the time per stage."""
    ext = report.get("extraction") or {}
    data = report.get("dataset") or {}
    model = report.get("model") or {}
    gate = model.get("gate") or {}
    smoke = report.get("smoke_test") or {}
    batch = report.get("batch") or {}
    metrics = model.get("metrics") or {}
    task = str(report.get("task") or BINARY)
    rows: list[tuple[str, Any]] = [
        ("source rows", ext.get("source_rows")),
        ("source rows changed before extracting", ext.get("source_changed")),
        ("extraction incremental", ext.get("incremental")),
        ("watermark from -> to", f"{_fmt(ext.get('watermark_from'))} -> {_fmt(ext.get('watermark_to'))}"),
        ("rows read by the extraction", ext.get("rows_read")),
        ("rows extracted (curated)", ext.get("rows_extracted")),
        ("rows quarantined", ext.get("rows_quarantined")),
        ("dataset keys (latest version per key)", data.get("keys_latest")),
        *(
            (f"  {name} rows / distinct keys", f"{_fmt(split.get('rows'))} / {_fmt(split.get('distinct_keys'))}")
            for name, split in (data.get("splits") or {}).items()
        ),
        ("  keys shared between splits", data.get("keys_shared_between_splits")),
        ("  keys moved split since last run", data.get("keys_moved_split")),
        ("  rows to score (label not final)", data.get("batch_input_rows")),
        (f"model ({task})", metrics_text(task, metrics) if metrics else None),
        ("gate", f"{_fmt(gate.get('decision'))}: {_fmt(gate.get('reason'))}"),
        ("bias gate (Clarify's metrics, holdout)", bias_sentence(report["bias"]) if report.get("bias") else None),
        (
            "SHAP importance (mean |SHAP|)",
            explainability_sentence(report["explainability"]) if report.get("explainability") else None,
        ),
        ("model served", model.get("served_package_arn")),
        ("smoke test match rate", f"{_fmt(smoke.get('match_rate'))} (min {_fmt(smoke.get('min_match_rate'))})"),
        ("predictions produced", batch.get("predicted")),
        ("predictions delivered", batch.get("delivered")),
        ("predictions stored", batch.get("stored")),
        ("predictions lost", batch.get("lost")),
        ("drift (batch vs baseline)", drift_sentence(report["drift"]) if report.get("drift") else None),
        (
            "model quality (labels since final)",
            quality_sentence(report["model_quality"]) if report.get("model_quality") else None,
        ),
        ("retraining", str((report.get("retraining") or {}).get("summary", "")).removeprefix("retraining: ") or None),
        ("html report", report.get("html_report")),
    ]
    width = max(len(label) for label, _ in rows)
    lines = ["", "Esteira local pipeline: " + str(report.get("status", "?")).upper(), ""]
    lines += [f"  {label.ljust(width)}  {_fmt(value)}" for label, value in rows]
    lines += ["", "  stage       status    seconds  summary"]
    for stage in report.get("stages", []):
        lines.append(
            f"  {stage['name'].ljust(10)}  {stage['status'].ljust(8)}  {stage['seconds']:7.1f}  {stage['summary'][:90]}"
        )
    lines.append(f"  {'total'.ljust(10)}  {'':8}  {report.get('seconds', 0.0):7.1f}")
    if report.get("error"):
        lines += ["", f"  error: {report['error']}"]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], *paths: Path) -> None:
    text = json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
