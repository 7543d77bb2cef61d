"""Serving: the endpoint (when config names a model), its autoscaling, alarms and data-quality monitor."""

import json
from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks import names
from stacks.config import EnvironmentConfig
from stacks.constructs.endpoint import EndpointNetwork, ModelEndpoint
from stacks.constructs.endpoint_autoscaling import VariantAutoscaling
from stacks.constructs.model_monitor import DataQualityMonitor
from stacks.constructs.model_sharing import RegistryModelAccess
from stacks.constructs.smoke_test_role import SmokeTestRole
from stacks.delivery_config import DeliveryLinks


class ServingStack(Stack):
    """With no variant configured this stack is empty: the first deploy of an environment creates no endpoint."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        model_role: iam.IRole,
        monitor_role: iam.IRole,
        key: kms.IKey,
        artifacts: s3.IBucket,
        repository: ecr.IRepository,
        alerts: sns.ITopic,
        network: EndpointNetwork | None,
        delivery: DeliveryLinks | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        serving = config.serving
        endpoint_name = config.resource_name("endpoint")
        if delivery is not None and delivery.serves_foreign_models:
            RegistryModelAccess(
                self,
                "RegistryModels",
                role=model_role,
                delivery=delivery,
                pull_images=True,
            )
        if delivery is not None and delivery.hosts_smoke_test:
            SmokeTestRole(
                self,
                "SmokeTest",
                role_name=config.resource_name(names.SMOKE_TEST_ROLE_SUFFIX),
                endpoint_name=endpoint_name,
                env_name=config.name,
                delivery=delivery,
                artifacts=artifacts,
                key=key,
            )
        # Always present, so the stack is never empty: what this environment serves, for operators and CD.
        ssm.StringParameter(
            self,
            "ServedVariants",
            parameter_name=f"/{names.PROJECT}/{config.name}/serving/variants",
            description="Variants the endpoint serves (name, weight, model), as deployed by this stack",
            string_value=json.dumps(
                [
                    {"name": v.name, "weight": v.weight, "model": v.model_package_arn or v.model_data_url}
                    for v in serving.variants
                ]
            ),
        )
        self.endpoint: ModelEndpoint | None = None
        if not serving.variants:
            return
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            serving=serving,
            role=model_role,
            key=key,
            artifacts=artifacts,
            repository=repository,
            alerts=alerts,
            network=network,
        )
        if serving.serverless is None:
            for variant in serving.variants:
                VariantAutoscaling(
                    self,
                    f"Autoscaling-{variant.name}",
                    endpoint=self.endpoint.endpoint,
                    endpoint_name=endpoint_name,
                    variant_name=variant.name,
                    config=serving.autoscaling,
                )
        if serving.monitoring is not None:
            DataQualityMonitor(
                self,
                "DataQuality",
                endpoint_name=endpoint_name,
                config=serving.monitoring,
                role=monitor_role,
                artifacts=artifacts,
                key=key,
                alerts=alerts,
            ).node.add_dependency(self.endpoint.endpoint)
        CfnOutput(self, "EndpointName", value=endpoint_name)
