"""The role the delivery pipeline's smoke-test step assumes, from the toolchain account, in the smoke-test stage.

The smoke test (`python -m pipeline.smoke`) invokes the endpoint, describes the promoted package, reads its
`model.tar.gz` (the model only: no data rows travel in it) and the held-out rows of the dataset run the package
names: `datasets/run_id=<run>/holdout/` in the registry's artifacts bucket. The role may read exactly those
holdout prefixes (list and get, decrypt through S3), never the train or validation splits or anything else there.
When the registry is in another account, that bucket's policy grants the same to this role by name
(`share_holdouts_with_smoke_test`).
"""

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from esteira_contracts import layout
from stacks import names
from stacks.constructs.model_sharing import PACKAGE_READ_ACTIONS, RegistryModelAccess
from stacks.delivery_config import DeliveryLinks
from stacks.nag import acknowledge, acknowledge_bucket_grants, objects_of

# The dataset job's split of rows no model of the run trained on (esteira_model.channels.HOLDOUT_CHANNEL, the
# training job's channel of the same name): `datasets/run_id=*/holdout/`, the only data the smoke test reads.
HOLDOUT_SPLIT = "holdout"
HOLDOUT_PREFIX = f"{layout.run_prefix(layout.DATASETS_PREFIX, '*')}{HOLDOUT_SPLIT}/"
HOLDOUT_OBJECTS = f"{HOLDOUT_PREFIX}*"
HOLDOUT_WHY = "A dataset run's id is chosen per training execution: any run's holdout/ prefix, no other split."


def holdout_statements(
    bucket_arn: str, objects_arn: str, conditions: dict[str, dict[str, str]]
) -> list[iam.PolicyStatement]:
    """List and read the dataset runs' holdout prefixes of one bucket, and nothing else in it."""
    return [
        iam.PolicyStatement(
            sid="ReadDatasetHoldouts", actions=["s3:GetObject"], resources=[objects_arn], conditions=conditions or None
        ),
        iam.PolicyStatement(
            sid="ListDatasetHoldouts",
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            conditions={**conditions, "StringLike": {"s3:prefix": HOLDOUT_OBJECTS}},
        ),
    ]


def share_holdouts_with_smoke_test(bucket: s3.IBucket, reader: tuple[str, str] | None) -> None:
    """The registry's artifacts bucket lets the smoke-test role of another account (account, role name) list and
    read the dataset runs' holdout prefixes. By account and `aws:PrincipalArn`: a principal naming the role itself
    would need it to exist first (it is deployed in a later stage)."""
    if reader is None:
        return
    account, role_name = reader
    role_arn = f"arn:{Stack.of(bucket).partition}:iam::{account}:role/{role_name}"
    for statement in holdout_statements(bucket.bucket_arn, bucket.arn_for_objects(HOLDOUT_OBJECTS), {}):
        statement.add_principals(
            iam.AccountPrincipal(account).with_conditions({"ArnEquals": {"aws:PrincipalArn": role_arn}})
        )
        statement.sid = f"SmokeTest{statement.sid}"
        bucket.add_to_resource_policy(statement)


class SmokeTestRole(Construct):
    """May invoke this environment's endpoint and read the promoted package with its held-out rows, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        role_name: str,
        endpoint_name: str,
        env_name: str,
        delivery: DeliveryLinks,
        artifacts: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # The step's role by name, as a condition on the toolchain account: a principal naming the role itself would
        # need that role to exist first (and IAM would pin its unique id, broken by a replacement).
        step_role = f"arn:{stack.partition}:iam::{delivery.toolchain_account}:role/{delivery.smoke_test_step_role_name}"
        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.AccountPrincipal(delivery.toolchain_account).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": step_role}}
            ),
            description=f"Assumed by the delivery pipeline's smoke test: invokes {endpoint_name} with held-out rows",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="InvokeEndpoint",
                actions=["sagemaker:InvokeEndpoint"],
                resources=[stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)],
            )
        )
        if delivery.registry_env == env_name:
            group = f"{names.PROJECT}-{env_name}-{names.MODEL_PACKAGE_GROUP_SUFFIX}"
            packages = stack.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group}/*")
            self.role.add_to_policy(
                iam.PolicyStatement(sid="DescribePackages", actions=list(PACKAGE_READ_ACTIONS), resources=[packages])
            )
            models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
            artifacts.grant_read(self.role, models)
            key.grant_decrypt(self.role)
            for statement in holdout_statements(artifacts.bucket_arn, artifacts.arn_for_objects(HOLDOUT_OBJECTS), {}):
                self.role.add_to_policy(statement)
            policy = self.role.node.find_child("DefaultPolicy")
            acknowledge(policy, f"IAM5[Resource::{packages}]", "Any version of the group may be the promoted package.")
            acknowledge_bucket_grants(
                policy,
                "CDK bucket grant limited to models/: the promoted package's model.tar.gz (the model, no data rows).",
                objects_of(artifacts, models, consumer=self),
            )
            acknowledge(policy, f"IAM5[{objects_of(artifacts, HOLDOUT_OBJECTS, consumer=self)}]", HOLDOUT_WHY)
        else:
            RegistryModelAccess(
                self,
                "RegistryModels",
                role=self.role,
                delivery=delivery,
                pull_images=False,
            )
            # The registry's bucket: its name is generated there, so by account (its policy names this role).
            partition = stack.partition
            registry = {"StringEquals": {"s3:ResourceAccount": delivery.registry_account}}
            holdouts = iam.Policy(
                self,
                "RegistryHoldouts",
                statements=holdout_statements(
                    f"arn:{partition}:s3:::*", f"arn:{partition}:s3:::*/{HOLDOUT_OBJECTS}", registry
                ),
                roles=[self.role],
            )
            for resource in (f"arn:{partition}:s3:::*", f"arn:{partition}:s3:::*/{HOLDOUT_OBJECTS}"):
                acknowledge(
                    holdouts,
                    f"IAM5[Resource::{resource}]",
                    f"The registry ({delivery.registry_env}) generates its bucket name; s3:ResourceAccount pins the "
                    "account, s3:prefix and the key pattern the holdout prefixes. " + HOLDOUT_WHY,
                )
