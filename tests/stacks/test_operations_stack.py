"""Operations: one dashboard per environment covering every stage, and alarms wired to the alerts topic."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]


def dashboard_body(template: Template) -> str:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    body: Any = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    return "".join(part if isinstance(part, str) else json.dumps(part) for part in parts)


@pytest.mark.parametrize("env", ENVS)
def test_dashboard_covers_extraction_training_queue_and_consumers(synth: Synth, env: str) -> None:
    template = synth(env).templates["Operations"]
    template.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": f"esteira-{env}-operations"})
    body = dashboard_body(template)
    for expected in (
        "Extraction runs per day",
        "glue.driver.aggregate.elapsedTime",
        "Training executions",
        "ExecutionsFailed",
        "validation:auc",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "consumer errors",
    ):
        assert expected in body, expected


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_dashboard_shows_the_endpoint_with_or_without_the_model_flag(
    synth: Synth, synth_with_model: Synth, env: str
) -> None:
    # The Serving template holds the endpoint either way (it serves the served state), so the dashboard does too.
    body = dashboard_body(synth(env).templates["Operations"])
    assert body == dashboard_body(synth_with_model(env).templates["Operations"])
    for expected in ("Invocations", "ModelLatency", "p99", "Invocation5XXErrors", "Invocation4XXErrors", "instances"):
        assert expected in body, expected
    assert "No model configured" not in body


@pytest.mark.parametrize("env", ENVS)
def test_operational_alarms_notify_the_alerts_topic(synth: Synth, env: str) -> None:
    template = synth(env).templates["Operations"]
    for name in ("training-failed", "fanout-failed", "consumer-errors"):
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {"AlarmName": f"esteira-{env}-{name}", "AlarmActions": [Match.any_value()]},
        )


@pytest.mark.parametrize("env", ENVS)
def test_training_failed_counts_failed_executions_and_gate_rejections_have_their_own_metric(
    synth: Synth, env: str
) -> None:
    synthesized = synth(env)
    operations, training = synthesized.templates["Operations"], synthesized.templates["Training"]
    # GIVEN the training-failed alarm THEN it counts the state machine's failed executions, which no rejection is
    operations.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"esteira-{env}-training-failed",
            "Namespace": "AWS/States",
            "MetricName": "ExecutionsFailed",
            "Threshold": 1,
            "AlarmActions": [Match.any_value()],
        },
    )
    states = json.dumps(training.find_resources("AWS::StepFunctions::StateMachine"))
    assert "QualityGateFailed" not in states and '\\"GateRejected\\":{\\"Type\\":\\"Pass\\"' in states
    # AND each execution that enters GateRejected (or, with training.bias, BiasGateRejected) counts once in
    # esteira/<env> TrainingGateRejections
    rejected = '($.details.name = "GateRejected")'
    if synthesized.config.training.bias.enabled:
        rejected = f'({rejected} || ($.details.name = "BiasGateRejected"))'
    training.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "FilterPattern": f'{{ ($.type = "PassStateEntered") && {rejected} }}',
            "MetricTransformations": [
                {
                    "MetricNamespace": f"esteira/{env}",
                    "MetricName": "TrainingGateRejections",
                    "MetricValue": "1",
                    "DefaultValue": 0,
                }
            ],
        },
    )
    # AND the dashboard shows rejections apart from failures
    body = dashboard_body(operations)
    assert "TrainingGateRejections" in body and "rejected by the gate" in body
