"""The delivery stack: a V2 CDK pipeline through dev, staging (smoke test), approval and prod; promotion on approval
(its EventBridge routing, run on moto: test_delivery_events.py)."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks import names
from stacks.config import ConfigError, load_config
from stacks.delivery_config import load_delivery_config
from tests.stacks.conftest import REPO_ROOT, SynthesizedDelivery, model_package_arn

Delivery = Callable[[bool], SynthesizedDelivery]


@pytest.fixture
def delivery(synth_delivery: Delivery) -> Delivery:
    return synth_delivery


def pipeline_properties(template: Template) -> dict[str, Any]:
    (pipeline,) = template.find_resources("AWS::CodePipeline::Pipeline").values()
    properties: dict[str, Any] = pipeline["Properties"]
    return properties


def stage(template: Template, name: str) -> list[dict[str, Any]]:
    stages: dict[str, list[dict[str, Any]]] = {s["Name"]: s["Actions"] for s in pipeline_properties(template)["Stages"]}
    return stages[name]


def build_spec_of(template: Template, action: dict[str, Any]) -> str:
    project_id = action["Configuration"]["ProjectName"]["Ref"]
    spec: str = template.to_json()["Resources"][project_id]["Properties"]["Source"]["BuildSpec"]
    return spec


def test_the_pipeline_deploys_dev_then_staging_then_prod_after_the_toolchain_stages(delivery: Delivery) -> None:
    # GIVEN config/delivery/pipeline.yaml  WHEN synthesized
    stages = [s["Name"] for s in pipeline_properties(delivery(False).pipeline)["Stages"]]
    # THEN the environments come in the configured order, after source, synth, self-mutation and assets
    assert stages == ["Source", "Build", "UpdatePipeline", "Assets", "dev", "staging", "prod"]


def test_it_is_a_v2_pipeline_whose_variable_defaults_to_the_current_package(delivery: Delivery) -> None:
    properties = pipeline_properties(delivery(False).pipeline)
    assert properties["PipelineType"] == "V2"
    assert properties["ExecutionMode"] == "SUPERSEDED"
    (variable,) = properties["Variables"]
    assert (variable["Name"], variable["DefaultValue"]) == ("ModelPackageArn", names.CURRENT_MODEL_PACKAGE)


def test_the_source_is_the_configured_repository_connection(delivery: Delivery) -> None:
    config = load_delivery_config()
    (source,) = stage(delivery(False).pipeline, "Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == config.source.connection_arn
    assert source["Configuration"]["FullRepositoryId"] == config.source.repository
    assert source["Configuration"]["BranchName"] == config.source.branch


def test_synth_runs_make_test_then_synthesizes_the_resolved_package(delivery: Delivery) -> None:
    template = delivery(False).pipeline
    (synth,) = stage(template, "Build")
    spec = build_spec_of(template, synth)
    assert spec.index("make test") < spec.index("make synth DELIVERY=pipeline")
    assert names.PROMOTED_PACKAGE_PARAMETER in spec  # `current` resolves to what was last promoted
    assert '"exported-variables"' in spec and "MODEL_PACKAGE_ARN" in spec
    # The pipeline variable reaches the build as an action-level environment variable.
    variables = json.loads(synth["Configuration"]["EnvironmentVariables"])
    assert {"name": "REQUESTED_PACKAGE", "type": "PLAINTEXT", "value": "#{variables.ModelPackageArn}"} in variables


def test_prod_waits_for_a_manual_approval_before_any_deploy(delivery: Delivery) -> None:
    actions = stage(delivery(False).pipeline, "prod")
    approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
    deploys = [a for a in actions if a["ActionTypeId"]["Category"] == "Deploy"]
    assert len(approvals) == 1 and approvals[0]["ActionTypeId"]["Provider"] == "Manual"
    assert deploys and approvals[0]["RunOrder"] < min(a["RunOrder"] for a in deploys)
    for env in ("dev", "staging"):
        assert not [a for a in stage(delivery(False).pipeline, env) if a["ActionTypeId"]["Category"] == "Approval"]


def test_every_stack_of_each_environment_is_deployed_to_its_account(delivery: Delivery) -> None:
    template = delivery(False).pipeline
    for env in ("dev", "staging", "prod"):
        config = load_config(env)
        deployed = {
            a["Configuration"]["StackName"]
            for a in stage(template, env)
            if a["ActionTypeId"]["Provider"] == "CloudFormation" and a["Name"].endswith(".Deploy")
        }
        assert deployed == {
            f"Esteira-{env}-{c}" for c in ("DataPlatform", "Registry", "Training", "Serving", "Batch", "Operations")
        }
        role_arns = json.dumps([a.get("RoleArn") for a in stage(template, env) if a["Name"].endswith(".Deploy")])
        assert f"{config.account}" in role_arns


def test_the_smoke_test_runs_after_every_staging_deploy_against_the_staging_endpoint(delivery: Delivery) -> None:
    template = delivery(False).pipeline
    actions = stage(template, "staging")
    (smoke,) = [a for a in actions if a["Name"] == "SmokeTest"]
    deploys = [a for a in actions if a["Name"].endswith(".Deploy")]
    assert smoke["RunOrder"] > max(a["RunOrder"] for a in deploys)
    spec = build_spec_of(template, smoke)
    staging = load_config("staging")
    assert "python -m pipeline.smoke" in spec
    assert f"--endpoint-name {staging.resource_name('endpoint')}" in spec
    assert "--min-match-rate 0.8" in spec
    assert f"arn:aws:iam::{staging.account}:role/esteira-staging-smoke-test" in spec
    # Its quality bar is the registry environment's gate, from that environment's typed config.
    gate = load_config(load_delivery_config().promotion.registry_env).training.gate
    assert f"--gate-metric {gate.metric} --gate-threshold {gate.threshold!r}" in spec
    # It checks the package the synth step resolved, not the raw variable, with the model code importable.
    variables = json.loads(smoke["Configuration"]["EnvironmentVariables"])
    assert [v["value"] for v in variables if v["name"] == "MODEL_PACKAGE_ARN"] == ["#{Build@Synth.MODEL_PACKAGE_ARN}"]
    (project,) = [p for p in template.find_resources("AWS::CodeBuild::Project").values() if "pipeline.smoke" in str(p)]
    project_variables = project["Properties"]["Environment"]["EnvironmentVariables"]
    assert [v["Value"] for v in project_variables if v["Name"] == "PYTHONPATH"] == ["containers/model/src"]


def test_the_smoke_test_may_only_assume_the_staging_smoke_test_role(delivery: Delivery) -> None:
    staging = load_config("staging")
    delivery(False).pipeline.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sts:AssumeRole",
                                "Resource": f"arn:aws:iam::{staging.account}:role/esteira-staging-smoke-test",
                            }
                        )
                    ]
                )
            }
        },
    )


def test_registry_decisions_reach_the_promoter_which_may_start_only_this_pipeline(delivery: Delivery) -> None:
    template = delivery(False).pipeline
    staging = load_config("staging")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": [names.MODEL_PACKAGE_STATE_CHANGE],
                "account": [staging.account],
                "detail": {
                    "ModelPackageGroupName": ["esteira-staging-model"],
                    "ModelApprovalStatus": ["Approved", "Rejected"],
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Fn::GetAtt": [Match.string_like_regexp("PromotionPromoterFunction"), "Arn"]},
                        "DeadLetterConfig": Match.any_value(),
                        "RetryPolicy": Match.any_value(),
                    }
                )
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "delivery.promote.handler.handler",
            "ReservedConcurrentExecutions": 1,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "PIPELINE_NAME": {"Ref": Match.string_like_regexp("DeliveryCodePipeline")},
                        "PIPELINE_VARIABLE": "ModelPackageArn",
                        "REGISTRY_ACCOUNT": staging.account,
                        "PROMOTED_PARAMETER": names.PROMOTED_PACKAGE_PARAMETER,
                    }
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Action": "codepipeline:StartPipelineExecution", "Sid": "StartPipeline"})]
                )
            }
        },
    )
    # What the promoter still fails on after Lambda's retries goes to the same, alarmed, dead-letter queue.
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}}, "MaximumRetryAttempts": 2},
    )
    template.has_resource_properties(
        "AWS::Events::EventBusPolicy",
        {"EventBusName": "default", "Statement": Match.object_like({"Action": "events:PutEvents"})},
    )


def test_the_registry_environment_forwards_decisions_and_shares_models_with_prod(delivery: Delivery) -> None:
    stages = delivery(False).stages
    toolchain = load_delivery_config().account
    prod = load_config("prod")
    stages["staging"]["Training"].has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {"detail": Match.object_like({"ModelApprovalStatus": ["Approved", "Rejected"]})}
            ),
            "Targets": [Match.object_like({"Arn": f"arn:aws:events:eu-west-1:{toolchain}:event-bus/default"})],
        },
    )
    stages["staging"]["Training"].has_resource_properties(
        "AWS::SageMaker::ModelPackageGroup",
        {
            "ModelPackageGroupPolicy": {
                "Version": "2012-10-17",
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"AWS": [f"arn:aws:iam::{prod.account}:root"]}})]
                ),
            }
        },
    )
    stages["staging"]["Registry"].has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryPolicyText": Match.object_like(
                {"Statement": Match.array_with([Match.object_like({"Sid": "PromotedStagesPullImages"})])}
            )
        },
    )
    stages["staging"]["Serving"].has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "esteira-staging-smoke-test",
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"AWS": f"arn:aws:iam::{toolchain}:root"}})]}
            ),
        },
    )
    # Prod's model role may read the staging registry's packages, artifacts and images.
    prod_policy = json.dumps(stages["prod"]["Serving"].find_resources("AWS::IAM::Policy"))
    for sid in ("DescribeRegistryPackages", "ReadRegistryModels", "DecryptRegistryModels", "PullRegistryImages"):
        assert sid in prod_policy
    # Dev is before the registry: no sharing, no forwarding.
    assert not stages["dev"]["Training"].find_resources(
        "AWS::Events::Rule", {"Properties": {"Targets": [{"Arn": Match.string_like_regexp("event-bus/default")}]}}
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_an_approved_package_is_served_from_the_registry_stage_on(delivery: Delivery, env: str) -> None:
    # The stage's Registry stack records it in the served state, which its Serving stack reads when deployed.
    arn = model_package_arn(load_config("staging"), 7)
    delivery(True).stages[env]["Registry"].has_resource_properties(
        "Custom::ServedState", {"Variants": [{"Name": "champion", "InitialWeight": "1.0", "ModelPackageArn": arn}]}
    )
    delivery(True).stages[env]["Serving"].has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": {"ModelPackageName": {"Ref": "ServedChampionModelPackageArn"}}}
    )


def test_dev_keeps_its_own_config_when_a_package_is_promoted(delivery: Delivery) -> None:
    delivery(True).stages["dev"]["Registry"].has_resource_properties(
        "Custom::ServedState", {"Variants": [{"Name": "champion", "InitialWeight": "1.0"}]}
    )
    launcher = launcher_environment(delivery(True).stages["dev"]["Batch"])
    assert "MODEL_PACKAGE_ARN" not in launcher


def launcher_environment(template: Template) -> dict[str, Any]:
    (launcher,) = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "batch.launcher.handler.handler"
    ]
    variables: dict[str, Any] = launcher["Properties"]["Environment"]["Variables"]
    return variables


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_batch_scores_with_the_promoted_package_not_the_newest_approved(delivery: Delivery, env: str) -> None:
    # GIVEN a promoted package  THEN the stage's batch launcher is pinned to it, so prod's batch waits for prod's
    # manual approval like its endpoint does, and may describe exactly that package
    arn = model_package_arn(load_config("staging"), 7)
    batch = delivery(True).stages[env]["Batch"]
    assert launcher_environment(batch)["MODEL_PACKAGE_ARN"] == arn
    assert arn in json.dumps(batch.find_resources("AWS::IAM::Policy"))


def test_prod_transform_jobs_may_read_the_registry_models(delivery: Delivery) -> None:
    policies = json.dumps(delivery(False).stages["prod"]["Batch"].find_resources("AWS::IAM::Policy"))
    for sid in ("DescribeRegistryPackages", "ReadRegistryModels", "DecryptRegistryModels", "PullRegistryImages"):
        assert sid in policies


def test_a_package_from_outside_the_registry_is_refused_before_synth() -> None:
    delivery = load_delivery_config()
    with pytest.raises(ConfigError, match=r"-c model_package_arn.*registry of promotion.registry_env 'staging'"):
        delivery.stage_configs(model_package_arn(load_config("dev"), 2))


def test_the_delivery_app_has_no_unacknowledged_cdk_nag_finding(delivery: Delivery) -> None:
    for with_model in (False, True):
        for report in delivery(with_model).validation_report["pluginReports"]:  # type: ignore[attr-defined]
            assert report["violations"] == [], [v["ruleName"] for v in report["violations"]]
            for finding in report.get("suppressedViolations", []):
                assert len(finding["reason"]) >= 40, finding["ruleName"]


def test_self_mutation_uses_the_cdk_cli_the_repo_pins(delivery: Delivery) -> None:
    template = delivery(False).pipeline
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    (mutate,) = stage(template, "UpdatePipeline")
    assert f"npm install -g aws-cdk@{pinned}" in build_spec_of(template, mutate)
