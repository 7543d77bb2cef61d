"""The run report's ``bias`` and ``explainability`` sections and their summary-table lines (pure: JSON in, JSON out).

``bias`` (from Clarify's bias ``analysis.json`` and the gate's decision)::

    {"label": "desligado_em_12_meses", "label_value_or_threshold": "1", "probability_threshold": 0.5, "rows": 450,
     "facets": [{"facet": "masculino", "name": "men", "value_or_threshold": "1",
                 "pre_training": {"CI": 0.02, "DPL": -0.01, ...}, "post_training": {"DI": 0.93, ...},
                 "rows_d": 220, "rows_a": 230, "judged": true, "not_judged": null}, ...],
     "gate": {"metric": "DI", "stage": "post_training", "range": [0.8, 1.25], "enabled": true, "passed": true,
              "applied": true, "min_facet_rows": 100, "reason": "..."},

A facet group with fewer than ``min_facet_rows`` rows in it or in the rest is not judged by the gate
(``judged: false``, ``not_judged``: "not judged: n_d 44 rows < 100").
     "analysis_uri": ".../monitoring/clarify/run_id=<run>/bias/analysis.json"}

A metric Clarify writes as infinite is the string "Infinity" (or "-Infinity"); one it could not compute is null.
``explainability`` is :func:`pipeline.explain.report_section`'s: ``{"method", "output", "rows", "expected_value",
"importance": [{"feature", "mean_abs_shap"}, ...] (largest first), "analysis_uri"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from esteira_contracts.bias import BiasGateResult, FacetValue


def bias_section(
    document: Mapping[str, Any],
    result: BiasGateResult,
    threshold: float,
    analysis_uri: str,
    applied: bool,
    rows: int,
    names: Mapping[str, str] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """The run report's ``bias``: each facet group's pre- and post-training metrics, and the gate's decision."""
    pre, post = document["pre_training_bias_metrics"], document["post_training_bias_metrics"]
    facets = []
    evidence = iter(result.facets)
    for column, groups in pre["facets"].items():
        for index, group in enumerate(groups):
            after = post["facets"][column][index]
            facets.append(
                {
                    "facet": column,
                    "name": (names or {}).get(column, column),
                    "value_or_threshold": group["value_or_threshold"],
                    "pre_training": {m["name"]: _value(m) for m in group["metrics"]},
                    "post_training": {m["name"]: _value(m) for m in after["metrics"]},
                    **_evidence(next(evidence, None)),
                }
            )
    return {
        "label": pre["label"],
        "label_value_or_threshold": pre["label_value_or_threshold"],
        "probability_threshold": threshold,
        "rows": rows,
        "facets": facets,
        "gate": {
            "metric": result.metric,
            "stage": result.stage,
            "range": [result.minimum, result.maximum],
            "enabled": enabled,
            "passed": result.passed,
            "applied": applied,
            "min_facet_rows": result.min_facet_rows,
            "reason": result.reason,
        },
        "analysis_uri": analysis_uri,
    }


def _evidence(item: FacetValue | None) -> dict[str, Any]:
    """A facet group's sizes and whether the gate judged it (the gate's result lists groups in the same order)."""
    if item is None:
        return {}
    return {"rows_d": item.rows_d, "rows_a": item.rows_a, "judged": item.judged, "not_judged": item.not_judged}


def _value(entry: dict[str, Any]) -> float | str | None:
    """A metric's value in the report: a number, "Infinity"/"-Infinity" as Clarify writes them, or None."""
    value = entry.get("value")
    return value if isinstance(value, int | float | str) and not isinstance(value, bool) else None


def bias_sentence(section: Mapping[str, Any]) -> str:
    """The summary table's line: the gate's decision and each facet group's gate metric."""
    if section.get("skipped"):
        return f"skipped: {section['skipped']}"
    gate = section.get("gate") or {}
    metric, low_high = gate.get("metric", "DI"), gate.get("range") or ["-", "-"]
    stage = "post_training" if gate.get("stage", "post_training") == "post_training" else "pre_training"
    values = ", ".join(
        f"{f['facet']}={f['value_or_threshold']} {_short((f.get(stage) or {}).get(metric))}"
        + ("" if f.get("judged", True) else f" ({f.get('not_judged')})")
        for f in section.get("facets", [])
    )
    decision = "passed" if gate.get("passed") else "failed"
    if not gate.get("enabled", True):
        decision = "disabled (reported only)"
    elif not gate.get("applied", True):
        decision += " (not applied)"
    return f"{decision}, {metric} in [{low_high[0]}, {low_high[1]}]: {values}"


def _short(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def explainability_sentence(section: Mapping[str, Any], top: int = 3) -> str:
    """The summary table's line: the top features by mean |SHAP value|."""
    if section.get("skipped"):
        return f"skipped: {section['skipped']}"
    shown = list(section.get("importance") or [])[:top]
    text = ", ".join(f"{item['feature']} {item['mean_abs_shap']:.3f}" for item in shown) or "-"
    rows, holdout = section.get("rows"), section.get("holdout_rows")
    if isinstance(rows, int) and isinstance(holdout, int) and rows < holdout:
        text += f" ({rows:,} of {holdout:,} holdout rows)"
    return text
