"""Cross-account model promotion: the registry environment shares its packages; later stages read them.

A package registered in the registry account references an image in its ECR repository, a `model.tar.gz` in its
artifacts bucket and its Model Monitor baseline there (`monitoring/baselines/`), encrypted with its data key. A
later stage in another account creates its SageMaker model
from that package, so both sides must agree: resource policies here, identity policies in the consumer.
"""

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks import names
from stacks.delivery_config import DeliveryLinks
from stacks.nag import acknowledge

PACKAGE_READ_ACTIONS = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages")
IMAGE_PULL_ACTIONS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability")


def esteira_role_patterns(partition: str, accounts: tuple[str, ...], deployer: bool = False) -> list[str]:
    """The roles of `accounts` that may read shared models: Esteira's own, never the whole account.

    Esteira names some roles `esteira-<env>-...`; CloudFormation names the others `Esteira-<env>-<Stack>-...`
    after their stack. `deployer`: also CloudFormation's CDK execution role, which creates models from packages.
    """
    patterns = []
    for account in accounts:
        prefix = f"arn:{partition}:iam::{account}:role/"
        patterns += [f"{prefix}{names.PROJECT}-*", f"{prefix}{names.PROJECT.capitalize()}-*"]
        if deployer:
            patterns.append(f"{prefix}cdk-*-cfn-exec-role-{account}-*")
    return patterns


def _accounts(accounts: tuple[str, ...], partition: str) -> list[iam.IPrincipal]:
    """Each account's root, conditioned on the principal being one of Esteira's roles there."""
    condition = {"ArnLike": {"aws:PrincipalArn": esteira_role_patterns(partition, accounts)}}
    return [iam.AccountPrincipal(account).with_conditions(condition) for account in accounts]


def share_model_artifacts(bucket: s3.IBucket, key: kms.IKey, accounts: tuple[str, ...]) -> None:
    """Let `accounts` read model artifacts and Model Monitor baselines (and decrypt them through S3 only)."""
    if not accounts:
        return
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="PromotedStagesReadModels",
            principals=_accounts(accounts, Stack.of(bucket).partition),
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{names.MODEL_ARTIFACTS_PREFIX}*")],
        )
    )
    # The data-quality monitor of a later stage compares its captures with the served package's baseline.
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="PromotedStagesReadBaselines",
            principals=_accounts(accounts, Stack.of(bucket).partition),
            actions=["s3:GetObject"],
            resources=[bucket.arn_for_objects(f"{names.MONITORING_BASELINES_PREFIX}*")],
        )
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="PromotedStagesDecryptModels",
            principals=_accounts(accounts, Stack.of(key).partition),
            actions=["kms:Decrypt", "kms:DescribeKey"],
            resources=["*"],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(key).region}.amazonaws.com"}},
        )
    )


def share_repository(repository: ecr.IRepository, accounts: tuple[str, ...]) -> None:
    if accounts:
        repository.add_to_resource_policy(
            iam.PolicyStatement(
                sid="PromotedStagesPullImages",
                principals=_accounts(accounts, Stack.of(repository).partition),
                actions=list(IMAGE_PULL_ACTIONS),
            )
        )


def share_model_package_group(group: sagemaker.CfnModelPackageGroup, accounts: tuple[str, ...]) -> None:
    if not accounts:
        return
    stack = Stack.of(group)
    name = group.model_package_group_name
    principals = {"AWS": [f"arn:{stack.partition}:iam::{account}:root" for account in accounts]}
    roles = {"ArnLike": {"aws:PrincipalArn": esteira_role_patterns(stack.partition, accounts, deployer=True)}}
    arn = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
    group.model_package_group_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PromotedStagesDescribeGroup",
                "Effect": "Allow",
                "Principal": principals,
                "Action": "sagemaker:DescribeModelPackageGroup",
                "Resource": f"{arn}:model-package-group/{name}",
                "Condition": roles,
            },
            {
                "Sid": "PromotedStagesReadPackages",
                "Effect": "Allow",
                "Principal": principals,
                "Action": list(PACKAGE_READ_ACTIONS),
                "Resource": f"{arn}:model-package/{name}/*",
                "Condition": roles,
            },
        ],
    }


