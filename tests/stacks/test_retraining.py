"""Retraining on drift: the rules, their target, the trigger's environment and its least-privilege role."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.retraining import RetrainSettings
from stacks.config import load_config
from stacks.constructs.retraining import HANDLER
from stacks.quality_config import QualityConfig
from stacks.retraining_config import RetrainingConfig
from tests.stacks.conftest import SynthesizedEnv, synthesize

Synth = Callable[[str], SynthesizedEnv]
MONITORED = ["staging", "prod"]  # the environments with a data-quality monitor


def trigger_function(template: Template) -> dict[str, Any]:
    functions = template.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})
    (function,) = functions.values()
    return dict(function)


def rules(template: Template, detail_type: str) -> list[dict[str, Any]]:
    found = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"EventPattern": {"detail-type": [detail_type]}}}
    )
    return [rule["Properties"] for rule in found.values()]


def render(value: Any) -> str:
    """A Fn::Join of strings and references, flattened (references as '<ref>') to compare with a name."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(render(part) for part in value["Fn::Join"][1])
    return "<ref>"


@pytest.mark.parametrize("env", MONITORED)
def test_violations_of_this_envs_schedule_invoke_the_trigger(synth: Synth, env: str) -> None:
    # GIVEN an environment whose serving stack monitors data quality
    synthesized = synth(env)
    training = synthesized.templates["Training"]
    (schedule,) = (
        synthesized.templates["Serving"]
        .find_resources(
            "AWS::SageMaker::MonitoringSchedule",
            {"Properties": {"MonitoringScheduleConfig": Match.object_like({"MonitoringType": "DataQuality"})}},
        )
        .values()
    )
    schedule_name = schedule["Properties"]["MonitoringScheduleName"]

    # WHEN the training stack's retraining rule is read
    (rule,) = [
        r
        for r in rules(training, "SageMaker Processing Job State Change")
        if "MonitoringScheduleArn" in r["EventPattern"]["detail"]
    ]

    # THEN only completed executions with violations of that schedule match, and the trigger function is the target
    detail = rule["EventPattern"]["detail"]
    assert rule["EventPattern"]["source"] == ["aws.sagemaker"]
    assert detail["ProcessingJobStatus"] == ["Completed"]
    assert detail["ExitMessage"] == [{"prefix": "CompletedWithViolations"}]
    (arn,) = detail["MonitoringScheduleArn"]
    assert render(arn).endswith(f":monitoring-schedule/{schedule_name.lower()}")
    (target,) = rule["Targets"]
    function_id = next(iter(training.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})))
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_devs_own_quality_alarm_is_its_only_retraining_trigger(synth: Synth) -> None:
    # GIVEN dev: no data-quality monitor, and the model-quality alarm the training stack creates (training.quality)
    training = synth("dev").templates["Training"]
    (alarm_id,) = training.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "esteira-dev-model-quality"}}
    )
    # THEN that alarm's ALARM state is the one rule invoking the trigger
    (rule,) = rules(training, "CloudWatch Alarm State Change")
    assert rule["EventPattern"]["resources"] == [{"Fn::GetAtt": [alarm_id, "Arn"]}]
    assert not [
        r
        for r in rules(training, "SageMaker Processing Job State Change")
        if "MonitoringScheduleArn" in r["EventPattern"]["detail"]
    ]
    trigger_function(training)


def test_without_monitor_or_quality_alarm_there_is_no_retraining(tmp_path: Path) -> None:
    # GIVEN dev (no data-quality monitor) with training.quality disabled
    base = load_config("dev")
    quality = QualityConfig(enabled=False)
    config = base.model_copy(update={"training": base.training.model_copy(update={"quality": quality})})
    # WHEN synthesized
    training = synthesize("dev", tmp_path, config).templates["Training"]
    # THEN nothing can trigger, so there is no trigger function, table or rule
    assert not training.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}})
    assert not training.find_resources("AWS::DynamoDB::GlobalTable")
    assert not rules(training, "CloudWatch Alarm State Change")
    # AND nothing of the quality publishing either: no publisher, no alarm, no PublishModelQuality step
    quality_handler = "training.quality.handler.handler"
    assert not training.find_resources("AWS::Lambda::Function", {"Properties": {"Handler": quality_handler}})
    assert not training.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "esteira-dev-model-quality"}}
    )
    (machine,) = training.find_resources("AWS::StepFunctions::StateMachine").values()
    assert "PublishModelQuality" not in str(machine["Properties"]["DefinitionString"])


@pytest.mark.parametrize("env", MONITORED)
def test_trigger_environment_is_the_contract_from_config(synth: Synth, env: str) -> None:
    # GIVEN the synthesized trigger function
    synthesized = synth(env)
    variables = trigger_function(synthesized.templates["Training"])["Properties"]["Environment"]["Variables"]
    # THEN it carries the contract's names and the config's window, in seconds
    hours = synthesized.config.training.retraining.min_interval_hours
    assert variables["MIN_INTERVAL_SECONDS"] == str(hours * 3600)
    assert variables["ENV_NAME"] == env
    assert set(RetrainSettings.names()) <= set(variables)


@pytest.mark.parametrize("env", MONITORED)
def test_trigger_role_starts_only_the_training_state_machine(synth: Synth, env: str) -> None:
    # GIVEN the trigger's role policy
    training = synth(env).templates["Training"]
    (machine_id,) = training.find_resources("AWS::StepFunctions::StateMachine")
    function = trigger_function(training)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in training.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for group in policies for s in group]

    # THEN states:StartExecution is allowed on the training state machine only, and DynamoDB only item calls
    starts = [s for s in statements if "states:StartExecution" in _actions(s)]
    assert [s["Resource"] for s in starts] == [{"Ref": machine_id}]
    assert all(_actions(s) == ["states:StartExecution"] for s in starts)
    dynamo = sorted(a for s in statements for a in _actions(s) if a.startswith("dynamodb:"))
    assert dynamo == ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]
    assert not any(a.startswith("states:") and a != "states:StartExecution" for s in statements for a in _actions(s))


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_debounce_table_is_encrypted_and_keyed_by_env(synth: Synth) -> None:
    training = synth("prod").templates["Training"]
    training.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TableName": "esteira-prod-retraining",
            "KeySchema": [{"AttributeName": "env", "KeyType": "HASH"}],
            "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
        },
    )


def test_a_configured_quality_alarm_triggers_on_alarm(tmp_path: Path) -> None:
    # GIVEN dev with a model-quality alarm named in training.retraining
    base = load_config("dev")
    retraining = RetrainingConfig(quality_alarm_name="esteira-dev-model-quality-auc")
    config = base.model_copy(update={"training": base.training.model_copy(update={"retraining": retraining})})

    # WHEN synthesized
    training = synthesize("dev", tmp_path, config).templates["Training"]

    # THEN the named alarm's ALARM state invokes the trigger instead of the stack's own (which still notifies), and
    # no monitoring rule exists (dev has no monitor)
    assert training.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "esteira-dev-model-quality"}})
    (rule,) = rules(training, "CloudWatch Alarm State Change")
    assert rule["EventPattern"]["source"] == ["aws.cloudwatch"]
    assert rule["EventPattern"]["detail"] == {"state": {"value": ["ALARM"]}}
    (alarm_arn,) = rule["EventPattern"]["resources"]
    assert render(alarm_arn).endswith(":alarm:esteira-dev-model-quality-auc")
    assert not [
        r
        for r in rules(training, "SageMaker Processing Job State Change")
        if "MonitoringScheduleArn" in r["EventPattern"]["detail"]
    ]
    trigger_function(training)
