"""Delivery: the self-mutating pipeline that deploys every environment, and promotion on model approval."""

from typing import Any

from aws_cdk import Aspects, CfnOutput, Environment, Stack, pipelines
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.alerts import Alerts
from stacks.constructs.delivery_pipeline import DeliveryPipeline, SmokeTarget
from stacks.constructs.encryption import DataKey
from stacks.constructs.promotion import PromotionSettings, PromotionTrigger
from stacks.constructs.retention import retention_days
from stacks.delivery_config import DeliveryConfig
from stacks.environment_stage import EnvironmentStage
from stacks.service_principals import ScopeServicePrincipals


class DeliveryStack(Stack):
    """Exposes `delivery` (the pipeline), `stages` in deployment order and `promotion`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery: DeliveryConfig,
        stage_configs: list[EnvironmentConfig],
        git_commit: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        by_name = {config.name: config for config in stage_configs}
        registry = by_name[delivery.promotion.registry_env]
        smoke_env = by_name[delivery.smoke_test.env]
        key = DataKey(self, "Key", alias=f"alias/{delivery.pipeline_name}", retain=True).key
        alerts = Alerts(
            self, "Alerts", topic_name=f"{delivery.pipeline_name}-alerts", key=key, emails=delivery.alerts.emails
        ).topic
        self.delivery = DeliveryPipeline(
            self,
            "Delivery",
            delivery=delivery,
            smoke=SmokeTarget(
                env_name=smoke_env.name,
                region=smoke_env.region,
                endpoint_name=smoke_env.resource_name("endpoint"),
                role_arn=(
                    f"arn:{self.partition}:iam::{smoke_env.account}:role/"
                    f"{smoke_env.resource_name(names.SMOKE_TEST_ROLE_SUFFIX)}"
                ),
                step_role_name=delivery.smoke_test_step_role_name,
                gate=registry.training.gate,
            ),
        )
        self.stages: list[EnvironmentStage] = []
        for config in stage_configs:
            stage = EnvironmentStage(
                self,
                config.name,
                config=config,
                delivery=delivery.links_for(config, registry),
                git_commit=git_commit,
            )
            self.delivery.pipeline.add_stage(
                stage,
                pre=(
                    [pipelines.ManualApprovalStep(f"PromoteTo-{config.name}", comment=_approval_comment(config.name))]
                    if config.name in delivery.manual_approval_before
                    else []
                ),
                post=[self.delivery.smoke_test] if config.name == smoke_env.name else [],
            )
            self.stages.append(stage)
        self.delivery.pipeline.build_pipeline()
        self.delivery.acknowledge_generated_policies()
        self.promotion = PromotionTrigger(
            self,
            "Promotion",
            settings=PromotionSettings(
                function_name=f"{delivery.pipeline_name}-promoter",
                pipeline_variable=delivery.promotion.variable,
                registry_account=registry.account,
                model_package_group=registry.resource_name(names.MODEL_PACKAGE_GROUP_SUFFIX),
                forwarder_role_name=registry.resource_name(names.DECISION_FORWARDER_ROLE_SUFFIX),
                log_retention=retention_days(delivery.log_retention_days),
                powertools_layer_version=delivery.lambdas.powertools_layer_version,
            ),
            pipeline=self.delivery.code_pipeline,
            key=key,
            alerts=alerts,
        )
        self._notify_failures(self.delivery.code_pipeline, alerts)
        CfnOutput(self, "PipelineName", value=self.delivery.code_pipeline.pipeline_name)
        Aspects.of(self).add(ScopeServicePrincipals())

    def _notify_failures(self, pipeline: codepipeline.IPipeline, alerts: sns.ITopic) -> None:
        pipeline.on_state_change(
            "Failed",
            description="A delivery pipeline execution failed: a test, a deploy, the smoke test or a rollback",
            event_pattern=events.EventPattern(detail={"state": ["FAILED"]}),
            target=targets.SnsTopic(alerts),
        )


def _approval_comment(env: str) -> str:
    return (
        f"Promote to {env}? The smoke test passed in the earlier stage. Reject here to stop this execution; "
        "reject the model package in the registry to roll back (README: Delivery)."
    )


def build_delivery(
    scope: Construct, delivery: DeliveryConfig, model_package_arn: str | None, git_commit: str = "unknown"
) -> DeliveryStack:
    """The delivery pipeline stack, in the toolchain account, with every environment as a stage."""
    return DeliveryStack(
        scope,
        f"Esteira-delivery-{delivery.name}",
        delivery=delivery,
        stage_configs=delivery.stage_configs(model_package_arn),
        git_commit=git_commit,
        env=Environment(account=delivery.account, region=delivery.region),
        description="Esteira delivery: self-mutating pipeline, dev to prod, promotion on model approval",
    )
