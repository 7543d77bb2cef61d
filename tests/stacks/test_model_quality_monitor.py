"""The endpoint's model-quality monitor: capture merged with the dataset job's ground truth, in Model Monitor's
BinaryClassification job, at the served threshold; AWS's documented rules on it refuse a config at synth."""

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore
import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts import endpoint_quality as quality
from esteira_contracts.layout import DATA_CAPTURE_PREFIX, GROUND_TRUTH_PREFIX, MONITORING_REPORTS_PREFIX
from esteira_model.hyperparameters import Hyperparameters
from stacks.config import ConfigError, load_config
from stacks.constructs.model_quality_monitor import MAX_RUNTIME_SECONDS
from stacks.serving_config import MAX_GROUND_TRUTH_DELAY_HOURS, MonitoringConfig
from tests.stacks.conftest import SynthesizedEnv, synthesize
from tests.stacks.test_aws_rules import ANY_PAGE, load_mutated

Synth = Callable[[str], SynthesizedEnv]
JOB = "AWS::SageMaker::ModelQualityJobDefinition"
# (env, schedule, StartTimeOffset, EndTimeOffset, MaxRuntimeInSeconds): the shipped configs wait 24 h for labels.
MONITORED = [
    ("staging", "cron(0 0 ? * * *)", "-PT48H", "-PT24H", 3600),
    ("prod", "cron(0 * ? * * *)", "-PT25H", "-PT24H", 1800),
]


def sagemaker_api() -> dict[str, Any]:
    """SageMaker's API model as botocore ships it: the service's own shapes and constraints."""
    path = Path(botocore.__file__).parent / "data" / "sagemaker" / "2017-07-24" / "service-2.json.gz"
    model: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return model


def serving(synthesized: SynthesizedEnv) -> Template:
    return synthesized.templates["Serving"]


def bucket_path(value: Any) -> str:
    """An `s3://<bucket>/<key>` join, with the bucket reference left out."""
    parts = value["Fn::Join"][1]
    return str(parts[-1])


@pytest.mark.parametrize(("env", "cron", "start", "end", "runtime"), MONITORED)
def test_the_job_merges_capture_with_ground_truth_as_the_container_answers(
    synth: Synth, env: str, cron: str, start: str, end: str, runtime: int
) -> None:
    # GIVEN an environment whose serving.monitoring.model_quality is enabled
    template = serving(synth(env))
    # THEN one BinaryClassification job reads the endpoint's capture: the label at CSV index 0, the probability at
    # index 1 (the container's "label,score"), positive from the served threshold (the container's default 0.5)
    (job_id, job), *others = template.find_resources(JOB).items()
    assert not others
    properties = job["Properties"]
    assert properties["ModelQualityAppSpecification"]["ProblemType"] == "BinaryClassification"
    assert properties["ModelQualityAppSpecification"]["ImageUri"].endswith("/sagemaker-model-monitor-analyzer")
    endpoint_input = properties["ModelQualityJobInput"]["EndpointInput"]
    assert endpoint_input == {
        "EndpointName": f"esteira-{env}-endpoint",
        "LocalPath": "/opt/ml/processing/input/endpoint",
        "InferenceAttribute": "0",
        "ProbabilityAttribute": "1",
        "ProbabilityThresholdAttribute": 0.5,
        # AND it reads one schedule period of capture that ended the ground truth's delay ago
        "StartTimeOffset": start,
        "EndTimeOffset": end,
    }
    # AND the ground truth is the dataset job's prefix, under which the hourly folders follow
    ground_truth = properties["ModelQualityJobInput"]["GroundTruthS3Input"]["S3Uri"]
    assert bucket_path(ground_truth) == "/" + GROUND_TRUTH_PREFIX.rstrip("/")
    # AND its reports go to the schedule's own folder under monitoring/reports/, encrypted with the env's key
    (output,) = properties["ModelQualityJobOutputConfig"]["MonitoringOutputs"]
    schedule_name = f"esteira-{env}-endpoint-model-quality"
    assert bucket_path(output["S3Output"]["S3Uri"]) == f"/{MONITORING_REPORTS_PREFIX}{schedule_name}/"
    assert "KmsKeyId" in properties["ModelQualityJobOutputConfig"]
    assert properties["NetworkConfig"] == {
        "EnableInterContainerTrafficEncryption": True,
        "EnableNetworkIsolation": True,
    }
    # AND a run stops within its share of the period (the merge job takes the other half of an hour)
    assert properties["StoppingCondition"] == {"MaxRuntimeInSeconds": runtime}
    # AND the job definition has no fixed name; the schedule reads the generated one from its ARN
    assert "JobDefinitionName" not in properties
    template.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleName": schedule_name,
            "MonitoringScheduleConfig": {
                "MonitoringJobDefinitionName": {
                    "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::GetAtt": [job_id, "JobDefinitionArn"]}]}]
                },
                "MonitoringType": "ModelQuality",
                "ScheduleConfig": {"ScheduleExpression": cron},
            },
        },
    )


