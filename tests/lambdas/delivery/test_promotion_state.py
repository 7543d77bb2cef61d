"""Promotion, the state side: approvals and rejections move the promoted package (PROMOTED_PARAMETER) and its
rollback history (HISTORY_PARAMETER), and start the pipeline with the package to deploy, or ``none``.

Against moto in server mode over HTTP (SSM, CodePipeline). Each test starts from what the stack creates
(``none`` and ``[]``) or sets the parameters itself. Faults: SSM errors injected before a request leaves the
Lambda's client (``fail_put``), CodePipeline's through a botocore ``Stubber``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from common import clients
from delivery.promote import logic, state
from delivery.promote.arns import PACKAGE_ARN
from delivery.promote.handler import handler
from tests.lambdas.delivery.conftest import (
    VARIABLE,
    Pipeline,
    Promotion,
    approved_event,
    decision,
    package_arn,
    rejected_event,
)
from tests.lambdas.delivery.test_promote import RecordingLogger
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import lambda_context

A, B, C = package_arn(5), package_arn(6), package_arn(7)


def approve(version: int) -> dict[str, Any]:
    return handler(decision("Approved", version), lambda_context())


def reject(version: int) -> dict[str, Any]:
    return handler(decision("Rejected", version), lambda_context())


def deployed(pipeline: Pipeline) -> list[str]:
    """The package each execution deploys (the pipeline variable's resolved value), oldest first."""
    values = []
    for execution in reversed(pipeline.executions()):
        [variable] = pipeline.variables_of(execution["pipelineExecutionId"])
        assert variable["name"] == VARIABLE
        values.append(variable["resolvedValue"])
    return values


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def fail_put(parameter: str, code: str = "AccessDeniedException") -> list[str]:
    """Answer the Lambda's next PutParameter on ``parameter`` with HTTP 400 ``code`` (once), before it reaches the
    server. Returns the names of every PutParameter the Lambda attempted."""
    ssm = clients.ssm()
    attempted: list[str] = []

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        name = json.loads(request.body)["Name"]
        attempted.append(name)
        if name != parameter or attempted.count(name) > 1:
            return None
        body = json.dumps({"__type": code, "message": "injected"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _RawBody(body))

    ssm.meta.events.register("before-send.ssm.PutParameter", hook)
    return attempted


@pytest.fixture
def recorders(monkeypatch: pytest.MonkeyPatch) -> tuple[RecordingLogger, RecordingLogger]:
    """(logic's logger, state's logger), recording."""
    recorded = RecordingLogger(), RecordingLogger()
    monkeypatch.setattr(logic, "logger", recorded[0])
    monkeypatch.setattr(state, "logger", recorded[1])
    return recorded


# --- approvals ----------------------------------------------------------------------------------------------------


def test_approving_a_then_b_promotes_b_and_keeps_a_for_rollback(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN nothing promoted (the stack's "none" and [])
    # WHEN package A is approved, then package B
    first, second = approve(5), approve(6)
    # THEN B is promoted and A is the rollback target
    assert (promotion.promoted(), promotion.history()) == (B, [A])
    # AND two executions deployed A then B
    assert (first["modelPackageArn"], second["modelPackageArn"]) == (A, B)
    assert deployed(pipeline) == [A, B]


def test_a_redelivered_approval_adds_no_history_entry(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN A promoted, and an approval of B delivered twice (EventBridge delivers at least once)
    promotion.set(promoted=A)
    starts = count_calls(clients.codepipeline(), "StartPipelineExecution")
    event = decision("Approved", 6)
    # WHEN handled twice
    handler(event, lambda_context())
    before = promotion.versions()
    handler(event, lambda_context())
    # THEN A is in the history once, and the second delivery wrote nothing
    assert (promotion.promoted(), promotion.history()) == (B, [A])
    assert promotion.versions() == before
    # AND both starts carried the event id as token (CodePipeline runs one execution for both)
    assert [call["clientRequestToken"] for call in starts] == [event["id"], event["id"]]


def test_reapproving_an_earlier_package_takes_it_out_of_history(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN C promoted after B and A WHEN A is approved again
    promotion.set(promoted=C, history=[B, A])
    approve(5)
    # THEN A is promoted, C goes first in the history, and A is not in it
    assert (promotion.promoted(), promotion.history()) == (A, [C, B])


def test_history_keeps_the_20_newest(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN package 21 promoted, and a full history: 20 down to 1
    promotion.set(promoted=package_arn(21), history=[package_arn(v) for v in range(20, 0, -1)])
    # WHEN package 22 is approved
    approve(22)
    # THEN 21 joins the history first and the oldest, 1, drops out
    assert promotion.promoted() == package_arn(22)
    assert promotion.history() == [package_arn(v) for v in range(21, 1, -1)]


def test_a_full_history_of_the_longest_arns_fits_a_standard_parameter() -> None:
    # GIVEN the longest ARN the pattern admits (partition, region, group and version at their longest)
    longest = f"arn:aws-us-gov:sagemaker:{'x' * 16}:222222222222:model-package/{'g' * 63}/{'9' * 10}"
    assert PACKAGE_ARN.fullmatch(longest)
    # WHEN HISTORY_LIMIT of them are stored THEN the value stays under a standard parameter's 4 KB
    assert len(json.dumps([longest] * state.HISTORY_LIMIT)) <= 4096


# --- rejections ---------------------------------------------------------------------------------------------------


def test_rejecting_the_promoted_package_rolls_back(
    pipeline: Pipeline, promotion: Promotion, recorders: tuple[RecordingLogger, RecordingLogger]
) -> None:
    # GIVEN B promoted after A
    promotion.set(promoted=B, history=[A])
    # WHEN B is rejected
    out = reject(6)
    # THEN A is promoted again, the history is empty, and an execution deploys A
    assert (promotion.promoted(), promotion.history()) == (A, [])
    assert out == {
        "started": True,
        "pipelineExecutionId": out["pipelineExecutionId"],
        "rolledBackFrom": B,
        "modelPackageArn": A,
    }
    assert deployed(pipeline) == [A]
    # AND the rollback is logged, at info
    [(level, message, extra)] = recorders[0].records
    assert (level, message) == ("info", "pipeline started")
    assert (extra["rolled_back_from"], extra["rolled_back_to"]) == (B, A)


def test_rejecting_the_only_promoted_package_deploys_no_model(
    pipeline: Pipeline, promotion: Promotion, recorders: tuple[RecordingLogger, RecordingLogger]
) -> None:
    # GIVEN the realistic approval of package 7, handled
    handler(approved_event(), lambda_context())
    # WHEN the realistic rejection of package 7 arrives
    out = handler(rejected_event(), lambda_context())
    # THEN nothing is promoted, and an execution deploys "none" (the promoted stages keep their served state)
    assert (promotion.promoted(), promotion.history()) == ("none", [])
    assert (out["rolledBackFrom"], out["modelPackageArn"]) == (C, "none")
    assert deployed(pipeline) == [C, "none"]
    # AND a warning says so
    warnings = [message for level, message, _ in recorders[0].records if level == "warning"]
    assert warnings == [
        "rolling back to no model package: the promoted stages keep serving their served state's champion "
        "until an operator sets it to none (README: taking a model out of service)"
    ]


def test_rejecting_a_package_that_is_not_promoted_only_prunes_history(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN C promoted after B and A WHEN A is rejected
    promotion.set(promoted=C, history=[B, A])
    out = reject(5)
    # THEN A can no longer be rolled back to; C stays promoted and nothing starts
    assert (promotion.promoted(), promotion.history()) == (C, [B])
    assert out == {
        "started": False,
        "reason": f"{A} is not the promoted package ({C}); removed from the rollback history",
    }
    assert pipeline.executions() == []


def test_rejecting_an_unknown_package_writes_nothing(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN C promoted after B WHEN package 9, never promoted, is rejected
    promotion.set(promoted=C, history=[B])
    before = promotion.versions()
    out = reject(9)
    # THEN nothing is written and nothing starts
    assert out["started"] is False
    assert out["reason"].endswith("it was not in the rollback history either")
    assert (promotion.versions(), promotion.history(), pipeline.executions()) == (before, [B], [])


def test_a_redelivered_rejection_rolls_back_once(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN C promoted after B and A, and a rejection of C delivered twice
    promotion.set(promoted=C, history=[B, A])
    event = decision("Rejected", 7)
    # WHEN handled twice
    first = handler(event, lambda_context())
    second = handler(event, lambda_context())
    # THEN the first rolled back to B; the second found C no longer promoted and did not roll back to A
    assert (first["modelPackageArn"], second["started"]) == (B, False)
    assert (promotion.promoted(), promotion.history()) == (B, [A])
    assert deployed(pipeline) == [B]


def test_approve_then_reject_in_sequence(pipeline: Pipeline, promotion: Promotion) -> None:
    # GIVEN A, B, C approved in turn
    for version in (5, 6, 7):
        approve(version)
    # WHEN C is rejected, then B
    reject(7)
    reject(6)
    # THEN A is promoted with nothing behind it, and the pipeline deployed A, B, C, B, A
    assert (promotion.promoted(), promotion.history()) == (A, [])
    assert deployed(pipeline) == [A, B, C, B, A]


# --- what the parameters hold: checked before anything is written -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "raw", "problem"),
    [
        ("Approved", "[arn]", "not JSON"),
        ("Rejected", "[arn]", "not JSON"),
        ("Approved", '{"promoted": []}', "a JSON dict, not a list"),
        ("Rejected", '"[]"', "a JSON str, not a list"),
        ("Approved", '["esteira-staging-model/5"]', "entries that are not versioned model package ARNs"),
        ("Rejected", f'["{A}", 5]', "entries that are not versioned model package ARNs: [5]"),
    ],
)
def test_malformed_history_is_a_named_error_and_left_alone(
    pipeline: Pipeline, promotion: Promotion, status: str, raw: str, problem: str
) -> None:
    # GIVEN C promoted and a history this Lambda never writes
    promotion.set(promoted=C, history=raw)
    before = promotion.versions()
    # WHEN a decision arrives THEN MalformedParameterError names the parameter and the problem
    with pytest.raises(state.MalformedParameterError, match="HISTORY_PARAMETER") as info:
        handler(decision(status, 6 if status == "Approved" else 7), lambda_context())
    assert info.value.parameter == promotion.history_parameter
    assert promotion.history_parameter in str(info.value) and problem in str(info.value)
    # AND both parameters are untouched, and nothing started
    assert (promotion.versions(), promotion.promoted(), promotion.raw_history()) == (before, C, raw)
    assert pipeline.executions() == []


@pytest.mark.parametrize("value", ["current", "None", package_arn(5).rsplit("/", 1)[0]])
def test_a_malformed_promoted_value_is_a_named_error(pipeline: Pipeline, promotion: Promotion, value: str) -> None:
    # GIVEN PROMOTED_PARAMETER holds neither an ARN nor "none"
    promotion.set(promoted=value)
    # WHEN an approval arrives THEN MalformedParameterError, and nothing written or started
    with pytest.raises(state.MalformedParameterError, match="PROMOTED_PARAMETER") as info:
        approve(6)
    assert info.value.parameter == promotion.promoted_parameter
    assert (promotion.promoted(), promotion.history(), pipeline.executions()) == (value, [], [])


@pytest.mark.parametrize("variable", ["PROMOTED_PARAMETER", "HISTORY_PARAMETER"])
def test_a_missing_parameter_is_a_named_error(
    pipeline: Pipeline, promotion: Promotion, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # GIVEN one of the variables names a parameter that does not exist
    missing = f"/esteira-missing/{variable.lower()}"
    monkeypatch.setenv(variable, missing)
    # WHEN an approval arrives THEN MissingParameterError names it and its variable
    with pytest.raises(state.MissingParameterError, match=f"'{missing}' \\({variable}\\) does not exist") as info:
        approve(6)
    assert (info.value.parameter, info.value.code) == (missing, "ParameterNotFound")
    # AND nothing was written or started
    assert (promotion.versions(), pipeline.executions()) == ((1, 1), [])


# --- interrupted invocations: a retry of the same event finishes the job ------------------------------------------


def test_a_rollback_whose_start_fails_changes_nothing_and_its_retry_rolls_back(
    pipeline: Pipeline, promotion: Promotion
) -> None:
    # GIVEN B promoted after A, and CodePipeline refusing the first start
    promotion.set(promoted=B, history=[A])
    before = promotion.versions()
    event = decision("Rejected", 6)
    with Stubber(clients.codepipeline()) as stub:
        stub.add_client_error(
            "start_pipeline_execution", "ConcurrentPipelineExecutionsLimitExceededException", "injected", 400
        )
        # WHEN the rejection is handled THEN PipelineStartError, and the parameters are as they were
        with pytest.raises(logic.PipelineStartError):
            handler(event, lambda_context())
    assert (promotion.versions(), promotion.promoted()) == (before, B)
    # WHEN Lambda retries the event THEN the rollback happens
    assert handler(event, lambda_context())["modelPackageArn"] == A
    assert (promotion.promoted(), promotion.history(), deployed(pipeline)) == (A, [], [A])


def test_a_rollback_interrupted_before_the_history_write_is_finished_by_its_retry(
    pipeline: Pipeline, promotion: Promotion
) -> None:
    # GIVEN C promoted after B and A, and SSM failing the history write once
    promotion.set(promoted=C, history=[B, A])
    attempted = fail_put(promotion.history_parameter)
    event = decision("Rejected", 7)
    # WHEN the rejection is handled THEN ParameterStoreError, after the start and the promoted write
    with pytest.raises(state.ParameterStoreError, match=r"could not write .*AccessDeniedException") as info:
        handler(event, lambda_context())
    assert (info.value.parameter, info.value.code) == (promotion.history_parameter, "AccessDeniedException")
    assert attempted == [promotion.promoted_parameter, promotion.history_parameter]
    assert (promotion.promoted(), promotion.history()) == (B, [B, A])
    # WHEN Lambda retries the event THEN B is out of the history, and there is no second rollback to A
    assert handler(event, lambda_context())["started"] is False
    assert (promotion.promoted(), promotion.history(), deployed(pipeline)) == (B, [A], [B])


def test_an_approval_interrupted_before_the_promoted_write_is_finished_by_its_retry(
    pipeline: Pipeline, promotion: Promotion
) -> None:
    # GIVEN A promoted, and SSM failing the promoted write once
    promotion.set(promoted=A)
    fail_put(promotion.promoted_parameter)
    event = decision("Approved", 6)
    # WHEN the approval is handled THEN ParameterStoreError, with A already in the history and nothing started
    with pytest.raises(state.ParameterStoreError):
        handler(event, lambda_context())
    assert (promotion.promoted(), promotion.history(), pipeline.executions()) == (A, [A], [])
    # WHEN Lambda retries the event THEN B is promoted, A is in the history once, and B deployed
    handler(event, lambda_context())
    assert (promotion.promoted(), promotion.history(), deployed(pipeline)) == (B, [A], [B])


def test_another_writer_between_read_and_write_is_logged(
    pipeline: Pipeline, promotion: Promotion, recorders: tuple[RecordingLogger, RecordingLogger]
) -> None:
    # GIVEN another writer puts the history while the Lambda is between its read and its write
    promotion.set(promoted=A)
    ssm = clients.ssm()
    other_writes: list[str] = []

    def other_writer(params: dict[str, Any], **_: Any) -> None:
        if params["Name"] == promotion.history_parameter and not other_writes:
            other_writes.append(params["Name"])
            promotion.set(history=[C])

    ssm.meta.events.register("provide-client-params.ssm.PutParameter", other_writer)
    # WHEN an approval is handled THEN it completes (last writer wins) and warns about the other writer
    approve(6)
    assert promotion.history() == [A]
    [(level, message, extra)] = recorders[1].records
    assert (level, message) == ("warning", "parameter changed by another writer since it was read")
    assert extra == {"parameter": promotion.history_parameter, "read_version": 1, "written_version": 3}
