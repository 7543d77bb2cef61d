"""The training state machine's baselining step: Model Monitor's analyzer on the dataset run's baseline CSV.

    Gate --passed--> Baseline (sagemaker:createProcessingJob.sync) -> Register (DriftCheckBaselines)

The job runs the region's ``sagemaker-model-monitor-analyzer`` image the way the SageMaker Python SDK's
``DefaultModelMonitor.suggest_baseline`` does: the dataset run's ``baseline/`` prefix (headerless CSV of the
features, in feature-schema order: what data capture records) at ``/opt/ml/processing/input/baseline_dataset_input``,
the environment ``dataset_format`` / ``dataset_source`` / ``output_path`` / ``publish_cloudwatch_metrics``, and
``/opt/ml/processing/output`` uploaded to the run's ``monitoring/baselines/run_id=<run>/``. Register then names
that folder's ``constraints.json`` and ``statistics.json`` as the package's ``DriftCheckBaselines``; promotion
points the endpoint's monitor at the promoted package's.
"""

import json
from dataclasses import dataclass
from typing import Any, Final

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts.training import PrepareResult
from stacks import names
from stacks.constructs.image_pull import grant_image_pull, sagemaker_vpc_access
from stacks.constructs.sagemaker_roles import BaselineRole
from stacks.constructs.training_jobs import TrainingNetwork, jobs_arn
from stacks.constructs.training_paths import BaselineJobResult, path, result_path, selector
from stacks.model_monitor_images import analyzer_image, analyzer_repository_arn
from stacks.nag import acknowledge

# The processing container's paths and the analyzer's environment (the SDK's model_monitoring.py names).
PROCESSING_ROOT: Final = "/opt/ml/processing"
BASELINE_INPUT_NAME: Final = "baseline_dataset_input"
BASELINE_OUTPUT_NAME: Final = "monitoring_output"
BASELINE_INPUT_PATH: Final = f"{PROCESSING_ROOT}/input/{BASELINE_INPUT_NAME}"
BASELINE_OUTPUT_PATH: Final = f"{PROCESSING_ROOT}/output"
# The dataset job writes the baseline without a header (it is what capture records); no label column in it.
BASELINE_DATASET_FORMAT: Final = {"csv": {"header": False, "output_columns_position": "START"}}
ANALYZER_ENVIRONMENT: Final = {
    "dataset_format": json.dumps(BASELINE_DATASET_FORMAT),
    "dataset_source": BASELINE_INPUT_PATH,
    "output_path": BASELINE_OUTPUT_PATH,
    "publish_cloudwatch_metrics": "Disabled",
}
# The SDK's defaults for a baselining job; the baseline is the train split's features, small next to training.
BASELINE_INSTANCE_TYPE: Final = "ml.m5.xlarge"
BASELINE_VOLUME_GB: Final = 20
BASELINE_MAX_RUNTIME_SECONDS: Final = 3600
JSON_CONTENT_TYPE: Final = "application/json"
PROCESSING_JOB_RESULT = selector(BaselineJobResult, {"processing_job_arn": "$.ProcessingJobArn"})


@dataclass(frozen=True)
class BaselineJobInputs:
    env_name: str
    image: str  # the region's analyzer image (stacks.model_monitor_images.analyzer_image)
    role_arn: str
    key_arn: str  # encrypts the output and the volume
    network: TrainingNetwork | None  # the training jobs' subnets and security groups