@pytest.mark.parametrize("with_flag", [False, True])
@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_monitor_exists_once_a_champion_is_served_baseline_or_not(
    synth: Synth, synth_with_model: Synth, env: str, with_flag: bool
) -> None:
    template = serving((synth_with_model if with_flag else synth)(env))
    # GIVEN the served state's condition "a champion is promoted" THEN the job and its schedule exist only then,
    # after the endpoint (no model-quality baseline is needed: the runs report, the quality alarm judges)
    for resource_type in (JOB, "AWS::SageMaker::MonitoringSchedule"):
        found = template.find_resources(
            resource_type,
            {"Condition": "ChampionPromoted", "DependsOn": Match.array_with([Match.string_like_regexp("^Endpoint")])},
        )
        assert found, resource_type
    assert not template.find_resources(JOB, {"Condition": "ChampionBaselineRecorded"})


def test_dev_has_no_model_quality_monitor_and_no_role(synth: Synth) -> None:
    # GIVEN dev (serverless, no capture) THEN neither the job nor its role exist
    synthesized = synth("dev")
    assert not serving(synthesized).find_resources(JOB)
    assert "ModelQualityRole" not in json.dumps(synthesized.templates["DataPlatform"].to_json())


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_role_reads_only_capture_and_ground_truth_and_writes_only_its_reports(synth: Synth, env: str) -> None:
    policies = synth(env).templates["DataPlatform"].find_resources("AWS::IAM::Policy")
    (policy,) = [p for p in policies.values() if "ModelQualityRole" in json.dumps(p["Properties"]["Roles"])]
    s3_statements = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "s3:" in json.dumps(s["Action"])]
    objects: dict[str, list[str]] = {}
    for statement in s3_statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        keys = [bucket_path(r) for r in resources if "Fn::Join" in r]
        verb = "put" if "s3:PutObject" in statement["Action"] else "read"
        assert "s3:DeleteObject*" not in statement["Action"]
        objects[verb] = keys
    endpoint = f"esteira-{env}-endpoint"
    assert objects == {
        "read": [f"/{DATA_CAPTURE_PREFIX}{endpoint}/*", f"/{GROUND_TRUTH_PREFIX}*"],
        "put": [f"/{MONITORING_REPORTS_PREFIX}{endpoint}-model-quality/*"],
    }


def test_the_threshold_and_problem_type_are_values_the_api_accepts() -> None:
    # GIVEN SageMaker's API model  THEN our problem type is one of its MonitoringProblemType values
    shapes = sagemaker_api()["shapes"]
    assert quality.PROBLEM_TYPE in shapes["MonitoringProblemType"]["enum"]
    # AND every offset a config can ask for fits MonitoringTimeOffsetString (ISO 8601, at most 15 characters)
    offset = shapes["MonitoringTimeOffsetString"]
    for schedule in ("hourly", "daily"):
        period = MonitoringConfig(schedule=schedule).period_hours
        for value in quality.analysis_window(MAX_GROUND_TRUTH_DELAY_HOURS, period):
            assert offset["min"] <= len(value) <= offset["max"], value
            assert re.fullmatch(offset["pattern"], value)
    # AND a run never outlasts what an hourly model-quality schedule allows, nor the API's bound
    assert MAX_RUNTIME_SECONDS["hourly"] <= 1800
    assert max(MAX_RUNTIME_SECONDS.values()) <= shapes["MonitoringMaxRuntimeInSeconds"]["max"]


