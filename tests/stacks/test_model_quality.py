"""Ground-truth model quality in the training stack (prod synth with a model): the publisher's contract and
least-privilege grants, the state machine's permission to invoke it, and the model-quality alarm that retrains."""

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.model_quality import QualityPublisherSettings
from stacks.config import TrainingConfig, load_config
from stacks.constructs.quality_alarm import QualityAlarmSettings, judged_expression
from stacks.quality_config import quality_alarm_metric
from tests.stacks.conftest import SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]
HANDLER = "training.quality.handler.handler"


@pytest.fixture(scope="module")
def prod(synth_with_model: Synth) -> SynthesizedEnv:
    return synth_with_model("prod")


def publisher(template: Template) -> tuple[str, Mapping[str, Any]]:
    ((logical_id, function),) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": HANDLER}}
    ).items()
    return logical_id, function


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement["Action"]
    return [found] if isinstance(found, str) else list(found)


def test_the_publisher_is_configured_by_its_contract(prod: SynthesizedEnv) -> None:
    _, function = publisher(prod.templates["Training"])
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["METRICS_NAMESPACE"] == "Esteira/prod/ModelQuality"
    assert variables["MIN_LABELLED_PREDICTIONS"] == str(prod.config.training.quality.min_labelled_predictions)
    assert variables["REPORT_PREFIX"] == "monitoring/model-quality/"
    assert set(QualityPublisherSettings.required_names()) <= set(variables)


def test_the_publisher_reads_only_reports_and_puts_metrics_only_in_its_namespace(prod: SynthesizedEnv) -> None:
    training = prod.templates["Training"]
    _, function = publisher(training)
    statements = role_statements(training, function["Properties"]["Role"]["Fn::GetAtt"][0])
    # THEN S3: only GetObject, only under monitoring/model-quality/ of the artifacts bucket
    s3 = [s for s in statements if any(a.startswith("s3:") for a in actions(s))]
    assert len(s3) == 1 and actions(s3[0]) == ["s3:GetObject"]
    resource = s3[0]["Resource"]
    assert isinstance(resource, dict) and resource["Fn::Join"][1][-1] == "/monitoring/model-quality/*", resource
    # AND CloudWatch: PutMetricData alone, conditioned on the environment's namespace
    (put,) = [s for s in statements if any(a.startswith("cloudwatch:") for a in actions(s))]
    assert put == {
        "Action": "cloudwatch:PutMetricData",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "Esteira/prod/ModelQuality"}},
        "Effect": "Allow",
        "Resource": "*",
        "Sid": "PutQualityMetrics",
    }


def test_the_state_machine_invokes_the_publisher(prod: SynthesizedEnv) -> None:
    training = prod.templates["Training"]
    function_id, _ = publisher(training)
    (machine,) = training.find_resources("AWS::StepFunctions::StateMachine").values()
    role_id = machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    invokes = [s for s in role_statements(training, role_id) if "lambda:InvokeFunction" in actions(s)]
    resources = [r for s in invokes for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert {"Fn::GetAtt": [function_id, "Arn"]} in resources
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    assert any(isinstance(p, str) and '"PublishModelQuality":{' in p for p in parts)


def test_the_model_quality_alarm_judges_the_latest_version_over_enough_labels(prod: SynthesizedEnv) -> None:
    training = prod.templates["Training"]
    quality = prod.config.training.quality
    latest = [{"Name": "Scope", "Value": "latest"}]
    training.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "esteira-prod-model-quality",
            "ComparisonOperator": "LessThanThreshold",
            "Threshold": prod.config.training.gate.threshold,
            "EvaluationPeriods": quality.evaluation_periods,
            "DatapointsToAlarm": quality.datapoints_to_alarm,
            "TreatMissingData": "notBreaching",
            "AlarmActions": [Match.any_value()],
            "Metrics": [
                Match.object_like(
                    {"Id": "expr_1", "Expression": "IF(labelled >= 200, quality, 0.8)", "ReturnData": True}
                ),
                Match.object_like(
                    {
                        "Id": "quality",
                        "ReturnData": False,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "Esteira/prod/ModelQuality",
                                "MetricName": "AUC",
                                "Dimensions": latest,
                            },
                            "Period": quality.period_hours * 3600,
                            "Stat": "Average",
                        },
                    }
                ),
                Match.object_like(
                    {
                        "Id": "labelled",
                        "ReturnData": False,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "Esteira/prod/ModelQuality",
                                "MetricName": "LabelledPredictions",
                                "Dimensions": latest,
                            },
                            "Period": quality.period_hours * 3600,
                            "Stat": "Maximum",
                        },
                    }
                ),
            ],
        },
    )
    # AND its action is the alerts topic the state machine notifies
    (alarm,) = training.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "esteira-prod-model-quality"}}
    ).values()
    (machine,) = training.find_resources("AWS::StepFunctions::StateMachine").values()
    assert alarm["Properties"]["AlarmActions"][0] in machine["Properties"]["DefinitionString"]["Fn::Join"][1]


def test_the_model_quality_alarm_starts_a_retraining(prod: SynthesizedEnv) -> None:
    training = prod.templates["Training"]
    (alarm_id,) = training.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "esteira-prod-model-quality"}}
    )
    training.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": [{"Fn::GetAtt": [alarm_id, "Arn"]}],
                "detail": {"state": {"value": ["ALARM"]}},
            },
            "Targets": [
                Match.object_like({"Arn": {"Fn::GetAtt": [Match.string_like_regexp("TriggerFunction"), "Arn"]}})
            ],
        },
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "AUC"),
        ({"gate": {"metric": "f1", "threshold": 0.6}}, "F1"),
        ({"gate": {"metric": "accuracy"}}, None),  # the report carries no accuracy
        # (Clarify's analysis cuts a probability, so a non-binary objective turns it off too)
        (
            {
                "hyperparameters": {"target": "y", "objective": "reg:squarederror"},
                "gate": {"metric": "rmse"},
                "bias": {"enabled": False},
            },
            None,
        ),
        (
            {
                "hyperparameters": {"target": "y", "objective": "multi:softprob", "num_class": 3},
                "bias": {"enabled": False},
            },
            None,
        ),
        ({"quality": {"enabled": False}}, None),
    ],
)
def test_only_a_binary_gate_metric_the_report_carries_gets_an_alarm(
    change: dict[str, Any], expected: str | None
) -> None:
    training = load_config("prod").training.model_dump() | change
    assert quality_alarm_metric(TrainingConfig.model_validate(training)) == expected


def test_the_threshold_itself_is_what_too_few_labels_yield() -> None:
    settings = QualityAlarmSettings("a", "Esteira/x/ModelQuality", "AUC", 0.75, 50, 24, 1, 1)
    assert judged_expression(settings) == "IF(labelled >= 50, quality, 0.75)"
