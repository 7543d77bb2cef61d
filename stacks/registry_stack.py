"""Registry: one ECR repository per image under containers/, and the environment's served state."""

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.image_repository import ImageRepository
from stacks.constructs.retention import retention_days
from stacks.constructs.served_state import RecorderGrants, ServedStateRecorder, served_variants
from stacks.delivery_config import DeliveryLinks

SERVED_STATE_FUNCTION_SUFFIX = "served-state"


class RegistryStack(Stack):
    """Exposes `model_repository` for the training and serving stacks.

    The served state is recorded here, not in the Serving stack, because the Serving stack's template reads it when
    CloudFormation deploys it: it must exist before that stack's change set (see constructs/served_state.py).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        delivery: DeliveryLinks | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        repository_name = f"{names.PROJECT}-{config.name}/{names.MODEL_IMAGE_REPOSITORY}"
        self.model_repository = ImageRepository(
            self,
            "ModelImage",
            repository_name=repository_name,
            key=key,
            keep_images=config.registry.keep_images,
            untagged_expiration_days=config.registry.untagged_expiration_days,
            retain=config.retain,
        ).repository
        CfnOutput(self, "ModelRepositoryUri", value=self.model_repository.repository_uri)
        self.served_state: ServedStateRecorder | None = None
        variants = served_variants(config.serving)
        if variants is None:
            return
        groups = {(config.region, config.account, config.resource_name(names.MODEL_PACKAGE_GROUP_SUFFIX))}
        if delivery is not None and delivery.serves_promoted_models:
            registry_group = f"{names.PROJECT}-{delivery.registry_env}-{names.MODEL_PACKAGE_GROUP_SUFFIX}"
            groups.add((delivery.registry_region, delivery.registry_account, registry_group))
        self.served_state = ServedStateRecorder(
            self,
            "ServedState",
            env_name=config.name,
            variants=variants,
            grants=RecorderGrants(
                package_arns=tuple(
                    f"arn:{self.partition}:sagemaker:{region}:{account}:model-package/{group}/*"
                    for region, account, group in sorted(groups)
                ),
                repository=self.model_repository,
                repository_name=repository_name,
            ),
            key=key,
            log_retention=retention_days(config.log_retention_days),
            powertools_layer_version=config.lambdas.powertools_layer_version,
            function_name=config.resource_name(SERVED_STATE_FUNCTION_SUFFIX),
        )
