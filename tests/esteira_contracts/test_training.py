"""The training Lambdas' contracts: what the construct renders parses back the same, and the results' payloads."""

import json

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.training import (
    MAX_JOB_NAME_PREFIX_LENGTH,
    Champion,
    EvaluateResult,
    EvaluateSettings,
    PrepareResult,
    PrepareSettings,
)

TOKEN_BUCKET = "${Token[TOKEN.123]}"


def prepare_settings(**overrides: str) -> PrepareSettings:
    values = {
        "curated_uri": "s3://curated/extractions/",
        "artifacts_bucket": "artifacts",
        "model_prefix": "models/",
        "checkpoint_prefix": "checkpoints/",
        "job_name_prefix": "esteira-dev",
    }
    return PrepareSettings(**(values | overrides))


def evaluate_settings(**overrides: object) -> EvaluateSettings:
    values: dict[str, object] = {
        "model_package_group": "esteira-dev-model",
        "gate_metric": "auc",
        "gate_threshold": 0.8,
        "min_improvement": 0.0,
        "artifacts_bucket": "artifacts",
        "model_prefix": "models/",
    }
    return EvaluateSettings(**(values | overrides))  # type: ignore[arg-type]


def test_the_variable_names_are_the_lambdas() -> None:
    assert PrepareSettings.names() == (
        "CURATED_URI",
        "ARTIFACTS_BUCKET",
        "MODEL_PREFIX",
        "CHECKPOINT_PREFIX",
        "DATASETS_PREFIX",
        "PREDICTIONS_BUCKET",
        "BATCH_INPUT_PREFIX",
        "BASELINES_PREFIX",
        "MODEL_PACKAGE_GROUP",
        "JOB_NAME_PREFIX",
    )
    assert EvaluateSettings.names() == (
        "MODEL_PACKAGE_GROUP",
        "GATE_METRIC",
        "GATE_THRESHOLD",
        "MIN_IMPROVEMENT",
        "GATE_DIRECTION",
        "ARTIFACTS_BUCKET",
        "MODEL_PREFIX",
    )
    assert PrepareSettings.required_names() == ("CURATED_URI", "ARTIFACTS_BUCKET", "JOB_NAME_PREFIX")
    assert EvaluateSettings.required_names() == ("MODEL_PACKAGE_GROUP", "GATE_THRESHOLD", "ARTIFACTS_BUCKET")


@pytest.mark.parametrize("settings", [prepare_settings(), evaluate_settings(), evaluate_settings(direction="minimize")])
def test_what_the_construct_renders_the_handler_parses_back(settings: PrepareSettings | EvaluateSettings) -> None:
    # GIVEN settings as the construct builds them from config
    # WHEN they are rendered into the environment and parsed by the handler
    # THEN the handler has the same settings
    assert type(settings).from_env(settings.to_env()) == settings


def test_evaluate_renders_no_direction_unless_one_is_given() -> None:
    # The direction follows from the metric; the template sets GATE_DIRECTION only when config chooses one.
    assert "GATE_DIRECTION" not in evaluate_settings().to_env()
    assert evaluate_settings().to_env()["GATE_THRESHOLD"] == "0.8"


@pytest.mark.parametrize(
    ("metric", "direction", "maximize"),
    [("auc", None, True), ("validation:rmse", None, False), ("logloss", None, False), ("rmse", "maximize", True)],
)
def test_the_direction_follows_the_metric_unless_given(metric: str, direction: str | None, maximize: bool) -> None:
    settings = evaluate_settings(gate_metric=metric, direction=direction)
    assert settings.maximize is maximize
    assert not settings.gate_metric.startswith("validation:")


def test_a_direction_is_read_in_any_case() -> None:
    env = evaluate_settings().to_env() | {"GATE_DIRECTION": "Minimize"}
    assert EvaluateSettings.from_env(env).effective_direction == "minimize"


def test_a_deploy_time_bucket_is_rendered_as_it_is() -> None:
    # GIVEN the curated URI and bucket as CDK tokens (known at deploy time only)
    settings = prepare_settings(curated_uri=f"s3://{TOKEN_BUCKET}/extractions/", artifacts_bucket=TOKEN_BUCKET)
    # WHEN rendered
    env = settings.to_env()
    # THEN the tokens pass through unchanged (CloudFormation resolves them)
    assert env["CURATED_URI"] == f"s3://{TOKEN_BUCKET}/extractions/"
    assert env["ARTIFACTS_BUCKET"] == TOKEN_BUCKET


def test_a_curated_uri_is_a_folder() -> None:
    assert prepare_settings(curated_uri="s3://curated/extractions").curated_uri == "s3://curated/extractions/"
    assert prepare_settings(curated_uri="s3://curated").curated_uri == "s3://curated/"


def test_a_job_name_prefix_too_long_fails_when_rendered() -> None:
    # GIVEN a prefix one character too long for a 63-character job name
    settings = prepare_settings(job_name_prefix="p" * (MAX_JOB_NAME_PREFIX_LENGTH + 1))
    # WHEN the construct renders it
    # THEN synth fails naming the variable and the limit
    with pytest.raises(SettingsError, match=rf"JOB_NAME_PREFIX=.* at most {MAX_JOB_NAME_PREFIX_LENGTH} characters"):
        settings.to_env()


