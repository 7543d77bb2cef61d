"""The role the delivery pipeline's smoke-test step assumes, from the toolchain account, in the smoke-test stage."""

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names
from stacks.constructs.model_sharing import PACKAGE_READ_ACTIONS, RegistryModelAccess
from stacks.delivery_config import DeliveryLinks
from stacks.nag import acknowledge, acknowledge_bucket_grants, objects_of


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
            policy = self.role.node.find_child("DefaultPolicy")
            acknowledge(policy, f"IAM5[Resource::{packages}]", "Any version of the group may be the promoted package.")
            acknowledge_bucket_grants(
                policy,
                "CDK bucket grant limited to models/: the promoted package's model.tar.gz holds the held-out rows.",
                objects_of(artifacts, models, consumer=self),
            )
        else:
            RegistryModelAccess(
                self,
                "RegistryModels",
                role=self.role,
                delivery=delivery,
                pull_images=False,
            )
