"""Start a batch transform over an input prefix with the model package the environment scores with.

Which package: ``MODEL_PACKAGE_ARN`` when set (``source: "pinned"``), the package the environment's endpoint serves,
promoted by the delivery pipeline (possibly from another account's registry, in prod only after its manual
approval), refused unless it is still Approved; otherwise the newest Approved package of ``MODEL_PACKAGE_GROUP``
(``source: "latest-approved"``). A pinned environment never falls back to the newest approved package: that would
bypass the promotion and its approval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from common.runs import new_run_id, validate_run_id
from esteira_contracts import layout
from esteira_contracts.batch import LauncherSettings

logger = Logger(child=True)

# The model never sees the record id (first CSV column); each output line is "record_id,label,score".
DATA_PROCESSING = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}
_MODEL_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")

PackageSource = Literal["pinned", "latest-approved"]


class NoApprovedModelPackageError(RuntimeError):
    """The model package group holds no Approved package, so there is nothing to run."""


class ModelPackageNotApprovedError(RuntimeError):
    """The pinned ``MODEL_PACKAGE_ARN`` is not (or no longer) Approved, so batch must not score with it."""


class ModelPackageNotFoundError(RuntimeError):
    """The pinned ``MODEL_PACKAGE_ARN`` does not exist (or was deleted) in its registry."""


class InvalidLaunchRequestError(ValueError):
    """The launch event is malformed (an unknown key, a bad prefix or run id)."""


@dataclass(frozen=True)
class LaunchRequest:
    run_id: str
    input_prefix: str

    @classmethod
    def from_event(cls, event: dict[str, Any] | None, settings: LauncherSettings) -> LaunchRequest:
        event = dict(event or {})
        if "detail-type" in event:  # an EventBridge rule/schedule without a constant input: use its detail
            event = dict(event.get("detail") or {})
        unknown = sorted(set(event) - {"input_prefix", "run_id"})
        if unknown:
            raise InvalidLaunchRequestError(f"unknown launch keys {unknown}; expected input_prefix, run_id")
        try:
            run_id = validate_run_id(event["run_id"]) if event.get("run_id") else new_run_id(settings.run_id_prefix)
        except ValueError as exc:
            raise InvalidLaunchRequestError(str(exc)) from exc
        prefix = str(event.get("input_prefix") or settings.input_prefix).lstrip("/")
        if not prefix or prefix.startswith("s3://"):
            raise InvalidLaunchRequestError(f"input_prefix {prefix!r} must be a key prefix inside {settings.bucket}")
        return cls(run_id=run_id, input_prefix=prefix if prefix.endswith("/") else prefix + "/")


def latest_approved_package(sagemaker: Any, group: str) -> str:
    """ARN of the newest Approved package in ``group``, or :class:`NoApprovedModelPackageError`."""
    response = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )
    summaries = response.get("ModelPackageSummaryList", [])
    if not summaries:
        raise NoApprovedModelPackageError(
            f"model package group {group!r} has no Approved model package; approve one in the registry "
            "(UpdateModelPackage ModelApprovalStatus=Approved) before running batch predictions"
        )
    return str(summaries[0]["ModelPackageArn"])


def pinned_package(sagemaker: Any, package_arn: str) -> str:
    """``package_arn`` once DescribeModelPackage shows it Approved; a named error otherwise."""
    try:
        described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # SageMaker answers an unknown package with ValidationException ("... does not exist"/"not found").
        if error.get("Code") in ("ValidationException", "ResourceNotFound", "ResourceNotFoundException"):
            raise ModelPackageNotFoundError(
                f"pinned model package {package_arn} (MODEL_PACKAGE_ARN) was not found: "
                f"{error.get('Message', error.get('Code'))}; redeploy with the package the endpoint serves"
            ) from exc
        raise
    status = str(described.get("ModelApprovalStatus", "unknown"))
    if status != "Approved":
        why = {
            "Rejected": "the promoted package was rejected; the pipeline rolls back, then batch follows",
            "PendingManualApproval": "the package awaits approval in the registry; batch scores only approved ones",
        }.get(status, "batch scores only Approved packages")
        raise ModelPackageNotApprovedError(f"pinned model package {package_arn} (MODEL_PACKAGE_ARN) is {status}: {why}")
    return package_arn


def resolve_package(sagemaker: Any, settings: LauncherSettings) -> tuple[str, PackageSource]:
    """The package to score with and the rule that chose it."""
    if settings.model_package_arn:
        return pinned_package(sagemaker, settings.model_package_arn), "pinned"
    return latest_approved_package(sagemaker, settings.model_package_group), "latest-approved"


def model_name_for(package_arn: str) -> str:
    """Deterministic SageMaker model name for a package version: ``<group>-v<version>`` (at most 63 chars)."""
    # arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>
    resource = package_arn.split(":", 5)[-1].split("/")
    group, version = (resource[1], resource[2]) if len(resource) >= 3 else (resource[-1], "0")
    suffix = f"-v{version}"
    stem = _MODEL_NAME_UNSAFE.sub("-", group).strip("-")[: 63 - len(suffix)].rstrip("-") or "model"
    return stem + suffix


def ensure_model(sagemaker: Any, package_arn: str, settings: LauncherSettings) -> str:
    """Create the SageMaker model for ``package_arn`` unless it exists; return its name."""
    name = model_name_for(package_arn)
    try:
        sagemaker.describe_model(ModelName=name)
        logger.info("model exists", extra={"model_name": name})
        return name
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationException":
            raise
    request: dict[str, Any] = {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "Containers": [{"ModelPackageName": package_arn}],
        "Tags": _tags(settings),
        # The model server needs no network: SageMaker stages the model and the input, and collects the output.
        # Isolated, the container cannot send a scored row (or anything) anywhere.
        "EnableNetworkIsolation": True,
    }
    if settings.subnet_ids:
        request["VpcConfig"] = {
            "Subnets": list(settings.subnet_ids),
            "SecurityGroupIds": list(settings.security_group_ids),
        }
    try:
        sagemaker.create_model(**request)
    except ClientError as exc:  # another launch created it between describe and create
        if "already exist" not in exc.response["Error"].get("Message", ""):
            raise
    logger.info("model created", extra={"model_name": name, "model_package_arn": package_arn})
    return name


def transform_job_request(request: LaunchRequest, model_name: str, settings: LauncherSettings) -> dict[str, Any]:
    """The ``CreateTransformJob`` parameters (pure; the tests pin its shape)."""
    output: dict[str, Any] = {
        "S3OutputPath": f"s3://{settings.bucket}/{settings.output_prefix}{request.run_id}/",
        "Accept": "text/csv",
        "AssembleWith": "Line",
    }
    resources: dict[str, Any] = {"InstanceType": settings.instance_type, "InstanceCount": settings.instance_count}
    if settings.kms_key_id:
        output["KmsKeyId"] = settings.kms_key_id
        resources["VolumeKmsKeyId"] = settings.kms_key_id
    job: dict[str, Any] = {
        "TransformJobName": request.run_id,
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": settings.max_payload_mb,
        "MaxConcurrentTransforms": settings.max_concurrent_transforms,
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{settings.bucket}/{request.input_prefix}",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": output,
        "TransformResources": resources,
        "DataProcessing": dict(DATA_PROCESSING),
        "Tags": [*_tags(settings), {"Key": "run_id", "Value": request.run_id}],
    }
    client_config = {
        key: value
        for key, value in (
            ("InvocationsTimeoutInSeconds", settings.invocation_timeout_seconds),
            ("InvocationsMaxRetries", settings.invocation_max_retries),
        )
        if value is not None
    }
    if client_config:
        job["ModelClientConfig"] = client_config
    return job


def launch(event: dict[str, Any] | None, settings: LauncherSettings, sagemaker: Any) -> dict[str, Any]:
    request = LaunchRequest.from_event(event, settings)
    package_arn, source = resolve_package(sagemaker, settings)
    logger.info("model package chosen", extra={"model_package_arn": package_arn, "source": source})
    model_name = ensure_model(sagemaker, package_arn, settings)
    job = transform_job_request(request, model_name, settings)
    arn = sagemaker.create_transform_job(**job)["TransformJobArn"]
    logger.info(
        "transform job started",
        extra={"run_id": request.run_id, "transform_job_arn": arn, "model_package_arn": package_arn, "source": source},
    )
    return {
        "run_id": request.run_id,
        "transform_job_name": request.run_id,
        "transform_job_arn": arn,
        "model_name": model_name,
        "model_package_arn": package_arn,
        "source": source,
        "input_uri": job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output_uri": job["TransformOutput"]["S3OutputPath"],
    }


def _tags(settings: LauncherSettings) -> list[dict[str, str]]:
    return [{"Key": "project", "Value": layout.PROJECT}, {"Key": "env", "Value": settings.env_name}]
