"""Serving: what the served state holds, with or without the model flag; canary rollout, rollback alarms, variants,
autoscaling; the prod endpoint retained."""

from collections.abc import Callable

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts.served import variant_parameter
from stacks import names
from stacks.config import load_config
from tests.stacks.conftest import ENVS, SynthesizedEnv, model_package_arn, served_package_arn, synthesize

Synth = Callable[[str], SynthesizedEnv]


def serving(synthesized: SynthesizedEnv) -> Template:
    return synthesized.templates["Serving"]


ENDPOINT_TYPES = ("AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Model")


def recorded_variants(synthesized: SynthesizedEnv) -> list[dict[str, str]]:
    """What the Registry stack's served-state recorder is given to record."""
    (recorder,) = synthesized.templates["Registry"].find_resources("Custom::ServedState").values()
    variants: list[dict[str, str]] = recorder["Properties"]["Variants"]
    return variants


@pytest.mark.parametrize("env", ENVS)
def test_without_the_flag_the_endpoint_serves_the_served_state_once_a_champion_is_promoted(
    synth: Synth, env: str
) -> None:
    # GIVEN an environment synthesized with no model flag
    template = serving(synth(env))
    # THEN the endpoint, its config and model are there, reading the champion's package from the served state
    template.has_parameter(
        "ServedChampionModelPackageArn",
        {
            "Type": "AWS::SSM::Parameter::Value<String>",
            "Default": variant_parameter(env, "champion", "model-package-arn"),
        },
    )
    template.has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": {"ModelPackageName": {"Ref": "ServedChampionModelPackageArn"}}}
    )
    # AND every resource of the endpoint exists only once the state holds a champion; until then the stack says so
    template.has_condition(
        "ChampionPromoted", {"Fn::Not": [{"Fn::Equals": [{"Ref": "ServedChampionModelPackageArn"}, "none"]}]}
    )
    for resource_type in (*ENDPOINT_TYPES, "AWS::CloudWatch::Alarm"):
        resources = template.find_resources(resource_type)
        assert resources, resource_type
        assert {resource.get("Condition") for resource in resources.values()} == {"ChampionPromoted"}
    output = template.find_outputs("ServedModel")["ServedModel"]["Value"]["Fn::If"]
    assert output[:2] == ["ChampionPromoted", {"Ref": "ServedChampionModelPackageArn"}]
    assert output[2].startswith("none: no model promoted yet, so no endpoint")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_synth_without_the_flag_holds_the_endpoint_a_synth_with_the_flag_holds(
    synth: Synth, synth_with_model: Synth, env: str
) -> None:
    # GIVEN the environment synthesized without and with -c model_package_arn
    without, with_flag = synth(env), synth_with_model(env)
    # THEN the Serving templates are the same: the flag only makes the Registry stack record the package first
    assert serving(without).to_json() == serving(with_flag).to_json()
    assert serving(without).find_resources("AWS::SageMaker::Endpoint")
    assert recorded_variants(with_flag) == [
        {"Name": "champion", "InitialWeight": "1.0", "ModelPackageArn": served_package_arn(env)}
    ]
    assert recorded_variants(without) == [{"Name": "champion", "InitialWeight": "1.0"}]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_endpoint_is_retained_and_so_are_its_config_and_models_on_stack_deletion(synth: Synth, env: str) -> None:
    template = serving(synth(env))
    template.has_resource("AWS::SageMaker::Endpoint", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    # Replaced ones are deleted (after the endpoint moved on); on stack deletion the endpoint keeps what it runs.
    for resource_type in ("AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Model"):
        template.has_resource(resource_type, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": Match.absent()})


def test_dev_endpoint_is_destroyed_with_its_stack(synth: Synth) -> None:
    # CloudFormation's default: deleted with the stack.
    serving(synth("dev")).has_resource(
        "AWS::SageMaker::Endpoint", {"DeletionPolicy": Match.absent(), "UpdateReplacePolicy": Match.absent()}
    )


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


def test_champion_and_challenger_weights_come_from_the_served_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    # GIVEN prod with two named variants weighted 95/5 (their initial weights; `make swap-weights` changes the state)
    base = load_config("prod")
    data = base.model_dump()
    data["serving"]["variants"] = [
        {"name": "champion", "weight": 95, "model_package_arn": model_package_arn(base, 7)},
        {"name": "challenger", "weight": 5, "model_package_arn": model_package_arn(base, 8)},
    ]
    config = type(base).model_validate(data)
    # WHEN synthesized
    synthesized = synthesize("prod", tmp_path_factory.mktemp("cdk-prod-ab"), config)
    template = serving(synthesized)
    # THEN one model each; the weights and packages are read from the served state, never literals, so the next
    # deploy keeps a swap
    template.resource_count_is("AWS::SageMaker::Model", 2)
    template.has_resource_properties(
        "AWS::SageMaker::EndpointConfig",
        {
            "ProductionVariants": [
                Match.object_like({"VariantName": "champion", "InitialVariantWeight": {"Ref": "ServedChampionWeight"}}),
                Match.object_like(
                    {"VariantName": "challenger", "InitialVariantWeight": {"Ref": "ServedChallengerWeight"}}
                ),
            ]
        },
    )
    template.has_parameter("ServedChallengerWeight", {"Default": variant_parameter("prod", "challenger", "weight")})
    template.has_resource_properties(
        "AWS::SageMaker::Model", {"PrimaryContainer": {"ModelPackageName": {"Ref": "ServedChallengerModelPackageArn"}}}
    )
    # AND the Registry stack records the configured packages, and the weights only as initial values
    assert recorded_variants(synthesized) == [
        {"Name": "champion", "InitialWeight": "95.0", "ModelPackageArn": model_package_arn(base, 7)},
        {"Name": "challenger", "InitialWeight": "5.0", "ModelPackageArn": model_package_arn(base, 8)},
    ]
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
                    "InitialVariantWeight": {"Ref": "ServedChampionWeight"},
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
    assert recorded_variants(synthesized)[0]["ModelPackageArn"] == served_package_arn(env)
    serving(synthesized).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": {"Ref": "ServedChampionModelPackageArn"}},
            "EnableNetworkIsolation": True,
            "VpcConfig": Match.object_like({"Subnets": Match.any_value()}),
        },
    )


def test_a_serverless_model_has_no_network_isolation_and_no_vpc(synth_with_model: Synth) -> None:
    # GIVEN dev, which serves serverless WHEN it serves the recorded package THEN its model asks for neither (AWS
    # refuses both)
    serving(synth_with_model("dev")).has_resource_properties(
        "AWS::SageMaker::Model",
        {
            "PrimaryContainer": {"ModelPackageName": {"Ref": "ServedChampionModelPackageArn"}},
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
