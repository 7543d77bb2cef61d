"""Launcher: model from the registry's latest Approved package or the pinned (promoted) one, transform job request
shape, settings. Which run it scores, and when it refuses: test_launcher_dataset_run.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from batch.launcher import logic
from batch.launcher.handler import handler
from common import clients
from common.runs import InvalidRunIdError, new_run_id, run_sort_key, validate_run_id
from esteira_contracts import SettingsError
from esteira_contracts.batch import LauncherSettings
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import lambda_context
from tests.lambdas.launcher_world import (
    INPUT_RUN,
    KMS,
    NEWER_INPUT_RUN,
    ROLE,
    bucket_for,
    launcher_env,
    make_registry,
    new_group,
    package_arn,
    put_run,
)


@pytest.fixture
def registry(aws_env: str) -> tuple[Any, str]:
    """A model package group with Approved, Pending and Rejected versions, and a second group (launcher_world)."""
    group = new_group()
    return make_registry(group), group


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_latest_approved_package_is_resolved(registry: tuple[Any, str]) -> None:
    # GIVEN versions 1-2 Approved, 3 Pending, 4 Rejected, and a newer Approved package in another group
    sagemaker, group = registry
    # WHEN the latest approved package is resolved THEN it is version 2 of this group
    assert logic.latest_approved_package(sagemaker, group).endswith(f":model-package/{group}/2")


def test_no_approved_package_is_a_named_error(aws_env: str) -> None:
    # GIVEN a group with only a pending package
    sagemaker = clients.sagemaker()
    sagemaker.create_model_package_group(ModelPackageGroupName="empty-group")
    sagemaker.create_model_package(
        ModelPackageGroupName="empty-group",
        InferenceSpecification={
            "Containers": [{"Image": "img"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="PendingManualApproval",
    )
    # WHEN resolved THEN a NoApprovedModelPackageError says what to do
    with pytest.raises(logic.NoApprovedModelPackageError, match="'empty-group' has no Approved model package"):
        logic.latest_approved_package(sagemaker, "empty-group")


def test_launch_creates_the_model_and_the_transform_job(
    registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the registry and the launcher's environment (with a VPC)
    sagemaker, group = registry
    use_env(monkeypatch, launcher_env(group, SUBNET_IDS="subnet-a, subnet-b", SECURITY_GROUP_IDS="sg-1"))
    jobs = count_calls(sagemaker, "CreateTransformJob")
    model_requests = count_calls(sagemaker, "CreateModel")
    # WHEN launched on demand for one batch-input run
    out = handler({"input_run_id": INPUT_RUN}, lambda_context())
    # THEN a SageMaker model was created from the approved package, with the role and the VPC
    model = sagemaker.describe_model(ModelName=out["model_name"])
    assert out["model_name"] == f"{group}-v2"
    assert out["source"] == "latest-approved"
    assert model["Containers"] == [{"ModelPackageName": out["model_package_arn"]}]
    assert model["ExecutionRoleArn"] == ROLE
    assert model["VpcConfig"] == {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-1"]}
    # AND it was asked for with network isolation (moto 5.2.5 accepts the flag but does not store it)
    [model_request] = model_requests
    assert model_request["EnableNetworkIsolation"] is True
    assert model_request["VpcConfig"] == model["VpcConfig"]
    # AND the transform job request has the agreed shape
    [job] = jobs
    run_id = out["run_id"]
    assert validate_run_id(run_id).startswith("esteira-dev-")
    assert out["status"] == "started" and (out["input_run_id"], out["input_rule"]) == (INPUT_RUN, "named")
    bucket = bucket_for(group)
    assert job == {
        "TransformJobName": run_id,
        "ModelName": f"{group}-v2",
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": 6,
        "MaxConcurrentTransforms": 8,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/batch-input/run_id={INPUT_RUN}/",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{bucket}/batch-output/{run_id}/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
            "KmsKeyId": KMS,
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeKmsKeyId": KMS},
        "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"},
        "Tags": [
            {"Key": "project", "Value": "esteira"},
            {"Key": "env", "Value": "dev"},
            {"Key": "run_id", "Value": run_id},
        ],
    }
    # AND SageMaker (moto) holds the job as requested
    described = sagemaker.describe_transform_job(TransformJobName=out["run_id"])
    assert described["ModelName"] == out["model_name"]
    assert described["DataProcessing"] == job["DataProcessing"]
    assert described["TransformOutput"]["S3OutputPath"] == out["output_uri"]


def test_scheduled_launch_scores_the_packages_own_run_and_reuses_the_model(
    registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a model already created for the approved package (trained here on INPUT_RUN), and a newer complete run
    _, group = registry
    use_env(monkeypatch, launcher_env(group, RUN_ID_PREFIX="esteira-dev"))
    sagemaker = clients.sagemaker()
    first_creates = count_calls(sagemaker, "CreateModel")
    handler({"input_run_id": INPUT_RUN}, lambda_context())
    put_run(group, NEWER_INPUT_RUN)
    creates = count_calls(sagemaker, "CreateModel")
    # WHEN the schedule fires (an EventBridge scheduled event, no constant input)
    out = handler({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}, lambda_context())
    # THEN exactly the package's own run is scored (not the newer one: it belongs to no model yet), fresh run id
    assert out["input_uri"] == f"s3://{bucket_for(group)}/batch-input/run_id={INPUT_RUN}/"
    assert (out["input_run_id"], out["input_rule"], out["package_run_id"]) == (INPUT_RUN, "package-run", INPUT_RUN)
    assert validate_run_id(out["run_id"]).startswith("esteira-dev-")
    assert creates == []
    # AND the model, created once without a VPC (this env has no subnets), runs network-isolated
    [model_request] = first_creates
    assert model_request["EnableNetworkIsolation"] is True
    assert "VpcConfig" not in model_request


def test_the_registered_package_named_by_the_event_is_scored(
    registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an unpinned environment and the state machine naming approved version 1 (not the newest, 2)
    _, group = registry
    use_env(monkeypatch, launcher_env(group))
    # WHEN launched with it
    out = handler({"input_run_id": INPUT_RUN, "model_package_arn": package_arn(group, 1)}, lambda_context())
    # THEN that version scores the run
    assert (out["model_package_arn"], out["source"]) == (package_arn(group, 1), "registered")


def test_pinned_package_is_used_even_when_a_newer_one_is_approved(
    registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN versions 1-2 Approved and the environment pinned to version 1 (the package its endpoint serves)
    sagemaker, group = registry
    use_env(monkeypatch, launcher_env(group, MODEL_PACKAGE_ARN=package_arn(group, 1)))
    jobs = count_calls(sagemaker, "CreateTransformJob")
    # WHEN launched
    out = handler({"input_run_id": INPUT_RUN}, lambda_context())
    # THEN version 1 is scored, not the newer approved version 2, and the result says the pin chose it
    assert out["model_package_arn"] == package_arn(group, 1)
    assert out["source"] == "pinned"
    assert out["model_name"] == f"{group}-v1"
    assert sagemaker.describe_model(ModelName=f"{group}-v1")["Containers"] == [
        {"ModelPackageName": package_arn(group, 1)}
    ]
    [job] = jobs
    assert job["ModelName"] == f"{group}-v1"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (3, "is PendingManualApproval: the package awaits approval"),
        (4, "is Rejected: the promoted package was rejected; the pipeline rolls back, then batch follows"),
    ],
    ids=["pending", "rejected"],
)
def test_pinned_package_that_is_not_approved_is_refused(
    registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch, version: int, message: str
) -> None:
    # GIVEN the environment pinned to a package that is pending (3) or rejected (4)
    sagemaker, group = registry
    use_env(monkeypatch, launcher_env(group, MODEL_PACKAGE_ARN=package_arn(group, version)))
    models, jobs = count_calls(sagemaker, "CreateModel"), count_calls(sagemaker, "CreateTransformJob")
    # WHEN launched THEN a named error names the ARN and its status
    with pytest.raises(logic.ModelPackageNotApprovedError, match=f"{package_arn(group, version)}.*{message}"):
        handler({"input_run_id": INPUT_RUN}, lambda_context())
    # AND neither a model nor a transform job was created
    assert (models, jobs) == ([], [])


def test_unknown_pinned_package_is_a_named_error(registry: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the environment pinned to a version that the group does not hold
    sagemaker, group = registry
    use_env(monkeypatch, launcher_env(group, MODEL_PACKAGE_ARN=package_arn(group, 99)))
    jobs = count_calls(sagemaker, "CreateTransformJob")
    # WHEN launched THEN a named error names the ARN, and no job starts
    with pytest.raises(logic.ModelPackageNotFoundError, match=f"{package_arn(group, 99)} .*was not found"):
        handler({"input_run_id": INPUT_RUN}, lambda_context())
    assert jobs == []


@pytest.mark.parametrize(
    "value",
    [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn",  # the group, not a version
        "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/churn",
        "churn/3",
    ],
)
def test_settings_refuse_a_pinned_value_that_is_not_a_package_version(value: str) -> None:
    # GIVEN a MODEL_PACKAGE_ARN that is not a versioned model package ARN WHEN settings are read THEN it is named
    with pytest.raises(SettingsError, match=f"MODEL_PACKAGE_ARN='{value}' is not a versioned model package ARN"):
        LauncherSettings.from_env(launcher_env("g", MODEL_PACKAGE_ARN=value))


def test_settings_pin_is_optional() -> None:
    # GIVEN MODEL_PACKAGE_ARN absent, blank, or a version (also in another account and partition)
    arn = "arn:aws-us-gov:sagemaker:us-gov-west-1:210987654321:model-package/churn/12"
    # WHEN settings are read THEN absent or blank is no pin, a version is the pin
    assert LauncherSettings.from_env(launcher_env("g")).model_package_arn is None
    assert LauncherSettings.from_env(launcher_env("g", MODEL_PACKAGE_ARN="  ")).model_package_arn is None
    assert LauncherSettings.from_env(launcher_env("g", MODEL_PACKAGE_ARN=arn)).model_package_arn == arn


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"input_run_id": "../models"}, "must be a dataset run id"),
        ({"input_run_id": ".."}, "must be a dataset run id"),
        ({"input_run_id": "a/b"}, "must be a dataset run id"),
        ({"input_run_id": ""}, "must be a dataset run id"),
        ({"input_run_id": 7}, "must be a dataset run id"),
        ({"input_prefix": "batch-output/"}, "unknown launch keys"),
        ({"run_id": "esteira-dev-20250101-020000"}, "unknown launch keys"),
        ({"model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/other/1"}, "a version of 'g'"),
    ],
)
def test_bad_launch_requests_are_refused(event: dict[str, Any], message: str) -> None:
    # GIVEN a malformed launch event WHEN parsed THEN it is refused with a clear message
    settings = LauncherSettings.from_env(launcher_env("g"))
    with pytest.raises(logic.InvalidLaunchRequestError, match=message):
        logic.LaunchRequest.from_event(event, settings)


def test_settings_refuse_the_seeds_payload_times_concurrency() -> None:
    # GIVEN the seed's 6 MB x 40 concurrent transforms (240 MB > SageMaker's 100 MB) and a VPC without groups
    env = launcher_env("g", MAX_CONCURRENT_TRANSFORMS="40", SUBNET_IDS="subnet-a")
    # WHEN settings are read THEN both problems are named
    with pytest.raises(SettingsError, match=r"40 \* 6 MB exceeds SageMaker's 100 MB.*both or neither"):
        LauncherSettings.from_env(env)


def test_settings_name_every_missing_variable() -> None:
    with pytest.raises(SettingsError) as info:
        LauncherSettings.from_env({"INSTANCE_COUNT": "many"})
    for name in LauncherSettings.required_names():
        assert f"{name} is required" in str(info.value)
    assert "INSTANCE_COUNT='many' is not an integer" in str(info.value)


def test_model_names_fit_sagemaker_rules() -> None:
    # GIVEN a long group name WHEN a model name is derived THEN it is at most 63 valid characters
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/" + "g" * 70 + "/12"
    name = logic.model_name_for(arn)
    assert len(name) <= 63
    assert name.endswith("-v12")


def test_run_ids_sort_by_time() -> None:
    # GIVEN run ids with different prefixes WHEN sorted by run key THEN time decides
    early = new_run_id("zzz", datetime(2025, 1, 1, 2, 0, tzinfo=UTC))
    late = new_run_id("aaa", datetime(2025, 1, 2, 2, 0, tzinfo=UTC))
    assert early == "zzz-20250101-020000"
    assert run_sort_key(early) < run_sort_key(late)
    with pytest.raises(InvalidRunIdError):
        run_sort_key("a" * 60 + "-20250101-020000")


def test_a_pinned_environment_refuses_a_package_from_the_event() -> None:
    # GIVEN an environment pinned to its promoted package
    settings = LauncherSettings.from_env(launcher_env("g", MODEL_PACKAGE_ARN=package_arn("g", 1)))
    # WHEN an event names another version THEN it is refused: only the promotion chooses the package
    with pytest.raises(logic.InvalidLaunchRequestError, match="pinned by MODEL_PACKAGE_ARN"):
        logic.LaunchRequest.from_event({"model_package_arn": package_arn("g", 2)}, settings)
