"""A SageMaker endpoint that CloudFormation rolls out blue/green, with alarms that roll it back."""

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnDeletionPolicy, Duration, RemovalPolicy, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.config import ServingConfig
from stacks.constructs.image_pull import grant_image_pull
from stacks.nag import skip_checkov

MICROSECONDS_PER_MS = 1000


@dataclass(frozen=True)
class EndpointVariant:
    """One production variant: a model package (an ARN, or the served state's template parameter), or a model
    artifact with its image; its weight, a number or the served state's parameter."""

    name: str
    weight: float
    model_package_arn: str | None = None
    model_data_url: str | None = None
    image: str | None = None
    instance_type: str | None = None
    initial_instance_count: int | None = None


@dataclass(frozen=True)
class EndpointNetwork:
    subnets: list[ec2.ISubnet]
    security_groups: list[ec2.ISecurityGroup]


class ModelEndpoint(Construct):
    """One model per variant, an endpoint config, and the endpoint.

    Models and endpoint configs carry no physical names, so a changed variant replaces them and
    CloudFormation updates the endpoint in place: blue/green, shifting traffic as configured, rolling back
    when an alarm fires. Variant names come from config and never change across deployments.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        serving: ServingConfig,
        variants: list[EndpointVariant],
        role: iam.IRole,
        key: kms.IKey,
        artifacts: s3.IBucket,
        repository: ecr.IRepository,
        alerts: sns.ITopic,
        network: EndpointNetwork | None,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.endpoint_name = endpoint_name
        self.variant_names = [variant.name for variant in variants]
        self.serving = serving
        self.role = role
        self.models: list[sagemaker.CfnModel] = []
        grant_image_pull(self, "PullModelImage", role=role, repository=repository)
        # Serverless Inference supports neither a VPC nor network isolation (stacks/aws_rules.py, SERVERLESS_DOCS).
        self.isolated = serving.serverless is None
        vpc_config = (
            sagemaker.CfnModel.VpcConfigProperty(
                subnets=[subnet.subnet_id for subnet in network.subnets],
                security_group_ids=[group.security_group_id for group in network.security_groups],
            )
            if network and self.isolated
            else None
        )
        production_variants = [
            self._production_variant(variant, self._model(variant, vpc_config), serving) for variant in variants
        ]
        capture_uri = artifacts.s3_url_for_object(f"{names.DATA_CAPTURE_PREFIX}{endpoint_name}")
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "Config",
            # Serverless variants too: the CreateEndpointConfig API reference (KmsKeyId,
            # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html) refuses the key
            # only for instance types with local (NVMe) storage, and the Serverless Inference feature exclusions
            # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html) do not list it.
            kms_key_id=key.key_arn,
            production_variants=production_variants,
            data_capture_config=(
                sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
                    enable_capture=True,
                    initial_sampling_percentage=serving.data_capture_percent,
                    destination_s3_uri=capture_uri,
                    kms_key_id=key.key_arn,
                    capture_options=[
                        sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                        sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
                    ],
                    capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                        csv_content_types=["text/csv"], json_content_types=["application/json"]
                    ),
                )
                if serving.data_capture_percent
                else None
            ),
        )
        self.rollback_alarms = [alarm for variant in variants for alarm in self._alarms(variant.name, alerts)]
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=sagemaker.CfnEndpoint.DeploymentConfigProperty(
                blue_green_update_policy=self._blue_green(serving),
                auto_rollback_configuration=sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                    alarms=[
                        sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name)
                        for alarm in self.rollback_alarms
                    ]
                ),
            ),
            # Keep what autoscaling changed (instance counts) across endpoint config replacements,
            # but take the weights from config: they are how champion/challenger traffic is set.
            retain_all_variant_properties=True,
            exclude_retained_variant_properties=[
                sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type="DesiredWeight")
            ],
        )
        if retain:
            self._retain()

    def _retain(self) -> None:
        """The endpoint outlives its stack and any replacement: Retain on delete and on replace.

        Its endpoint config and models are kept on stack deletion too: a retained endpoint whose config or model
        were deleted serves on, but SageMaker can no longer scale it out or describe what it runs, and it can only
        be deleted. On replacement (every model change: they have no physical names) they are deleted as usual:
        CloudFormation deletes the old ones in the cleanup phase, once the endpoint has moved to the new config, so a
        retained endpoint never points at a deleted config while its stack exists.
        """
        self.endpoint.apply_removal_policy(RemovalPolicy.RETAIN)
        reason = "Deleted on replacement by design: only after the endpoint has moved to their successor."
        for resource in (self.endpoint_config, *self.models):
            resource.cfn_options.deletion_policy = CfnDeletionPolicy.RETAIN
            Validations.of(resource).acknowledge(Acknowledgment(id="CloudFormation-Validate::W3011", reason=reason))
            resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3011"]}, "reason": reason})

    def _model(
        self, variant: EndpointVariant, vpc_config: sagemaker.CfnModel.VpcConfigProperty | None
    ) -> sagemaker.CfnModel:
        if variant.model_package_arn:
            container = sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=variant.model_package_arn)
        else:
            container = sagemaker.CfnModel.ContainerDefinitionProperty(
                image=variant.image, model_data_url=variant.model_data_url
            )
        model = sagemaker.CfnModel(
            self,
            f"Model-{variant.name}",
            execution_role_arn=self.role.role_arn,
            primary_container=container,
            enable_network_isolation=self.isolated,
            vpc_config=vpc_config,
        )
        if not self.isolated:
            skip_checkov(
                model,
                "CKV_AWS_370",
                "Serverless Inference refuses network isolation and VPC configs: this model is served serverless",
            )
        self.models.append(model)
        return model

    def _production_variant(
        self, variant: EndpointVariant, model: sagemaker.CfnModel, serving: ServingConfig
    ) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
        if serving.serverless:
            return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=variant.name,
                model_name=model.attr_model_name,
                initial_variant_weight=variant.weight,
                serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=serving.serverless.memory_size_mb,
                    max_concurrency=serving.serverless.max_concurrency,
                ),
            )
        return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=variant.name,
            model_name=model.attr_model_name,
            initial_variant_weight=variant.weight,
            instance_type=variant.instance_type or serving.instance_type,
            initial_instance_count=variant.initial_instance_count or serving.initial_instance_count,
        )

    def _blue_green(self, serving: ServingConfig) -> sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty:
        rollout = serving.rollout
        wait = Duration.minutes(rollout.wait_minutes).to_seconds()
        if rollout.mode == "canary":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="CANARY",
                canary_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                    type="CAPACITY_PERCENT", value=rollout.canary_percent
                ),
                wait_interval_in_seconds=wait,
            )
        elif rollout.mode == "linear":
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="LINEAR",
                linear_step_size=sagemaker.CfnEndpoint.CapacitySizeProperty(
                    type="CAPACITY_PERCENT", value=rollout.linear_step_percent
                ),
                wait_interval_in_seconds=wait,
            )
        else:
            routing = sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type="ALL_AT_ONCE", wait_interval_in_seconds=wait
            )
        return sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=Duration.minutes(rollout.termination_wait_minutes).to_seconds(),
            maximum_execution_timeout_in_seconds=Duration.minutes(
                rollout.maximum_execution_timeout_minutes
            ).to_seconds(),
        )

    def variant_metric(self, variant: str, metric_name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/SageMaker",
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint_name, "VariantName": variant},
            statistic=statistic,
            period=Duration.minutes(1),
        )

    def _alarms(self, variant: str, alerts: sns.ITopic) -> list[cloudwatch.Alarm]:
        alarms_config = self.serving.alarms
        errors = cloudwatch.Alarm(
            self,
            f"Errors5xx-{variant}",
            alarm_name=f"{self.endpoint_name}-{variant}-5xx",
            alarm_description=f"Variant {variant} answers 5XX: rolls back a deployment in progress",
            metric=self.variant_metric(variant, "Invocation5XXErrors", "Sum"),
            threshold=alarms_config.errors_5xx_per_minute,
            evaluation_periods=alarms_config.evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency = cloudwatch.Alarm(
            self,
            f"LatencyP99-{variant}",
            alarm_name=f"{self.endpoint_name}-{variant}-latency-p99",
            alarm_description=f"Variant {variant} model latency p99 above {alarms_config.latency_p99_ms} ms",
            metric=self.variant_metric(variant, "ModelLatency", "p99"),
            threshold=alarms_config.latency_p99_ms * MICROSECONDS_PER_MS,
            evaluation_periods=alarms_config.evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (errors, latency):
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        return [errors, latency]
