"""Promotion, the event side: an Approved model package starts the delivery pipeline with its ARN; events not for
us are ignored; malformed ones fail; CodePipeline's errors surface. What approvals and rejections do to the
promoted package and its history is ``test_promotion_state.py``.

Against moto in server mode over HTTP (CodePipeline, IAM, SSM). Faults: moto's own PipelineNotFoundException,
throttling injected under botocore's retries (``tests.lambdas.faults.throttle_calls``), and a botocore ``Stubber``
for errors moto cannot produce.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from botocore.retries import standard
from botocore.stub import Stubber

from common import clients
from delivery.promote import logic
from delivery.promote.handler import handler
from esteira_contracts import SettingsError
from tests.lambdas.delivery.conftest import (
    GROUP,
    REGISTRY_ACCOUNT,
    VARIABLE,
    Pipeline,
    Promotion,
    approved_event,
)
from tests.lambdas.faults import count_calls, throttle_calls
from tests.lambdas.helpers import lambda_context

ARN = f"arn:aws:sagemaker:eu-west-1:{REGISTRY_ACCOUNT}:model-package/{GROUP}/7"
EVENT_ID = "3f0b9c2e-6a1d-4e8b-b7c5-2d9e41a08f36"


def event_with(fields: dict[str, Any] | None = None, /, **envelope: Any) -> dict[str, Any]:
    """The approved event with some detail ``fields`` and envelope keys (``detail_type`` for "detail-type")
    replaced; None removes a key."""
    event = approved_event()
    for key, value in envelope.items():
        key = key.replace("_", "-")
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    for key, value in (fields or {}).items():
        if value is None:
            event["detail"].pop(key, None)
        else:
            event["detail"][key] = value
    return event


def from_account(account: str) -> dict[str, Any]:
    """The approved event as another account's registry would send it (envelope and ARN both in that account)."""
    arn = ARN.replace(REGISTRY_ACCOUNT, account)
    return event_with({"ModelPackageArn": arn}, account=account, resources=[arn])


