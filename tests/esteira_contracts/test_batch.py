"""The launcher's and consumer's contracts: what the construct renders is what the handler parses back."""

from __future__ import annotations

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.batch import MAX_TRANSFORM_BUFFER_MB, ConsumerSettings, LauncherSettings

ROLE = "arn:aws:iam::123456789012:role/esteira-dev-transform"
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/esteira-dev-model/3"
TOKEN = "${Token[TOKEN.123]}"


def launcher(**overrides: object) -> LauncherSettings:
    values: dict[str, object] = {
        "model_package_group": "esteira-dev-model",
        "role_arn": ROLE,
        "bucket": "esteira-dev-predictions",
        "artifacts_bucket": "esteira-dev-artifacts",
        "instance_type": "ml.m5.large",
        "env_name": "dev",
    }
    return LauncherSettings(**(values | overrides))  # type: ignore[arg-type]


def test_launcher_round_trip_with_every_setting() -> None:
    # GIVEN a launcher contract with every setting given
    settings = launcher(
        model_package_arn=ARN,
        input_prefix="in/",
        output_prefix="out/",
        instance_count=2,
        max_payload_mb=10,
        max_concurrent_transforms=10,
        invocation_timeout_seconds=600,
        invocation_max_retries=0,
        kms_key_id="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        run_id_prefix="esteira-dev",
        subnet_ids=("subnet-a", "subnet-b"),
        security_group_ids=("sg-a",),
    )
    # WHEN rendered and parsed back THEN it is the same contract, under the documented variable names
    env = settings.to_env()
    assert LauncherSettings.from_env(env) == settings
    assert env["SUBNET_IDS"] == "subnet-a,subnet-b"
    assert env["INVOCATION_MAX_RETRIES"] == "0"
    assert set(env) == set(LauncherSettings.names())


def test_launcher_defaults() -> None:
    # GIVEN only the required variables WHEN parsed THEN the defaults apply, the run id prefix from the env name
    env = launcher().to_env()
    assert set(LauncherSettings.required_names()) == {
        "MODEL_PACKAGE_GROUP",
        "SAGEMAKER_ROLE_ARN",
        "PREDICTIONS_BUCKET",
        "ARTIFACTS_BUCKET",
        "INSTANCE_TYPE",
        "ENV_NAME",
    }
    settings = LauncherSettings.from_env({name: env[name] for name in LauncherSettings.required_names()})
    assert (settings.input_prefix, settings.output_prefix) == ("batch-input/", "batch-output/")
    assert (settings.instance_count, settings.max_payload_mb, settings.max_concurrent_transforms) == (1, 6, 4)
    assert settings.run_id_prefix == "esteira-dev"
    assert settings.model_package_arn is None and settings.subnet_ids == ()


def test_launcher_normalizes_prefixes() -> None:
    env = launcher().to_env() | {"INPUT_PREFIX": "/daily", "OUTPUT_PREFIX": "scored//"}
    settings = LauncherSettings.from_env(env)
    assert (settings.input_prefix, settings.output_prefix) == ("daily/", "scored/")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MODEL_PACKAGE_GROUP", "bad_group", "MODEL_PACKAGE_GROUP='bad_group' does not match"),
        ("MODEL_PACKAGE_ARN", "churn/3", "MODEL_PACKAGE_ARN='churn/3' is not a versioned model package ARN"),
        ("SAGEMAKER_ROLE_ARN", "esteira-role", "SAGEMAKER_ROLE_ARN='esteira-role' is not an IAM role ARN"),
        ("PREDICTIONS_BUCKET", "s3://bucket", "PREDICTIONS_BUCKET='s3://bucket' is not a bucket name"),
        ("INSTANCE_COUNT", "0", "INSTANCE_COUNT=0 must be >= 1"),
        ("INSTANCE_COUNT", "two", "INSTANCE_COUNT='two' is not an integer"),
        ("MAX_PAYLOAD_MB", "101", "MAX_PAYLOAD_MB=101 must be <= 100"),
        ("INVOCATION_TIMEOUT_SECONDS", "0", "INVOCATION_TIMEOUT_SECONDS=0 must be >= 1"),
        ("INVOCATION_MAX_RETRIES", "-1", "INVOCATION_MAX_RETRIES=-1 must be >= 0"),
        ("MAX_CONCURRENT_TRANSFORMS", "50", "MAX_CONCURRENT_TRANSFORMS * MAX_PAYLOAD_MB = 50 * 6 MB exceeds"),
        ("SUBNET_IDS", "subnet-a", "SUBNET_IDS and SECURITY_GROUP_IDS go together"),
        ("ENV_NAME", "", "ENV_NAME is required"),
    ],
)
def test_launcher_errors_name_the_variable(variable: str, value: str, message: str) -> None:
    # GIVEN a launcher environment with one bad value WHEN parsed THEN the error names that variable
    env = launcher().to_env() | {variable: value}
    with pytest.raises(SettingsError, match=message.replace("*", r"\*")) as caught:
        LauncherSettings.from_env(env)
    assert str(caught.value).startswith("launcher settings: ")


