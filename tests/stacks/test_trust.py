"""Conditioned trust: no role or resource policy admits another account's root without a condition naming the
principal, and every service a key or topic policy admits acts only for its own account."""

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks import names
from stacks.config import load_config
from stacks.delivery_config import load_delivery_config
from tests.stacks.conftest import ENVS, SynthesizedDelivery, SynthesizedEnv

PRINCIPAL_CONDITIONS = ("aws:PrincipalArn", "sts:ExternalId", "aws:PrincipalOrgID")
ROOT = re.compile(r"arn:[^:\"]+:iam::(\d{12}):root|^(\d{12})$")
# Where a policy document lives in each resource type that has one.
POLICY_PROPERTIES = {
    "AWS::IAM::Role": "AssumeRolePolicyDocument",
    "AWS::S3::BucketPolicy": "PolicyDocument",
    "AWS::KMS::Key": "KeyPolicy",
    "AWS::SNS::TopicPolicy": "PolicyDocument",
    "AWS::SQS::QueuePolicy": "PolicyDocument",
    "AWS::ECR::Repository": "RepositoryPolicyText",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupPolicy",
}


def statements(template: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, type, statement) of every policy statement in the template, the bus policy included."""
    for logical_id, resource in template.to_json()["Resources"].items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Events::EventBusPolicy":
            yield logical_id, kind, properties["Statement"]
        elif kind in POLICY_PROPERTIES and POLICY_PROPERTIES[kind] in properties:
            for statement in properties[POLICY_PROPERTIES[kind]].get("Statement", []):
                yield logical_id, kind, statement


def foreign_roots(statement: dict[str, Any], own_account: str) -> list[str]:
    principal = statement.get("Principal")
    aws = principal.get("AWS", []) if isinstance(principal, dict) else []
    accounts = []
    for entry in aws if isinstance(aws, list) else [aws]:
        for match in ROOT.finditer(json.dumps(entry).strip('"')):
            accounts.append(match.group(1) or match.group(2))
    return [account for account in accounts if account != own_account]


def unconditioned(template: Template, own_account: str) -> list[str]:
    """Findings: another account's root without a principal condition, a service without a source condition."""
    found = []
    for logical_id, kind, statement in statements(template):
        if statement.get("Effect") != "Allow":
            continue
        conditions = json.dumps(statement.get("Condition", {}))
        roots = foreign_roots(statement, own_account)
        if roots and not any(key in conditions for key in PRINCIPAL_CONDITIONS):
            found.append(f"{logical_id} ({kind}) trusts the root of {roots} without a condition")
        principal = statement.get("Principal")
        if (
            kind in ("AWS::KMS::Key", "AWS::SNS::TopicPolicy", "AWS::Events::EventBusPolicy")
            and isinstance(principal, dict)
            and "Service" in principal
            and "aws:SourceArn" not in conditions
            and "aws:SourceAccount" not in conditions
        ):
            found.append(f"{logical_id} ({kind}) admits {principal['Service']} without aws:SourceArn/SourceAccount")
    return found


@pytest.mark.parametrize("env", ENVS)
def test_no_env_trusts_an_account_root_or_a_service_without_a_condition(
    synth: Callable[[str], SynthesizedEnv], synth_with_model: Callable[[str], SynthesizedEnv], env: str
) -> None:
    # GIVEN each environment, with and without a served model  WHEN synthesized
    for synthesized in (synth(env), synth_with_model(env)):
        for component, template in synthesized.templates.items():
            # THEN every cross-account principal and every service is conditioned
            assert unconditioned(template, synthesized.config.account) == [], component


def test_no_role_in_the_cd_app_trusts_an_account_root_without_a_condition(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    for with_model in (False, True):
        delivery = synth_delivery(with_model)
        assert unconditioned(delivery.pipeline, delivery.delivery.account) == []
        for env, templates in delivery.stages.items():
            for component, template in templates.items():
                assert unconditioned(template, load_config(env).account) == [], f"{env}-{component}"


def test_the_smoke_test_role_trusts_only_the_pipeline_smoke_step_role(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    delivery = synth_delivery(False)
    config = load_delivery_config()
    step_role = f"arn:aws:iam::{config.account}:role/{config.pipeline_name}-{names.SMOKE_TEST_STEP_ROLE_SUFFIX}"
    # GIVEN the smoke-test environment's role
    roles = delivery.stages[config.smoke_test.env]["Serving"].find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": f"esteira-{config.smoke_test.env}-smoke-test"}}
    )
    ((_, role),) = roles.items()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    # THEN it names the step's role, which the pipeline gives the smoke-test step
    assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": step_role}}
    step_roles = delivery.pipeline.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": f"{config.pipeline_name}-{names.SMOKE_TEST_STEP_ROLE_SUFFIX}"}}
    )
    assert len(step_roles) == 1
    (step_role_id,) = step_roles
    projects = delivery.pipeline.find_resources("AWS::CodeBuild::Project")
    smoke_projects = [p for p in projects.values() if "pipeline.smoke" in json.dumps(p)]
    assert [p["Properties"]["ServiceRole"] for p in smoke_projects] == [{"Fn::GetAtt": [step_role_id, "Arn"]}]


def test_the_bus_admits_only_the_registry_forwarder_role(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    delivery = synth_delivery(False)
    registry = load_config(load_delivery_config().promotion.registry_env)
    forwarder = registry.resource_name(names.DECISION_FORWARDER_ROLE_SUFFIX)
    ((_, policy),) = delivery.pipeline.find_resources("AWS::Events::EventBusPolicy").items()
    condition = policy["Properties"]["Statement"]["Condition"]
    assert condition["ArnEquals"] == {"aws:PrincipalArn": f"arn:aws:iam::{registry.account}:role/{forwarder}"}
    # AND the registry's forwarding rule puts events as that role
    training = delivery.stages[registry.name]["Training"]
    roles = training.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": forwarder}})
    (role_id,) = roles
    (rule,) = [
        r
        for r in training.find_resources("AWS::Events::Rule").values()
        if "event-bus/default" in json.dumps(r["Properties"].get("Targets", []))
    ]
    assert rule["Properties"]["Targets"][0]["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}


def test_a_root_without_a_condition_is_found() -> None:
    # The checker itself: a bare foreign root and a bare service are findings; conditioned ones are not.
    template = Template.from_json(
        {
            "Resources": {
                "Bare": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444444444444:root"}}]
                        }
                    },
                },
                "Key": {
                    "Type": "AWS::KMS::Key",
                    "Properties": {
                        "KeyPolicy": {
                            "Statement": [
                                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}},
                                {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}},
                            ]
                        }
                    },
                },
            }
        }
    )
    assert len(unconditioned(template, "111111111111")) == 2
