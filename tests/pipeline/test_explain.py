"""SHAP values from XGBoost's pred_contribs on the shared small trained models (tests/pipeline/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from esteira_model.predictor import Predictor
from pipeline import explain
from tests.pipeline.smoke_models import OBJECTIVES, TaskModel


@pytest.mark.parametrize("task", list(OBJECTIVES))
def test_each_rows_contributions_sum_to_the_models_margin(task: str, task_models: dict[str, TaskModel]) -> None:
    # GIVEN a model the real bin/train wrote, loaded by the container's loader, and its holdout rows
    trained = task_models[task]
    predictor = Predictor.load(trained.model_dir, nthread=0)
    features = explain.features_matrix(predictor, trained.holdout)
    # WHEN explained
    found = explain.contributions(predictor, features)
    # THEN per row (and per class), the features' contributions plus the bias are the booster's margin
    margin = np.asarray(
        predictor.booster.predict(xgb.DMatrix(features, missing=np.nan), output_margin=True, validate_features=False)
    )
    expected = margin if margin.ndim == 2 else margin[:, np.newaxis]
    assert found.values.shape == (len(trained.holdout), expected.shape[1], len(predictor.schema.names))
    np.testing.assert_allclose(found.margins, expected, rtol=1e-5, atol=1e-5)
    # AND for a binary model that margin is the served probability's log-odds
    if task == "binary":
        probability = predictor.predict(features).scores
        np.testing.assert_allclose(1 / (1 + np.exp(-found.margins[:, 0])), probability, rtol=1e-5, atol=1e-6)


def test_the_analysis_has_clarifys_explainability_shape(task_models: dict[str, TaskModel]) -> None:
    trained = task_models["binary"]
    predictor = Predictor.load(trained.model_dir, nthread=0)
    found = explain.contributions(predictor, explain.features_matrix(predictor, trained.holdout))
    # WHEN written as Clarify's analysis.json and as the report's section
    document = explain.analysis(found)
    section = explain.report_section(found, "binary", "/lake/explainability/analysis.json", len(trained.holdout))
    # THEN global_shap_values are each feature's mean |SHAP value|, expected_value the bias
    label0 = document["explanations"]["kernel_shap"]["label0"]
    assert list(label0["global_shap_values"]) == list(predictor.schema.names)
    for index, name in enumerate(predictor.schema.names):
        assert label0["global_shap_values"][name] == pytest.approx(np.abs(found.values[:, 0, index]).mean())
    assert label0["expected_value"] == pytest.approx(float(found.bias[0, 0]))
    # AND the report ranks the features, largest first; the learnable signal's feature outranks pure noise
    ranked = [item["feature"] for item in section["importance"]]
    values = [item["mean_abs_shap"] for item in section["importance"]]
    assert values == sorted(values, reverse=True) and sorted(ranked) == sorted(predictor.schema.names)
    assert ranked.index("f0") < ranked.index("f3")  # make_frame's label depends on f0, never on f3
    assert section["rows"] == section["holdout_rows"] == len(trained.holdout)


def test_a_holdout_over_the_limit_is_explained_on_a_seeded_sample_in_holdout_order() -> None:
    # GIVEN 10 rows whose first column numbers them
    features = np.arange(10, dtype=np.float64).repeat(2).reshape(10, 2)
    # WHEN sampled to 4 rows, twice with one seed and once with another
    first, again, other = (explain.sample(features, seed, limit=4) for seed in (7, 7, 8))
    # THEN 4 distinct rows in holdout order, the same for a seed; a holdout within the limit is kept whole
    assert first.shape == (4, 2) and len(set(first[:, 0])) == 4 and list(first[:, 0]) == sorted(first[:, 0])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert explain.sample(features, 7, limit=10) is features


def test_a_multiclass_model_gets_one_label_per_class(task_models: dict[str, TaskModel]) -> None:
    trained = task_models["multiclass"]
    predictor = Predictor.load(trained.model_dir, nthread=0)
    found = explain.contributions(predictor, explain.features_matrix(predictor, trained.holdout))
    labels = explain.analysis(found)["explanations"]["kernel_shap"]
    assert list(labels) == [f"label{k}" for k in range(len(predictor.schema.classes))]
