"""Clarify's bias metrics on tiny frames, each against the value its documented formula gives by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from esteira_contracts.bias import BiasGateSettings
from pipeline import bias, settings
from pipeline.report import summary_table
from stacks.config import load_config
from training.bias_gate.logic import check_bias

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline"
# Facet d (x == 1): 4 rows; facet a: 6 rows. Labels y and predicted labels yhat (1 = positive).
#   a: y    1 1 1 0 0 0   yhat 1 1 0 1 1 0   -> n 6, n(1) 3, n^(1) 4, TP 2, FN 1, FP 2, TN 1
#   d: y    1 0 0 0       yhat 1 0 0 0       -> n 4, n(1) 1, n^(1) 1, TP 1, FN 0, FP 0, TN 3
TINY = pd.DataFrame(
    {
        "x": [0, 0, 0, 0, 0, 0, 1, 1, 1, 1],
        "y": [1, 1, 1, 0, 0, 0, 1, 0, 0, 0],
        "yhat": [1, 1, 0, 1, 1, 0, 1, 0, 0, 0],
    }
)
FACET = bias.Facet("x", (1,))
# These tests check the metrics the gate reads, not its evidence floor (tests/lambdas/training/test_bias_gate.py):
# no floor on these few rows.
NO_FLOOR = 0
# Ten rows of 0/1 are 20% distinct: Clarify's type rule would read them as continuous; these tests name x categorical.
CATEGORICAL = {"x": False}


def values(section: dict[str, Any], column: str = "x", group: int = 0) -> dict[str, Any]:
    return {m["name"]: m["value"] for m in section["facets"][column][group]["metrics"]}


@pytest.fixture(scope="module")
def tiny_analysis() -> dict[str, Any]:
    return bias.analysis(TINY, "y", TINY["yhat"].to_numpy() == 1, [FACET], CATEGORICAL)


def test_pre_training_metrics_follow_their_formulas(tiny_analysis: dict[str, Any]) -> None:
    # GIVEN the tiny frame's label distributions Pa = (1/2, 1/2) and Pd = (3/4, 1/4), P = (Pa + Pd) / 2
    pa, pd_, p = np.array([0.5, 0.5]), np.array([0.75, 0.25]), np.array([0.625, 0.375])
    # WHEN analysed THEN each pre-training metric is its formula's value
    found = values(tiny_analysis["pre_training_bias_metrics"])
    assert found["CI"] == pytest.approx((6 - 4) / (6 + 4))  # (na - nd) / (na + nd)
    assert found["DPL"] == pytest.approx(3 / 6 - 1 / 4)  # na(1)/na - nd(1)/nd
    assert found["KL"] == pytest.approx(0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25))
    assert found["JS"] == pytest.approx(0.5 * (np.sum(pa * np.log(pa / p)) + np.sum(pd_ * np.log(pd_ / p))))
    assert found["LP"] == pytest.approx(math.sqrt(0.25**2 + 0.25**2))
    assert found["TVD"] == pytest.approx(0.5 * (0.25 + 0.25))
    assert found["KS"] == pytest.approx(0.25)
    assert sorted(found) == sorted(bias.PRE_TRAINING_DESCRIPTIONS)


def test_post_training_metrics_follow_their_formulas(tiny_analysis: dict[str, Any]) -> None:
    found = values(tiny_analysis["post_training_bias_metrics"])
    assert found["DPPL"] == pytest.approx(4 / 6 - 1 / 4)  # na^(1)/na - nd^(1)/nd
    assert found["DI"] == pytest.approx((1 / 4) / (4 / 6))  # (nd^(1)/nd) / (na^(1)/na)
    assert found["DCA"] == pytest.approx(3 / 4 - 1 / 1)  # na(1)/na^(1) - nd(1)/nd^(1)
    assert found["DCR"] == pytest.approx(3 / 3 - 3 / 2)  # nd(0)/nd^(0) - na(0)/na^(0)
    assert found["RD"] == pytest.approx(2 / 3 - 1 / 1)  # TPa/(TPa+FNa) - TPd/(TPd+FNd)
    assert found["SD"] == pytest.approx(3 / 3 - 1 / 3)  # TNd/(TNd+FPd) - TNa/(TNa+FPa)
    assert found["DAR"] == pytest.approx(2 / 4 - 1 / 1)  # TPa/na^(1) - TPd/nd^(1)
    assert found["DRR"] == pytest.approx(3 / 3 - 1 / 2)  # TNd/nd^(0) - TNa/na^(0)
    assert found["AD"] == pytest.approx(3 / 6 - 4 / 4)  # accuracy_a - accuracy_d
    assert found["TE"] == pytest.approx(0.0 - 1 / 2)  # FNd/FPd (0/0 is 0) - FNa/FPa
    # GE (alpha 2): benefits yhat - y + 1 are seven 1s, one 0 and two 2s; mean 1.1
    assert found["GE"] == pytest.approx((15 / 1.1**2 - 10) / (10 * 2 * 1))
    assert sorted(found) == sorted(bias.POST_TRAINING_DESCRIPTIONS)


def test_the_document_has_clarifys_analysis_json_shape(tiny_analysis: dict[str, Any]) -> None:
    for section in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        body = tiny_analysis[section]
        assert (body["label"], body["label_value_or_threshold"]) == ("y", "1")
        (group,) = body["facets"]["x"]
        assert group["value_or_threshold"] == "1"
        names = [m["name"] for m in group["metrics"]]
        assert names == sorted(names)  # Clarify lists a facet's metrics by name
        assert all(set(m) == {"name", "description", "value"} for m in group["metrics"])
    di = next(m for m in tiny_analysis["post_training_bias_metrics"]["facets"]["x"][0]["metrics"] if m["name"] == "DI")
    assert di["description"] == "Disparate Impact (DI)"


def test_the_gate_logic_reads_the_document_and_decides_on_di(tiny_analysis: dict[str, Any]) -> None:
    # GIVEN the tiny frame's DI of 0.375
    # WHEN the bias gate's own logic checks it against [0.8, 1.25], then against [0.3, 1.25]
    strict = check_bias(
        tiny_analysis, BiasGateSettings(minimum=0.8, maximum=1.25, min_facet_rows=NO_FLOOR), rows=len(TINY)
    )
    loose = check_bias(
        tiny_analysis, BiasGateSettings(minimum=0.3, maximum=1.25, min_facet_rows=NO_FLOOR), rows=len(TINY)
    )
    # THEN the first fails naming the facet and value, the second passes
    assert strict.passed is False and "x=1" in strict.reason and "0.375" in strict.reason
    assert loose.passed is True
    (facet,) = loose.facets
    assert (facet.facet, facet.value_or_threshold) == ("x", "1") and facet.value == pytest.approx(0.375)


def test_a_ratio_over_an_empty_count_is_infinite_and_fails_the_gate() -> None:
    # GIVEN facet a has no positive prediction, facet d has one
    frame = pd.DataFrame({"x": [0, 0, 1, 1], "y": [1, 0, 1, 0]})
    document = bias.analysis(frame, "y", np.array([False, False, True, False]), [FACET], CATEGORICAL)
    # THEN DI is infinite, written as Clarify writes it, and the gate treats it as not computable
    assert values(document["post_training_bias_metrics"])["DI"] == "Infinity"
    assert bias.metric_value({"value": "Infinity"}) == math.inf
    result = check_bias(document, BiasGateSettings(minimum=0.8, maximum=1.25, min_facet_rows=NO_FLOOR), rows=len(frame))
    assert result.passed is False and "could not be computed" in result.reason


def test_an_empty_facet_leaves_every_metric_without_value_but_with_the_error() -> None:
    # GIVEN no row has the facet's value
    document = bias.analysis(TINY, "y", TINY["yhat"].to_numpy() == 1, [bias.Facet("x", (7,))], CATEGORICAL)
    # THEN every metric comparing the facets has no value and Clarify's error; GE, over all rows, still has one
    for section in ("pre_training_bias_metrics", "post_training_bias_metrics"):
        metrics = [m for m in document[section]["facets"]["x"][0]["metrics"] if m["name"] != "GE"]
        assert all(m["value"] is None and m["error"] == "Facet set is empty" for m in metrics)
    assert isinstance(values(document["post_training_bias_metrics"])["GE"], float)


def test_a_continuous_facet_is_the_rows_above_its_threshold_named_as_clarifys_interval() -> None:
    # GIVEN ages, a float column (continuous for Clarify), and threshold 40
    frame = pd.DataFrame({"age": [25.0, 35.0, 45.0, 55.0, 65.0, None], "y": [1, 0, 1, 0, 0, 1]})
    rows = bias.facet_rows(frame, bias.Facet("age", (40,)))
    # THEN d is the rows above 40 (the missing age is in neither facet) and the group is named "(40, 65]"
    assert rows.continuous is True and rows.value_or_threshold == "(40, 65]"
    assert rows.in_d.tolist() == [False, False, True, True, True, False]
    assert rows.in_a.tolist() == [True, True, False, False, False, False]
    document = bias.analysis(frame, "y", np.array([True, False, True, False, True, True]), [bias.Facet("age", (40,))])
    assert values(document["pre_training_bias_metrics"], "age")["CI"] == pytest.approx((2 - 3) / 5)


def test_clarifys_type_rule_reads_a_few_distinct_integers_as_categories() -> None:
    many = pd.Series(np.arange(100) % 50, dtype="Int64")  # 50% distinct: continuous
    few = pd.Series(np.arange(1000) % 2, dtype="int64")  # 0.2% distinct: categorical
    assert bias.is_continuous(many, [40]) is True
    assert bias.is_continuous(few, [1]) is False
    assert bias.is_continuous(pd.Series([1.0, 2.0]), [1]) is True
    assert bias.is_continuous(many, [1, 2]) is False  # several values are categories
    # AND a configured reading overrides the rule: the same integer column, read as continuous
    assert bias.facet_rows(pd.DataFrame({"x": few}), bias.Facet("x", (0,)), continuous=True).in_d.sum() == 500


@pytest.mark.parametrize(
    ("facet", "message"),
    [
        (bias.Facet("missing", (1,)), "facet column 'missing' is not in the holdout"),
        (bias.Facet("x", ()), "has no value or threshold"),
    ],
)
def test_a_bad_facet_is_a_clear_error(facet: bias.Facet, message: str) -> None:
    with pytest.raises(bias.BiasInputError, match=message):
        bias.analysis(TINY, "y", TINY["yhat"].to_numpy() == 1, [facet])


def test_a_threshold_on_text_is_a_clear_error() -> None:
    frame = pd.DataFrame({"band": ["a", "b"], "y": [1, 0]})
    with pytest.raises(bias.BiasInputError, match="one numeric threshold on a numeric column"):
        bias.facet_rows(frame, bias.Facet("band", (1,)), continuous=True)


def test_the_local_run_reads_facets_and_gate_from_the_config_as_the_construct_renders_them() -> None:
    # GIVEN the dev config's training.bias
    config = load_config("dev").training.bias
    # WHEN the local run builds the analysis's facets and the gate Lambda's settings
    facets, gate = settings.bias_facets(config), settings.bias_gate_settings(config)
    # THEN they are the configured ones, the values the JSON numbers Clarify's analysis config carries
    assert facets == [bias.Facet("masculino", (1,)), bias.Facet("faixa_etaria", (3,))]
    assert gate == BiasGateSettings(
        metric="DI", stage="post_training", minimum=0.8, maximum=1.25, enabled=True, min_facet_rows=100
    )


def test_the_summary_table_has_one_line_for_the_bias_gate_and_one_for_shap() -> None:
    # GIVEN a recorded report with bias and explainability sections WHEN the summary table is printed
    report = json.loads((FIXTURES / "report.json").read_text())
    report |= json.loads((FIXTURES / "lifecycle-sections.json").read_text())
    lines = summary_table(report).splitlines()
    # THEN one line gives the gate's decision and each facet group's DI, one the top features by mean |SHAP|
    (gate,) = [line for line in lines if "bias gate (Clarify's metrics, holdout)" in line]
    assert "failed, DI in [0.8, 1.25]: masculino=1 0.910, idade_na_admissao=(40, 65] 1.310" in gate
    (shap,) = [line for line in lines if "SHAP importance (mean |SHAP|)" in line]
    assert "salario 0.410, idade_na_admissao 0.220, masculino 0.030" in shap


def test_the_positive_label_is_the_configured_one() -> None:
    # GIVEN 0 as the positive (favourable) label value, and the predicted label values 0/1
    document = bias.analysis(TINY, "y", TINY["yhat"].to_numpy(), [FACET], CATEGORICAL, positive_labels=(0,))
    # THEN the rates are of label 0: DPL = na(0)/na - nd(0)/nd, DI = (nd^(0)/nd) / (na^(0)/na)
    assert document["pre_training_bias_metrics"]["label_value_or_threshold"] == "0"
    assert values(document["pre_training_bias_metrics"])["DPL"] == pytest.approx(3 / 6 - 3 / 4)
    assert values(document["post_training_bias_metrics"])["DI"] == pytest.approx((3 / 4) / (2 / 6))
