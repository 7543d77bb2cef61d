"""Model Monitor: an hourly or daily data-quality check of captured requests against the served package's baseline."""

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
        job = sagemaker.CfnDataQualityJobDefinition(
            self,
            "JobDefinition",
            role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=analyzer_image(stack.region),
                environment={"publish_cloudwatch_metrics": "Enabled"},
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
                    endpoint_name=endpoint_name, local_path="/opt/ml/processing/input/endpoint"
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=key.key_arn,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            s3_uri=artifacts.s3_url_for_object(reports),
                            local_path="/opt/ml/processing/output",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=config.instance_type,
                    volume_size_in_gb=20,
                    volume_kms_key_id=key.key_arn,
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_inter_container_traffic_encryption=True, enable_network_isolation=True
            ),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=3600
            ),
        )
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=f"{endpoint_name}-data-quality",
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                # The generated name, from the ARN "arn:...:data-quality-job-definition/<name>".
                monitoring_job_definition_name=Fn.select(1, Fn.split("/", job.attr_job_definition_arn)),
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=SCHEDULES[config.schedule]
                ),
            ),
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
