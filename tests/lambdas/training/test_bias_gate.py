"""The bias gate on analysis.json documents shaped like Clarify's (tests/fixtures/bias/), and its handler on moto S3."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.bias import EMPTY_COMPLEMENT_ERROR, EMPTY_FACET_ERROR, BiasGateSettings
from tests.lambdas.helpers import lambda_context
from tests.lambdas.training.conftest import SetEnv
from tests.lambdas.training.helpers import TrainingResources
from training.bias_gate.handler import handler
from training.bias_gate.logic import check_bias
from training.errors import InvalidAnalysis

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bias"
DI_GATE = BiasGateSettings(metric="DI", stage="post_training", minimum=0.8, maximum=1.25)
# The fixture's CI: 0.08 (masculino=1) and 0.41 (idade_na_admissao over 40); at 1,000 analysed rows the groups have
# 460 / 540 and 295 / 705 rows, all above the default floor of 100.
ROWS = 1000


def analysis() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / "analysis_bias.json").read_text())
    return loaded


def with_metric(document: dict[str, Any], facet: str, metric: str, value: Any, **extra: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for entry in changed["post_training_bias_metrics"]["facets"][facet][0]["metrics"]:
        if entry["name"] == metric:
            entry.update(value=value, **extra)
    return changed


def test_every_facet_inside_the_bounds_passes_and_lists_the_values() -> None:
    # GIVEN Clarify's analysis with DI 0.93 (masculino=1) and 1.08 (idade_na_admissao over 40)
    # WHEN the DI gate [0.8, 1.25] checks it
    result = check_bias(analysis(), DI_GATE, rows=ROWS)
    # THEN it passes, with each facet group's value
    assert result.passed
    assert [(f.facet, f.value_or_threshold, f.value) for f in result.facets] == [
        ("masculino", "1", 0.93),
        ("idade_na_admissao", "(40.0, 62.0]", 1.08),
    ]
    assert "masculino=1: 0.93" in result.reason and "[0.8, 1.25]" in result.reason


def test_a_facet_below_the_minimum_fails_naming_facet_metric_value_and_bounds() -> None:
    # GIVEN DI 0.71 for masculino=1
    document = with_metric(analysis(), "masculino", "DI", 0.71)
    # WHEN checked
    result = check_bias(document, DI_GATE, rows=ROWS)
    # THEN the gate fails, and the reason says which facet, which metric, its value and the bounds
    assert not result.passed
    assert result.reason == "bias gate: DI of facet masculino=1 is 0.71, outside [0.8, 1.25]"


def test_a_facet_above_the_maximum_fails_and_counts_further_failures() -> None:
    document = with_metric(with_metric(analysis(), "idade_na_admissao", "DI", 1.4), "masculino", "DI", 0.5)
    result = check_bias(document, DI_GATE, rows=ROWS)
    assert not result.passed
    assert result.reason.startswith("bias gate: DI of facet masculino=1 is 0.5, outside [0.8, 1.25]")
    assert result.reason.endswith("(and 1 more)")


def test_bounds_are_inclusive() -> None:
    document = with_metric(with_metric(analysis(), "masculino", "DI", 0.8), "idade_na_admissao", "DI", 1.25)
    assert check_bias(document, DI_GATE, rows=ROWS).passed


def test_a_value_clarify_could_not_compute_fails_with_its_error() -> None:
    # GIVEN Clarify reports no DI value for a group (no positive prediction in the other group)
    document = with_metric(analysis(), "masculino", "DI", None, error="Division by zero")
    # WHEN checked THEN an unknown disparity fails the gate, naming Clarify's error
    result = check_bias(document, DI_GATE, rows=ROWS)
    assert not result.passed
    assert "DI of facet masculino=1 could not be computed (Division by zero)" in result.reason


def test_a_disabled_gate_reports_the_values_and_passes() -> None:
    document = with_metric(analysis(), "masculino", "DI", 0.5)
    result = check_bias(document, BiasGateSettings(minimum=0.8, maximum=1.25, enabled=False), rows=ROWS)
    assert result.passed
    assert "disabled" in result.reason and "masculino=1: 0.5" in result.reason


def test_a_pre_training_gate_reads_the_pre_training_section() -> None:
    gate = BiasGateSettings(metric="CI", stage="pre_training", minimum=-0.3, maximum=0.3)
    result = check_bias(analysis(), gate, rows=ROWS)
    assert not result.passed
    assert result.reason == "bias gate: CI of facet idade_na_admissao=(40.0, 62.0] is 0.41, outside [-0.3, 0.3]"


def with_ci(document: dict[str, Any], facet: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    group = changed["pre_training_bias_metrics"]["facets"][facet][0]
    if value is None:
        group["metrics"] = [m for m in group["metrics"] if m["name"] != "CI"]
    for entry in group["metrics"]:
        if entry["name"] == "CI":
            entry["value"] = value
    return changed


def test_a_small_facet_group_is_not_judged_and_says_so() -> None:
    # GIVEN DI 0.5 for idade_na_admissao over 40 (CI 0.41) on a holdout of 300 rows: its group has 89 rows
    document = with_metric(analysis(), "idade_na_admissao", "DI", 0.5)
    # WHEN the gate with its default floor of 100 rows checks it
    result = check_bias(document, DI_GATE, rows=300)
    # THEN the small group is reported not judged (neither failed nor silently passed); masculino=1 is judged
    assert result.passed
    age = result.facets[1]
    assert (age.rows_d, age.rows_a, age.judged) == (89, 211, False)
    assert age.not_judged == "not judged: n_d 89 rows < 100"
    assert result.reason == (
        "bias gate: DI within [0.8, 1.25] for every judged facet (masculino=1: 0.93); "
        "idade_na_admissao=(40.0, 62.0] not judged: n_d 89 rows < 100"
    )
    assert result.failed_facet is None and (result.rows, result.min_facet_rows) == (300, 100)


@pytest.mark.parametrize(
    ("error", "sizes"), [(EMPTY_FACET_ERROR, (0, ROWS)), (EMPTY_COMPLEMENT_ERROR, (ROWS, 0))], ids=["empty", "all"]
)
def test_a_facet_group_with_no_rows_on_one_side_is_not_judged(error: str, sizes: tuple[int, int]) -> None:
    # GIVEN a holdout where an age band has no rows (or every row): Clarify reports no CI nor DI, with its error
    document = copy.deepcopy(analysis())
    for section in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        for entry in document[section]["facets"]["idade_na_admissao"][0]["metrics"]:
            entry.update(value=None, error=error)
    # WHEN checked
    result = check_bias(document, DI_GATE, rows=ROWS)
    # THEN that group is not judged for want of rows, and masculino=1 still decides
    age = result.facets[1]
    assert ((age.rows_d, age.rows_a), age.judged) == (sizes, False)
    assert result.passed and "masculino=1: 0.93" in result.reason
    assert "idade_na_admissao=(40.0, 62.0] not judged: n_" in result.reason


def test_a_large_failing_facet_group_is_rejected() -> None:
    # GIVEN the same DI 0.5 on a holdout of 1,000 rows: 295 rows in the group, 705 in the rest
    document = with_metric(analysis(), "idade_na_admissao", "DI", 0.5)
    # WHEN checked THEN the gate fails on it
    result = check_bias(document, DI_GATE, rows=ROWS)
    assert not result.passed
    assert result.reason == "bias gate: DI of facet idade_na_admissao=(40.0, 62.0] is 0.5, outside [0.8, 1.25]"
    assert all(facet.judged for facet in result.facets)


def test_the_rest_under_the_floor_leaves_a_facet_unjudged_too() -> None:
    # GIVEN a group that is almost every row (CI -0.9): the rest has 5% of 1,000 rows
    result = check_bias(with_ci(analysis(), "masculino", -0.9), DI_GATE, rows=ROWS)
    assert result.facets[0].not_judged == "not judged: n_a 50 rows < 100"


def test_with_no_facet_judged_the_gate_passes_saying_so() -> None:
    # GIVEN a failing DI on a holdout of 150 rows: every group or its rest is under 100 rows
    document = with_metric(analysis(), "masculino", "DI", 0.5)
    result = check_bias(document, DI_GATE, rows=150)
    # THEN the gate passes with a reason that names every unjudged group: nothing was checked, and it says so
    assert result.passed
    assert result.reason == (
        "bias gate: no facet judged (masculino=1 not judged: n_d 69 rows and n_a 81 rows < 100; "
        "idade_na_admissao=(40.0, 62.0] not judged: n_d 44 rows < 100)"
    )


@pytest.mark.parametrize(("ci", "message"), [(None, "has no CI metric"), ("x", "CI of facet masculino=1 is None")])
def test_a_missing_class_imbalance_is_invalid_analysis(ci: Any, message: str) -> None:
    # GIVEN an analysis whose pre-training section lacks CI for a group (or has no number)
    # WHEN checked THEN the gate refuses it: it cannot size the group
    with pytest.raises(InvalidAnalysis, match=message):
        check_bias(with_ci(analysis(), "masculino", ci), DI_GATE, rows=ROWS)


@pytest.mark.parametrize("rows", [0, -5, True, 1.5])
def test_the_analysed_row_count_must_be_a_positive_integer(rows: Any) -> None:
    with pytest.raises(InvalidAnalysis, match="rows"):
        check_bias(analysis(), DI_GATE, rows=rows)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"pre_training_bias_metrics": {}}, "no 'post_training_bias_metrics' section"),
        ({"post_training_bias_metrics": {"facets": {}}}, "facets is missing or empty"),
        ({"post_training_bias_metrics": {"facets": {"masculino": []}}}, "non-empty list of groups"),
        (
            {"post_training_bias_metrics": {"facets": {"masculino": [{"value_or_threshold": "1", "metrics": []}]}}},
            "has no DI metric",
        ),
    ],
)
def test_an_analysis_without_what_the_gate_checks_is_an_error(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidAnalysis, match=message):
        check_bias(document, DI_GATE, rows=ROWS)


def test_settings_refuse_a_metric_of_another_stage_and_inverted_bounds() -> None:
    with pytest.raises(SettingsError) as error:
        BiasGateSettings.parse(
            {"BIAS_GATE_METRIC": "CI", "BIAS_GATE_STAGE": "post_training", "BIAS_GATE_MIN": "2", "BIAS_GATE_MAX": "1"}
        )
    assert "BIAS_GATE_METRIC='CI' is not a Clarify post_training bias metric" in str(error.value)
    assert "BIAS_GATE_MIN=2 must be <= BIAS_GATE_MAX=1" in str(error.value)


def test_settings_round_trip_through_the_environment() -> None:
    assert BiasGateSettings.from_env(DI_GATE.to_env()) == DI_GATE


# --- the handler, on moto S3 over HTTP ---------------------------------------------------------------------------


def put_analysis(aws: TrainingResources, document: dict[str, Any]) -> str:
    key = "monitoring/clarify/run_id=r1/bias/analysis.json"
    aws.s3.put_object(Bucket=aws.artifacts_bucket, Key=key, Body=json.dumps(document).encode())
    return f"s3://{aws.artifacts_bucket}/{key}"


def test_handler_reads_the_analysis_from_s3_and_returns_the_decision(aws: TrainingResources, set_env: SetEnv) -> None:
    # GIVEN the bias job's analysis.json in S3 with DI 0.71 for masculino=1, and the gate's environment
    uri = put_analysis(aws, with_metric(analysis(), "masculino", "DI", 0.71))
    set_env(DI_GATE.to_env())
    # WHEN the handler runs
    payload = handler({"analysis_uri": uri, "rows": ROWS}, lambda_context())
    # THEN its payload is the decision, with the analysis it read
    assert payload["passed"] is False
    assert payload["analysis_uri"] == uri
    assert payload["facets"][0] == {
        "facet": "masculino",
        "value_or_threshold": "1",
        "value": 0.71,
        "error": None,
        "rows_d": 460,
        "rows_a": 540,
        "judged": True,
        "not_judged": None,
    }
    assert (payload["rows"], payload["min_facet_rows"]) == (ROWS, 100)
    assert payload["reason"] == "bias gate: DI of facet masculino=1 is 0.71, outside [0.8, 1.25]"


def test_handler_needs_the_holdout_row_count(aws: TrainingResources, set_env: SetEnv) -> None:
    set_env(DI_GATE.to_env())
    with pytest.raises(InvalidAnalysis, match="the event needs rows"):
        handler({"analysis_uri": put_analysis(aws, analysis())}, lambda_context())


def test_handler_names_a_missing_analysis(aws: TrainingResources, set_env: SetEnv) -> None:
    set_env(DI_GATE.to_env())
    uri = f"s3://{aws.artifacts_bucket}/monitoring/clarify/run_id=none/bias/analysis.json"
    with pytest.raises(InvalidAnalysis, match=r"cannot read .*analysis\.json"):
        handler({"analysis_uri": uri, "rows": ROWS}, lambda_context())
