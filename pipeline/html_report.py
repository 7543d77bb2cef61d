"""``report.html`` next to ``pipeline-report.json``: one self-contained page (inline SVG charts, no external file).

Sections, each with one chart (a section whose data is absent is left out):

- **holdout**: ROC and calibration curves (binary: P(class 1); multiclass: ROC one-vs-rest and top-class
  calibration), or predicted vs actual and residuals (regression), from the serve stage's smoke test
  (:class:`pipeline.charts.ChartData`: the served package's offline predictions on its holdout);
- **scores**: the batch's served scores against the holdout's;
- **drift**: ``report["drift"]`` (:mod:`pipeline.drift`), the mean shift per feature in baseline std units;
- **timings**: ``report["stages"]``, seconds per stage;
- and, when the report has the key, from its JSON alone:

  - ``bias`` (:mod:`pipeline.clarify_report`): ``{"facets": [{"facet": "masculino", "value_or_threshold": "1",
    "pre_training": {"CI": 0.02, ...}, "post_training": {"DI": 0.93, ...}}, ...], "gate": {"metric": "DI",
    "stage": "post_training", "range": [0.8, 1.25], "passed": true, ...}}``: the gate's metric, one bar per facet
    group, the gate's range as lines, and a table of every metric per facet group;
  - ``explainability``: ``{"method": "...", "importance": [{"feature": ..., "mean_abs_shap": ...}, ...]}`` (or a
    ``{"<feature>": <mean |SHAP|>}`` mapping): one bar per feature;
  - ``model_quality``: the dataset job's ground-truth quality report (``esteira_contracts.quality``), the
    predictions of earlier runs joined with the labels that have become final since: ``{"as_of_date": "...",
    "reason": null, "models": [{"model_version": "1", "labelled_predictions": 812, "positives": 190, "auc": 0.86,
    "precision": ..., "recall": ..., "f1": ..., "brier_score": ..., "calibration": [...]}, ...]}``: one bar per
    version and metric, and a table of the versions' counts; with no labelled prediction yet, its ``reason``.

  Where a section's JSON has another shape, its numeric leaves (dotted paths) are charted instead, so a new field
  never breaks the page; each such section also shows its JSON.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import charts
from pipeline.ahead import Ahead
from pipeline.charts import ChartData

HTML_FILENAME = "report.html"
OPTIONAL_SECTIONS = ("bias", "explainability", "model_quality")
INFINITE_SHIFT_BAR = 10.0
# What names a list item in a section's JSON (else its index).
NAME_KEYS = ("feature", "facet", "model_version", "name")
QUALITY_METRICS = ("auc", "precision", "recall", "f1", "brier", "brier_score", "accuracy", "r2", "rmse", "mae")

Section = tuple[str, str, str]  # id, title, body HTML


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def numeric_leaves(value: Any, prefix: str = "") -> dict[str, float]:
    """Every finite number in nested dicts/lists, keyed by its dotted path (a list item by its name if it has one)."""
    found: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= numeric_leaves(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            names = [str(item[k]) for k in NAME_KEYS if k in item] if isinstance(item, dict) else []
            found |= numeric_leaves(item, f"{prefix}{names[0] if names else index}.")
    else:
        number = _number(value)
        if number is not None and math.isfinite(number):
            found[prefix.rstrip(".")] = number
    return found


# ------------------------------------------------------------------------------------------------ sections


def holdout_sections(task: str, data: ChartData) -> list[Section]:
    truth, predictions = data.holdout_truth, data.holdout_predictions
    if truth is None or predictions is None or not len(truth):
        return []
    note = f"<p>{len(truth)} holdout rows of the served package's dataset run, scored offline by its model.</p>"
    if task == "regression":
        return [
            ("predicted-vs-actual", "Predicted vs actual", note + charts.predicted_vs_actual_chart(truth, predictions)),
            ("residuals", "Residuals", note + charts.residuals_chart(truth, predictions)),
        ]
    return [
        ("roc", "ROC curve", note + charts.roc_chart(truth, predictions)),
        ("calibration", "Calibration curve", note + charts.calibration_chart(truth, predictions)),
    ]


def scores_section(task: str, data: ChartData) -> list[Section]:
    if not data.batch_scores and data.holdout_predictions is None:
        return []
    chart = charts.score_distribution_chart(data.batch_scores, data.holdout_predictions, task)
    return [("scores", "Score distribution", chart)]


def drift_section(report: dict[str, Any]) -> list[Section]:
    drift = report.get("drift")
    if not isinstance(drift, dict):
        return []
    if drift.get("skipped"):
        return [("drift", "Drift per feature", f"<p>Not computed: {html.escape(str(drift['skipped']))}</p>")]
    shifts: dict[str, float] = {}
    for feature in drift.get("features", []):
        shift, name = feature.get("mean_shift_std"), str(feature["feature"])
        if shift in ("inf", "-inf"):  # a constant baseline column that moved: drawn at the chart's edge
            shifts[f"{name} ({shift})"] = math.copysign(INFINITE_SHIFT_BAR, 1.0 if shift == "inf" else -1.0)
        elif _number(shift) is not None:
            shifts[name] = float(shift)
    limit = float(drift.get("thresholds", {}).get("mean_shift_std", 0.0))
    chart = charts.bar_chart(
        shifts,
        "Batch mean - baseline mean, in baseline std",
        "mean shift (std)",
        (-limit, limit) if limit else (),
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(f['feature']))}</td><td>{_cell(f.get('mean_shift_std'))}</td>"
        f"<td>{_cell(f.get('missing_rate_diff'))}</td><td>{html.escape('; '.join(f.get('reasons', [])))}</td></tr>"
        for f in drift.get("features", [])
    )
    table = (
        "<table><tr><th>feature</th><th>mean shift (std)</th><th>missing rate diff</th><th>flagged for</th></tr>"
        f"{rows}</table>"
    )
    flagged = ", ".join(drift.get("flagged", [])) or "none"
    text = f"<p>Flagged: {html.escape(flagged)}. Thresholds: {html.escape(json.dumps(drift.get('thresholds')))}.</p>"
    return [("drift", "Drift per feature", text + chart + table)]


def timings_section(report: dict[str, Any]) -> list[Section]:
    stages = {str(s["name"]): float(s.get("seconds", 0.0)) for s in report.get("stages", []) if "name" in s}
    if not stages:
        return []
    chart = charts.bar_chart(stages, f"Stage timings (total {report.get('seconds', 0)} s)", "seconds")
    return [("timings", "Stage timings", chart)]


def _facet_label(facet: dict[str, Any]) -> str:
    """``masculino=1``, or ``men (masculino=1)`` when the facet has its own name."""
    column, name = str(facet.get("facet", "?")), facet.get("name")
    group = f"{column}={facet.get('value_or_threshold', '?')}"
    return f"{name} ({group})" if name and name != column else group


def bias_values(bias: dict[str, Any]) -> tuple[dict[str, float], tuple[float, ...]]:
    """The gate's metric per facet group, and the gate's range (else every numeric leaf, no range)."""
    gate = bias.get("gate") or {}
    metric, stage = str(gate.get("metric", "DI")), str(gate.get("stage", "post_training"))
    values: dict[str, float] = {}
    for facet in bias.get("facets", []) if isinstance(bias.get("facets"), list) else []:
        number = _number((facet.get(stage) or {}).get(metric)) if isinstance(facet, dict) else None
        if number is not None:
            values[f"{_facet_label(facet)}: {metric}"] = number
    gate_range = gate.get("range") or ()
    return values or numeric_leaves(bias), tuple(float(v) for v in gate_range if _number(v) is not None)


def bias_table(bias: dict[str, Any]) -> str:
    """Every metric (rows) of every facet group (columns), pre-training first."""
    facets = [f for f in bias.get("facets", []) if isinstance(f, dict)] if isinstance(bias.get("facets"), list) else []
    if not facets:
        return ""
    head = "".join(f"<th>{html.escape(_facet_label(f))}</th>" for f in facets)
    rows = []
    for stage in ("pre_training", "post_training"):
        names = sorted({name for f in facets for name in (f.get(stage) or {})})
        for name in names:
            cells = "".join(f"<td>{_metric_cell((f.get(stage) or {}).get(name))}</td>" for f in facets)
            rows.append(f"<tr><td>{html.escape(stage.replace('_', '-'))}</td><td>{html.escape(name)}</td>{cells}</tr>")
    if any("judged" in f for f in facets):  # the gate's evidence: each group's rows, and whether it was judged
        cells = "".join(f"<td>{html.escape(_evidence(f))}</td>" for f in facets)
        rows.append(f"<tr><td>gate</td><td>rows (d / a)</td>{cells}</tr>")
    gate = bias.get("gate") or {}
    reason = f"<p>Gate: {html.escape(str(gate.get('reason', '-')))}</p>" if gate else ""
    return f"{reason}<table><tr><th>stage</th><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _evidence(facet: dict[str, Any]) -> str:
    """``220 / 230, judged`` or ``44 / 106, not judged: n_d 44 rows < 100``."""
    sizes = f"{facet.get('rows_d', '?')} / {facet.get('rows_a', '?')}"
    return f"{sizes}, judged" if facet.get("judged", True) else f"{sizes}, {facet.get('not_judged')}"


def _metric_cell(value: Any) -> str:
    number = _number(value)
    return f"{number:.4f}" if number is not None else html.escape("-" if value is None else str(value))


def explainability_values(section: dict[str, Any]) -> dict[str, float]:
    importance = section.get("importance")
    if isinstance(importance, dict):
        return {str(k): float(v) for k, v in importance.items() if _number(v) is not None}
    if isinstance(importance, list):
        return {
            str(item["feature"]): float(item["mean_abs_shap"])
            for item in importance
            if isinstance(item, dict) and "feature" in item and _number(item.get("mean_abs_shap")) is not None
        }
    return numeric_leaves(section)


def _quality_models(section: dict[str, Any]) -> list[dict[str, Any]]:
    models = section.get("models")
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def model_quality_values(section: dict[str, Any]) -> dict[str, float]:
    values: dict[str, float] = {}
    for version in _quality_models(section):
        for metric in QUALITY_METRICS:
            if _number(version.get(metric)) is not None:
                values[f"{version.get('model_version', '?')}: {metric}"] = float(version[metric])
    if values or "models" in section:
        return values
    return {k: v for k, v in numeric_leaves(section).items() if not k.endswith("count")}


def model_quality_text(section: dict[str, Any]) -> str:
    """Which labels the figures are on (as of when), one row per model version; or why there is none yet."""
    as_of = html.escape(str(section.get("as_of_date") or "?"))
    models = _quality_models(section)
    if not models:
        reason = section.get("reason") or "no model version has labelled predictions"
        return f"<p>No labelled predictions as of {as_of}: {html.escape(str(reason))}.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(str(m.get('model_version', '?')))}</td><td>{m.get('labelled_predictions', '-')}</td>"
        f"<td>{m.get('positives', '-')}</td><td>{len(m.get('scoring_runs') or [])}</td>"
        f"<td>{html.escape(str(m.get('skipped') or ''))}</td></tr>"
        for m in models
    )
    return (
        f"<p>Earlier runs' predictions joined with the labels final as of {as_of}.</p><table><tr><th>model version"
        f"</th><th>labelled predictions</th><th>positives</th><th>scoring runs</th><th>skipped</th></tr>{rows}</table>"
    )


def optional_section(name: str, section: Any) -> list[Section]:
    if not isinstance(section, dict):
        return []
    lines: tuple[float, ...] = ()
    table = ""
    if name == "bias":
        values, lines = bias_values(section)
        metric = str((section.get("gate") or {}).get("metric", "value"))
        title, xlabel, table = f"{metric} per facet (the gate's range dashed)", metric, bias_table(section)
    elif name == "explainability":
        values, title, xlabel = explainability_values(section), "SHAP importance", "mean |SHAP value|"
    else:
        values, xlabel = model_quality_values(section), ""
        title = "The previous models' quality on labels that have since arrived"
    heading = {
        "bias": "Bias metrics per facet",
        "explainability": "SHAP importance",
        "model_quality": "Model quality",
    }[name]
    skipped = f"<p>Not computed: {html.escape(str(section['skipped']))}</p>" if section.get("skipped") else ""
    detail = f"<details><summary>JSON</summary><pre>{html.escape(json.dumps(section, indent=2))}</pre></details>"
    text = model_quality_text(section) if name == "model_quality" and "models" in section else ""
    if not values:
        body = text or skipped or "<p>No numeric values to chart.</p>"
        return [(name.replace("_", "-"), heading, body + detail)]
    body = text + charts.bar_chart(values, title, xlabel, lines) + table
    return [(name.replace("_", "-"), heading, body + detail)]


def _cell(value: Any) -> str:
    number = _number(value)
    return f"{number:+.3f}" if number is not None else html.escape("-" if value is None else str(value))


# ------------------------------------------------------------------------------------------------ the page

STYLE = (
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "section{border-top:1px solid #ccc;padding:.5em 0}svg{max-width:100%;height:auto}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}"
    "pre{font-size:.8em;background:#f6f6f6;padding:.5em;overflow:auto}"
)


def chart_sections(report: dict[str, Any], data: ChartData) -> list[Section]:
    """Every section but the timings: their data is final once the transform stage has run."""
    task = str(report.get("task") or "binary")
    builders: list[Callable[[], list[Section]]] = [
        lambda: holdout_sections(task, data),
        lambda: scores_section(task, data),
        lambda: drift_section(report),
        *(lambda name=name: optional_section(name, report.get(name)) for name in OPTIONAL_SECTIONS),
    ]
    return [section for build in builders for section in build()]


def charts_ahead(report: dict[str, Any], data: ChartData) -> Ahead[list[Section]]:
    """:func:`chart_sections` drawn in a thread, started when the run's last stage begins: that stage waits on the
    consumer processes, and the charts (~0.9 s of matplotlib) are then ready when the page is written."""
    return Ahead("charts", lambda: chart_sections(report, data))


def sections(report: dict[str, Any], data: ChartData, ahead: Ahead[list[Section]] | None = None) -> list[Section]:
    rendered = None
    if ahead is not None:
        with contextlib.suppress(Exception):  # drawn again below, where a failure is reported
            rendered = ahead.result()
    return [*(rendered if rendered is not None else chart_sections(report, data)), *timings_section(report)]


def render(report: dict[str, Any], data: ChartData, ahead: Ahead[list[Section]] | None = None) -> str:
    title = f"Esteira local run {report.get('run_id', '?')}: {str(report.get('status', '?')).upper()}"
    model = report.get("model") or {}
    facts = [
        ("task", report.get("task")),
        ("served package", model.get("served_package_arn")),
        ("gate", (model.get("gate") or {}).get("decision")),
        ("metrics", json.dumps(model.get("metrics")) if model.get("metrics") else None),
    ]
    header = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in facts if v is not None)
    body = "".join(
        f'<section id="{sid}"><h2>{html.escape(heading)}</h2>{content}</section>'
        for sid, heading, content in sections(report, data, ahead)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><ul>{header}</ul>{body}</body></html>\n"
    )


def write_html(
    report: dict[str, Any], data: ChartData, *paths: Path, ahead: Ahead[list[Section]] | None = None
) -> None:
    text = render(report, data, ahead)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
