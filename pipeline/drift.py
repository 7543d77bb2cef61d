"""Drift of a scored batch against the served model's data-quality baseline, feature by feature (pure).

The batch's features get the same statistics as the baseline (:func:`pipeline.baseline.statistics`, the
``statistics.json`` format of Model Monitor's analyzer), and each feature is compared with the baseline's:

- ``mean_shift_std``: (batch mean - baseline mean) / baseline standard deviation (population, as Deequ's), i.e.
  how many baseline standard deviations the mean moved. ``None`` for a non-numeric feature or an empty side; when
  the baseline's std is 0 (a constant column) it is 0 if the means are equal, else ``inf``.
- ``missing_rate_diff``: batch missing share - baseline missing share (positive: more values missing now).
- ``type_admitted``: whether the baseline column's type admits the batch column's inferred type (the same rule as
  the capture check, :data:`pipeline.baseline.ADMITTED`).

A feature is **flagged** when ``|mean_shift_std| > mean_shift_std`` threshold, ``missing_rate_diff >
missing_rate`` threshold, or its type is not admitted; the thresholds are reported with the measures.

How this relates to Model Monitor: a monitoring schedule checks the captured data against the baseline's
``constraints.json`` (``data_type_check``: the type rule above; ``completeness_check``: the batch's completeness
below the baseline's, our ``missing_rate_diff``) and, per numeric feature, a ``baseline_drift_check``: a distance
between the KLL quantile sketches of baseline and current data against ``comparison_threshold`` (0.1). The local
statistics hold no KLL sketch (see :mod:`pipeline.baseline`), so that distribution distance is not reproduced here;
the standardized mean shift stands in for it: cruder (it sees a moved centre, not a changed shape), but explainable
from the two statistics files alone.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline import baseline

MEAN_SHIFT_STD = 0.5
MISSING_RATE = 0.1


@dataclass(frozen=True)
class Thresholds:
    mean_shift_std: float = MEAN_SHIFT_STD
    missing_rate: float = MISSING_RATE

    def to_json(self) -> dict[str, float]:
        return {"mean_shift_std": self.mean_shift_std, "missing_rate": self.missing_rate}


def batch_feature_rows(lines: Iterable[str]) -> list[list[str]]:
    """The features of batch-input records (``record id,feature1,...``): every field but the first, as the batch
    transform's input filter (``$[1:]``) sends them to the model."""
    return [row[1:] for row in csv.reader(io.StringIO("\n".join(lines) + "\n")) if row]


def _common(feature: dict[str, Any]) -> dict[str, Any]:
    numbers = feature.get("numerical_statistics")
    block = numbers if numbers is not None else feature.get("string_statistics") or {}
    common: dict[str, Any] = block.get("common") or {"num_present": 0, "num_missing": 0}
    return common


def _missing_rate(feature: dict[str, Any]) -> float | None:
    common = _common(feature)
    total = common["num_present"] + common["num_missing"]
    return common["num_missing"] / total if total else None


def _mean_shift(base: dict[str, Any], batch: dict[str, Any]) -> float | None:
    base_numbers, batch_numbers = base.get("numerical_statistics"), batch.get("numerical_statistics")
    if base_numbers is None or batch_numbers is None:
        return None
    if not base_numbers["common"]["num_present"] or not batch_numbers["common"]["num_present"]:
        return None
    delta = float(batch_numbers["mean"]) - float(base_numbers["mean"])
    std = float(base_numbers["std_dev"])
    if std == 0.0:
        return 0.0 if delta == 0.0 else math.copysign(math.inf, delta)
    return delta / std


