"""Builds every stack of one environment into an app or a pipeline stage; attaches cdk-nag's checks to an app."""

from aws_cdk import App, Aspects, Environment, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks import names
from stacks.batch_stack import BatchStack
from stacks.config import EnvironmentConfig
from stacks.constructs.endpoint import EndpointNetwork
from stacks.constructs.model_sharing import share_model_artifacts, share_model_package_group, share_repository
from stacks.constructs.operations_dashboard import Observed
from stacks.constructs.smoke_test_role import share_holdouts_with_smoke_test
from stacks.constructs.training_pipeline import TrainingNetwork
from stacks.data_platform_stack import DataPlatformStack
from stacks.delivery_config import DeliveryLinks
from stacks.nag import skip_checkov_on_cdk_providers
from stacks.operations_stack import OperationsStack
from stacks.registry_stack import RegistryStack
from stacks.service_principals import ScopeServicePrincipals
from stacks.serving_stack import ServingStack
from stacks.training_stack import TrainingStack


def stack_id(config: EnvironmentConfig, component: str) -> str:
    return f"Esteira-{config.name}-{component}"


def attach_checks(app: App) -> None:
    """cdk-nag's AwsSolutions rules on every stack of the app, pipeline stages included; findings fail synth."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def build_stacks(
    scope: Construct, config: EnvironmentConfig, git_commit: str = "unknown", delivery: DeliveryLinks | None = None
) -> list[Stack]:
    """Stack names are fixed, so an environment deployed by hand and one deployed by the pipeline are the same."""
    if delivery is not None:
        config = delivery.applied_to(config)
    env = Environment(account=config.account, region=config.region)
    data = DataPlatformStack(
        scope,
        stack_id(config, "DataPlatform"),
        stack_name=stack_id(config, "DataPlatform"),
        config=config,
        env=env,
        description="Esteira data platform: KMS key, buckets, catalog and the daily Glue extraction",
    )
    registry = RegistryStack(
        scope,
        stack_id(config, "Registry"),
        stack_name=stack_id(config, "Registry"),
        config=config,
        key=data.key,
        delivery=delivery,
        env=env,
        description="Esteira registry: ECR repositories for the model image, and what the environment serves",
    )
    serving = ServingStack(
        scope,
        stack_id(config, "Serving"),
        stack_name=stack_id(config, "Serving"),
        config=config,
        model_role=data.model_role,
        monitor_role=data.monitor_role,
        model_quality_role=data.model_quality_role,
        key=data.key,
        artifacts=data.lake.artifacts,
        repository=registry.model_repository,
        alerts=data.alerts_topic,
        delivery=delivery,
        # Endpoints join the platform's VPC; dev's isolated job VPC has no route to ECR or SageMaker runtime.
        network=(
            EndpointNetwork(subnets=data.network.subnets, security_groups=[data.network.workload_groups["serving"]])
            if config.network.mode == "existing"
            else None
        ),
        env=env,
        description="Esteira serving: endpoint with blue/green canary rollout, autoscaling and monitoring",
    )
    training = TrainingStack(
        scope,
        stack_id(config, "Training"),
        stack_name=stack_id(config, "Training"),
        config=config,
        git_commit=git_commit,
        key=data.key,
        curated=data.lake.curated,
        curated_extraction_prefix=data.curated_extraction_prefix,
        artifacts=data.lake.artifacts,
        predictions=data.lake.predictions,
        repository=registry.model_repository,
        training_role=data.training_role,
        alerts=data.alerts_topic,
        extraction_events=data.extraction_events,
        delivery=delivery,
        network=(
            TrainingNetwork(
                subnet_ids=[subnet.subnet_id for subnet in data.network.subnets],
                security_group_ids=[data.network.workload_groups["training"].security_group_id],
            )
            if config.network.mode == "existing"
            else None
        ),
        env=env,
        description="Esteira training: extraction event to a gated, registered model with lineage",
    )
    existing_network = config.network.mode == "existing"
    batch = BatchStack(
        scope,
        stack_id(config, "Batch"),
        stack_name=stack_id(config, "Batch"),
        config=config,
        key=data.key,
        predictions=data.lake.predictions,
        artifacts=data.lake.artifacts,
        transform_role=data.transform_role,
        alerts=data.alerts_topic,
        subnet_ids=[subnet.subnet_id for subnet in data.network.subnets] if existing_network else [],
        security_group_ids=[data.network.workload_groups["batch"].security_group_id] if existing_network else [],
        delivery=delivery,
        env=env,
        description="Esteira batch predictions: transform, FIFO fan-out, idempotent consumers",
    )
    operations = OperationsStack(
        scope,
        stack_id(config, "Operations"),
        stack_name=stack_id(config, "Operations"),
        config=config,
        observed=Observed(
            extraction_job_name=config.resource_name("extract"),
            extraction_succeeded=data.extraction_events.succeeded_rule,
            extraction_failed=data.extraction_events.failed_rule,
            training=training.pipeline.state_machine,
            gate_rejections=training.pipeline.gate_rejections,
            fanout=batch.batch.fanout_state_machine,
            endpoint_name=serving.endpoint.endpoint_name,
            variant_names=serving.endpoint.variant_names,
            queue=batch.batch.queue.queue,
            dead_letter_queue=batch.batch.queue.dead_letter_queue,
            consumer=batch.batch.consumer.function,
            fanout_function=batch.batch.fanout.function,
        ),
        alerts=data.alerts_topic,
        env=env,
        description="Esteira operations: dashboard and alarms for the environment",
    )
    stacks: list[Stack] = [data, registry, training, serving, batch, operations]
    for stack in stacks:
        Tags.of(stack).add("project", names.PROJECT)
        Tags.of(stack).add("environment", config.name)
        Aspects.of(stack).add(ScopeServicePrincipals())
        skip_checkov_on_cdk_providers(stack)
    if delivery is not None:
        share_model_artifacts(data.lake.artifacts, data.key, delivery.share_models_with)
        share_holdouts_with_smoke_test(data.lake.artifacts, delivery.smoke_test_holdout_reader)
        share_repository(registry.model_repository, delivery.share_models_with)
        share_model_package_group(training.pipeline.model_package_group, delivery.share_models_with)
    return stacks