def test_the_default_threshold_is_the_containers() -> None:
    # GIVEN no `threshold` hyperparameter THEN the monitor scores where the container labels
    assert Hyperparameters.__dataclass_fields__["threshold"].default == quality.DEFAULT_THRESHOLD
    assert quality.served_threshold({}) == quality.DEFAULT_THRESHOLD
    assert quality.served_threshold({"threshold": "0.35"}) == 0.35


# (changed keys, the key the error names, the rule id)
RULE_CASES = [
    pytest.param(
        {"training.hyperparameters.objective": "multi:softprob", "training.bias.enabled": False},
        "serving.monitoring.model_quality.enabled",
        "model-quality-problem-type",
        id="model-quality-problem-type",
    ),
    pytest.param(
        {"training.hyperparameters.threshold": "1.5"},
        "training.hyperparameters.threshold",
        "model-quality-probability-threshold",
        id="model-quality-threshold-over-1",
    ),
    pytest.param(
        {"training.hyperparameters.threshold": "high"},
        "training.hyperparameters.threshold",
        "model-quality-probability-threshold",
        id="model-quality-threshold-not-a-number",
    ),
    pytest.param(
        {"serving.monitoring.model_quality.ground_truth_delay_hours": 90 * 24},
        "serving.monitoring.model_quality.ground_truth_delay_hours",
        "model-quality-capture-outlives-offset",
        id="model-quality-capture-outlives-offset",
    ),
]


@pytest.mark.parametrize(("mutate", "key", "rule_id"), RULE_CASES)
def test_a_model_quality_config_aws_would_refuse_fails_naming_the_key_and_the_rule(
    tmp_path: Path, mutate: dict[str, Any], key: str, rule_id: str
) -> None:
    # GIVEN prod (hourly, 90 days of capture) with one model-quality rule broken WHEN it is loaded
    with pytest.raises(ConfigError) as error:
        load_mutated(tmp_path, "prod", mutate)
    # THEN the error names the key, the rule and its documentation page
    lines = [line for line in str(error.value).splitlines() if f"[{rule_id}: " in line]
    assert lines, str(error.value)
    assert lines[0].startswith(f"  - {key}: ")
    assert ANY_PAGE.search(lines[0])


@pytest.mark.parametrize("delay", [0, MAX_GROUND_TRUTH_DELAY_HOURS + 1])
def test_a_delay_outside_what_an_offset_can_say_fails_naming_it(tmp_path: Path, delay: int) -> None:
    with pytest.raises(ConfigError) as error:
        load_mutated(tmp_path, "prod", {"serving.monitoring.model_quality.ground_truth_delay_hours": delay})
    assert "  - serving.monitoring.model_quality.ground_truth_delay_hours: " in str(error.value)


def test_a_disabled_monitor_asks_nothing_of_the_objective(tmp_path: Path) -> None:
    # GIVEN a regression objective with the model-quality monitor off THEN the config loads
    load_mutated(
        tmp_path,
        "prod",
        {
            "serving.monitoring.model_quality.enabled": False,
            "training.bias.enabled": False,
            "training.hyperparameters.objective": "reg:squarederror",
            "training.gate.metric": "rmse",
            "training.gate.threshold": 1.0,
        },
    )


def test_the_job_scores_at_the_threshold_the_model_was_trained_with(tmp_path: Path) -> None:
    # GIVEN prod trained with a threshold of 0.7 (the container's `threshold` hyperparameter)
    config = load_config("prod")
    hyperparameters = {**config.training.hyperparameters, "threshold": "0.7"}
    changed = config.model_copy(
        update={"training": config.training.model_copy(update={"hyperparameters": hyperparameters})}
    )
    # WHEN synthesized THEN the monitor labels a record positive from 0.7, as the served model does
    template = synthesize("prod", tmp_path, changed).templates["Serving"]
    template.has_resource_properties(
        JOB,
        {
            "ModelQualityJobInput": Match.object_like(
                {"EndpointInput": Match.object_like({"ProbabilityThresholdAttribute": 0.7})}
            )
        },
    )