def _rounded(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"  # JSON has no infinity
    return round(value, 6)


def compare_feature(
    name: str, base: dict[str, Any], batch: dict[str, Any], thresholds: Thresholds = Thresholds()
) -> dict[str, Any]:
    """One feature's measures and whether it is flagged (with the reasons)."""
    shift = _mean_shift(base, batch)
    base_missing, batch_missing = _missing_rate(base), _missing_rate(batch)
    missing_diff = None if base_missing is None or batch_missing is None else batch_missing - base_missing
    admitted = batch["inferred_type"] == "Unknown" or batch["inferred_type"] in baseline.ADMITTED.get(
        base["inferred_type"], set()
    )
    reasons = []
    if shift is not None and abs(shift) > thresholds.mean_shift_std:
        reasons.append(f"mean moved {shift:+.2f} baseline std")
    if missing_diff is not None and missing_diff > thresholds.missing_rate:
        reasons.append(f"missing rate +{missing_diff:.2f}")
    if not admitted:
        reasons.append(f"type {batch['inferred_type']} where the baseline has {base['inferred_type']}")
    base_numbers = base.get("numerical_statistics") or {}
    batch_numbers = batch.get("numerical_statistics") or {}
    return {
        "feature": name,
        "column": base["name"],
        "baseline_type": base["inferred_type"],
        "batch_type": batch["inferred_type"],
        "baseline_mean": _rounded(base_numbers.get("mean")),
        "batch_mean": _rounded(batch_numbers.get("mean")),
        "baseline_std": _rounded(base_numbers.get("std_dev")),
        "batch_std": _rounded(batch_numbers.get("std_dev")),
        "mean_shift_std": _rounded(shift),
        "baseline_missing_rate": _rounded(base_missing),
        "batch_missing_rate": _rounded(batch_missing),
        "missing_rate_diff": _rounded(missing_diff),
        "type_admitted": admitted,
        "flagged": bool(reasons),
        "reasons": reasons,
    }


class DriftInputError(ValueError):
    """The batch and the baseline do not describe the same columns."""


def compare(
    baseline_stats: dict[str, Any],
    batch_stats: dict[str, Any],
    feature_names: Sequence[str],
    thresholds: Thresholds = Thresholds(),
) -> dict[str, Any]:
    """The report's ``drift`` section: per feature measures, the flagged features and the thresholds used."""
    base_features, batch_features = baseline_stats["features"], batch_stats["features"]
    if len(batch_features) != len(base_features):
        raise DriftInputError(f"the batch has {len(batch_features)} feature columns, the baseline {len(base_features)}")
    if len(feature_names) != len(base_features):
        raise DriftInputError(f"{len(feature_names)} feature names for {len(base_features)} baseline columns")
    features = [
        compare_feature(name, base, batch, thresholds)
        for name, base, batch in zip(feature_names, base_features, batch_features, strict=True)
    ]
    return {
        "baseline_rows": baseline_stats["dataset"]["item_count"],
        "batch_rows": batch_stats["dataset"]["item_count"],
        "thresholds": thresholds.to_json(),
        "features": features,
        "flagged": [feature["feature"] for feature in features if feature["flagged"]],
    }


def drift_of_batch(
    baseline_stats: dict[str, Any],
    batch_lines: Iterable[str],
    feature_names: Sequence[str],
    thresholds: Thresholds = Thresholds(),
) -> dict[str, Any]:
    """:func:`compare` for batch-input lines (record id first), with the baseline's own statistics code."""
    rows = batch_feature_rows(batch_lines)
    if not rows:
        return {"skipped": "the batch has no rows", "thresholds": thresholds.to_json(), "features": [], "flagged": []}
    return compare(baseline_stats, baseline.statistics(rows), feature_names, thresholds)


def sentence(drift: dict[str, Any]) -> str:
    """One line for the summary."""
    if drift.get("skipped"):
        return f"not computed: {drift['skipped']}"
    limits = drift["thresholds"]
    flagged = drift["flagged"]
    text = (
        f"{len(flagged)} of {len(drift['features'])} features flagged on {drift['batch_rows']} batch rows "
        f"(|mean shift| > {limits['mean_shift_std']:g} baseline std, missing rate > +{limits['missing_rate']:g}, "
        "or a type the baseline does not admit)"
    )
    return text + (": " + ", ".join(flagged[:8]) + (" ..." if len(flagged) > 8 else "") if flagged else "")
