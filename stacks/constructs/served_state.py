"""The served state (esteira_contracts.served): recorded at deploy by the Registry stack, read by the Serving stack.

Why two stacks: CloudFormation resolves an SSM-typed template parameter when it creates the change set, before any
resource of that stack exists. The Registry stack, which the Serving stack depends on, makes sure every field exists
(and writes the package a deploy names); the Serving stack's template then reads the fields as
`AWS::SSM::Parameter::Value<String>` parameters. `cdk synth` calls no AWS API, and a plain deploy serves what the
state holds: the endpoint is in the template whenever the state holds a champion package (a CloudFormation
condition), with or without `-c model_package_arn=`.
"""

from dataclasses import dataclass

from aws_cdk import CfnCondition, CfnParameter, CfnResource, CustomResource, Fn, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from esteira_contracts.served import (
    CHAMPION_VARIANT,
    UNSET,
    RecorderSettings,
    VariantField,
    baseline_parameter,
    served_state_path,
    variant_parameter,
)
from stacks.config import ServingConfig
from stacks.constructs.python_function import PythonFunction
from stacks.nag import acknowledge


@dataclass(frozen=True)
class ServedVariantSpec:
    """A variant as config (and `-c model_package_arn=`) names it: the package to record, if any."""

    name: str
    initial_weight: float
    model_package_arn: str | None


def served_variants(serving: ServingConfig) -> list[ServedVariantSpec] | None:
    """The variants the served state holds, the champion first; None when config serves model artifacts directly
    (`model_data_url` and `image`, a dev shortcut with no package, which the template then names literally)."""
    if any(variant.model_data_url for variant in serving.variants):
        return None
    if not serving.variants:
        return [ServedVariantSpec(CHAMPION_VARIANT, 1.0, None)]
    return [ServedVariantSpec(v.name, v.weight, v.model_package_arn) for v in serving.variants]


@dataclass(frozen=True)
class RecorderGrants:
    """What the recorder may read and tag: packages of these groups (ARN prefixes), images of this repository."""

    package_arns: tuple[str, ...]
    repository: ecr.IRepository
    # The repository's name as a literal, so that the recorder's contract checks it at synth.
    repository_name: str


class ServedStateRecorder(Construct):
    """A Lambda-backed custom resource that records the served state on every deploy that changes what it is given.

    It never deletes the state (Delete does nothing): a stack destroyed and deployed again serves what was promoted.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        variants: list[ServedVariantSpec],
        grants: RecorderGrants,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        powertools_layer_version: int,
        function_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = PythonFunction(
            self,
            "Recorder",
            function_name=function_name,
            handler="delivery.promote.served_handler.handler",
            description=f"Records what {env_name} serves (SSM {served_state_path(env_name)}) and tags promoted images",
            environment=RecorderSettings(env_name=env_name, image_repository=grants.repository_name).to_env(),
            key=key,
            log_retention=log_retention,
            powertools_layer_version=powertools_layer_version,
        )
        role = self.function.role
        state = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{served_state_path(env_name).strip('/')}/*"
        )
        role.add_to_policy(
            iam.PolicyStatement(sid="ServedState", actions=["ssm:GetParameter", "ssm:PutParameter"], resources=[state])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPromotedPackage",
                actions=["sagemaker:DescribeModelPackage"],
                resources=list(grants.package_arns),
            )
        )
        # ECR adds a tag to an image by PutImage of the image's own manifest, which BatchGetImage reads: exactly these.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TagPromotedImage",
                actions=["ecr:BatchGetImage", "ecr:PutImage"],
                resources=[grants.repository.repository_arn],
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        for arn in (state, *grants.package_arns):
            acknowledge(
                policy,
                f"IAM5[Resource::{stack.resolve(arn)}]",
                "The served state's parameters (one path per environment) and the versions of the package groups "
                "this environment may serve: versions are known only when promotion names them.",
            )
        self.resource = CustomResource(
            self,
            "State",
            service_token=self.function.function.function_arn,
            resource_type="Custom::ServedState",
            properties={
                "Variants": [
                    {
                        "Name": variant.name,
                        "InitialWeight": str(variant.initial_weight),
                        **({"ModelPackageArn": variant.model_package_arn} if variant.model_package_arn else {}),
                    }
                    for variant in variants
                ]
            },
        )


class ServedStateReader:
    """The served state as template parameters of the Serving stack, and the condition "a champion is promoted"."""

    def __init__(self, scope: Construct, *, env_name: str, variants: list[ServedVariantSpec]) -> None:
        self._scope = scope
        self._env = env_name
        self.model_package_arn = {v.name: self._parameter(v.name, "model-package-arn") for v in variants}
        self.weight = {v.name: self._parameter(v.name, "weight") for v in variants}
        champion = self.model_package_arn[variants[0].name]
        self.promoted = CfnCondition(
            scope, "ChampionPromoted", expression=Fn.condition_not(Fn.condition_equals(champion, UNSET))
        )

    def baseline_uris(self) -> tuple[str, str]:
        """The champion package's data-quality constraints and statistics S3 URIs (or `none`), for the monitor."""
        return (
            self._read("BaselineConstraints", baseline_parameter(self._env, "constraints"), "Baseline constraints"),
            self._read("BaselineStatistics", baseline_parameter(self._env, "statistics"), "Baseline statistics"),
        )

    def _parameter(self, variant: str, field: VariantField) -> str:
        logical_id = "".join(part.capitalize() for part in (variant + "-" + field).split("-"))
        return self._read(logical_id, variant_parameter(self._env, variant, field), f"Variant {variant}: {field}")

    def _read(self, logical_id: str, name: str, description: str) -> str:
        return CfnParameter(
            self._scope,
            f"Served{logical_id}",
            type="AWS::SSM::Parameter::Value<String>",
            default=name,
            description=f"{description}, from the served state (SSM {name}); CloudFormation reads it at deploy",
        ).value_as_string


def only_when(condition: CfnCondition, *scopes: IConstruct) -> None:
    """Every CloudFormation resource under `scopes` exists only when `condition` holds."""
    for scope in scopes:
        for child in scope.node.find_all():
            if isinstance(child, CfnResource):
                child.cfn_options.condition = condition