class Baselining(Construct):
    """The baselining job's role (its prefixes, the key, logs, the analyzer image, the VPC) and its inputs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        key: kms.IKey,
        artifacts: s3.IBucket,
        network: TrainingNetwork | None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        self.role = BaselineRole(self, "Role", key=key, artifacts=artifacts).role
        grant_image_pull(
            self,
            "AnalyzerImagePull",
            role=self.role,
            repository=ecr.Repository.from_repository_arn(self, "Analyzer", analyzer_repository_arn(region)),
            extra=sagemaker_vpc_access() if network else None,
            extra_reason="Baselining in the VPC: SageMaker creates ENIs whose ids are unknown beforehand."
            if network
            else "",
        )
        self.job = BaselineJobInputs(
            env_name=env_name,
            image=analyzer_image(region),
            role_arn=self.role.role_arn,
            key_arn=key.key_arn,
            network=network,
        )


def task_timeout_seconds() -> int:
    return BASELINE_MAX_RUNTIME_SECONDS + 30 * 60


def processing_job_parameters(inputs: BaselineJobInputs) -> dict[str, Any]:
    """CreateProcessingJob's parameters. The job is named like the run's training job (another namespace)."""
    parameters: dict[str, Any] = {
        "ProcessingJobName.$": path(PrepareResult, "training_job_name"),
        "AppSpecification": {"ImageUri": inputs.image},
        "Environment": dict(ANALYZER_ENVIRONMENT),
        "ProcessingInputs": [
            {
                "InputName": BASELINE_INPUT_NAME,
                "S3Input": {
                    "S3Uri.$": path(PrepareResult, "baseline_input_uri"),
                    "LocalPath": BASELINE_INPUT_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                },
            }
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": BASELINE_OUTPUT_NAME,
                    "S3Output": {
                        "S3Uri.$": path(PrepareResult, "baseline_uri"),
                        "LocalPath": BASELINE_OUTPUT_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": inputs.key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": BASELINE_INSTANCE_TYPE,
                "VolumeSizeInGB": BASELINE_VOLUME_GB,
                "VolumeKmsKeyId": inputs.key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": BASELINE_MAX_RUNTIME_SECONDS},
        "NetworkConfig": {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True},
        "RoleArn": inputs.role_arn,
        "Tags": [
            {"Key": "project", "Value": names.PROJECT},
            {"Key": "environment", "Value": inputs.env_name},
        ],
    }
    if inputs.network:
        parameters["NetworkConfig"]["VpcConfig"] = {
            "Subnets": inputs.network.subnet_ids,
            "SecurityGroupIds": inputs.network.security_group_ids,
        }
    return parameters


def baseline_state(scope: Construct, inputs: BaselineJobInputs) -> sfn.CustomState:
    return sfn.CustomState(
        scope,
        "Baseline",
        state_json={
            "Type": "Task",
            "Comment": "Model Monitor's analyzer suggests constraints and statistics from the run's baseline CSV",
            "Resource": f"arn:{Stack.of(scope).partition}:states:::sagemaker:createProcessingJob.sync",
            "Parameters": processing_job_parameters(inputs),
            "ResultSelector": PROCESSING_JOB_RESULT,
            "ResultPath": result_path(BaselineJobResult),
            "TimeoutSeconds": task_timeout_seconds(),
        },
    )


def stop_baseline_state(scope: Construct, job_name_prefix: str) -> tasks.CallAwsService:
    return tasks.CallAwsService(
        scope,
        "StopBaselineJob",
        service="sagemaker",
        action="stopProcessingJob",
        parameters={"ProcessingJobName": sfn.JsonPath.string_at(path(PrepareResult, "training_job_name"))},
        iam_resources=[jobs_arn(scope, job_name_prefix, "processing-job")],
        result_path=sfn.JsonPath.DISCARD,
    )


def drift_check_baselines() -> dict[str, Any]:
    """CreateModelPackage's DriftCheckBaselines: the data-quality constraints and statistics of this run."""
    return {
        "ModelDataQuality": {
            "Constraints": {
                "ContentType": JSON_CONTENT_TYPE,
                "S3Uri": sfn.JsonPath.string_at(path(PrepareResult, "baseline_constraints_uri")),
            },
            "Statistics": {
                "ContentType": JSON_CONTENT_TYPE,
                "S3Uri": sfn.JsonPath.string_at(path(PrepareResult, "baseline_statistics_uri")),
            },
        }
    }


def grant_baselining(state_machine_role: iam.IRole, *, scope: Construct, job_name_prefix: str, role: iam.IRole) -> None:
    """What the ``.sync`` integration needs: the job's calls, its role, and Step Functions' managed rule."""
    stack = Stack.of(scope)
    processing_jobs = jobs_arn(scope, job_name_prefix, "processing-job")
    state_machine_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            resources=[processing_jobs],
        )
    )
    state_machine_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    state_machine_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                stack.format_arn(
                    service="events",
                    resource="rule",
                    resource_name="StepFunctionsGetEventsForSageMakerProcessingJobsRule",
                )
            ],
        )
    )
    acknowledge(
        state_machine_role.node.find_child("DefaultPolicy"),
        f"IAM5[Resource::{processing_jobs}]",
        "Baselining jobs are named like the run's training job, by Prepare at run time under this env's prefix.",
    )
