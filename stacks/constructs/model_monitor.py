"""Model Monitor: an hourly or daily data-quality check of captured requests against the served package's baseline,
and the parts every Model Monitor job definition of ours shares (the model-quality one: model_quality_monitor.py)."""

from dataclasses import dataclass
from typing import Any

from aws_cdk import Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import names
from stacks.config import MonitoringConfig
from stacks.model_monitor_images import analyzer_image

SCHEDULES = {"hourly": "cron(0 * ? * * *)", "daily": "cron(0 0 ? * * *)"}
ENDPOINT_INPUT_PATH = "/opt/ml/processing/input/endpoint"
ANALYZER_ENVIRONMENT = {"publish_cloudwatch_metrics": "Enabled"}


@dataclass(frozen=True)
class JobParts:
    """What every Model Monitor job definition of ours shares: one encrypted instance, no network, a time limit,
    reports encrypted with the environment's key. Each job definition type has its own property classes."""

    resources: Any
    network: Any
    stopping: Any
    output: Any


def job_parts(
    kind: Any, *, config: MonitoringConfig, key: kms.IKey, output_uri: str, max_runtime_seconds: int
) -> JobParts:
    """The shared properties, built with `kind`'s classes (e.g. `sagemaker.CfnModelQualityJobDefinition`)."""
    return JobParts(
        resources=kind.MonitoringResourcesProperty(
            cluster_config=kind.ClusterConfigProperty(
                instance_count=1,
                instance_type=config.instance_type,
                volume_size_in_gb=20,
                volume_kms_key_id=key.key_arn,
            )
        ),
        network=kind.NetworkConfigProperty(
            enable_inter_container_traffic_encryption=True, enable_network_isolation=True
        ),
        stopping=kind.StoppingConditionProperty(max_runtime_in_seconds=max_runtime_seconds),
        output=kind.MonitoringOutputConfigProperty(
            kms_key_id=key.key_arn,
            monitoring_outputs=[
                kind.MonitoringOutputProperty(
                    s3_output=kind.S3OutputProperty(
                        s3_uri=output_uri, local_path="/opt/ml/processing/output", s3_upload_mode="EndOfJob"
                    )
                )
            ],
        ),
    )


def monitoring_schedule(
    scope: Construct, *, name: str, job_definition_arn: str, monitoring_type: str, schedule: str
) -> sagemaker.CfnMonitoringSchedule:
    """The schedule of a job definition that has no fixed name: it reads the generated one from the ARN."""
    return sagemaker.CfnMonitoringSchedule(
        scope,
        "Schedule",
        monitoring_schedule_name=name,
        monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
            # The generated name, from the ARN "arn:...:<type>-job-definition/<name>".
            monitoring_job_definition_name=Fn.select(1, Fn.split("/", job_definition_arn)),
            monitoring_type=monitoring_type,
            schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                schedule_expression=SCHEDULES[schedule]
            ),
        ),
    )


class DataQualityMonitor(Construct):
    """Compares captured inputs with the baseline the served champion package registered.

    `constraints_uri` and `statistics_uri` are the package's DriftCheckBaselines.ModelDataQuality S3 URIs, from the
    served state at deploy time (tokens). Violations (a run that completes with violations) notify the alerts topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        config: MonitoringConfig,
        role: iam.IRole,
        artifacts: s3.IBucket,
        key: kms.IKey,
        alerts: sns.ITopic,
        constraints_uri: str,
        statistics_uri: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        reports = f"{names.MONITORING_REPORTS_PREFIX}{endpoint_name}/"
        # Any change replaces the job definition, a promotion's new baseline too (known only at deploy time), so
        # it has no fixed name: CloudFormation names each replacement anew, and old and new coexist while the
        # schedule moves over.
        parts = job_parts(
            sagemaker.CfnDataQualityJobDefinition,
            config=config,
            key=key,
            output_uri=artifacts.s3_url_for_object(reports),
            max_runtime_seconds=3600,
        )
        job = sagemaker.CfnDataQualityJobDefinition(
            self,
            "JobDefinition",
            role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=analyzer_image(stack.region),
                environment=ANALYZER_ENVIRONMENT,
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=constraints_uri
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=statistics_uri
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name, local_path=ENDPOINT_INPUT_PATH
                )
            ),
            data_quality_job_output_config=parts.output,
            job_resources=parts.resources,
            network_config=parts.network,
            stopping_condition=parts.stopping,
        )
        self.schedule = monitoring_schedule(
            self,
            name=f"{endpoint_name}-data-quality",
            job_definition_arn=job.attr_job_definition_arn,
            monitoring_type="DataQuality",
            schedule=config.schedule,
        )
        events.Rule(
            self,
            "Violations",
            description=f"Data-quality monitoring of {endpoint_name} found violations or failed",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Processing Job State Change"],
                detail={
                    "ProcessingJobStatus": ["Completed", "Failed"],
                    "ExitMessage": [{"prefix": "CompletedWithViolations"}, {"prefix": "Failed"}],
                },
            ),
        ).add_target(targets.SnsTopic(alerts))
