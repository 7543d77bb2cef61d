"""Start the delivery pipeline with the ARN of a model package just approved in the registry account.

SageMaker emits "SageMaker Model Package State Change" in the registry account; a rule there forwards it to the
toolchain account's default bus (the event keeps its ``account`` and ``region``), where a rule invokes this Lambda.
An event ends one of three ways:

* for us (from the registry account, an allowed group, Approved): ``StartPipelineExecution`` with the package ARN as
  the pipeline variable, with a client request token derived from the event id, so that a redelivered event does
  not start a second execution;
* well formed but not for us (another account, group or approval status): logged and ignored, returning
  ``{"started": False, "reason": ...}``; failing would only make it retry;
* malformed (not a model package state change, a missing field, an ARN that is not a version of the event's
  group): :class:`MalformedEventError`, so the invocation fails, is retried and ends in the dead-letter queue.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from common.settings import PromoterSettings

logger = Logger(child=True)

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
APPROVED = "Approved"

# A versioned model package: arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>.
# The group follows ModelPackageGroupName's pattern; an unversioned package (no "/<version>") cannot be promoted.
PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]{9,16}):(?P<account>[0-9]{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9][0-9]{0,9})"
)
# StartPipelineExecution's clientRequestToken (the API model's pattern and length).
CLIENT_REQUEST_TOKEN = re.compile(r"[a-zA-Z0-9-]{1,128}")
_TOKEN_NAMESPACE = uuid.UUID("5d0c7a52-8f8e-4a43-9d6b-0b8f6f2f6e11")  # fixed forever: tokens must stay stable


class MalformedEventError(ValueError):
    """The event is not a well-formed SageMaker model package state change; retrying will not fix it."""


class PipelineStartError(RuntimeError):
    """CodePipeline refused or failed ``StartPipelineExecution`` (after botocore's own retries)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PackageStateChange:
    """The fields of the event this Lambda uses, checked for presence, type and consistency."""

    event_id: str
    account: str
    region: str | None
    group: str
    version: int | None
    status: str
    package_arn: str

    @classmethod
    def from_event(cls, event: Any) -> PackageStateChange:
        if not isinstance(event, Mapping):
            raise MalformedEventError(f"expected an EventBridge event (an object), got {type(event).__name__}")
        source, detail_type = event.get("source"), event.get("detail-type")
        if source != EVENT_SOURCE or detail_type != EVENT_DETAIL_TYPE:
            raise MalformedEventError(
                f"expected source {EVENT_SOURCE!r} and detail-type {EVENT_DETAIL_TYPE!r}, "
                f"got {source!r} and {detail_type!r}: is the rule's pattern right?"
            )
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise MalformedEventError("the event has no 'detail' object")
        version = detail.get("ModelPackageVersion")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise MalformedEventError(f"detail.ModelPackageVersion={version!r} is not an integer")
        region = event.get("region")
        change = cls(
            event_id=_text(event, "id", "event"),
            account=_text(event, "account", "event"),
            region=region if isinstance(region, str) and region else None,
            group=_text(detail, "ModelPackageGroupName", "detail"),
            version=version,
            status=_text(detail, "ModelApprovalStatus", "detail"),
            package_arn=_text(detail, "ModelPackageArn", "detail"),
        )
        change._check_arn()
        return change

    def _check_arn(self) -> None:
        """The ARN names a version of the event's group, in the event's account and region."""
        match = PACKAGE_ARN.fullmatch(self.package_arn)
        if match is None:
            raise MalformedEventError(
                f"detail.ModelPackageArn={self.package_arn!r} is not a versioned model package ARN "
                "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
            )
        problems = []
        # SageMaker lowercases the resource name in some of its ARNs, so the group is compared without case.
        if match["group"].lower() != self.group.lower():
            problems.append(f"its group is not the event's {self.group!r}")
        if match["account"] != self.account:
            problems.append(f"its account is not the event's {self.account}")
        if self.region is not None and match["region"] != self.region:
            problems.append(f"its region is not the event's {self.region}")
        if self.version is not None and int(match["version"]) != self.version:
            problems.append(f"its version is not the event's {self.version}")
        if problems:
            raise MalformedEventError(f"detail.ModelPackageArn={self.package_arn!r}: " + "; ".join(problems))

    def log_keys(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_account": self.account,
            "model_package_group": self.group,
            "model_package_version": self.version,
            "model_approval_status": self.status,
            "model_package_arn": self.package_arn,
        }


def ignore_reason(change: PackageStateChange, settings: PromoterSettings) -> str | None:
    """Why a well-formed event is not for this pipeline, or None when it is."""
    if change.account != settings.registry_account:
        return f"event from account {change.account}, not the registry account {settings.registry_account}"
    if change.group not in settings.model_package_groups:
        return f"model package group {change.group!r} is not one of {list(settings.model_package_groups)}"
    if change.status != APPROVED:
        return f"approval status is {change.status!r}, not {APPROVED!r}"
    return None


def client_request_token(event_id: str) -> str:
    """The same token for every delivery of one event, valid for ``StartPipelineExecution``.

    An EventBridge event id is a UUID, already a valid token: it is used as is, so an execution can be traced back
    to its event. Any other id (a hand-made test event) is mapped to a UUID5 of itself.
    """
    if CLIENT_REQUEST_TOKEN.fullmatch(event_id):
        return event_id
    return str(uuid.uuid5(_TOKEN_NAMESPACE, event_id))


def start_pipeline(codepipeline: Any, settings: PromoterSettings, package_arn: str, token: str) -> str:
    """``StartPipelineExecution`` with the package ARN as the pipeline variable; returns the execution id."""
    try:
        response = codepipeline.start_pipeline_execution(
            name=settings.pipeline_name,
            variables=[{"name": settings.pipeline_variable, "value": package_arn}],
            clientRequestToken=token,
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        raise PipelineStartError(
            f"could not start pipeline {settings.pipeline_name!r} for {package_arn}: {code}: "
            f"{error.get('Message', exc)}",
            code,
        ) from exc
    return str(response["pipelineExecutionId"])


def promote(event: Any, settings: PromoterSettings, codepipeline: Any) -> dict[str, Any]:
    change = PackageStateChange.from_event(event)
    reason = ignore_reason(change, settings)
    if reason is not None:
        # Another account's event on this bus means a bus policy lets it in: worth a warning, not a retry.
        log = logger.warning if change.account != settings.registry_account else logger.info
        log("event ignored", extra={**change.log_keys(), "reason": reason})
        return {"started": False, "reason": reason}
    token = client_request_token(change.event_id)
    keys = {**change.log_keys(), "pipeline_name": settings.pipeline_name, "client_request_token": token}
    try:
        execution_id = start_pipeline(codepipeline, settings, change.package_arn, token)
    except PipelineStartError as exc:
        logger.error("pipeline not started", extra={**keys, "error_code": exc.code})
        raise
    logger.info("pipeline started", extra={**keys, "pipeline_execution_id": execution_id})
    return {"started": True, "pipelineExecutionId": execution_id, "modelPackageArn": change.package_arn}


def _text(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"{where}.{key} is missing or not a non-empty string (got {value!r})")
    return value
