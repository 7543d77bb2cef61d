"""The fan-out state machine, as synthesized, run locally around the real handler: its Retry and Catch rules are
read from the template and interpreted here, with a simulated clock (waits are computed, recorded and skipped).

Supported: what the fan-out definition uses. Task (the function, or an SNS publish), Retry (ErrorEquals with
``States.ALL``, IntervalSeconds, BackoffRate, MaxAttempts, MaxDelaySeconds, JitterStrategy), Catch with
ResultPath, Choice on a boolean, Succeed and Fail.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns

from stacks.batch_stack import BatchStack
from stacks.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_TIMEOUT_ERROR = "Sandbox.Timedout"  # what Lambda reports when an invocation hits its timeout


class InvocationKilled(BaseException):  # a BaseException: the handler must not catch it, the runtime kills it
    """Raised inside the handler by a fault that hangs until the function's timeout."""


@dataclass(frozen=True)
class FanoutMachine:
    states: dict[str, Any]
    start_at: str
    timeout_ms: int
    environment: dict[str, Any]

    @classmethod
    def synthesize(cls, env: str, outdir: Path) -> FanoutMachine:
        """The real BatchStack for ``config/<env>.yaml``, on stand-ins for the other stacks' resources."""
        config = load_config(env)
        context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]  # cdk.json's feature flags
        app = App(context=context, outdir=str(outdir), analytics_reporting=False)
        where = Environment(account=config.account, region=config.region)
        deps = Stack(app, "Deps", env=where)
        batch = BatchStack(
            app,
            "Batch",
            env=where,
            config=config,
            key=kms.Key(deps, "Key"),
            predictions=s3.Bucket(deps, "Predictions"),
            artifacts=s3.Bucket(deps, "Artifacts"),
            transform_role=iam.Role(deps, "Transform", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com")),
            alerts=sns.Topic(deps, "Alerts"),
            subnet_ids=[],
            security_group_ids=[],
        )
        artifact = app.synth().get_stack_by_name(batch.stack_name)
        template = json.loads((outdir / artifact.template_file).read_text())
        return cls.from_template(template, f"esteira-{env}")

    @classmethod
    def from_template(cls, template: dict[str, Any], prefix: str) -> FanoutMachine:
        resources = list(template["Resources"].values())
        (machine,) = [
            r
            for r in resources
            if r["Type"] == "AWS::StepFunctions::StateMachine"
            and r["Properties"]["StateMachineName"] == f"{prefix}-fanout"
        ]
        parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
        definition = json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))
        (function,) = [
            r
            for r in resources
            if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == f"{prefix}-batch-fanout"
        ]
        return cls(
            definition["States"],
            definition["StartAt"],
            int(function["Properties"]["Timeout"]) * 1000,
            function["Properties"]["Environment"]["Variables"],
        )

    def retriers(self, state: str) -> list[dict[str, Any]]:
        return list(self.states[state].get("Retry", []))


class SimClock:
    """Simulated milliseconds; faults and waits advance it instead of sleeping."""

    def __init__(self) -> None:
        self.now_ms = 0.0

    def advance(self, ms: float) -> None:
        self.now_ms += ms


@dataclass
class Execution:
    status: str = "RUNNING"
    error: str | None = None
    cause: str | None = None
    invocations: int = 0
    task_errors: list[str] = field(default_factory=list)
    retry_delays_s: list[tuple[int, float, float]] = field(default_factory=list)  # (retry number, delay, cap)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    output: dict[str, Any] | None = None


def _matches(error: str, names: list[str]) -> bool:
    return error in names or ("States.ALL" in names and not error.startswith("States.Runtime"))


def delay_cap_s(retrier: dict[str, Any], retry_number: int) -> float:
    """ASL: IntervalSeconds * BackoffRate^(n-1), capped at MaxDelaySeconds; FULL jitter waits uniform [0, cap]."""
    cap = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** (retry_number - 1)
    return min(cap, float(retrier["MaxDelaySeconds"])) if "MaxDelaySeconds" in retrier else cap


class LocalStepFunctions:
    def __init__(
        self,
        machine: FanoutMachine,
        invoke: Callable[[dict[str, Any]], dict[str, Any]],
        clock: SimClock,
        seed: int = 0,
        max_transitions: int = 10_000,
        on_retry: Callable[[tuple[int, float, float]], None] | None = None,
    ) -> None:
        self.on_retry = on_retry
        self.machine = machine
        self.invoke = invoke
        self.clock = clock
        self.random = random.Random(seed)
        self.max_transitions = max_transitions

    def run(self, execution_input: dict[str, Any], start_at: str | None = None) -> Execution:
        """Run to the end; ``start_at`` a failed state, with its input, is what a redrive does."""
        execution = Execution()
        name, data = start_at or self.machine.start_at, execution_input
        for _ in range(self.max_transitions):
            state = self.machine.states[name]
            kind = state["Type"]
            if kind == "Succeed":
                execution.status, execution.output = "SUCCEEDED", data
                return execution
            if kind == "Fail":
                execution.status = "FAILED"
                execution.error, execution.cause = data["error"]["Error"], data["error"]["Cause"]
                return execution
            if kind == "Choice":
                name = next(
                    (c["Next"] for c in state["Choices"] if data.get(c["Variable"][2:]) == c["BooleanEquals"]),
                    state["Default"],
                )
                continue
            if kind != "Task":
                raise AssertionError(f"state type {kind} is not interpreted")
            if "sns:publish" in str(state["Resource"]):
                execution.notifications.append(data)
                name = state["Next"]
                continue
            outcome = self._task(name, state, data, execution)
            if isinstance(outcome, tuple):  # caught: (next state, data with the error)
                name, data = outcome
                continue
            if outcome is None:  # not retried and not caught: the execution fails in this state
                return execution
            data, name = outcome, state["Next"]
        raise AssertionError("too many transitions")

    def _task(
        self, name: str, state: dict[str, Any], data: dict[str, Any], execution: Execution
    ) -> dict[str, Any] | tuple[str, dict[str, Any]] | None:
        attempts: dict[int, int] = {}
        while True:
            execution.invocations += 1
            try:
                return self.invoke(data)
            except InvocationKilled:
                error, cause = LAMBDA_TIMEOUT_ERROR, "Task timed out"
            except Exception as exc:  # what Lambda reports for an unhandled exception
                error = type(exc).__name__
                cause = json.dumps({"errorType": error, "errorMessage": str(exc)})
            execution.task_errors.append(error)
            retrier_index = next(
                (i for i, r in enumerate(state.get("Retry", [])) if _matches(error, r["ErrorEquals"])), None
            )
            if retrier_index is not None:
                retrier = state["Retry"][retrier_index]
                attempts[retrier_index] = attempts.get(retrier_index, 0) + 1
                number = attempts[retrier_index]
                if number <= int(retrier.get("MaxAttempts", 3)):
                    cap = delay_cap_s(retrier, number)
                    delay = self.random.uniform(0, cap) if retrier.get("JitterStrategy") == "FULL" else cap
                    execution.retry_delays_s.append((number, delay, cap))
                    if self.on_retry is not None:
                        self.on_retry((number, delay, cap))
                    self.clock.advance(delay * 1000)
                    continue
            for catcher in state.get("Catch", []):
                if _matches(error, catcher["ErrorEquals"]):
                    assert catcher["ResultPath"] == "$.error"
                    return catcher["Next"], data | {"error": {"Error": error, "Cause": cause}}
            execution.status, execution.error, execution.cause = "FAILED", error, cause
            execution.output = {"failed_state": name, "input": data}
            return None
