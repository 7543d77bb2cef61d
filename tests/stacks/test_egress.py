"""Egress of every security group Esteira creates, in every environment's synthesized templates (dev creates its VPC,
staging and prod use existing ids from config; each with and without a served model package, as `make checkov`
synthesizes them): explicit egress on every group, nothing open to the whole internet, and each workload's group
letting out only what it needs."""

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]
ANYWHERE = {"CidrIp": "0.0.0.0/0", "CidrIpv6": "::/0"}
HTTPS = {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443}


def templates(env: str, synth: Synth, synth_with_model: Synth) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for label, synthesized in (("", synth(env)), ("with model ", synth_with_model(env))):
        for component, template in synthesized.templates.items():
            yield f"{env} {label}{component}", template.to_json()


def groups(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template.get("Resources", {}).items() if r["Type"] == "AWS::EC2::SecurityGroup"}


def standalone_egress(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    resources = template.get("Resources", {}).values()
    return [r["Properties"] for r in resources if r["Type"] == "AWS::EC2::SecurityGroupEgress"]


def egress_of(template: Mapping[str, Any], logical_id: str) -> list[dict[str, Any]]:
    """A group's inline egress rules and the standalone rules that name it."""
    inline = list(groups(template)[logical_id]["Properties"].get("SecurityGroupEgress", []))
    mine = {"Fn::GetAtt": [logical_id, "GroupId"]}
    return inline + [rule for rule in standalone_egress(template) if rule["GroupId"] == mine]


def open_egress(template: Mapping[str, Any]) -> tuple[list[str], int]:
    """The egress rules (inline or standalone) that reach 0.0.0.0/0 or ::/0 or allow every protocol, and how many
    rules were read."""
    rules = [rule for group in groups(template).values() for rule in group["Properties"].get("SecurityGroupEgress", [])]
    rules += standalone_egress(template)
    found = [
        str(rule)
        for rule in rules
        if any(rule.get(key) == value for key, value in ANYWHERE.items()) or str(rule.get("IpProtocol")) == "-1"
    ]
    return found, len(rules)


def test_the_check_finds_a_group_open_to_the_world() -> None:
    # GIVEN a group as CDK writes it with allow_all_outbound=True (what staging's workload groups had), and an IPv6 rule
    template = {
        "Resources": {
            "Open": {
                "Type": "AWS::EC2::SecurityGroup",
                "Properties": {"SecurityGroupEgress": [{"CidrIp": "0.0.0.0/0", "IpProtocol": "-1"}]},
            },
            "V6": {
                "Type": "AWS::EC2::SecurityGroupEgress",
                "Properties": {"GroupId": "sg-1", "CidrIpv6": "::/0", "IpProtocol": "tcp", "FromPort": 443},
            },
        }
    }
    # WHEN checked THEN both are found
    found, read = open_egress(template)
    assert (len(found), read) == (2, 2)


@pytest.mark.parametrize("env", ENVS)
def test_no_security_group_lets_anything_out_to_the_whole_internet(
    env: str, synth: Synth, synth_with_model: Synth
) -> None:
    # GIVEN every template of the environment, with and without a served model
    checked = 0
    for where, template in templates(env, synth, synth_with_model):
        # THEN no egress rule, inline or standalone, reaches 0.0.0.0/0 or ::/0, nor allows every protocol
        found, read = open_egress(template)
        assert not found, f"{where}: {found}"
        checked += read
    assert checked, f"{env}: no egress rule found at all; the test would prove nothing"


@pytest.mark.parametrize("env", ENVS)
def test_every_security_group_has_explicit_egress(env: str, synth: Synth, synth_with_model: Synth) -> None:
    # GIVEN every security group of the environment's templates
    found = 0
    for where, template in templates(env, synth, synth_with_model):
        for logical_id in groups(template):
            found += 1
            # THEN its egress is written out (CDK's "disallow all" placeholder for a group that only answers), never
            # left to EC2's default, which allows everything out
            assert egress_of(template, logical_id), f"{where}: {logical_id} has no explicit egress"
    assert found, f"{env}: no security group found; the test would prove nothing"


def _workload_groups(template: Mapping[str, Any]) -> dict[str, str]:
    return {
        logical_id: group["Properties"]["GroupDescription"]
        for logical_id, group in groups(template).items()
        if group["Properties"]["GroupDescription"].startswith(("Esteira serving", "Esteira training", "Esteira batch"))
    }


@pytest.mark.parametrize("env", [env for env in ENVS if env != "dev"])
def test_the_sagemaker_workloads_groups_let_out_only_https_to_s3(env: str, synth: Synth) -> None:
    # GIVEN an environment on an existing network: serving, training and batch each have a group
    synthesized = synth(env)
    template = synthesized.templates["DataPlatform"].to_json()
    workloads = _workload_groups(template)
    assert len(workloads) == 3, workloads
    for logical_id, description in workloads.items():
        rules = [rule for rule in egress_of(template, logical_id) if rule.get("CidrIp") != "255.255.255.255/32"]
        # THEN each lets out HTTPS to S3's prefix list (looked up at deploy time) and, for training only, nothing but
        # HTTPS to the SageMaker endpoints' groups (the next test)
        s3 = [rule for rule in rules if "DestinationPrefixListId" in rule]
        assert len(s3) == 1, (description, rules)
        (rule,) = s3
        assert {key: rule[key] for key in HTTPS} == HTTPS, description
        assert rule["DestinationPrefixListId"] == {
            "Fn::GetAtt": [_prefix_list_lookup(template), "PrefixLists.0.PrefixListId"]
        }
        others = [rule for rule in rules if rule not in s3]
        if description.startswith("Esteira training"):
            assert others and all({key: r[key] for key in HTTPS} == HTTPS for r in others), (description, others)
        else:
            assert not others, (description, others)


@pytest.mark.parametrize("env", [env for env in ENVS if env != "dev"])
def test_clarify_reaches_the_sagemaker_interface_endpoints_over_https(env: str, synth: Synth) -> None:
    # GIVEN an existing-network environment running Clarify (training.bias) with training's group, and the groups of
    # its VPC's SageMaker API and Runtime interface endpoints named in config
    synthesized = synth(env)
    endpoint_groups = synthesized.config.network.sagemaker_endpoint_security_group_ids
    assert synthesized.config.training.bias.enabled and endpoint_groups
    template = synthesized.templates["DataPlatform"]
    (training,) = [
        logical_id
        for logical_id, description in _workload_groups(template.to_json()).items()
        if description.startswith("Esteira training")
    ]
    # THEN training's group lets HTTPS out to each of those groups, and to nothing else beyond S3
    for endpoint_group in endpoint_groups:
        template.has_resource_properties(
            "AWS::EC2::SecurityGroupEgress",
            {
                "GroupId": {"Fn::GetAtt": [training, "GroupId"]},
                "DestinationSecurityGroupId": endpoint_group,
                **HTTPS,
            },
        )
    to_groups = [r for r in egress_of(template.to_json(), training) if "DestinationSecurityGroupId" in r]
    assert sorted(r["DestinationSecurityGroupId"] for r in to_groups) == sorted(endpoint_groups)
    # AND the stack creates no interface endpoint in the user's VPC (a second private-DNS one would collide)
    template.resource_count_is("AWS::EC2::VPCEndpoint", 0)


def _prefix_list_lookup(template: Mapping[str, Any]) -> str:
    (logical_id,) = Template.from_json(template).find_resources("Custom::AWS").keys()
    return logical_id
