"""The SageMaker job states of the training state machine: Train (one job) or Tune (a tuning job), and their ARNs."""

from dataclasses import dataclass
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from esteira_contracts.training import PrepareResult
from stacks import names
from stacks.config import TrainingConfig, TuningConfig
from stacks.constructs.training_paths import (
    TrainingChannels,
    TrainingJobResult,
    TuningResult,
    path,
    result_path,
    selector,
)

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
# The dataset job's splits, which are the container's channel names (containers/model: esteira_model/channels.py).
DATA_CHANNELS = (
    ("train", "train_channel_uri"),
    ("validation", "validation_channel_uri"),
    ("holdout", "holdout_channel_uri"),
)
CHAMPION_CHANNEL = "champion"
PARQUET_CONTENT_TYPE = "application/x-parquet"
# The hyperparameter naming the key column the channels carry (never a feature).
ID_COLUMN_HYPERPARAMETER = "id_column"
SAGEMAKER_TRANSIENT_ERRORS = [
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
    "SageMaker.ResourceLimitExceededException",
    "ThrottlingException",
]
# DescribeTrainingJob's response -> TrainingJobResult: Train's ResultSelector, and DescribeBestTrainingJob's.
TRAINING_RESULT = selector(
    TrainingJobResult,
    {
        "training_job_name": "$.TrainingJobName",
        "model_artifacts": "$.ModelArtifacts.S3ModelArtifacts",
        "training_image": "$.AlgorithmSpecification.TrainingImage",
    },
)
TUNING_RESULT = selector(TuningResult, {"best_training_job_name": "$.BestTrainingJob.TrainingJobName"})


@dataclass(frozen=True)
class TrainingNetwork:
    subnet_ids: list[str]
    security_group_ids: list[str]


@dataclass(frozen=True)
class TrainingJobInputs:
    """What a training job definition is made of, besides the config."""

    env_name: str
    training: TrainingConfig
    image: str  # the training image URI
    training_role_arn: str
    key_arn: str  # encrypts the output and the volume
    network: TrainingNetwork | None
    id_column: str | None = None  # the spec's primary key; None: the `id_column` hyperparameter, if configured


def jobs_arn(scope: Construct, job_name_prefix: str, resource: str) -> str:
    """Every ``resource`` (``training-job``, ``hyper-parameter-tuning-job``) named under the environment's prefix."""
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=f"{job_name_prefix}-*")


def model_packages_arn(scope: Construct, group_name: str) -> str:
    """Every version in the model package group."""
    return Stack.of(scope).format_arn(service="sagemaker", resource="model-package", resource_name=f"{group_name}/*")


def task_timeout_seconds(training: TrainingConfig) -> int:
    """A training job's longest wait (spot waits longer than it runs), plus half an hour."""
    minutes = training.max_wait_minutes if training.spot else training.max_runtime_minutes
    return (minutes + 30) * 60


def _s3_channel(name: str, uri_path: str, content_type: str | None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": uri_path, "S3DataDistributionType": "FullyReplicated"}
        },
    }
    if content_type:
        channel["ContentType"] = content_type
    return channel


def input_channels(*, champion: bool) -> list[dict[str, Any]]:
    """The dataset run's train, validation and holdout prefixes (Parquet); with ``champion``, the champion's
    model.tar.gz too, which the container scores on the same holdout rows as the candidate."""
    channels = [_s3_channel(name, path(PrepareResult, field), PARQUET_CONTENT_TYPE) for name, field in DATA_CHANNELS]
    if champion:
        channels.append(_s3_channel(CHAMPION_CHANNEL, path(PrepareResult, "champion_model_uri"), None))
    return channels


def hyperparameters(inputs: TrainingJobInputs) -> dict[str, str]:
    values = {key: str(value) for key, value in inputs.training.hyperparameters.items()}
    if inputs.id_column and ID_COLUMN_HYPERPARAMETER not in values:
        values[ID_COLUMN_HYPERPARAMETER] = inputs.id_column
    return dict(sorted(values.items()))


