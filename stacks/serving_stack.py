"""Serving: the endpoint, its autoscaling, alarms and monitors (data and model quality), serving the served state.

The template reads the served state (SSM, in this account) when CloudFormation deploys it, so every deploy, with or
without `-c model_package_arn=`, serves what was last promoted; the endpoint exists once a champion is promoted
(a template condition). Only a config that serves model artifacts directly (`model_data_url`, dev) names them here.
"""

import json
from typing import Any, cast

from aws_cdk import CfnCondition, CfnOutput, Fn, ICfnConditionExpression, Stack, Token
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from esteira_contracts.endpoint_quality import served_threshold
from esteira_contracts.served import UNSET, served_state_path
from stacks import names
from stacks.config import EnvironmentConfig, MonitoringConfig
from stacks.constructs.endpoint import EndpointNetwork, EndpointVariant, ModelEndpoint
from stacks.constructs.endpoint_autoscaling import VariantAutoscaling
from stacks.constructs.model_monitor import DataQualityMonitor
from stacks.constructs.model_quality_monitor import ModelQualityMonitor
from stacks.constructs.model_sharing import RegistryBaselineAccess, RegistryModelAccess
from stacks.constructs.served_state import ServedStateReader, only_when, served_variants
from stacks.constructs.smoke_test_role import SmokeTestRole
from stacks.delivery_config import DeliveryLinks

NOT_PROMOTED = (
    "none: no model promoted yet, so no endpoint. Promote one (approve a package in the registry), or deploy with "
    "-c model_package_arn=<arn> (make ... MODEL_PACKAGE_ARN=<arn>)"
)

NO_BASELINE = (
    "none: no data-quality monitor. The champion's package registered no Model Monitor baseline "
    "(DriftCheckBaselines.ModelDataQuality), or no model is promoted yet; promote a package that the training "
    "state machine's Baseline step baselined"
)


