"""The bias gate: a pure function of Clarify's analysis.json and the gate's settings.

For the gate's stage section (``post_training_bias_metrics`` for DI), every facet group's value of the gate's metric
must lie in ``[minimum, maximum]`` (bounds included, with float tolerance). A group whose value Clarify could not
compute (``value`` null or not finite, e.g. DI when a group has no positive prediction) fails the gate: an unknown
disparity is not evidence of fairness. A failing gate is a result, not an error; an analysis without the section, a
facet, or the metric is an error (:class:`InvalidAnalysis`), since the gate would check nothing.

Evidence floor: a four-fifths band judged on a handful of predictions judges noise, so a facet group is judged only
when it and the rest each have at least ``min_facet_rows`` analysed rows. analysis.json holds no counts, but the
pre-training class imbalance does: CI = (n_a - n_d) / (n_a + n_d), so with n analysed rows (the dataset run's
holdout rows, which the state machine reads from the manifest) n_d = n(1 - CI)/2 and n_a = n(1 + CI)/2. A group
under the floor is "not judged" (in the result, its reason and the report), never passed silently; when no group
is judged the gate passes saying so. CI missing for a group is InvalidAnalysis. Rows whose facet value is missing
are in neither group; n counts them, so n_d and n_a are then upper bounds (the demo's facet columns have no nulls).

The local run calls :func:`check_bias` on the analysis.json it computes, so AWS and the local run decide alike.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from esteira_contracts.bias import (
    CLASS_IMBALANCE,
    EMPTY_COMPLEMENT_ERROR,
    EMPTY_FACET_ERROR,
    STAGE_SECTIONS,
    BiasGateResult,
    BiasGateSettings,
    FacetValue,
)
from training.errors import InvalidAnalysis
from training.s3uri import S3Uri

_TOLERANCE = 1e-12


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def facet_values(analysis: Mapping[str, Any], section: str, metric: str) -> list[FacetValue]:
    """Every facet group's value of ``metric`` in ``section`` of a Clarify analysis.json, in the document's order."""
    body = analysis.get(section)
    if not isinstance(body, Mapping):
        raise InvalidAnalysis(f"analysis.json has no {section!r} section (did the Clarify job compute this stage?)")
    facets = body.get("facets")
    if not isinstance(facets, Mapping) or not facets:
        raise InvalidAnalysis(f"analysis.json {section}.facets is missing or empty")
    found: list[FacetValue] = []
    for column, groups in facets.items():
        if not isinstance(groups, list) or not groups:
            raise InvalidAnalysis(f"analysis.json {section}.facets.{column} must be a non-empty list of groups")
        for index, group in enumerate(groups):
            where = f"{section}.facets.{column}[{index}]"
            if not isinstance(group, Mapping) or not isinstance(group.get("metrics"), list):
                raise InvalidAnalysis(f"analysis.json {where} has no metrics list")
            entries = [m for m in group["metrics"] if isinstance(m, Mapping) and m.get("name") == metric]
            if not entries:
                raise InvalidAnalysis(f"analysis.json {where} has no {metric} metric (add it to the job's methods)")
            entry = entries[0]
            value = _number(entry.get("value"))
            error = None
            if value is None:
                error = str(entry.get("error") or f"value {entry.get('value')!r} is not a finite number")
            found.append(
                FacetValue(
                    facet=str(column),
                    value_or_threshold=str(group.get("value_or_threshold", "")),
                    value=value,
                    error=error,
                )
            )
    return found


def _inside(value: float, minimum: float, maximum: float) -> bool:
    low = value >= minimum or math.isclose(value, minimum, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)
    high = value <= maximum or math.isclose(value, maximum, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)
    return low and high


def group_sizes(analysis: Mapping[str, Any], rows: int) -> list[tuple[int, int]]:
    """Each facet group's (n_d, n_a), in the document's order, from its pre-training CI and ``rows`` analysed rows."""
    # Clarify reports no CI for a group that has no rows in the analysed data (a small holdout may lack an age band),
    # or whose complement has none: that group has 0 rows on one side, which the evidence floor refuses.
    empty = {EMPTY_FACET_ERROR: (0, rows), EMPTY_COMPLEMENT_ERROR: (rows, 0)}
    sizes = []
    for item in facet_values(analysis, STAGE_SECTIONS["pre_training"], CLASS_IMBALANCE):
        if item.value is None and item.error in empty:
            sizes.append(empty[item.error])
            continue
        if item.value is None or not -1 <= item.value <= 1:
            raise InvalidAnalysis(
                f"analysis.json {CLASS_IMBALANCE} of facet {item.group} is {item.value!r} ({item.error}): the "
                "gate needs the class imbalance to know the group's size"
            )
        rows_d = round(rows * (1 - item.value) / 2)
        sizes.append((rows_d, rows - rows_d))
    return sizes


def _with_evidence(values: list[FacetValue], sizes: list[tuple[int, int]], floor: int) -> list[FacetValue]:
    if len(sizes) != len(values):
        raise InvalidAnalysis(
            f"analysis.json has {len(sizes)} pre-training facet groups but {len(values)} in the gate's section"
        )
    judged = []
    for item, (rows_d, rows_a) in zip(values, sizes, strict=True):
        short = [f"{label} {count} rows" for label, count in (("n_d", rows_d), ("n_a", rows_a)) if count < floor]
        note = f"not judged: {' and '.join(short)} < {floor}" if short else None
        judged.append(dataclasses.replace(item, rows_d=rows_d, rows_a=rows_a, judged=note is None, not_judged=note))
    return judged


def check_bias(analysis: Mapping[str, Any], gate: BiasGateSettings, *, rows: int) -> BiasGateResult:
    """The gate's decision over every facet group with enough rows (``rows``: the analysed row count); the reason
    names the first failing facet, metric, value and bounds (or, passing, every group's value), and the groups
    not judged."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidAnalysis(f"rows (the analysed holdout's row count) must be a positive integer, got {rows!r}")
    values = _with_evidence(
        facet_values(analysis, gate.section, gate.metric), group_sizes(analysis, rows), gate.min_facet_rows
    )
    bounds = f"[{_fmt(gate.minimum)}, {_fmt(gate.maximum)}]"
    failures = []
    failed: list[FacetValue] = []
    for item in values:
        if not item.judged:
            continue
        if item.value is None:
            failures.append(f"{gate.metric} of facet {item.group} could not be computed ({item.error})")
            failed.append(item)
        elif not _inside(item.value, gate.minimum, gate.maximum):
            failures.append(f"{gate.metric} of facet {item.group} is {_fmt(item.value)}, outside {bounds}")
            failed.append(item)
    listing = ", ".join(
        f"{item.group}: {'n/a' if item.value is None else _fmt(item.value)}" for item in values if item.judged
    )
    unjudged = "; ".join(f"{item.group} {item.not_judged}" for item in values if not item.judged)
    if not gate.enabled:
        everything = ", ".join(f"{item.group}: {'n/a' if item.value is None else _fmt(item.value)}" for item in values)
        passed, reason = True, f"bias gate disabled; {gate.metric} per facet: {everything}"
    elif failures:
        passed = False
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        reason = f"bias gate: {failures[0]}{more}"
    elif not listing:
        passed, reason = True, f"bias gate: no facet judged ({unjudged})"
    else:
        passed, reason = True, f"bias gate: {gate.metric} within {bounds} for every judged facet ({listing})"
    if unjudged and gate.enabled and listing:
        reason += f"; {unjudged}"
    return BiasGateResult(
        passed=passed,
        reason=reason,
        metric=gate.metric,
        stage=gate.stage,
        minimum=gate.minimum,
        maximum=gate.maximum,
        facets=values,
        failed_facet=failed[0].group if failed and not passed else None,
        failed_value=failed[0].value if failed and not passed else None,
        rows=rows,
        min_facet_rows=gate.min_facet_rows,
    )


def read_analysis(s3: Any, analysis_uri: str) -> dict[str, Any]:
    """Clarify's analysis.json at ``analysis_uri``; an unreadable or non-object document is InvalidAnalysis."""
    try:
        location = S3Uri.parse(analysis_uri)
    except ValueError as error:
        raise InvalidAnalysis(f"analysis_uri: {error}") from None
    try:
        body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise InvalidAnalysis(f"cannot read {analysis_uri} ({code}): did the Clarify bias job write it?") from None
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidAnalysis(f"{analysis_uri} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidAnalysis(f"{analysis_uri} is not a JSON object")
    return document


def handle(event: Mapping[str, Any], gate: BiasGateSettings, s3: Any) -> dict[str, Any]:
    """The Lambda's work: read ``event["analysis_uri"]`` and check it with ``event["rows"]`` (the holdout's rows,
    from the dataset run's manifest); the payload is a BiasGateResult."""
    analysis_uri = event.get("analysis_uri")
    if not isinstance(analysis_uri, str):
        raise InvalidAnalysis("the event needs analysis_uri, the bias job's analysis.json")
    rows = event.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise InvalidAnalysis(f"the event needs rows, the holdout's row count (manifest counts), got {rows!r}")
    result = check_bias(read_analysis(s3, analysis_uri), gate, rows=rows)
    return dataclasses.replace(result, analysis_uri=analysis_uri).to_payload()
