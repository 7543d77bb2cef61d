"""Registry: one ECR repository per image under containers/."""

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.image_repository import ImageRepository


class RegistryStack(Stack):
    """Exposes `model_repository` for the training and serving stacks."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, key: kms.IKey, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.model_repository = ImageRepository(
            self,
            "ModelImage",
            repository_name=f"{names.PROJECT}-{config.name}/{names.MODEL_IMAGE_REPOSITORY}",
            key=key,
            keep_images=config.registry.keep_images,
            untagged_expiration_days=config.registry.untagged_expiration_days,
            retain=config.retain,
        ).repository
        CfnOutput(self, "ModelRepositoryUri", value=self.model_repository.repository_uri)
