"""Model Monitor's model-quality schedule: the endpoint's captured predictions merged with ground truth.

The dataset job writes the labels that became final as SageMaker ground truth under monitoring/ground-truth/
(eventId = the record id, which callers pass as InferenceId); each run merges them with the capture of one schedule
period that ended `ground_truth_delay_hours` ago and computes the binary classification metrics (AUC, precision,
recall, F1, accuracy, confusion matrix...) at the served threshold, published to CloudWatch and written as
statistics.json under monitoring/reports/<schedule>/. No model-quality baseline: the runs report, they do not judge
(the quality alarm does, on the dataset job's figures).
"""

from typing import Final

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from esteira_contracts import endpoint_quality as quality
from esteira_contracts.layout import GROUND_TRUTH_PREFIX
from stacks.config import MonitoringConfig
from stacks.constructs.model_monitor import ANALYZER_ENVIRONMENT, ENDPOINT_INPUT_PATH, job_parts, monitoring_schedule
from stacks.model_monitor_images import analyzer_image

# A run's time limit, within the schedule's period. An hourly model-quality run is a ground-truth merge job and
# then the monitoring job, which share the hour: MaxRuntimeInSeconds at most 1800 (the API's
# MonitoringStoppingCondition and the "Schedule model quality monitoring jobs" page).
MAX_RUNTIME_SECONDS: Final = {"hourly": 1800, "daily": 3600}


class ModelQualityMonitor(Construct):
    """The binary model-quality job definition and its schedule, for an endpoint whose requests are captured."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        config: MonitoringConfig,
        threshold: float,
        role: iam.IRole,
        artifacts: s3.IBucket,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        start, end = quality.analysis_window(config.model_quality.ground_truth_delay_hours, config.period_hours)
        parts = job_parts(
            sagemaker.CfnModelQualityJobDefinition,
            config=config,
            key=key,
            output_uri=artifacts.s3_url_for_object(quality.reports_prefix(endpoint_name)),
            max_runtime_seconds=MAX_RUNTIME_SECONDS[config.schedule],
        )
        # Every property requires replacement: no fixed name, as the data-quality job definition.
        job = sagemaker.CfnModelQualityJobDefinition(
            self,
            "JobDefinition",
            role_arn=role.role_arn,
            model_quality_app_specification=sagemaker.CfnModelQualityJobDefinition.ModelQualityAppSpecificationProperty(
                image_uri=analyzer_image(Stack.of(self).region),
                problem_type=quality.PROBLEM_TYPE,
                environment=ANALYZER_ENVIRONMENT,
            ),
            model_quality_job_input=sagemaker.CfnModelQualityJobDefinition.ModelQualityJobInputProperty(
                endpoint_input=sagemaker.CfnModelQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path=ENDPOINT_INPUT_PATH,
                    inference_attribute=quality.INFERENCE_ATTRIBUTE,
                    probability_attribute=quality.PROBABILITY_ATTRIBUTE,
                    probability_threshold_attribute=threshold,
                    start_time_offset=start,
                    end_time_offset=end,
                ),
                # The hourly folders yyyy/mm/dd/hh follow the prefix, as they follow a capture destination.
                ground_truth_s3_input=sagemaker.CfnModelQualityJobDefinition.MonitoringGroundTruthS3InputProperty(
                    s3_uri=artifacts.s3_url_for_object(GROUND_TRUTH_PREFIX.rstrip("/"))
                ),
            ),
            model_quality_job_output_config=parts.output,
            job_resources=parts.resources,
            network_config=parts.network,
            stopping_condition=parts.stopping,
        )
        self.schedule = monitoring_schedule(
            self,
            name=quality.schedule_name(endpoint_name),
            job_definition_arn=job.attr_job_definition_arn,
            monitoring_type="ModelQuality",
            schedule=config.schedule,
        )
