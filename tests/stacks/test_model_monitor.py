"""The data-quality monitor compares captures with the served champion's own baseline: read from the served state
at deploy time, shared by the registry across accounts, and absent (saying so) while the champion has none."""

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.served import baseline_parameter
from stacks import names
from stacks.config import load_config
from stacks.serving_config import VariantConfig
from tests.stacks.conftest import SynthesizedEnv, synthesize

Synth = Callable[[str], SynthesizedEnv]
MONITORED_ENVS = ("staging", "prod")
MONITOR_TYPES = ("AWS::SageMaker::DataQualityJobDefinition", "AWS::SageMaker::MonitoringSchedule")


def serving(synthesized: SynthesizedEnv) -> Template:
    return synthesized.templates["Serving"]


def violations_rules(template: Template) -> Mapping[str, Mapping[str, Any]]:
    return template.find_resources(
        "AWS::Events::Rule",
        {"Properties": {"EventPattern": Match.object_like({"source": ["aws.sagemaker"]})}},
    )


@pytest.mark.parametrize("env", MONITORED_ENVS)
def test_the_job_definition_reads_the_served_champions_baseline_at_deploy(synth: Synth, env: str) -> None:
    # GIVEN an environment with monitoring, synthesized with no model flag
    template = serving(synth(env))
    # THEN the baseline URIs are SSM-typed parameters of the served state, which CloudFormation reads at deploy
    for kind in ("constraints", "statistics"):
        template.has_parameter(
            f"ServedBaseline{kind.capitalize()}",
            {"Type": "AWS::SSM::Parameter::Value<String>", "Default": baseline_parameter(env, kind)},
        )
    # AND the job definition compares with exactly those, under no fixed name (a new baseline replaces it)
    (job_id,) = template.find_resources(
        "AWS::SageMaker::DataQualityJobDefinition",
        {
            "Properties": {
                "DataQualityBaselineConfig": {
                    "ConstraintsResource": {"S3Uri": {"Ref": "ServedBaselineConstraints"}},
                    "StatisticsResource": {"S3Uri": {"Ref": "ServedBaselineStatistics"}},
                },
                "JobDefinitionName": Match.absent(),
            }
        },
    )
    # AND the schedule names the job definition CloudFormation generated, from its ARN
    template.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleConfig": Match.object_like(
                {
                    "MonitoringJobDefinitionName": {
                        "Fn::Select": [1, {"Fn::Split": ["/", {"Fn::GetAtt": [job_id, "JobDefinitionArn"]}]}]
                    }
                }
            )
        },
    )
    # AND nothing names the old per-endpoint baseline folder, which nothing wrote
    for synthesized_template in synth(env).templates.values():
        assert "monitoring/baseline/" not in json.dumps(synthesized_template.to_json())


@pytest.mark.parametrize("with_flag", [False, True])
@pytest.mark.parametrize("env", MONITORED_ENVS)
def test_without_a_recorded_baseline_there_is_no_schedule_and_the_stack_says_so(
    synth: Synth, synth_with_model: Synth, env: str, with_flag: bool
) -> None:
    template = serving((synth_with_model if with_flag else synth)(env))
    # GIVEN the condition "the champion is promoted and its package registered a baseline"
    template.has_condition(
        "ChampionBaselineRecorded",
        {
            "Fn::And": [
                {"Condition": "ChampionPromoted"},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "ServedBaselineConstraints"}, "none"]}]},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "ServedBaselineStatistics"}, "none"]}]},
            ]
        },
    )
    # THEN the job definition, the schedule and its violations rule exist only when it holds
    for resource_type in MONITOR_TYPES:
        # (the model-quality schedule needs no baseline: tests/stacks/test_model_quality_monitor.py)
        resources = {
            logical_id: resource
            for logical_id, resource in template.find_resources(resource_type).items()
            if resource["Properties"].get("MonitoringScheduleConfig", {}).get("MonitoringType") in (None, "DataQuality")
        }
        assert resources, resource_type
        assert {resource.get("Condition") for resource in resources.values()} == {"ChampionBaselineRecorded"}
    rules = violations_rules(template)
    assert rules
    assert {rule.get("Condition") for rule in rules.values()} == {"ChampionBaselineRecorded"}
    # AND an output names the baseline compared with, or says why there is no monitor
    output = template.find_outputs("MonitoredBaseline")["MonitoredBaseline"]["Value"]["Fn::If"]
    assert output[:2] == ["ChampionBaselineRecorded", {"Ref": "ServedBaselineConstraints"}]
    assert output[2].startswith("none: no data-quality monitor")


