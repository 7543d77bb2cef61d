"""Lets a SageMaker role pull an image from a repository that lives in another stack."""

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.nag import acknowledge, skip_checkov

PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]


def sagemaker_vpc_access() -> iam.PolicyStatement:
    """What a SageMaker job's role needs to run in a VPC (the ENIs SageMaker creates for it)."""
    return iam.PolicyStatement(
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:DeleteNetworkInterface",
            "ec2:DeleteNetworkInterfacePermission",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeVpcs",
            "ec2:DescribeDhcpOptions",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
        ],
        resources=["*"],
    )


def grant_image_pull(
    scope: Construct,
    construct_id: str,
    *,
    role: iam.IRole,
    repository: ecr.IRepository,
    extra: iam.PolicyStatement | None = None,
    extra_reason: str = "",
) -> iam.Policy:
    """A policy in the caller's stack: `repository.grant_pull(role)` would put it in the role's stack,
    which would then depend on the repository's stack and close a dependency cycle."""
    policy = iam.Policy(
        scope,
        construct_id,
        roles=[role],
        statements=[
            iam.PolicyStatement(actions=PULL_ACTIONS, resources=[repository.repository_arn]),
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            *([extra] if extra else []),
        ],
    )
    reason = "ecr:GetAuthorizationToken has no resource-level permission."
    acknowledge(policy, "IAM5[Resource::*]", f"{reason} {extra_reason}".strip())
    if extra:
        # The extra statement is SageMaker's documented VPC access: ENIs (and SageMaker's permission on them)
        # created at run time, whose ids cannot be named beforehand; ec2:Describe* have no resource-level form.
        for check in ("CKV_AWS_111", "CKV_AWS_109"):
            skip_checkov(policy, check, f"ENI actions on '*' for SageMaker in the VPC. {extra_reason}")
    return policy
