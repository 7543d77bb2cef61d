"""Model Monitor's data-quality baseline, recomputed locally for the report, and the capture-format check.

**A local reimplementation, for the report only.** On AWS the training state machine's Baseline step runs the
managed analyzer (``sagemaker-model-monitor-analyzer``, Deequ 2.0.2 on Spark) on the dataset run's ``baseline/``
CSV; nothing here runs there. This module computes the part of the analyzer's output the report shows, in the
analyzer's JSON format (``statistics.json``: version 0, ``dataset.item_count``, per feature ``inferred_type`` and
``numerical_statistics`` / ``string_statistics`` with ``common.num_present`` / ``num_missing``, mean, sum, std_dev,
min, max; ``constraints.json``: completeness, ``is_non_negative``, the analyzer's default ``monitoring_config``).
It computes no KLL distribution (the analyzer's quantile sketch), so its files are not a monitoring schedule's
baseline. As the analyzer does for a headerless CSV, features are named by position: ``_c0``, ``_c1``, ...

Types follow Deequ 2.0.2's ``DataType`` analyzer: each non-empty field is Fractional, Integral, Boolean or String by
the regexes below (an empty field is missing), and a column is String if any field is (or if booleans mix with
numbers), else Boolean, else Fractional if any field is, else Integral; Unknown when every field is missing.

The capture check reads records as data capture records them for ``text/csv`` (the request body: headerless CSV,
one record per line, the features in request order) and fails on what the monitor's data-type and column checks
would flag against this baseline: another number of fields, or a field whose type the baseline column's type does
not admit (an Integral column takes integers only; a Fractional one, any number).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Deequ 2.0.2 (org.apache.spark.sql.StatefulDataType), which the analyzer image is built with.
FRACTIONAL = re.compile(r"^(-|\+)? ?\d*\.\d*$")
INTEGRAL = re.compile(r"^(-|\+)? ?\d*$")
BOOLEAN = re.compile(r"^(true|false)$")
NUMERIC_TYPES = ("Integral", "Fractional")
# What a baseline column's type admits in captured data (Unknown: every baseline field was missing).
ADMITTED = {
    "Integral": {"Integral"},
    "Fractional": {"Integral", "Fractional"},
    "String": {"Integral", "Fractional", "Boolean", "String"},
    "Unknown": {"Integral", "Fractional", "Boolean", "String"},
}
# The analyzer's suggested monitoring_config (constraints.json).
MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,
    "domain_content_threshold": 1.0,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
MAX_REPORTED_PROBLEMS = 10


class BaselineError(ValueError):
    """The baseline CSV cannot be read as the analyzer would read it (e.g. rows of different widths)."""


def column_name(index: int) -> str:
    """The analyzer's name for the ``index``-th column of a headerless CSV."""
    return f"_c{index}"


def field_type(value: str) -> str:
    if FRACTIONAL.match(value):
        return "Fractional"
    if INTEGRAL.match(value):
        return "Integral"
    if BOOLEAN.match(value):
        return "Boolean"
    return "String"


def inferred_type(present: Iterable[str]) -> str:
    kinds = {field_type(value) for value in present}
    if not kinds:
        return "Unknown"
    if "String" in kinds or ("Boolean" in kinds and kinds & set(NUMERIC_TYPES)):
        return "String"
    if "Boolean" in kinds:
        return "Boolean"
    return "Fractional" if "Fractional" in kinds else "Integral"


def read_csv_rows(files: Sequence[Path]) -> list[list[str]]:
    """Every record of headerless CSV part files, in file order."""
    rows: list[list[str]] = []
    for path in files:
        rows.extend(row for row in csv.reader(io.StringIO(path.read_text())) if row)
    return rows


def _numerical(values: list[str], missing: int) -> dict[str, Any]:
    numbers = [float(v) for v in values]
    count = len(numbers)
    mean = math.fsum(numbers) / count if count else 0.0
    # Deequ's StandardDeviation is the population standard deviation.
    variance = math.fsum((x - mean) ** 2 for x in numbers) / count if count else 0.0
    return {
        "common": {"num_present": count, "num_missing": missing},
        "mean": mean,
        "sum": math.fsum(numbers),
        "std_dev": math.sqrt(variance),
        "min": min(numbers) if numbers else 0.0,
        "max": max(numbers) if numbers else 0.0,
    }


def feature_statistics(index: int, column: list[str]) -> dict[str, Any]:
    present = [value for value in column if value != ""]
    missing = len(column) - len(present)
    kind = inferred_type(present)
    feature: dict[str, Any] = {"name": column_name(index), "inferred_type": kind}
    if kind in NUMERIC_TYPES:
        feature["numerical_statistics"] = _numerical(present, missing)
    else:
        feature["string_statistics"] = {
            "common": {"num_present": len(present), "num_missing": missing},
            "distinct_count": float(len(set(present))),
        }
    return feature


def statistics(rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``statistics.json`` of headerless CSV records."""
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise BaselineError(f"the baseline CSV has records of {sorted(widths)} fields; one width expected")
    width = widths.pop() if widths else 0
    columns = [[row[i] for row in rows] for i in range(width)]
    return {
        "version": 0,
        "dataset": {"item_count": len(rows)},
        "features": [feature_statistics(i, column) for i, column in enumerate(columns)],
    }


def constraints(stats: dict[str, Any]) -> dict[str, Any]:
    """``constraints.json`` as the analyzer suggests it from ``stats``."""
    features = []
    for feature in stats["features"]:
        numbers = feature.get("numerical_statistics")
        common = (numbers or feature["string_statistics"])["common"]
        total = common["num_present"] + common["num_missing"]
        suggested: dict[str, Any] = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": common["num_present"] / total if total else 0.0,
        }
        if numbers is not None:
            suggested["num_constraints"] = {"is_non_negative": numbers["min"] >= 0}
        features.append(suggested)
    return {"version": 0, "features": features, "monitoring_config": MONITORING_CONFIG}


@dataclass(frozen=True)
class CaptureCheck:
    records: int
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def check_capture(lines: Sequence[str], baseline: dict[str, Any], feature_names: Sequence[str]) -> CaptureCheck:
    """Parse capture-format ``lines`` against the baseline's columns: their number, then each field's type."""
    columns = baseline["features"]
    problems: list[str] = []
    records = 0
    for number, record in enumerate(csv.reader(io.StringIO("\n".join(lines) + "\n")), start=1):
        if not record:
            continue
        records += 1
        if len(record) != len(columns):
            problems.append(f"record {number}: {len(record)} fields, the baseline has {len(columns)} columns")
            continue
        for index, (value, column) in enumerate(zip(record, columns, strict=True)):
            kind = field_type(value) if value != "" else None
            if kind is not None and kind not in ADMITTED[column["inferred_type"]]:
                name = feature_names[index] if index < len(feature_names) else "?"
                problems.append(
                    f"record {number}, field {index + 1} ({name}, baseline {column['name']} "
                    f"{column['inferred_type']}): {value!r} is {kind}"
                )
    return CaptureCheck(records=records, problems=problems)


def describe_problems(check: CaptureCheck) -> str:
    shown = "; ".join(check.problems[:MAX_REPORTED_PROBLEMS])
    more = len(check.problems) - MAX_REPORTED_PROBLEMS
    return shown + (f"; and {more} more" if more > 0 else "")
