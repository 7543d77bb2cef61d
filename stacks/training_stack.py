"""Training: the extraction's success starts a state machine that trains, gates and registers a model."""

from typing import Any

from aws_cdk import ArnFormat, CfnOutput, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.bias_config import clarify_columns
from stacks.config import EnvironmentConfig
from stacks.constructs.dataset_job import DatasetJob, DatasetJobSettings, drop_columns
from stacks.constructs.job_events import ExtractionEvents
from stacks.constructs.registry_events import package_state_changes
from stacks.constructs.retention import retention_days
from stacks.constructs.retraining import Retraining, RetrainingSettings
from stacks.constructs.training_pipeline import TrainingNetwork, TrainingPipeline, TrainingPipelineSettings
from stacks.delivery_config import DeliveryLinks
from stacks.extraction_spec import read_spec_summary


class TrainingStack(Stack):
    """Exposes `pipeline` (state machine, model package group) and `approved_pattern` for delivery."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        git_commit: str,
        key: kms.IKey,
        curated: s3.IBucket,
        curated_extraction_prefix: str,
        artifacts: s3.IBucket,
        predictions: s3.IBucket,
        repository: ecr.IRepository,
        training_role: iam.IRole,
        alerts: sns.ITopic,
        extraction_events: ExtractionEvents,
        network: TrainingNetwork | None,
        delivery: DeliveryLinks | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        group_name = config.resource_name(names.MODEL_PACKAGE_GROUP_SUFFIX)
        name_prefix = f"{names.PROJECT}-{config.name}"
        spec = read_spec_summary(config.extraction.spec_path)
        self.dataset_job = DatasetJob(
            self,
            "DatasetJob",
            settings=DatasetJobSettings(
                job_name=config.resource_name("dataset"),
                security_configuration_name=config.resource_name("glue-dataset"),
                spec_path=config.extraction.spec_path,
                spec_name=spec.name,
                dataset=config.training.dataset,
                hyperparameters=config.training.hyperparameters,
                log_retention=retention_days(config.log_retention_days),
                retain=config.retain,
            ),
            key=key,
            curated=curated,
            artifacts=artifacts,
            predictions=predictions,
        )
        # Packages approved at registration (dev) are scored at once on the run's batch input; elsewhere the
        # promoted package is, by the batch schedule.
        launcher = f"{name_prefix}-{names.BATCH_LAUNCHER_FUNCTION}" if config.training.approval == "Approved" else None
        self.pipeline = TrainingPipeline(
            self,
            "Pipeline",
            settings=TrainingPipelineSettings(
                env_name=config.name,
                job_name_prefix=name_prefix,
                state_machine_name=config.resource_name("training"),
                model_package_group_name=group_name,
                training=config.training,
                curated_extraction_prefix=curated_extraction_prefix,
                dataset_job_name=self.dataset_job.job.job_name,
                id_column=spec.primary_key,
                batch_launcher_name=launcher,
                git_commit=git_commit,
                log_retention=retention_days(config.log_retention_days),
                powertools_layer_version=config.lambdas.powertools_layer_version,
                retain=config.retain,
                clarify_columns=clarify_columns(
                    config.training.bias,
                    spec,
                    target=str(config.training.hyperparameters["target"]),
                    drop_columns=drop_columns(config.training.hyperparameters),
                )
                if config.training.bias.enabled
                else None,
            ),
            key=key,
            curated=curated,
            artifacts=artifacts,
            predictions=predictions,
            repository=repository,
            training_role=training_role,
            alerts=alerts,
            network=network,
        )
        extraction_events.on_succeeded(
            self,
            "StartOnExtraction",
            description="A successful extraction starts training on the curated data",
            target=targets.SfnStateMachine(
                self.pipeline.state_machine,
                input=events.RuleTargetInput.from_object(
                    {"run_id": events.EventField.from_path("$.detail.jobRunId"), "source": "extraction"}
                ),
            ),
        )
        if config.training.retraining.enabled:
            self._retrain_on_drift(config, alerts, key)
        # Approval is how a model reaches serving: the delivery pipeline subscribes to this pattern.
        self.approved_pattern = package_state_changes(group_name, ["Approved"])
        events.Rule(
            self,
            "ModelApproved",
            description=f"A model in {group_name} was approved: tell the team it is ready to roll out",
            event_pattern=self.approved_pattern,
        ).add_target(targets.SnsTopic(alerts))
        if delivery is not None and delivery.forwards_approvals:
            self._forward_decisions_to(delivery, group_name, config.resource_name(names.DECISION_FORWARDER_ROLE_SUFFIX))
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn)
        CfnOutput(self, "ModelPackageGroup", value=group_name)

    def _retrain_on_drift(self, config: EnvironmentConfig, alerts: sns.ITopic, key: kms.IKey) -> None:
        """Monitoring violations (when the environment monitors) or the quality alarm start training."""
        retraining = config.training.retraining
        schedule_arn = None
        if config.serving.monitoring is not None:
            # The serving stack names its schedule "<endpoint>-data-quality" (DataQualityMonitor); SageMaker's ARNs
            # carry the name in lower case. A test checks this against the serving stack's schedule.
            schedule_name = f"{config.resource_name('endpoint')}-data-quality".lower()
            schedule_arn = self.format_arn(
                service="sagemaker", resource="monitoring-schedule", resource_name=schedule_name
            )
        alarm_arns = []
        if retraining.quality_alarm_name is not None:
            alarm_arns.append(
                self.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=retraining.quality_alarm_name,
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            )
        if schedule_arn is None and not alarm_arns:
            return  # nothing can trigger: no resources
        self.retraining = Retraining(
            self,
            "Retraining",
            settings=RetrainingSettings(
                env_name=config.name,
                function_name=f"{names.PROJECT}-{config.name}-retrain-trigger",
                table_name=config.resource_name("retraining"),
                min_interval_hours=retraining.min_interval_hours,
                monitoring_schedule_arn=schedule_arn,
                quality_alarm_arns=alarm_arns,
                log_retention=retention_days(config.log_retention_days),
                powertools_layer_version=config.lambdas.powertools_layer_version,
                retain=config.retain,
            ),
            state_machine=self.pipeline.state_machine,
            alerts=alerts,
            key=key,
        )

    def _forward_decisions_to(self, delivery: DeliveryLinks, group_name: str, role_name: str) -> None:
        """Approvals promote and rejections roll back: the toolchain account's pipeline acts on both."""
        toolchain_bus = events.EventBus.from_event_bus_arn(
            self,
            "ToolchainBus",
            f"arn:{self.partition}:events:{delivery.toolchain_region}:{delivery.toolchain_account}:event-bus/default",
        )
        events.Rule(
            self,
            "ForwardModelDecisions",
            description=f"Approvals and rejections in {group_name} go to the delivery pipeline's account",
            event_pattern=package_state_changes(group_name, names.PROMOTION_DECISIONS),
        ).add_target(
            targets.EventBus(
                toolchain_bus,
                # Named: the toolchain's bus policy admits this role only, not the whole account.
                role=iam.Role(
                    self,
                    "ForwardModelDecisionsRole",
                    role_name=role_name,
                    assumed_by=iam.ServicePrincipal("events.amazonaws.com").with_conditions(
                        {"StringEquals": {"aws:SourceAccount": self.account}}
                    ),
                    description=f"EventBridge forwards {group_name} decisions to the delivery pipeline's account",
                ),
            )
        )
