"""The delivery pipeline's generated IAM policies: each wildcard finding acknowledged for its own pattern, no
codebuild action on `*`."""

import json
from collections.abc import Callable

import pytest

from stacks.constructs.pipeline_policies import GENERATED_FINDINGS, generated_finding_reason
from tests.stacks.conftest import SynthesizedDelivery

SELF_MUTATION = "Esteira-delivery-pipeline/Delivery/Pipeline/UpdatePipeline/SelfMutation/Role/DefaultPolicy/Resource"
ASSET_ROLE = "Esteira-delivery-pipeline/Delivery/Pipeline/Assets/FileRole/DefaultPolicy/Resource"
SYNTH_ROLE = "Esteira-delivery-pipeline/Delivery/CodePipeline/Build/Synth/CdkBuildProject/Role/DefaultPolicy/Resource"


@pytest.mark.parametrize(
    ("path", "finding"),
    [
        (ASSET_ROLE, "Resource::*"),  # narrowed to the asset projects: a new `*` must be read, not waved through
        (SYNTH_ROLE, "Resource::*"),
        (SYNTH_ROLE, "Resource::arn:aws:logs:eu-west-1:444444444444:log-group:/aws/codebuild/*"),
        (SYNTH_ROLE, "Resource::arn:*:iam::444444444444:role/*"),
        (SELF_MUTATION, "Action::sts:*"),
        (SELF_MUTATION, "Resource::arn:aws:s3:::some-other-bucket/*"),
    ],
)
def test_a_finding_outside_the_known_patterns_is_not_acknowledged(path: str, finding: str) -> None:
    assert generated_finding_reason(path, finding) is None


def test_each_known_pattern_has_its_own_reason() -> None:
    reasons = [reason for _, _, reason in GENERATED_FINDINGS]
    assert len(set(reasons)) == len(reasons)
    assert generated_finding_reason(SELF_MUTATION, "Resource::*") is not None
    assert generated_finding_reason(
        SYNTH_ROLE, "Resource::arn:aws:logs:eu-west-1:444444444444:log-group:/aws/codebuild/<Synth1234ABCD>:*"
    )


def test_no_generated_policy_allows_a_codebuild_action_on_every_resource(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    # GIVEN the delivery app's pipeline template
    pipeline = synth_delivery(False).assembly_dir / "Esteira-delivery-pipeline.template.json"
    resources = json.loads(pipeline.read_text())["Resources"]
    # WHEN its policies are read THEN no codebuild action applies to `*`: the asset role starts only its projects
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("codebuild:") for action in actions):
                assert statement["Resource"] != "*", f"{logical_id}: {actions} on *"


def test_every_generated_finding_is_acknowledged_with_its_patterns_reason(
    synth_delivery: Callable[[bool], SynthesizedDelivery],
) -> None:
    report = synth_delivery(False).validation_report
    known = {reason for _, _, reason in GENERATED_FINDINGS}
    generated = [
        finding
        for plugin in report["pluginReports"]  # type: ignore[attr-defined]
        for finding in plugin.get("suppressedViolations", [])
        if finding["reason"] in known
    ]
    assert generated, "the pipeline's generated policies have acknowledged findings"
    for finding in generated:
        path = finding["acknowledgedAt"]
        finding_id = finding["ruleName"].removeprefix("AwsSolutions-IAM5[").removesuffix("]")
        assert generated_finding_reason(path, finding_id) == finding["reason"]
