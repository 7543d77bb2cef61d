"""The IAM policies CDK Pipelines writes for the delivery pipeline: one acknowledgment per wildcard finding.

Each finding is matched against the patterns below, each naming the resource pattern and why it cannot be narrower.
A finding that matches none stays unacknowledged, so cdk-nag fails the synth until someone reads it. The asset
role's `codebuild:*Build*` on `*` is narrowed to the asset projects.
"""

import re
from collections.abc import Sequence

import jsii
from aws_cdk import IAspect, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from stacks.nag import acknowledge, wildcard_findings

_PARTITION_REGION_ACCOUNT = r"arn:[a-z-]+:{service}:[a-z0-9-]+:[0-9]{{12}}"
_LOGS = _PARTITION_REGION_ACCOUNT.format(service="logs")
_REPORTS = _PARTITION_REGION_ACCOUNT.format(service="codebuild")
_CDK_ID = r"<[A-Za-z0-9]+>"

# (finding id pattern, where it may appear (a construct path fragment, "" for any), reason)
GENERATED_FINDINGS: Sequence[tuple[str, str, str]] = (
    (
        r"Action::s3:(GetBucket|GetObject|List|Abort|DeleteObject)\*",
        "",
        "CDK's bucket grant action groups, on the pipeline's own artifacts bucket only: each step reads its input "
        "artifacts and writes its output artifacts there.",
    ),
    (
        r"Resource::<Delivery(CodePipelineArtifactsBucket|Artifacts)[0-9A-F]{8}\.Arn>/\*",
        "",
        "Objects of the pipeline's own artifacts bucket: CodePipeline names each execution's artifact keys at run "
        "time, so no narrower key pattern exists.",
    ),
    (
        r"Action::kms:(GenerateDataKey|ReEncrypt)\*",
        "",
        "CDK's key grant on the artifacts bucket's own KMS key (the only resource): artifacts are encrypted with it.",
    ),
    (
        rf"Resource::{_LOGS}:log-group:/aws/codebuild/{_CDK_ID}:\*",
        "",
        "Log streams of this CodeBuild project's own log group: CodeBuild creates one stream per build, named then.",
    ),
    (
        rf"Resource::{_REPORTS}:report-group/{_CDK_ID}-\*",
        "",
        "Report groups of this CodeBuild project only: CodeBuild names them <project>-<report> at run time.",
    ),
    (
        rf"Resource::{_LOGS}:log-group:/aws/codebuild/\*",
        "/Assets/FileRole/",
        "The asset role is shared by CDK's asset-publishing projects, whose names CloudFormation generates; the "
        "pattern stays in /aws/codebuild/ of the toolchain account and region.",
    ),
    (
        rf"Resource::{_REPORTS}:report-group/\*",
        "/Assets/FileRole/",
        "The asset role is shared by CDK's asset-publishing projects, whose names CloudFormation generates; "
        "report groups of the toolchain account and region only.",
    ),
    (
        r"Resource::arn:\*:iam::[0-9]{12}:role/\*",
        "/UpdatePipeline/SelfMutation/",
        "Self-mutation assumes only roles tagged aws-cdk:bootstrap-role (file-publishing, image-publishing, "
        "deploy: the statement's condition), whose names embed each target's account and region.",
    ),
    (
        r"Resource::\*",
        "/UpdatePipeline/SelfMutation/",
        "cloudformation:DescribeStacks and s3:ListBucket, which `cdk deploy` calls in self-mutation before it knows "
        "which stacks and bootstrap buckets exist; both only read.",
    ),
)


def generated_finding_reason(path: str, finding: str) -> str | None:
    """The reason for one wildcard finding of a generated policy at `path`; None when none applies."""
    for pattern, where, reason in GENERATED_FINDINGS:
        if re.fullmatch(pattern, finding) and where in path:
            return reason
    return None


ASSET_ROLE_POLICY = "/Pipeline/Assets/FileRole/DefaultPolicy/Resource"
BUILD_ACTIONS = {"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"}


def narrow_asset_role_builds(policy: iam.CfnPolicy) -> None:
    """CDK gives the asset role codebuild:StartBuild/StopBuild/BatchGetBuilds on `*`: only its asset projects."""
    assets = policy.node.scope.node.scope.node.scope if policy.node.scope and policy.node.scope.node.scope else None
    projects = [
        child.attr_arn
        for child in (assets.node.find_all() if assets else [])
        if isinstance(child, codebuild.CfnProject)
    ]
    document = Stack.of(policy).resolve(policy.policy_document)
    for statement in document.get("Statement", []):
        actions = statement.get("Action", [])
        if statement.get("Resource") == "*" and BUILD_ACTIONS & set(
            actions if isinstance(actions, list) else [actions]
        ):
            if not projects:
                raise ValueError(f"{policy.node.path}: no asset project to narrow codebuild actions to")
            statement["Resource"] = [Stack.of(policy).resolve(arn) for arn in projects]
    # The resolved document replaces CDK's: what cdk-nag, checkov and CloudFormation read is the narrowed one.
    policy.policy_document = document


@jsii.implements(IAspect)
class AcknowledgeGeneratedPolicies:
    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, iam.CfnPolicy):
            return
        if node.node.path.endswith(ASSET_ROLE_POLICY):
            narrow_asset_role_builds(node)
        for finding in wildcard_findings(node):
            reason = generated_finding_reason(node.node.path, finding)
            if reason is not None:
                acknowledge(node, f"IAM5[{finding}]", reason)
