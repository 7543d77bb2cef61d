"""The whole fan-out loop under faults: the synthesized state machine's Retry and Catch rules, interpreted around the
real handler, against the moto server over HTTP with faults injected into the real clients; then the real consumer.

Time is simulated (``tests/lambdas/sfn_local.py``): every SendMessageBatch call takes ``call_ms``, a hang lasts until
the function's timeout, and the sender's and Step Functions' waits are computed, checked against their caps and
skipped. The checks: 0 lost and 0 duplicated on the queue (every re-send came within 5 simulated minutes of the
first accepted send, and the queue holds each prediction once), 0 lost in the table.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from batch.consumer.handler import handler as consumer_handler
from batch.fanout import errors, sender
from batch.fanout.handler import handler as fanout_handler
from batch.fanout.state import summary_key
from common import clients
from esteira_contracts.fanout import NON_RETRYABLE_ERRORS, FanoutSettings
from tests.lambdas.fanout_faults import FaultPlan, FaultRates, Schedule
from tests.lambdas.helpers import FIXTURES, RUN_ID, AwsResources, lambda_context
from tests.lambdas.sfn_local import LAMBDA_TIMEOUT_ERROR, FanoutMachine, InvocationKilled, LocalStepFunctions, SimClock

PREFIX = f"batch-output/{RUN_ID}/"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "stacks" / "__snapshots__" / "test_snapshots"
BATCH_TEMPLATE = SNAPSHOTS / "test_stack_templates_match_snapshots[dev][dev-Batch].json"


def snapshot_template() -> dict[str, Any]:
    """The template part of the snapshot (it also lists the assets' files)."""
    template: dict[str, Any] = json.loads(BATCH_TEMPLATE.read_text())["template"]
    return template


@pytest.fixture(scope="module")
def machine() -> FanoutMachine:
    """The dev Batch stack's template as synthesized (test_snapshots keeps this file equal to `cdk synth`)."""
    return FanoutMachine.from_template(snapshot_template(), "esteira-dev")


@dataclass
class Run:
    aws: AwsResources
    machine: FanoutMachine
    clock: SimClock
    plan: FaultPlan
    backoffs_s: list[float]
    retry_delays_s: list[tuple[int, float, float]] = field(default_factory=list)  # (retry number, delay, cap)
    sfn: LocalStepFunctions = field(init=False)

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One Lambda invocation: a JSON round trip of the payload, a context counting down the function's timeout."""
        deadline = self.clock.now_ms + self.machine.timeout_ms
        self.plan.invocation_deadline_ms = deadline
        context = lambda_context(lambda: int(deadline - self.clock.now_ms))
        try:
            result: dict[str, Any] = fanout_handler(json.loads(json.dumps(payload)), context)
            return result
        except InvocationKilled:
            self.clock.now_ms = max(self.clock.now_ms, deadline)
            raise
        finally:
            self.plan.invocation_deadline_ms = float("inf")

    def first_input(self) -> dict[str, Any]:
        """The EventBridge event of the completed transform job, as the rule starts the execution with it."""
        event: dict[str, Any] = json.loads((FIXTURES / "transform_job_completed_event.json").read_text())
        event["detail"]["TransformJobName"] = RUN_ID
        event["detail"]["TransformOutput"]["S3OutputPath"] = f"s3://{self.aws.bucket}/{PREFIX}"
        return event


def start(
    aws: AwsResources,
    machine: FanoutMachine,
    monkeypatch: pytest.MonkeyPatch,
    *,
    seed: int,
    rates: FaultRates | None = None,
    schedule: Schedule | None = None,
    call_ms: float = 2_000,
) -> Run:
    # The function's environment as synthesized; deploy-time values become the test's resources.
    for name, value in machine.environment.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("QUEUE_URL", aws.queue_url)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    for name, value in aws.consumer_env().items():
        monkeypatch.setenv(name, value)
    clock = SimClock()
    plan = FaultPlan(clients.sqs(), clients.s3(), clock, seed=seed, rates=rates, schedule=schedule, call_ms=call_ms)
    backoffs: list[float] = []

    def pause(seconds: float) -> None:
        backoffs.append(seconds)
        clock.advance(seconds * 1000)

    monkeypatch.setattr(sender, "pause", pause)
    run = Run(aws, machine, clock, plan, backoffs)
    run.sfn = LocalStepFunctions(machine, run.invoke, clock, seed=seed, on_retry=run.retry_delays_s.append)
    return run


def entity_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [json.loads(m["Body"])["entity_id"] for m in messages]


def consume_all(aws: AwsResources) -> list[str]:
    """Drain the queue, then hand the messages to the real consumer 10 at a time; returns the entity ids received."""
    messages = aws.drain()
    for index in range(0, len(messages), 10):
        response = consumer_handler(aws.lambda_event(messages[index : index + 10]), lambda_context(name="consumer"))
        assert response["batchItemFailures"] == []
    return entity_ids(messages)


def assert_nothing_lost_or_duplicated(run: Run, ids: list[str], *, consume: bool = True) -> None:
    """``consume``: also run the real consumer and check the table (the slow part: ~3 DynamoDB calls a message)."""
    received = consume_all(run.aws) if consume else entity_ids(run.aws.drain())
    # 0 duplicated on the queue: each prediction received once, and no re-send came after the 5-minute window
    assert len(received) == len(set(received)), "a prediction reached the queue twice"
    assert run.plan.resends_outside_the_window() == {}
    # 0 lost on the queue, 0 lost in the table
    assert sorted(received) == ids
    if consume:
        assert sorted(run.aws.scan_predictions()) == ids
    # AND the summary's stats count each line once, across retries and handovers
    stats = run.aws.get_json(summary_key(RUN_ID))["stats"]
    assert (stats["lines"], stats["sent"], stats["quarantined"]) == (len(ids), len(ids), 0)


def assert_waits_were_computed_within_their_caps(run: Run) -> None:
    settings = FanoutSettings.from_env()
    assert all(0 <= delay <= settings.send_max_delay_ms / 1000 for delay in run.backoffs_s)
    retrier = run.machine.retriers("FanOut")[-1]
    assert retrier["JitterStrategy"] == "FULL"
    for number, delay, cap in run.retry_delays_s:
        expected = min(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** (number - 1), retrier["MaxDelaySeconds"])
        assert cap == expected and 0 <= delay <= cap


def test_the_runtime_error_names_are_the_ones_the_state_machine_does_not_retry() -> None:
    names = {errors.InvalidFanoutRequestError, errors.OutputObjectError, errors.QueueRejectedError}
    assert {cls.__name__ for cls in names} == set(NON_RETRYABLE_ERRORS)
    assert errors.SendFailedError.__name__ not in NON_RETRYABLE_ERRORS


def test_every_fault_is_retried_from_the_cursor_and_each_prediction_arrives_once(
    aws: AwsResources, machine: FanoutMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 3 transform outputs of 120 predictions, and SQS throttles, partial failures (some delivered although
    # reported failed), 5xx after the batch was enqueued, a crash after enqueue, a hang until the Lambda timeout,
    # a throttle storm that outlasts the sender's 8 attempts, and two S3 bodies reset mid-stream
    ids = aws.put_predictions(PREFIX, objects=3, per_object=120)
    schedule = Schedule(
        hang={8},
        crash={17},
        throttle=set(range(24, 32)),
        error_after_enqueue={34, 38},
        break_body_after_bytes={1: 700, 3: 1_500},
    )
    rates = FaultRates(throttle=0.05, partial=0.15)
    # (15 s a call: an invocation sends about 10 batches before it hands over, so there are several)
    run = start(aws, machine, monkeypatch, seed=7, rates=rates, schedule=schedule, call_ms=15_000)
    # WHEN the state machine runs the fan-out from the transform's Completed event
    execution = run.sfn.run(run.first_input())
    # THEN it succeeded, after retrying the invocations that failed
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert {LAMBDA_TIMEOUT_ERROR, "ConnectionResetError", "SendFailedError"} <= set(execution.task_errors)
    assert execution.notifications == []
    injected = run.plan.injected
    assert min(injected[kind] for kind in ("hang", "crash", "throttle", "partial", "5xx_after_enqueue")) >= 1
    assert injected["s3_reset"] == 2
    # AND nothing was lost or duplicated, on the queue or in the table
    assert_nothing_lost_or_duplicated(run, ids)
    assert_waits_were_computed_within_their_caps(run)


def test_what_retrying_cannot_fix_is_notified_naming_the_object_and_line(
    aws: AwsResources, machine: FanoutMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an output object that disappears between the listing and its read
    aws.put_predictions(PREFIX, objects=2, per_object=30)
    missing = f"{PREFIX}part-001.csv.out"
    run = start(aws, machine, monkeypatch, seed=1, schedule=Schedule(missing_object={missing}))
    # WHEN the state machine runs
    execution = run.sfn.run(run.first_input())
    # THEN it is not retried: one notification naming the object and the line, then the execution fails
    assert execution.task_errors == ["OutputObjectError"]
    assert execution.status == "FAILED" and execution.error == "OutputObjectError"
    [notification] = execution.notifications
    assert f"s3://{aws.bucket}/{missing} line 1" in notification["error"]["Cause"]


def test_a_run_that_exhausts_its_retries_fails_in_the_task_and_a_redrive_resumes_from_the_cursor(
    aws: AwsResources, machine: FanoutMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN SendMessageBatch throttled long enough for every attempt the state machine allows to give up
    ids = aws.put_predictions(PREFIX, objects=2, per_object=60)
    attempts = 1 + machine.retriers("FanOut")[-1]["MaxAttempts"]
    storm = set(range(10, 10 + attempts * FanoutSettings.from_env({"QUEUE_URL": "q"}).send_max_attempts))
    run = start(aws, machine, monkeypatch, seed=3, schedule=Schedule(throttle=storm))
    # WHEN the state machine runs THEN the execution fails in the FanOut state itself (redrivable), not via a Catch
    execution = run.sfn.run(run.first_input())
    assert (execution.status, execution.error) == ("FAILED", "SendFailedError")
    assert execution.output is not None and execution.output["failed_state"] == "FanOut"
    assert execution.task_errors == ["SendFailedError"] * attempts
    # WHEN the storm is over and the execution is redriven (the failed state runs again with its input)
    redrive = copy.deepcopy(execution.output["input"])
    redriven = run.sfn.run(redrive, start_at="FanOut")
    # THEN it completes, and no accepted message was ever sent again: the retries and the redrive resumed from
    # the cursor saved when the sender gave up, not from the input's
    assert redriven.status == "SUCCEEDED"
    assert all(len(times) == 1 for times in run.plan.accepted.values())
    assert_nothing_lost_or_duplicated(run, ids, consume=False)


@pytest.fixture(scope="module")
def synthesized_machine(tmp_path_factory: pytest.TempPathFactory) -> FanoutMachine:
    """The dev Batch stack synthesized now, once for the seeds below."""
    return FanoutMachine.synthesize("dev", tmp_path_factory.mktemp("batch-synth"))


def run_under_random_faults(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch, machine: FanoutMachine, seed: int, per_object: int
) -> None:
    # GIVEN the fan-out machine synthesized now (equal to the snapshot's), 3 objects of per_object predictions, and
    # random faults of every kind at seed-chosen places among the run's SendMessageBatch calls (10 messages each), as
    # many per call at every size: at 2,000 an object 3 hangs, 3 crashes and 2 throttling storms in 600 calls
    snapshot = FanoutMachine.from_template(snapshot_template(), "esteira-dev")
    assert machine.states == snapshot.states and machine.timeout_ms == snapshot.timeout_ms
    ids = aws.put_predictions(PREFIX, objects=3, per_object=per_object)
    calls = range(5, len(ids) // 10)
    per_kind, storms = max(1, round(3 * per_object / 2_000)), max(1, round(2 * per_object / 2_000))
    rng = random.Random(seed)
    schedule = Schedule(
        hang=set(rng.sample(calls, per_kind)),
        crash=set(rng.sample(calls, per_kind)),
        throttle={call for start_ in rng.sample(calls, storms) for call in range(start_, start_ + 9)},
        # a body cut inside an object (each line is 22 bytes)
        break_body_after_bytes={rng.randint(1, 4): rng.randint(1, 20 * per_object) for _ in range(3)},
    )
    rates = FaultRates(throttle=0.05, partial=0.1, error_after_enqueue=0.03)
    run = start(aws, machine, monkeypatch, seed=seed, rates=rates, schedule=schedule, call_ms=2_000)
    # WHEN the state machine runs
    execution = run.sfn.run(run.first_input())
    # THEN it succeeded, and nothing was lost or duplicated
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert run.plan.injected["hang"] >= 1 and run.plan.injected["5xx_after_enqueue"] >= 1
    assert_nothing_lost_or_duplicated(run, ids)
    assert_waits_were_computed_within_their_caps(run)


@pytest.mark.faults
@pytest.mark.parametrize("seed", [11, 23, 42])
@pytest.mark.parametrize(
    "per_object",
    [
        pytest.param(500, id="1500"),  # 150 send calls a seed, in every `make test`
        pytest.param(2_000, id="6000", marks=pytest.mark.full_scale),  # ~18 s a seed: opt-in with `-m full_scale`
    ],
)
def test_predictions_under_random_faults(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch, synthesized_machine: FanoutMachine, seed: int, per_object: int
) -> None:
    run_under_random_faults(aws, monkeypatch, synthesized_machine, seed, per_object)