def job_definition(inputs: TrainingJobInputs, *, static_hyperparameters_key: str) -> dict[str, Any]:
    """CreateTrainingJob's parameters (a tuning job's TrainingJobDefinition), without the job's name."""
    training = inputs.training
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": training.max_runtime_minutes * 60}
    if training.spot:
        stopping["MaxWaitTimeInSeconds"] = training.max_wait_minutes * 60
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {
            "TrainingImage": inputs.image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(definition) for definition in names.TRAINING_METRIC_DEFINITIONS],
        },
        "RoleArn": inputs.training_role_arn,
        static_hyperparameters_key: hyperparameters(inputs),
        # Channels or ChannelsWithChampion made it (input_channels): the same for Train and Tune.
        "InputDataConfig.$": path(TrainingChannels, "input_data_config"),
        "OutputDataConfig": {"S3OutputPath.$": path(PrepareResult, "output_uri"), "KmsKeyId": inputs.key_arn},
        "ResourceConfig": {
            "InstanceType": training.instance_type,
            "InstanceCount": training.instance_count,
            "VolumeSizeInGB": training.volume_size_gb,
            "VolumeKmsKeyId": inputs.key_arn,
        },
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": training.spot,
        "CheckpointConfig": {"S3Uri.$": path(PrepareResult, "checkpoint_uri"), "LocalPath": CHECKPOINT_LOCAL_PATH},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    if inputs.network:
        definition["VpcConfig"] = {
            "Subnets": inputs.network.subnet_ids,
            "SecurityGroupIds": inputs.network.security_group_ids,
        }
    return definition


def train_state(scope: Construct, inputs: TrainingJobInputs) -> sfn.CustomState:
    parameters = {
        "TrainingJobName.$": path(PrepareResult, "training_job_name"),
        **job_definition(inputs, static_hyperparameters_key="HyperParameters"),
        "Tags": [
            {"Key": "project", "Value": names.PROJECT},
            {"Key": "environment", "Value": inputs.env_name},
        ],
    }
    return sfn.CustomState(
        scope,
        "Train",
        state_json={
            "Type": "Task",
            "Comment": "Managed-spot training job with S3 checkpoints; the task stops the job if it times out",
            "Resource": f"arn:{Stack.of(scope).partition}:states:::sagemaker:createTrainingJob.sync",
            "Parameters": parameters,
            "ResultSelector": TRAINING_RESULT,
            "ResultPath": result_path(TrainingJobResult),
            "TimeoutSeconds": task_timeout_seconds(inputs.training),
        },
    )


def parameter_ranges(tuning: TuningConfig) -> dict[str, list[dict[str, Any]]]:
    """ParameterRanges of the tuning job config: the non-empty lists among continuous, integer and categorical."""
    ranges: dict[str, list[dict[str, Any]]] = {
        "ContinuousParameterRanges": [],
        "IntegerParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, spec in sorted(tuning.ranges.items()):
        if spec.type == "categorical":
            ranges["CategoricalParameterRanges"].append({"Name": name, "Values": list(spec.values)})
        else:
            assert spec.min is not None and spec.max is not None, "validated by TuningConfig"
            integer = spec.type == "integer"
            low, high = (int(spec.min), int(spec.max)) if integer else (spec.min, spec.max)
            ranges["IntegerParameterRanges" if integer else "ContinuousParameterRanges"].append(
                {"Name": name, "MinValue": str(low), "MaxValue": str(high), "ScalingType": spec.scaling}
            )
    return {key: value for key, value in ranges.items() if value}


def tune_state(scope: Construct, inputs: TrainingJobInputs, tuning: TuningConfig) -> sfn.CustomState:
    tuned = set(tuning.ranges)
    job = job_definition(inputs, static_hyperparameters_key="StaticHyperParameters")
    job["StaticHyperParameters"] = {k: v for k, v in job["StaticHyperParameters"].items() if k not in tuned}
    return sfn.CustomState(
        scope,
        "Tune",
        state_json={
            "Type": "Task",
            "Comment": "Hyperparameter tuning; the best training job is carried on",
            "Resource": f"arn:{Stack.of(scope).partition}:states:::sagemaker:createHyperParameterTuningJob.sync",
            "Parameters": {
                "HyperParameterTuningJobName.$": path(PrepareResult, "tuning_job_name"),
                "HyperParameterTuningJobConfig": {
                    "Strategy": tuning.strategy,
                    "HyperParameterTuningJobObjective": {
                        "Type": tuning.objective_type,
                        "MetricName": tuning.objective_metric,
                    },
                    "ResourceLimits": {
                        "MaxNumberOfTrainingJobs": tuning.max_jobs,
                        "MaxParallelTrainingJobs": tuning.max_parallel_jobs,
                    },
                    "ParameterRanges": parameter_ranges(tuning),
                    "TrainingJobEarlyStoppingType": "Auto",
                },
                "TrainingJobDefinition": job,
            },
            "ResultSelector": TUNING_RESULT,
            "ResultPath": result_path(TuningResult),
            "TimeoutSeconds": task_timeout_seconds(inputs.training) * 2,
        },
    )