def test_an_environment_without_monitoring_reads_no_baseline(synth: Synth) -> None:
    # GIVEN dev (serverless: Model Monitor does not apply)  THEN no monitor, no baseline parameters, no output
    template = serving(synth("dev")).to_json()
    assert not [name for name in template.get("Parameters", {}) if name.startswith("ServedBaseline")]
    assert not [r for r in template["Resources"].values() if r["Type"] in MONITOR_TYPES]
    assert "MonitoredBaseline" not in template.get("Outputs", {})


@pytest.mark.parametrize("env", MONITORED_ENVS)
def test_the_monitoring_role_reads_the_baselines_prefix_of_its_artifacts_bucket(synth: Synth, env: str) -> None:
    policies = synth(env).templates["DataPlatform"].find_resources("AWS::IAM::Policy")
    (monitor,) = [p for p in policies.values() if "MonitorRole" in json.dumps(p["Properties"]["Roles"])]
    (read,) = [
        s for s in monitor["Properties"]["PolicyDocument"]["Statement"] if "s3:GetObject*" in json.dumps(s["Action"])
    ]
    assert f'"/{names.MONITORING_BASELINES_PREFIX}*"' in json.dumps(read["Resource"])


def test_the_registry_shares_its_baselines_with_the_accounts_it_shares_models_with(synth: Synth) -> None:
    # GIVEN staging, the registry env, and prod in another account
    prod_account = load_config("prod").account
    policies = synth("staging").templates["DataPlatform"].find_resources("AWS::S3::BucketPolicy")
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    (shared,) = [s for s in statements if s.get("Sid") == "PromotedStagesReadBaselines"]
    # THEN prod's Esteira roles (never the whole account) may get objects under monitoring/baselines/ only
    assert shared["Action"] == "s3:GetObject"
    assert shared["Principal"] == {"AWS": f"arn:aws:iam::{prod_account}:root"}
    assert f"arn:aws:iam::{prod_account}:role/Esteira-*" in json.dumps(shared["Condition"])
    assert json.dumps(shared["Resource"]).endswith(f'"/{names.MONITORING_BASELINES_PREFIX}*"]]}}')


def test_prods_monitoring_role_may_read_and_decrypt_the_registrys_baselines(synth: Synth) -> None:
    registry_account = load_config("staging").account
    policies = synth("prod").templates["Serving"].find_resources("AWS::IAM::Policy")
    (access,) = [p for p in policies.values() if "ReadRegistryBaselines" in json.dumps(p)]
    assert "MonitorRole" in json.dumps(access["Properties"]["Roles"])
    read, decrypt = access["Properties"]["PolicyDocument"]["Statement"]
    assert read["Action"] == "s3:GetObject"
    assert read["Resource"] == f"arn:aws:s3:::*/{names.MONITORING_BASELINES_PREFIX}*"
    assert read["Condition"] == {"StringEquals": {"s3:ResourceAccount": registry_account}}
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Resource"] == f"arn:aws:kms:eu-west-1:{registry_account}:key/*"
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}


def test_monitoring_a_model_served_from_artifacts_is_refused_naming_the_key(tmp_path: Path) -> None:
    # GIVEN staging (monitored) serving model artifacts directly: no package, so no baseline to compare with
    base = load_config("staging")
    variant = VariantConfig(
        name="champion",
        weight=1.0,
        model_data_url="s3://bucket/models/job/output/model.tar.gz",
        image=f"{base.account}.dkr.ecr.{base.region}.amazonaws.com/esteira-staging/model:0.1.0",
    )
    config = base.model_copy(update={"serving": base.serving.model_copy(update={"variants": (variant,)})})
    # THEN the synth fails, naming serving.monitoring
    with pytest.raises(ValueError, match=r"staging: serving\.monitoring .* model_data_url"):
        synthesize("staging", tmp_path, config)