def test_results_are_the_payloads_the_state_machine_reads() -> None:
    prepared = PrepareResult(
        training_job_name="esteira-dev-20250314-020700-a1b2c3",
        tuning_job_name=None,
        train_uri="s3://curated/extractions/",
        manifest_uri="s3://curated/extractions/_manifests/dt=2025-03-14/jr_1.json",
        output_uri="s3://artifacts/models/",
        checkpoint_uri="s3://artifacts/checkpoints/esteira-dev-20250314-020700-a1b2c3/",
        rows=10,
        target="churned",
        run_id="jr_1",
        dataset_run_id="esteira-dev-20250314-020700-a1b2c3",
        datasets_uri="s3://artifacts/datasets/",
        batch_input_uri="s3://predictions/batch-input/",
        dataset_uri="s3://artifacts/datasets/run_id=esteira-dev-20250314-020700-a1b2c3/",
        dataset_manifest_bucket="artifacts",
        dataset_manifest_key="datasets/run_id=esteira-dev-20250314-020700-a1b2c3/manifest.json",
        train_channel_uri="s3://artifacts/datasets/run_id=esteira-dev-20250314-020700-a1b2c3/train/",
        validation_channel_uri="s3://artifacts/datasets/run_id=esteira-dev-20250314-020700-a1b2c3/validation/",
        holdout_channel_uri="s3://artifacts/datasets/run_id=esteira-dev-20250314-020700-a1b2c3/holdout/",
        batch_run_input_uri="s3://predictions/batch-input/run_id=esteira-dev-20250314-020700-a1b2c3/",
        baseline_input_uri="s3://artifacts/datasets/run_id=esteira-dev-20250314-020700-a1b2c3/baseline/",
        baseline_uri="s3://artifacts/monitoring/baselines/run_id=esteira-dev-20250314-020700-a1b2c3/",
        baseline_constraints_uri="s3://artifacts/monitoring/baselines/run_id=esteira-dev-20250314-020700-a1b2c3/constraints.json",
        baseline_statistics_uri="s3://artifacts/monitoring/baselines/run_id=esteira-dev-20250314-020700-a1b2c3/statistics.json",
        champion_package_arn=None,
        champion_model_uri=None,
    )
    assert list(prepared.to_payload()) == [
        "training_job_name",
        "tuning_job_name",
        "train_uri",
        "manifest_uri",
        "output_uri",
        "checkpoint_uri",
        "rows",
        "target",
        "run_id",
        "dataset_run_id",
        "datasets_uri",
        "batch_input_uri",
        "dataset_uri",
        "dataset_manifest_bucket",
        "dataset_manifest_key",
        "train_channel_uri",
        "validation_channel_uri",
        "holdout_channel_uri",
        "batch_run_input_uri",
        "baseline_input_uri",
        "baseline_uri",
        "baseline_constraints_uri",
        "baseline_statistics_uri",
        "champion_package_arn",
        "champion_model_uri",
    ]
    evaluated = EvaluateResult(
        passed=True,
        reason="auc 0.9 >= threshold 0.8",
        metrics={"auc": 0.9},
        metric_name="auc",
        metric_value=0.9,
        champion=Champion(arn="arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/1", metric_value=None),
        evaluation_uri="s3://artifacts/models/job/evaluation.json",
        evaluation_source="s3://artifacts/models/job/output/output.tar.gz",
        image_digest="unknown",
        customer_metadata={"metric.auc": "0.9"},
    )
    payload = evaluated.to_payload()
    assert payload["champion"] == {
        "arn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/1",
        "metric_value": None,
    }
    json.dumps(payload, allow_nan=False)  # Step Functions takes strict JSON only


# --- Prepare's settings, parsed from the environment ------------------------------------------------------------------


def test_settings_name_every_bad_variable() -> None:
    # GIVEN an environment with a bad URI, a bucket URI instead of a name and an illegal prefix
    env = {"CURATED_URI": "bucket/x", "ARTIFACTS_BUCKET": "s3://artifacts", "JOB_NAME_PREFIX": "esteira_dev"}
    # WHEN settings are read
    # THEN one SettingsError names all three
    with pytest.raises(SettingsError) as caught:
        PrepareSettings.from_env(env)
    assert all(name in str(caught.value) for name in ("CURATED_URI", "ARTIFACTS_BUCKET", "JOB_NAME_PREFIX"))


def test_settings_reject_a_prefix_too_long_for_job_names() -> None:
    env = {"CURATED_URI": "s3://b/c/", "ARTIFACTS_BUCKET": "artifacts", "JOB_NAME_PREFIX": "p" * 41}
    with pytest.raises(SettingsError, match="at most 40"):
        PrepareSettings.from_env(env)


def test_settings_defaults_and_normalisation() -> None:
    settings = PrepareSettings.from_env(
        {"CURATED_URI": "s3://b/extractions/employees", "ARTIFACTS_BUCKET": "artifacts", "JOB_NAME_PREFIX": "e"}
    )
    assert settings.curated_uri == "s3://b/extractions/employees/"
    assert (settings.model_prefix, settings.checkpoint_prefix) == ("models/", "checkpoints/")
