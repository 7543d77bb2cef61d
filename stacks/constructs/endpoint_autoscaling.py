"""Target-tracking autoscaling for each instance-backed variant of an endpoint."""

from aws_cdk import Duration
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import AutoscalingConfig

SAGEMAKER_VARIANT_INSTANCES = "sagemaker:variant:DesiredInstanceCount"


class VariantAutoscaling(Construct):
    """Scales on invocations per instance, and optionally on CPU, between the configured bounds.

    The scalable target is keyed on the endpoint and variant names, so it survives endpoint config
    replacements, and depends on the endpoint: it cannot register before the variant exists.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint: sagemaker.CfnEndpoint,
        endpoint_name: str,
        variant_name: str,
        config: AutoscalingConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            scalable_dimension=SAGEMAKER_VARIANT_INSTANCES,
            min_capacity=config.min_capacity,
            max_capacity=config.max_capacity,
        )
        self.target.node.add_dependency(endpoint)
        scale_in = Duration.seconds(config.scale_in_cooldown_seconds)
        scale_out = Duration.seconds(config.scale_out_cooldown_seconds)
        self.target.scale_to_track_metric(
            "InvocationsPerInstance",
            policy_name=f"{endpoint_name}-{variant_name}-invocations",
            target_value=config.invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
            scale_in_cooldown=scale_in,
            scale_out_cooldown=scale_out,
        )
        if config.cpu_utilization_percent is not None:
            self.target.scale_to_track_metric(
                "CpuUtilization",
                policy_name=f"{endpoint_name}-{variant_name}-cpu",
                target_value=config.cpu_utilization_percent,
                custom_metric=cloudwatch.Metric(
                    namespace="/aws/sagemaker/Endpoints",
                    metric_name="CPUUtilization",
                    dimensions_map={"EndpointName": endpoint_name, "VariantName": variant_name},
                    statistic="Average",
                ),
                scale_in_cooldown=scale_in,
                scale_out_cooldown=scale_out,
            )
