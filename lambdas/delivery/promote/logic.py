"""Keep "what is promoted" in SSM and start the delivery pipeline when the registry approves or rejects a package.

SageMaker emits "SageMaker Model Package State Change" in the registry account; a rule there forwards it to the
toolchain account's default bus (the event keeps its ``account`` and ``region``), where a rule invokes this Lambda.
The pipeline's variable is an ARN (deploy it), ``current`` (a git push: deploy ``PROMOTED_PARAMETER``) or ``none``
(deploy no model); this Lambda owns that parameter and the rollback history (:mod:`delivery.promote.state`).

* Approved X: the promoted package, when another one, goes first in the history (X leaves it); X becomes the
  promoted package; then ``StartPipelineExecution`` with X. A redelivered approval changes nothing and starts X
  again with the same client request token (derived from the event id), which CodePipeline deduplicates.
* Rejected X, the promoted package: roll back to the first history entry, or ``none`` when the history is empty
  (a warning: the promoted stages keep serving their served state, which only an operator sets to none).
  ``StartPipelineExecution`` with that value comes
  first, then the promoted parameter and the history are written: had the parameters been written first, a failed
  start would leave a retry finding X no longer promoted, and nothing would ever deploy the rollback.
* Rejected X, not the promoted package: X leaves the history (it must never be rolled back to); nothing starts.
* Well formed but not for us (another account, group or approval status): logged and ignored, returning
  ``{"started": False, "reason": ...}``; failing would only make it retry.
* Malformed (not a model package state change, a missing field, an ARN that is not a version of the event's
  group): :class:`MalformedEventError`. A parameter missing or holding something unexpected, or an SSM or
  CodePipeline error: a named error. The invocation fails, is retried, and ends in the dead-letter queue.

On approval the history is written before the promoted parameter, and on rollback the promoted parameter before
the history: no package leaves one before it is in the other, so an interrupted invocation loses nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from delivery.promote.arns import PACKAGE_ARN, same_package
from delivery.promote.state import (
    NO_PACKAGE,
    MalformedParameterError,
    ParameterStoreError,
    PromotionStore,
    without,
)
from esteira_contracts.delivery import APPROVED, MODEL_PACKAGE_STATE_CHANGE, REJECTED, PromoterSettings

logger = Logger(child=True)

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = MODEL_PACKAGE_STATE_CHANGE
DECISIONS = (APPROVED, REJECTED)
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
    if change.status not in DECISIONS:
        return f"approval status is {change.status!r}, not one of {list(DECISIONS)}"
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
    """``StartPipelineExecution`` with ``package_arn`` (an ARN or ``none``) as the pipeline variable; returns the
    execution id."""
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


def promote(
    event: Any, settings: PromoterSettings, *, codepipeline: Callable[[], Any], ssm: Callable[[], Any]
) -> dict[str, Any]:
    """Handle one event. ``codepipeline`` and ``ssm`` make (or return the cached) clients; each is called only when
    the event needs it."""
    change = PackageStateChange.from_event(event)
    reason = ignore_reason(change, settings)
    if reason is not None:
        # Another account's event on this bus means a bus policy lets it in: worth a warning, not a retry.
        log = logger.warning if change.account != settings.registry_account else logger.info
        log("event ignored", extra={**change.log_keys(), "reason": reason})
        return {"started": False, "reason": reason}
    token = client_request_token(change.event_id)
    keys = {**change.log_keys(), "pipeline_name": settings.pipeline_name, "client_request_token": token}
    store = PromotionStore(ssm(), settings)
    try:
        if change.status == APPROVED:
            return _approve(change, settings, codepipeline, store, token, keys)
        return _reject(change, settings, codepipeline, store, token, keys)
    except PipelineStartError as exc:
        logger.error("pipeline not started", extra={**keys, "error_code": exc.code})
        raise
    except (ParameterStoreError, MalformedParameterError) as exc:
        code = exc.code if isinstance(exc, ParameterStoreError) else "MalformedParameter"
        logger.error(
            "promotion state not read or written", extra={**keys, "parameter": exc.parameter, "error_code": code}
        )
        raise


def _approve(
    change: PackageStateChange,
    settings: PromoterSettings,
    codepipeline: Callable[[], Any],
    store: PromotionStore,
    token: str,
    keys: dict[str, Any],
) -> dict[str, Any]:
    """X becomes the promoted package; the one it replaces goes first in the history; the pipeline deploys X."""
    package = change.package_arn
    state = store.read()
    history = without(state.history, package)
    if state.promoted != NO_PACKAGE and not same_package(state.promoted, package):
        history = (state.promoted, *history)
    store.write_history(state, history)
    store.write_promoted(state, package)
    execution_id = start_pipeline(codepipeline(), settings, package, token)
    logger.info(
        "pipeline started",
        extra={**keys, "previously_promoted": state.promoted, "pipeline_execution_id": execution_id},
    )
    return {"started": True, "pipelineExecutionId": execution_id, "modelPackageArn": package}


def _reject(
    change: PackageStateChange,
    settings: PromoterSettings,
    codepipeline: Callable[[], Any],
    store: PromotionStore,
    token: str,
    keys: dict[str, Any],
) -> dict[str, Any]:
    """X leaves the history; when X is the promoted package, roll back to the newest earlier one (or none)."""
    package = change.package_arn
    state = store.read()
    history = without(state.history, package)
    if not same_package(state.promoted, package):
        in_history = len(history) != len(state.history)
        store.write_history(state, history)
        reason = f"{package} is not the promoted package ({state.promoted}); " + (
            "removed from the rollback history" if in_history else "it was not in the rollback history either"
        )
        logger.info("rejected package not promoted", extra={**keys, "promoted": state.promoted, "reason": reason})
        return {"started": False, "reason": reason}
    target = history[0] if history else NO_PACKAGE
    if target == NO_PACKAGE:
        logger.warning(
            "rolling back to no model package: the promoted stages keep serving their served state's champion "
            "until an operator sets it to none (README: taking a model out of service)",
            extra=keys,
        )
    # Start first: should it fail, nothing is written and a retry of the event redoes the whole rollback.
    execution_id = start_pipeline(codepipeline(), settings, target, token)
    store.write_promoted(state, target)
    store.write_history(state, history[1:])
    logger.info(
        "pipeline started",
        extra={**keys, "rolled_back_from": package, "rolled_back_to": target, "pipeline_execution_id": execution_id},
    )
    return {"started": True, "pipelineExecutionId": execution_id, "rolledBackFrom": package, "modelPackageArn": target}


def _text(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"{where}.{key} is missing or not a non-empty string (got {value!r})")
    return value
