"""One environment as a CDK Pipelines stage: every stack of `config/<env>.yaml`, exactly as `-c env=<env>` builds it."""

from typing import Any

from aws_cdk import Environment, Stage
from constructs import Construct

from stacks.app_builder import build_stacks
from stacks.config import EnvironmentConfig
from stacks.delivery_config import DeliveryLinks


class EnvironmentStage(Stage):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        delivery: DeliveryLinks | None,
        git_commit: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, env=Environment(account=config.account, region=config.region), **kwargs)
        self.config = config
        self.stacks = build_stacks(self, config, git_commit=git_commit, delivery=delivery)