class RecordingLogger:
    """Stands in for the logic module's logger: keeps (level, message, extra)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def _log(self, level: str) -> Any:
        def log(message: str, extra: dict[str, Any] | None = None) -> None:
            self.records.append((level, message, dict(extra or {})))

        return log

    def __getattr__(self, level: str) -> Any:
        return self._log(level)


# --- the happy path -----------------------------------------------------------------------------------------------


def test_approved_event_starts_the_pipeline_with_the_package_arn(pipeline: Pipeline) -> None:
    # GIVEN the delivery pipeline and an Approved event from the registry account
    starts = count_calls(clients.codepipeline(), "StartPipelineExecution")
    # WHEN the Lambda handles it
    out = handler(approved_event(), lambda_context())
    # THEN one execution started, with the package ARN as the ModelPackageArn variable
    assert out == {"started": True, "pipelineExecutionId": out["pipelineExecutionId"], "modelPackageArn": ARN}
    [execution] = pipeline.executions()
    assert execution["pipelineExecutionId"] == out["pipelineExecutionId"]
    assert pipeline.variables_of(out["pipelineExecutionId"]) == [{"name": VARIABLE, "resolvedValue": ARN}]
    # AND the request carried the event id as its client request token
    assert starts == [
        {
            "name": pipeline.name,
            "variables": [{"name": VARIABLE, "value": ARN}],
            "clientRequestToken": EVENT_ID,
        }
    ]


def test_the_variable_name_comes_from_the_settings(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN PIPELINE_VARIABLE names another variable
    monkeypatch.setenv("PIPELINE_VARIABLE", "ApprovedPackage")
    # WHEN an Approved event arrives THEN the ARN goes into that variable
    out = handler(approved_event(), lambda_context())
    assert pipeline.variables_of(out["pipelineExecutionId"]) == [{"name": "ApprovedPackage", "resolvedValue": ARN}]


def test_start_is_logged_with_structured_keys(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a recording logger WHEN an Approved event is handled
    recorder = RecordingLogger()
    monkeypatch.setattr(logic, "logger", recorder)
    out = handler(approved_event(), lambda_context())
    # THEN one info record says which package started which execution of which pipeline, for which event
    [(level, message, extra)] = recorder.records
    assert (level, message) == ("info", "pipeline started")
    assert extra == {
        "event_id": EVENT_ID,
        "event_account": REGISTRY_ACCOUNT,
        "model_package_group": GROUP,
        "model_package_version": 7,
        "model_approval_status": "Approved",
        "model_package_arn": ARN,
        "pipeline_name": pipeline.name,
        "client_request_token": EVENT_ID,
        "previously_promoted": "none",
        "pipeline_execution_id": out["pipelineExecutionId"],
    }


# --- events that are not for us: ignored, not failed ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (event_with({"ModelApprovalStatus": "PendingManualApproval"}), "approval status is 'PendingManualApproval'"),
        (
            event_with(
                {
                    "ModelPackageGroupName": "someone-elses-model",
                    "ModelPackageArn": ARN.replace(GROUP, "someone-elses-model"),
                }
            ),
            "model package group 'someone-elses-model' is not one of",
        ),
        (from_account("333333333333"), "event from account 333333333333, not the registry account 222222222222"),
    ],
    ids=["pending", "other-group", "other-account"],
)
def test_events_not_for_us_are_ignored(
    pipeline: Pipeline, promotion: Promotion, monkeypatch: pytest.MonkeyPatch, event: dict[str, Any], reason: str
) -> None:
    # GIVEN a well-formed event that is not an approval of our group in the registry account
    recorder = RecordingLogger()
    monkeypatch.setattr(logic, "logger", recorder)
    # WHEN handled THEN it returns started=False with the reason, and no execution exists
    out = handler(event, lambda_context())
    assert out["started"] is False
    assert reason in out["reason"]
    assert pipeline.executions() == []
    # AND it is logged (a warning when another account's event reached this bus), without an error
    [(level, message, extra)] = recorder.records
    assert message == "event ignored"
    assert level == ("warning" if event["account"] != REGISTRY_ACCOUNT else "info")
    assert extra["reason"] == out["reason"]
    # AND the promotion parameters were not written
    assert promotion.versions() == (1, 1)


def test_a_rejection_from_another_account_is_ignored(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN package 7 is promoted, and another account sends a rejection of its own package 7
    promotion.set(promoted=ARN)
    event = from_account("333333333333")
    event["detail"]["ModelApprovalStatus"] = "Rejected"
    # WHEN handled THEN it is ignored: nothing rolled back, nothing started
    out = handler(event, lambda_context())
    assert out["started"] is False
    assert "not the registry account" in out["reason"]
    assert (promotion.promoted(), pipeline.executions()) == (ARN, [])


def test_a_second_allowed_group_is_promoted(pipeline: Pipeline) -> None:
    # GIVEN MODEL_PACKAGE_GROUPS lists two groups WHEN the second one's package is approved THEN it starts
    arn = ARN.replace(GROUP, "esteira-staging-other")
    out = handler(
        event_with({"ModelPackageGroupName": "esteira-staging-other", "ModelPackageArn": arn}), lambda_context()
    )
    assert out["started"] is True
    assert pipeline.variables_of(out["pipelineExecutionId"]) == [{"name": VARIABLE, "resolvedValue": arn}]


# --- malformed events: a named error, so the invocation is retried and dead-lettered ------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("not an event", "expected an EventBridge event"),
        (event_with(source="aws.codepipeline"), "expected source 'aws.sagemaker'"),
        (event_with(detail_type="SageMaker Model State Change"), "is the rule's pattern right"),
        (event_with(detail=None), "no 'detail' object"),
        (event_with(detail="Approved"), "no 'detail' object"),
        (event_with({"ModelPackageArn": None}), "detail.ModelPackageArn is missing"),
        (event_with({"ModelPackageArn": ""}), "detail.ModelPackageArn is missing"),
        (event_with({"ModelPackageGroupName": None}), "detail.ModelPackageGroupName is missing"),
        (event_with({"ModelApprovalStatus": 1}), "detail.ModelApprovalStatus is missing or not a non-empty string"),
        (event_with(id=None), "event.id is missing"),
        (event_with(account=None), "event.account is missing"),
        (event_with({"ModelPackageVersion": "7"}), "ModelPackageVersion='7' is not an integer"),
        (event_with({"ModelPackageArn": "esteira-staging-model/7"}), "is not a versioned model package ARN"),
        (event_with({"ModelPackageArn": ARN.rsplit("/", 1)[0]}), "is not a versioned model package ARN"),
        (
            event_with({"ModelPackageArn": ARN.replace(":model-package/", ":model/")}),
            "is not a versioned model package ARN",
        ),
        (event_with({"ModelPackageArn": ARN.replace(GROUP, "esteira-staging-other")}), "its group is not the event's"),
        (event_with({"ModelPackageArn": ARN.replace(REGISTRY_ACCOUNT, "333333333333")}), "its account is not"),
        (event_with({"ModelPackageArn": ARN.replace("eu-west-1", "us-east-1")}), "its region is not the event's"),
        (event_with({"ModelPackageVersion": 8}), "its version is not the event's 8"),
    ],
)
def test_malformed_events_raise_a_named_error(
    pipeline: Pipeline, promotion: Promotion, event: Any, message: str
) -> None:
    # GIVEN an event that is not a well-formed model package state change
    # WHEN handled THEN MalformedEventError says what is wrong, nothing started and nothing was written
    with pytest.raises(logic.MalformedEventError, match=message):
        handler(event, lambda_context())
    assert pipeline.executions() == []
    assert promotion.versions() == (1, 1)


def test_a_malformed_rejection_raises_too(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN package 7 is promoted, and a Rejected event whose ARN is not a version of its group
    promotion.set(promoted=ARN)
    event = event_with({"ModelApprovalStatus": "Rejected", "ModelPackageArn": ARN.replace(GROUP, "esteira-x")})
    # WHEN handled THEN MalformedEventError, and package 7 is still promoted
    with pytest.raises(logic.MalformedEventError, match="its group is not the event's"):
        handler(event, lambda_context())
    assert (promotion.promoted(), pipeline.executions()) == (ARN, [])


def test_arn_group_is_compared_without_case(pipeline: Pipeline) -> None:
    # GIVEN an ARN carrying the group name in another case than the event's detail (SageMaker lowercases some ARNs)
    event = event_with({"ModelPackageArn": ARN.replace(GROUP, GROUP.upper())})
    # WHEN handled THEN the package is still promoted, with the ARN as received
    out = handler(event, lambda_context())
    assert out["modelPackageArn"] == ARN.replace(GROUP, GROUP.upper())


def test_a_package_arn_without_version_in_the_detail_is_accepted(pipeline: Pipeline) -> None:
    # GIVEN an event without ModelPackageVersion (the ARN still names the version) WHEN handled THEN it starts
    assert handler(event_with({"ModelPackageVersion": None}), lambda_context())["started"] is True


# --- redelivery ---------------------------------------------------------------------------------------------------


def test_a_redelivered_event_sends_the_same_client_request_token(pipeline: Pipeline) -> None:
    """CodePipeline deduplicates StartPipelineExecution by clientRequestToken (an idempotency token in its API model).
    moto 5.2.5 ignores the token (every call starts a new execution), so this test cannot show the deduplication
    itself; it pins what is ours: every delivery of one event sends the same valid token, and a new event another."""
    starts = count_calls(clients.codepipeline(), "StartPipelineExecution")
    # GIVEN an Approved event delivered twice, then a second approval event (another id) for the same package
    handler(approved_event(), lambda_context())
    handler(approved_event(), lambda_context())
    other_id = str(uuid.uuid4())
    handler(event_with(id=other_id), lambda_context())
    # THEN the two deliveries carried the same token, the event id, and the other event its own id
    assert [call["clientRequestToken"] for call in starts] == [EVENT_ID, EVENT_ID, other_id]


@pytest.mark.parametrize(
    "event_id",
    ["hand made event", "x" * 300, "ev_1", "événement", EVENT_ID + "/retry"],
)
def test_tokens_for_other_ids_are_valid_and_stable(event_id: str) -> None:
    # GIVEN an id that is not a valid token as it is WHEN derived twice THEN the token is valid, stable and unique
    token = logic.client_request_token(event_id)
    assert logic.CLIENT_REQUEST_TOKEN.fullmatch(token)
    assert token == logic.client_request_token(event_id)
    assert token != logic.client_request_token(event_id + "-2")


def test_a_valid_event_id_is_the_token() -> None:
    # GIVEN an EventBridge event id (a UUID) WHEN derived THEN the token is the id itself, up to 128 characters
    assert logic.client_request_token(EVENT_ID) == EVENT_ID
    assert logic.client_request_token("a" * 128) == "a" * 128
    assert logic.client_request_token("a" * 129) != "a" * 129


# --- CodePipeline faults ------------------------------------------------------------------------------------------


def test_a_missing_pipeline_is_a_clear_error(promoter_env: str, promotion: Promotion) -> None:
    # GIVEN PIPELINE_NAME names no pipeline (moto answers PipelineNotFoundException)
    # WHEN an Approved event is handled THEN PipelineStartError names the pipeline, the package and the code
    expected = re.escape(f"could not start pipeline '{promoter_env}' for {ARN}: PipelineNotFoundException: ")
    with pytest.raises(logic.PipelineStartError, match=expected) as info:
        handler(approved_event(), lambda_context())
    assert info.value.code == "PipelineNotFoundException"
    # AND the package is promoted all the same (a retry starts it again; a push would deploy it)
    assert promotion.promoted() == ARN


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries without their sleeps (the attempts are the same)."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


def test_throttling_is_retried_by_botocore(pipeline: Pipeline, no_backoff: None) -> None:
    # GIVEN CodePipeline throttles the first two StartPipelineExecution attempts
    throttled = throttle_calls(clients.codepipeline(), "StartPipelineExecution", failures=2)
    # WHEN an Approved event is handled THEN botocore retried and exactly one execution started
    out = handler(approved_event(), lambda_context())
    assert throttled == {"throttled": 2, "passed": 1}
    assert [e["pipelineExecutionId"] for e in pipeline.executions()] == [out["pipelineExecutionId"]]


def test_throttling_past_botocore_retries_surfaces(pipeline: Pipeline, no_backoff: None) -> None:
    # GIVEN CodePipeline throttles every attempt
    codepipeline = clients.codepipeline()
    throttled = throttle_calls(codepipeline, "StartPipelineExecution", failures=100)
    # WHEN an Approved event is handled THEN after botocore's attempts (1 + max_attempts=5 retries) the error surfaces
    with pytest.raises(logic.PipelineStartError, match=r"ThrottlingException: Rate exceeded") as info:
        handler(approved_event(), lambda_context())
    assert info.value.code == "ThrottlingException"
    assert throttled["throttled"] == codepipeline.meta.config.retries["total_max_attempts"] == 6
    assert pipeline.executions() == []


@pytest.mark.parametrize(
    "code", ["ConcurrentPipelineExecutionsLimitExceededException", "ConflictException", "ValidationException"]
)
def test_codepipeline_refusals_surface_with_their_code(
    promoter_env: str, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    # GIVEN CodePipeline (stubbed: moto never answers these) refuses the exact request the Lambda must send
    recorder = RecordingLogger()
    monkeypatch.setattr(logic, "logger", recorder)
    codepipeline = clients.codepipeline()
    with Stubber(codepipeline) as stub:
        stub.add_client_error(
            "start_pipeline_execution",
            service_error_code=code,
            service_message="injected",
            http_status_code=400,
            expected_params={
                "name": promoter_env,
                "variables": [{"name": VARIABLE, "value": ARN}],
                "clientRequestToken": EVENT_ID,
            },
        )
        # WHEN an Approved event is handled THEN the error surfaces with its code, and is logged
        with pytest.raises(logic.PipelineStartError, match=rf"{code}: injected") as info:
            handler(approved_event(), lambda_context())
        stub.assert_no_pending_responses()
    assert info.value.code == code
    [(level, message, extra)] = recorder.records
    assert (level, message, extra["error_code"]) == ("error", "pipeline not started", code)


# --- settings -----------------------------------------------------------------------------------------------------


def test_handler_reads_settings_per_invocation(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN REGISTRY_ACCOUNT unset after import WHEN the handler runs THEN it fails on settings, before any call
    monkeypatch.delenv("REGISTRY_ACCOUNT")
    with pytest.raises(SettingsError, match="REGISTRY_ACCOUNT is required"):
        handler(approved_event(), lambda_context())
    assert pipeline.executions() == []