class RegistryModelAccess(Construct):
    """A role in a promoted stage may read packages, artifacts and images of the registry in another account.

    The artifacts bucket's name is generated in that account, so S3 access is by account condition; the
    registry's bucket policy limits it to `models/`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role: iam.IRole,
        delivery: DeliveryLinks,
        pull_images: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        registry_env, registry_account = delivery.registry_env, delivery.registry_account
        registry_region = delivery.registry_region
        partition = Stack.of(self).partition
        group = f"{names.PROJECT}-{registry_env}-{names.MODEL_PACKAGE_GROUP_SUFFIX}"
        packages = f"arn:{partition}:sagemaker:{registry_region}:{registry_account}:model-package/{group}/*"
        objects = f"arn:{partition}:s3:::*/{names.MODEL_ARTIFACTS_PREFIX}*"
        keys = f"arn:{partition}:kms:{registry_region}:{registry_account}:key/*"
        statements = [
            iam.PolicyStatement(
                sid="DescribeRegistryPackages", actions=list(PACKAGE_READ_ACTIONS), resources=[packages]
            ),
            iam.PolicyStatement(
                sid="ReadRegistryModels",
                actions=["s3:GetObject"],
                resources=[objects],
                conditions={"StringEquals": {"s3:ResourceAccount": registry_account}},
            ),
            iam.PolicyStatement(
                sid="DecryptRegistryModels",
                actions=["kms:Decrypt"],
                resources=[keys],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{registry_region}.amazonaws.com"}},
            ),
        ]
        repository = None
        if pull_images:
            repository = (
                f"arn:{partition}:ecr:{registry_region}:{registry_account}:repository/"
                f"{names.PROJECT}-{registry_env}/{names.MODEL_IMAGE_REPOSITORY}"
            )
            statements.append(
                iam.PolicyStatement(sid="PullRegistryImages", actions=list(IMAGE_PULL_ACTIONS), resources=[repository])
            )
        self.policy = iam.Policy(self, "Policy", statements=statements, roles=[role])
        why = f"The registry ({registry_env}, account {registry_account}) generates these names; "
        acknowledge(self.policy, f"IAM5[Resource::{packages}]", why + "any version of its group may be promoted.")
        acknowledge(
            self.policy,
            f"IAM5[Resource::{objects}]",
            why + "the bucket name is generated there; s3:ResourceAccount pins the account, its policy the prefix.",
        )
        acknowledge(
            self.policy,
            f"IAM5[Resource::{keys}]",
            why + "its key id is generated there; kms:ViaService limits it to S3.",
        )


class RegistryBaselineAccess(Construct):
    """A monitoring role in a promoted stage may read the Model Monitor baselines of the registry in another
    account (`monitoring/baselines/`, which the registry's bucket policy shares), decrypting through S3 only."""

    def __init__(self, scope: Construct, construct_id: str, *, role: iam.IRole, delivery: DeliveryLinks) -> None:
        super().__init__(scope, construct_id)
        registry_account, registry_region = delivery.registry_account, delivery.registry_region
        partition = Stack.of(self).partition
        objects = f"arn:{partition}:s3:::*/{names.MONITORING_BASELINES_PREFIX}*"
        keys = f"arn:{partition}:kms:{registry_region}:{registry_account}:key/*"
        self.policy = iam.Policy(
            self,
            "Policy",
            statements=[
                iam.PolicyStatement(
                    sid="ReadRegistryBaselines",
                    actions=["s3:GetObject"],
                    resources=[objects],
                    conditions={"StringEquals": {"s3:ResourceAccount": registry_account}},
                ),
                iam.PolicyStatement(
                    sid="DecryptRegistryBaselines",
                    actions=["kms:Decrypt"],
                    resources=[keys],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{registry_region}.amazonaws.com"}},
                ),
            ],
            roles=[role],
        )
        why = f"The registry ({delivery.registry_env}, account {registry_account}) generates these names; "
        acknowledge(
            self.policy,
            f"IAM5[Resource::{objects}]",
            why + "the bucket name is generated there; s3:ResourceAccount pins the account, its policy the prefix.",
        )
        acknowledge(
            self.policy,
            f"IAM5[Resource::{keys}]",
            why + "its key id is generated there; kms:ViaService limits it to S3.",
        )