class ServingStack(Stack):
    """Exposes `endpoint`; its resources exist only once the served state holds a champion (`ServedModel` output)."""

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
        model_quality_role: iam.IRole | None = None,
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
        state_variants = served_variants(serving)
        # Always present, so the stack is never empty: where to find what this environment serves. The same with or
        # without -c model_package_arn (the served state has the packages and weights).
        ssm.StringParameter(
            self,
            "ServedVariants",
            parameter_name=f"/{names.PROJECT}/{config.name}/serving/variants",
            description="Variants the endpoint serves, and where their packages and weights are kept",
            string_value=json.dumps(
                {"variants": [v.name for v in state_variants], "served_state": served_state_path(config.name)}
                if state_variants is not None
                else [{"name": v.name, "weight": v.weight, "model": v.model_data_url} for v in serving.variants]
            ),
        )
        reader = None
        if state_variants is None:
            variants = [
                EndpointVariant(
                    name=v.name,
                    weight=v.weight,
                    model_data_url=v.model_data_url,
                    image=v.image,
                    instance_type=v.instance_type,
                    initial_instance_count=v.initial_instance_count,
                )
                for v in serving.variants
            ]
        else:
            # The state is recorded by the Registry stack: it must be deployed first.
            self.add_stack_dependency(Stack.of(repository))
            reader = ServedStateReader(self, env_name=config.name, variants=state_variants)
            configured = {v.name: v for v in serving.variants}
            variants = [
                EndpointVariant(
                    name=v.name,
                    weight=Token.as_number(reader.weight[v.name]),
                    model_package_arn=reader.model_package_arn[v.name],
                    instance_type=configured[v.name].instance_type if v.name in configured else None,
                    initial_instance_count=(
                        configured[v.name].initial_instance_count if v.name in configured else None
                    ),
                )
                for v in state_variants
            ]
        self.endpoint = ModelEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            serving=serving,
            variants=variants,
            role=model_role,
            key=key,
            artifacts=artifacts,
            repository=repository,
            alerts=alerts,
            network=network,
            retain=config.retain,
        )
        scoped: list[Construct] = [self.endpoint]
        if serving.serverless is None:
            for variant in variants:
                scoped.append(
                    VariantAutoscaling(
                        self,
                        f"Autoscaling-{variant.name}",
                        endpoint=self.endpoint.endpoint,
                        endpoint_name=endpoint_name,
                        variant_name=variant.name,
                        config=serving.autoscaling,
                    )
                )
        endpoint_output = CfnOutput(self, "EndpointName", value=endpoint_name)
        if reader is None:
            if serving.monitoring is not None:
                raise ValueError(
                    f"{config.name}: serving.monitoring compares captured requests with the served package's "
                    "baseline, and variants that give model_data_url serve no package: serve a model package, or "
                    "remove serving.monitoring"
                )
            return
        only_when(reader.promoted, *scoped)
        endpoint_output.condition = reader.promoted
        champion = state_variants[0].name if state_variants else ""
        CfnOutput(
            self,
            "ServedModel",
            description="The champion's model package, from the served state; 'none...' until one is promoted",
            value=Fn.condition_if(
                reader.promoted.logical_id, reader.model_package_arn[champion], NOT_PROMOTED
            ).to_string(),
        )
        if serving.monitoring is not None:
            self._monitor(config, serving.monitoring, reader, monitor_role, artifacts, key, alerts, delivery)
            if serving.monitoring.model_quality.enabled:
                if model_quality_role is None:
                    raise ValueError(
                        f"{config.name}: serving.monitoring.model_quality is enabled, and no model-quality role was "
                        "given (the data platform stack makes it)"
                    )
                self._model_quality(config, serving.monitoring, reader, model_quality_role, artifacts, key)

    def _monitor(
        self,
        config: EnvironmentConfig,
        monitoring: MonitoringConfig,
        reader: ServedStateReader,
        role: iam.IRole,
        artifacts: s3.IBucket,
        key: kms.IKey,
        alerts: sns.ITopic,
        delivery: DeliveryLinks | None,
    ) -> None:
        """The data-quality monitor of the champion's own baseline (served state), once the champion has one."""
        constraints, statistics = reader.baseline_uris()
        recorded = CfnCondition(
            self,
            "ChampionBaselineRecorded",
            expression=Fn.condition_and(
                # A CfnCondition is a condition expression ({"Condition": id}); jsii's typing misses it.
                cast(ICfnConditionExpression, reader.promoted),
                Fn.condition_not(Fn.condition_equals(constraints, UNSET)),
                Fn.condition_not(Fn.condition_equals(statistics, UNSET)),
            ),
        )
        if delivery is not None and delivery.serves_foreign_models:
            # The champion's baseline lives in the registry's artifacts bucket, in its account.
            RegistryBaselineAccess(self, "RegistryBaselines", role=role, delivery=delivery)
        monitor = DataQualityMonitor(
            self,
            "DataQuality",
            endpoint_name=config.resource_name("endpoint"),
            config=monitoring,
            role=role,
            artifacts=artifacts,
            key=key,
            alerts=alerts,
            constraints_uri=constraints,
            statistics_uri=statistics,
        )
        monitor.node.add_dependency(self.endpoint.endpoint)
        only_when(recorded, monitor)
        CfnOutput(
            self,
            "MonitoredBaseline",
            description="The data-quality baseline (constraints) the monitor compares with; 'none...' without one",
            value=Fn.condition_if(recorded.logical_id, constraints, NO_BASELINE).to_string(),
        )

    def _model_quality(
        self,
        config: EnvironmentConfig,
        monitoring: MonitoringConfig,
        reader: ServedStateReader,
        role: iam.IRole,
        artifacts: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        """The model-quality monitor of the served champion, once one is promoted; it needs no baseline."""
        monitor = ModelQualityMonitor(
            self,
            "ModelQuality",
            endpoint_name=config.resource_name("endpoint"),
            config=monitoring,
            # The served model labels at its training's threshold; config validation checked it is a probability.
            threshold=served_threshold(config.training.hyperparameters),
            role=role,
            artifacts=artifacts,
            key=key,
        )
        monitor.node.add_dependency(self.endpoint.endpoint)
        only_when(reader.promoted, monitor)
