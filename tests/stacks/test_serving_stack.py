"""Serving: no endpoint until a model is configured; then canary rollout, rollback alarms, variants, autoscaling."""

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from stacks import names
from stacks.config import load_config
from tests.stacks.conftest import ENVS, SynthesizedEnv, model_package_arn, synthesize

Synth = Callable[[str], SynthesizedEnv]


def serving(synthesized: SynthesizedEnv) -> Template:
    return synthesized.templates["Serving"]


@pytest.mark.parametrize("env", ENVS)
def test_no_model_configured_means_no_endpoint(synth: Synth, env: str) -> None:
    template = serving(synth(env))
    for resource_type in ("AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Model"):
        template.resource_count_is(resource_type, 0)


@pytest.mark.parametrize(("env", "percent", "wait_seconds"), [("staging", 20, 300), ("prod", 10, 600)])
def test_canary_size_and_wait_come_from_config(
    synth_with_model: Synth, env: str, percent: int, wait_seconds: int
) -> None:
    serving(synth_with_model(env)).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "EndpointName": f"esteira-{env}-endpoint",
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": Match.object_like(
                    {
                        "TrafficRoutingConfiguration": {
                            "Type": "CANARY",
                            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
                            "WaitIntervalInSeconds": wait_seconds,
                        }
                    }
                ),
                "AutoRollbackConfiguration": {"Alarms": Match.any_value()},
            },
        },
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_rollback_alarms_watch_5xx_and_p99_latency(synth_with_model: Synth, env: str) -> None:
    synthesized = synth_with_model(env)
    template = serving(synthesized)
    alarms = synthesized.config.serving.alarms
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"esteira-{env}-endpoint-champion-5xx",
            "MetricName": "Invocation5XXErrors",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Sum",
            "Threshold": alarms.errors_5xx_per_minute,
            "Dimensions": Match.array_with([{"Name": "VariantName", "Value": "champion"}]),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"esteira-{env}-endpoint-champion-latency-p99",
            "MetricName": "ModelLatency",
            "ExtendedStatistic": "p99",
            "Threshold": alarms.latency_p99_ms * 1000,
        },
    )
    (endpoint,) = template.find_resources("AWS::SageMaker::Endpoint").values()
    rollback = endpoint["Properties"]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    alarm_ids = set(template.find_resources("AWS::CloudWatch::Alarm"))
    assert {alarm["AlarmName"]["Ref"] for alarm in rollback} == alarm_ids


@pytest.mark.parametrize("env", ENVS)
def test_variant_properties_survive_config_replacement_except_weights(synth_with_model: Synth, env: str) -> None:
    serving(synth_with_model(env)).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "RetainAllVariantProperties": True,
            "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredWeight"}],
        },
    )


def test_champion_and_challenger_variants_carry_configured_weights(tmp_path_factory: pytest.TempPathFactory) -> None:
    # GIVEN prod with two named variants weighted 95/5
    base = load_config("prod")
    data = base.model_dump()
    data["serving"]["variants"] = [
        {"name": "champion", "weight": 95, "model_package_arn": model_package_arn(base, 7)},
        {"name": "challenger", "weight": 5, "model_package_arn": model_package_arn(base, 8)},
    ]
    config = type(base).model_validate(data)
    # WHEN synthesized
    template = serving(synthesize("prod", tmp_path_factory.mktemp("cdk-prod-ab"), config))
    # THEN one model each, both variants at their weights, each autoscaled and alarmed on its own
    template.resource_count_is("AWS::SageMaker::Model", 2)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like({"VariantName": "champion", "InitialVariantWeight": 95}),
                Match.object_like({"VariantName": "challenger", "InitialVariantWeight": 5}),
            ]
        },
    )
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 2)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"ResourceId": "endpoint/esteira-prod-endpoint/variant/challenger"},
    )
    template.resource_count_is("AWS::CloudWatch::Alarm", 4)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_scalable_target_bounds_and_target_tracking(synth_with_model: Synth, env: str) -> None:
    synthesized = synth_with_model(env)
    template = serving(synthesized)
    scaling = synthesized.config.serving.autoscaling
    (endpoint_id,) = template.find_resources("AWS::SageMaker::Endpoint")
    template.has_resource(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "Properties": Match.object_like(
                {
                    "ServiceNamespace": "sagemaker",
                    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                    "ResourceId": f"endpoint/esteira-{env}-endpoint/variant/champion",
                    "MinCapacity": scaling.min_capacity,
                    "MaxCapacity": scaling.max_capacity,
                }
            ),
            # Registered only once the endpoint (and so the variant) exists.
            "DependsOn": [endpoint_id],
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": scaling.invocations_per_instance,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": scaling.scale_in_cooldown_seconds,
                "ScaleOutCooldown": scaling.scale_out_cooldown_seconds,
            },
        },
    )
    cpu_policies = 1 if scaling.cpu_utilization_percent else 0
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 1 + cpu_policies)


