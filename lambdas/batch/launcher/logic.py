"""Start a batch transform over an input prefix with the model package the environment scores with.

Which package: ``MODEL_PACKAGE_ARN`` when set (``source: "pinned"``), the package the environment's endpoint serves,
promoted by the delivery pipeline (possibly from another account's registry, in prod only after its manual
approval), refused unless it is still Approved; otherwise the newest Approved package of ``MODEL_PACKAGE_GROUP``
(``source: "latest-approved"``). A pinned environment never falls back to the newest approved package: that would
bypass the promotion and its approval. An unpinned environment may be told the package by its event (the training
state machine names the one it just registered, in dev): it must belong to the group and be Approved
(``source: "registered"``).

What: exactly one dataset run's ``<INPUT_PREFIX>run_id=<run>/``, the run that belongs to the package
(``dataset_run.py``: the event's ``input_run_id``, else the package's own run when it was trained here, else this
environment's newest complete run), refused with an error, before any model or job exists, when its manifest is
missing, its rows are missing or empty, or its spec or feature schema is not the package's. The transform job always
gets a fresh ``<prefix>-YYYYMMDD-HHMMSS`` run id (the consumer orders runs by it). Before the job starts, the run's
scoring record (``scoring.py``: model package and version, dataset run, served threshold) goes beside its outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from batch.launcher.dataset_run import choose_input, package_data
from batch.launcher.inputs import InvalidInputRunError, validate_input_run_id
from batch.launcher.scoring import scoring_record, scoring_record_key, write_scoring_record
from common.registry import newest_approved_package
from common.runs import new_run_id
from esteira_contracts import layout
from esteira_contracts.batch import LauncherSettings

logger = Logger(child=True)

# The model never sees the record id (first CSV column); each output line is "record_id,label,score".
DATA_PROCESSING = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}
_MODEL_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")

PackageSource = Literal["pinned", "latest-approved", "registered"]
LAUNCH_KEYS = frozenset({"input_run_id", "model_package_arn"})
_PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[^/]+)/\d+$")


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
    run_id: str  # the transform's run (and job name), always fresh
    input_run_id: str | None  # the dataset run to score; None: the one that belongs to the package
    model_package_arn: str | None  # named by the event (unpinned environments only)

    @classmethod
    def from_event(cls, event: dict[str, Any] | None, settings: LauncherSettings) -> LaunchRequest:
        event = dict(event or {})
        if "detail-type" in event:  # an EventBridge rule/schedule without a constant input: use its detail
            event = dict(event.get("detail") or {})
        unknown = sorted(set(event) - LAUNCH_KEYS)
        if unknown:
            raise InvalidLaunchRequestError(
                f"unknown launch keys {unknown}; expected {sorted(LAUNCH_KEYS)} (the input prefix is "
                f"{settings.input_prefix!r}: a launch names a run under it, never another prefix)"
            )
        input_run_id = event.get("input_run_id")
        try:
            input_run_id = validate_input_run_id(input_run_id) if input_run_id is not None else None
        except InvalidInputRunError as exc:
            raise InvalidLaunchRequestError(str(exc)) from exc
        package = event.get("model_package_arn")
        if package is not None:
            match = _PACKAGE_ARN.match(package) if isinstance(package, str) else None
            if match is None or match["group"] != settings.model_package_group:
                raise InvalidLaunchRequestError(
                    f"model_package_arn {package!r} must be a version of {settings.model_package_group!r}"
                )
            if settings.model_package_arn:
                raise InvalidLaunchRequestError(
                    "model_package_arn is pinned by MODEL_PACKAGE_ARN (the promoted package); an event cannot "
                    "choose another"
                )
        return cls(run_id=new_run_id(settings.run_id_prefix), input_run_id=input_run_id, model_package_arn=package)


def latest_approved_package(sagemaker: Any, group: str) -> str:
    """ARN of the newest Approved package in ``group``, or :class:`NoApprovedModelPackageError`."""
    arn = newest_approved_package(sagemaker, group)
    if arn is None:
        raise NoApprovedModelPackageError(
            f"model package group {group!r} has no Approved model package; approve one in the registry "
            "(UpdateModelPackage ModelApprovalStatus=Approved) before running batch predictions"
        )
    return arn


def pinned_package(sagemaker: Any, package_arn: str, origin: str = "MODEL_PACKAGE_ARN") -> dict[str, Any]:
    """DescribeModelPackage of ``package_arn`` once it shows it Approved; a named error otherwise."""
    try:
        described = sagemaker.describe_model_package(ModelPackageName=package_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        # SageMaker answers an unknown package with ValidationException ("... does not exist"/"not found").
        if error.get("Code") in ("ValidationException", "ResourceNotFound", "ResourceNotFoundException"):
            raise ModelPackageNotFoundError(
                f"pinned model package {package_arn} ({origin}) was not found: "
                f"{error.get('Message', error.get('Code'))}; redeploy with the package the endpoint serves"
            ) from exc
        raise
    status = str(described.get("ModelApprovalStatus", "unknown"))
    if status != "Approved":
        why = {
            "Rejected": "the promoted package was rejected; the pipeline rolls back, then batch follows",
            "PendingManualApproval": "the package awaits approval in the registry; batch scores only approved ones",
        }.get(status, "batch scores only Approved packages")
        raise ModelPackageNotApprovedError(f"pinned model package {package_arn} ({origin}) is {status}: {why}")
    return dict(described)


def resolve_package(
    sagemaker: Any, settings: LauncherSettings, requested: str | None = None
) -> tuple[str, PackageSource, dict[str, Any]]:
    """The package to score with, the rule that chose it, and its DescribeModelPackage (Approved)."""
    if requested:
        return requested, "registered", pinned_package(sagemaker, requested, "the event's model_package_arn")
    if settings.model_package_arn:
        return settings.model_package_arn, "pinned", pinned_package(sagemaker, settings.model_package_arn)
    newest = latest_approved_package(sagemaker, settings.model_package_group)
    return newest, "latest-approved", pinned_package(sagemaker, newest, "the newest Approved package")


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


def transform_job_request(
    request: LaunchRequest, input_prefix: str, model_name: str, settings: LauncherSettings
) -> dict[str, Any]:
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
                    "S3Uri": f"s3://{settings.bucket}/{input_prefix}",
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


def launch(event: dict[str, Any] | None, settings: LauncherSettings, sagemaker: Any, s3: Any) -> dict[str, Any]:
    request = LaunchRequest.from_event(event, settings)
    package_arn, source, described = resolve_package(sagemaker, settings, request.model_package_arn)
    package = package_data(described, package_arn)
    logger.info("model package chosen", extra={"model_package_arn": package_arn, "source": source})
    chosen = choose_input(s3, settings, package, request.input_run_id)
    logger.info(
        "dataset run chosen",
        extra={"input_run_id": chosen.run_id, "rule": chosen.rule, "package_run_id": package.run_id},
    )
    model_name = ensure_model(sagemaker, package_arn, settings)
    job = transform_job_request(request, chosen.batch_input.prefix, model_name, settings)
    record_key = scoring_record_key(settings.output_prefix, request.run_id)
    record = scoring_record(request.run_id, package_arn, described, chosen.run_id)
    write_scoring_record(s3, settings.bucket, record_key, record, settings.kms_key_id)
    arn = sagemaker.create_transform_job(**job)["TransformJobArn"]
    logger.info(
        "transform job started",
        extra={"run_id": request.run_id, "transform_job_arn": arn, "model_package_arn": package_arn, "source": source},
    )
    return {
        "status": "started",
        "run_id": request.run_id,
        "input_run_id": chosen.run_id,
        "input_rule": chosen.rule,
        "package_run_id": package.run_id,
        "transform_job_name": request.run_id,
        "transform_job_arn": arn,
        "model_name": model_name,
        "model_package_arn": package_arn,
        "source": source,
        "input_uri": job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "output_uri": job["TransformOutput"]["S3OutputPath"],
        "scoring_record_uri": f"s3://{settings.bucket}/{record_key}",
    }


def _tags(settings: LauncherSettings) -> list[dict[str, str]]:
    return [{"Key": "project", "Value": layout.PROJECT}, {"Key": "env", "Value": settings.env_name}]