def test_launcher_buffer_limit_is_sagemakers() -> None:
    # GIVEN payload x concurrency exactly at SageMaker's limit WHEN parsed THEN it is accepted
    env = launcher(max_payload_mb=10, max_concurrent_transforms=10).to_env()
    assert LauncherSettings.from_env(env).max_payload_mb * 10 == MAX_TRANSFORM_BUFFER_MB


def test_rendering_refuses_a_bad_concrete_value_even_beside_tokens() -> None:
    # GIVEN deploy-time tokens for the role and bucket, and a concrete value the handler would refuse
    settings = launcher(role_arn=TOKEN, bucket=TOKEN, model_package_group="bad_group")
    # WHEN rendered (at synth) THEN the bad value is named, the tokens are not
    with pytest.raises(SettingsError, match="MODEL_PACKAGE_GROUP='bad_group'") as caught:
        settings.to_env()
    assert "SAGEMAKER_ROLE_ARN" not in str(caught.value)
    # AND with good concrete values the tokens are rendered as they are
    assert launcher(role_arn=TOKEN, bucket=TOKEN).to_env()["PREDICTIONS_BUCKET"] == TOKEN


def test_rendering_checks_cross_field_rules_when_no_value_is_a_token() -> None:
    with pytest.raises(SettingsError, match="SUBNET_IDS and SECURITY_GROUP_IDS go together"):
        launcher(subnet_ids=("subnet-a",)).to_env()


def test_consumer_round_trip_and_defaults() -> None:
    settings = ConsumerSettings(predictions_table="esteira-dev-predictions", idempotency_table="esteira-dev-idem")
    env = settings.to_env()
    assert env == {
        "PREDICTIONS_TABLE": "esteira-dev-predictions",
        "IDEMPOTENCY_TABLE": "esteira-dev-idem",
        "IDEMPOTENCY_TTL_SECONDS": "86400",
    }
    assert ConsumerSettings.from_env(env) == settings
    assert set(ConsumerSettings.required_names()) == {"PREDICTIONS_TABLE", "IDEMPOTENCY_TABLE"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PREDICTIONS_TABLE", "", "PREDICTIONS_TABLE is required"),
        ("IDEMPOTENCY_TABLE", "a b", "IDEMPOTENCY_TABLE='a b' is not a DynamoDB table name"),
        ("IDEMPOTENCY_TTL_SECONDS", "59", "IDEMPOTENCY_TTL_SECONDS=59 must be >= 60"),
    ],
)
def test_consumer_errors_name_the_variable(variable: str, value: str, message: str) -> None:
    env = {"PREDICTIONS_TABLE": "p-table", "IDEMPOTENCY_TABLE": "i-table", variable: value}
    with pytest.raises(SettingsError, match=message) as caught:
        ConsumerSettings.from_env(env)
    assert str(caught.value).startswith("consumer settings: ")
