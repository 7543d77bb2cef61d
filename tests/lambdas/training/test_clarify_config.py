"""The Clarify config writer on moto S3 over HTTP: the two analysis configs, the names it hands the state machine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.bias import ClarifySettings
from tests.lambdas.helpers import lambda_context
from tests.lambdas.training.conftest import SetEnv
from tests.lambdas.training.helpers import TrainingResources
from training.clarify.handler import handler
from training.clarify.logic import job_names
from training.errors import InvalidRequest

TRAINING_JOB = "esteira-dev-20261124-020000-a1b2c3"
HEADERS = ("matricula", "salario", "idade_na_admissao", "masculino", "cargo", "desligado_em_12_meses")


def settings(bucket: str = "artifacts-x", **overrides: Any) -> ClarifySettings:
    values: dict[str, Any] = {
        "artifacts_bucket": bucket,
        "job_name_prefix": "esteira-dev",
        "headers": HEADERS,
        "label": "desligado_em_12_meses",
        "excluded_columns": ("matricula", "cargo"),
        "facets": ("masculino=1", "idade_na_admissao=40"),
        "predictor_instance_type": "ml.m5.large",
    }
    return ClarifySettings(**(values | overrides))


def event(bucket: str) -> dict[str, str]:
    return {
        "training_job_name": TRAINING_JOB,
        "run_id": TRAINING_JOB,
        "dataset_uri": f"s3://{bucket}/datasets/run_id={TRAINING_JOB}/holdout",
    }


def read_json(aws: TrainingResources, uri: str) -> dict[str, Any]:
    key = uri.split("/", 3)[3]
    loaded: dict[str, Any] = json.loads(aws.s3.get_object(Bucket=aws.artifacts_bucket, Key=key)["Body"].read())
    return loaded


def test_writes_the_bias_and_explainability_configs_under_the_runs_clarify_prefix(
    aws: TrainingResources, set_env: SetEnv
) -> None:
    # GIVEN the writer's environment for this bucket
    set_env(settings(aws.artifacts_bucket).to_env())
    # WHEN it runs for a training run
    result = handler(event(aws.artifacts_bucket), lambda_context())
    # THEN both configs are under monitoring/clarify/run_id=<run>/, with the analyses' URIs beside them
    root = f"s3://{aws.artifacts_bucket}/monitoring/clarify/run_id={TRAINING_JOB}/"
    assert result["bias_config_uri"] == f"{root}bias/analysis_config.json"
    assert result["bias_analysis_uri"] == f"{root}bias/analysis.json"
    assert result["explainability_analysis_uri"] == f"{root}explainability/analysis.json"
    assert result["dataset_uri"].endswith("/holdout/")
    bias = read_json(aws, result["bias_config_uri"])
    # The holdout is Parquet with the spec's columns; only the features reach the model, in their order.
    assert bias["dataset_type"] == "application/x-parquet"
    assert bias["headers"] == list(HEADERS)
    assert bias["excluded_columns"] == ["matricula", "cargo"]
    assert bias["facet"] == [
        {"name_or_index": "masculino", "value_or_threshold": [1]},
        {"name_or_index": "idade_na_admissao", "value_or_threshold": [40]},
    ]
    assert bias["label_values_or_threshold"] == [1]
    assert bias["methods"] == {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}}
    # Our container answers "label,score" to CSV: the score is column 1, cut at the probability threshold.
    assert bias["predictor"] == {
        "model_name": TRAINING_JOB,
        "instance_type": "ml.m5.large",
        "initial_instance_count": 1,
        "content_type": "text/csv",
        "accept_type": "text/csv",
        "probability": 1,
        "endpoint_name_prefix": "esteira-dev-clarify",
    }
    assert bias["probability_threshold"] == 0.5
    shap = read_json(aws, result["explainability_config_uri"])["methods"]
    assert shap == {
        "shap": {
            "num_samples": 100,
            "agg_method": "mean_abs",
            "seed": 0,
            "use_logit": False,
            "save_local_shap_values": False,
        }
    }


def test_names_the_model_and_jobs_under_the_prefix_within_sagemakers_63_characters() -> None:
    prefix = "e" * 40  # the longest prefix a training job name allows
    training_job = f"{prefix}-20261124-020000-a1b2c3"
    bias, explainability = job_names(settings(job_name_prefix=prefix), training_job)
    assert bias == f"{prefix}-b20261124020000a1b2c3"
    assert explainability == f"{prefix}-e20261124020000a1b2c3"
    assert max(len(bias), len(explainability)) <= len(training_job) <= 63


def test_refuses_a_training_job_of_another_prefix() -> None:
    with pytest.raises(InvalidRequest, match="not named under 'esteira-dev-'"):
        job_names(settings(), "esteira-prod-20261124-020000-a1b2c3")


def test_settings_refuse_a_facet_that_is_not_a_column_or_is_the_label() -> None:
    with pytest.raises(SettingsError, match="FACETS 'faixa_etaria' must be one of HEADERS other than LABEL"):
        settings(facets=("faixa_etaria=3",)).to_env()
    with pytest.raises(SettingsError, match="FACETS 'desligado_em_12_meses'"):
        settings(facets=("desligado_em_12_meses=1",)).to_env()


def test_an_excluded_column_may_be_a_facet_clarify_groups_by_it_and_never_sends_it_to_the_model() -> None:
    # GIVEN the age bands, a column of the holdout the model does not take (excluded), as a facet
    clarify = settings(
        headers=(*HEADERS, "faixa_etaria"),
        excluded_columns=("matricula", "cargo", "faixa_etaria"),
        facets=("faixa_etaria=3",),
    )
    # THEN the settings round-trip, the facet is a category value, and the model's input leaves the column out
    assert ClarifySettings.from_env(clarify.to_env()) == clarify
    assert clarify.facet_config() == [{"name_or_index": "faixa_etaria", "value_or_threshold": [3]}]
    assert "faixa_etaria" not in clarify.features