def test_dev_serves_serverless_with_no_idle_instances(synth_with_model: Synth) -> None:
    template = serving(synth_with_model("dev"))
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                {
                    "VariantName": "champion",
                    "ModelName": Match.any_value(),
                    "InitialVariantWeight": 1,
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
                }
            ],
            "DataCaptureConfig": Match.absent(),
            # AWS accepts KmsKeyId with a serverless variant (see stacks/constructs/endpoint.py): the data key.
            "KmsKeyId": {"Fn::GetStackOutput": Match.any_value()},
        },
    )
    template.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    template.has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": Match.object_like(
                {
                    "BlueGreenUpdatePolicy": Match.object_like(
                        {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}
                    )
                }
            )
        },
    )


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_data_capture_is_sampled_encrypted_and_lands_in_the_artifacts_bucket(synth_with_model: Synth, env: str) -> None:
    synthesized = synth_with_model(env)
    serving(synthesized).has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "KmsKeyId": Match.any_value(),
            "DataCaptureConfig": {
                "EnableCapture": True,
                "InitialSamplingPercentage": synthesized.config.serving.data_capture_percent,
                "DestinationS3Uri": Match.any_value(),
                "KmsKeyId": Match.any_value(),
                "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                "CaptureContentTypeHeader": Match.any_value(),
            },
        },
    )
    (config,) = serving(synthesized).find_resources("AWS::SageMaker::EndpointConfig").values()
    destination = str(config["Properties"]["DataCaptureConfig"]["DestinationS3Uri"])
    assert f"/{names.DATA_CAPTURE_PREFIX}esteira-{env}-endpoint" in destination


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_model_comes_from_the_registry_isolated_from_the_network(synth_with_model: Synth, env: str) -> None:
    synthesized = synth_with_model(env)
    serving(synthesized).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": model_package_arn(synthesized.config)},
            "EnableNetworkIsolation": True,
            "VpcConfig": Match.object_like({"Subnets": Match.any_value()}),
        },
    )


def test_a_serverless_model_has_no_network_isolation_and_no_vpc(synth_with_model: Synth) -> None:
    # GIVEN dev, which serves serverless WHEN it serves a package THEN its model asks for neither (AWS refuses both)
    synthesized = synth_with_model("dev")
    serving(synthesized).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": model_package_arn(synthesized.config)},
            "EnableNetworkIsolation": False,
            "VpcConfig": Match.absent(),
        },
    )


@pytest.mark.parametrize(("env", "cron"), [("staging", "cron(0 0 ? * * *)"), ("prod", "cron(0 * ? * * *)")])
def test_data_quality_monitor_runs_on_schedule_and_alerts_on_violations(
    synth_with_model: Synth, env: str, cron: str
) -> None:
    template = serving(synth_with_model(env))
    template.has_resource_properties(
        "AWS::SageMaker::MonitoringSchedule",
        {
            "MonitoringScheduleConfig": Match.object_like(
                {"MonitoringType": "DataQuality", "ScheduleConfig": {"ScheduleExpression": cron}}
            )
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "detail": Match.object_like(
                        {"ExitMessage": Match.array_with([{"prefix": "CompletedWithViolations"}])}
                    )
                }
            )
        },
    )
