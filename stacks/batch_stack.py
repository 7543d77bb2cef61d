"""Batch predictions: transform job, fan-out to SQS FIFO, consumers, tables."""

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.batch_predictions import BatchPredictions, BatchSettings
from stacks.constructs.model_sharing import RegistryModelAccess
from stacks.constructs.retention import retention_days
from stacks.delivery_config import DeliveryLinks


class BatchStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        key: kms.IKey,
        predictions: s3.IBucket,
        artifacts: s3.IBucket,
        transform_role: iam.IRole,
        alerts: sns.ITopic,
        subnet_ids: list[str],
        security_group_ids: list[str],
        delivery: DeliveryLinks | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        promoted = delivery is not None and delivery.serves_promoted_models and bool(config.serving.variants)
        if delivery is not None and delivery.serves_foreign_models:
            # Transform jobs in this account create their model from the registry's package, in its account.
            RegistryModelAccess(
                self,
                "RegistryModels",
                role=transform_role,
                delivery=delivery,
                pull_images=True,
            )
        self.batch = BatchPredictions(
            self,
            "Batch",
            settings=BatchSettings(
                env_name=config.name,
                name_prefix=f"{names.PROJECT}-{config.name}",
                model_package_group_name=config.resource_name(names.MODEL_PACKAGE_GROUP_SUFFIX),
                batch=config.batch,
                log_retention=retention_days(config.log_retention_days),
                powertools_layer_version=config.lambdas.powertools_layer_version,
                retain=config.retain,
                subnet_ids=subnet_ids,
                security_group_ids=security_group_ids,
                # The champion's package: what the endpoint serves, which the pipeline promoted.
                pinned_model_package_arn=config.serving.variants[0].model_package_arn if promoted else None,
            ),
            key=key,
            predictions=predictions,
            artifacts=artifacts,
            transform_role=transform_role,
            alerts=alerts,
        )
        CfnOutput(self, "LauncherFunction", value=self.batch.launcher.function.function_name)
        CfnOutput(self, "QueueUrl", value=self.batch.queue.queue.queue_url)
        CfnOutput(self, "PredictionsTable", value=self.batch.predictions_table.table_name)
