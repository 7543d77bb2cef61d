"""The training state machine's Clarify steps and bias gate, between the quality gate and Baseline.

    Gate --passed--> WriteClarifyConfig -> CreateClarifyModel -> ClarifyBias (.sync) -> ClarifyExplainability (.sync)
      -> DeleteClarifyModel -> BiasGate -> BiasGatePassed? --passed--> Baseline -> Register ...
                                                         otherwise NotifyBiasRejected -> BiasGateRejected

WriteClarifyConfig (a Lambda) writes the run's two analysis configs and names the temporary model and the jobs;
CreateClarifyModel makes a SageMaker Model of the candidate (image and artifacts of the training job), which
Clarify serves on a shadow endpoint it creates and deletes itself. Each job runs the region's
``sagemaker-clarify-processing`` image as the docs' "Configure a SageMaker Clarify processing job" says: inputs
``analysis_config`` (at ``/opt/ml/processing/input/config``) and ``dataset`` (the holdout, ``/opt/ml/processing/
input/data``), one output ``analysis_result`` (``/opt/ml/processing/output``, EndOfJob), network isolation off (the
job calls the endpoint). The model never outlives the run: DeleteClarifyModel follows the jobs, and a failed or
timed-out job (stopped first) deletes it before NotifyFailure. BiasGate reads the bias analysis.json; a failing
gate is an outcome like the quality gate's (``gate_rejected``, counted by the same metric).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts.bias import (
    ANALYSIS_CONFIG_INPUT,
    ANALYSIS_RESULT_OUTPUT,
    DATASET_INPUT,
    BiasGateResult,
    ClarifyResult,
)
from esteira_contracts.training import OUTCOME_GATE_REJECTED, PrepareResult
from stacks import names
from stacks.bias_config import BiasConfig
from stacks.constructs.training_jobs import SAGEMAKER_TRANSIENT_ERRORS, TrainingNetwork, jobs_arn
from stacks.constructs.training_paths import (
    ERROR_PATH,
    HOLDOUT_ROWS,
    STOP_ERROR_PATH,
    DatasetManifest,
    TrainingJobResult,
    path,
    result_path,
)

PROCESSING_ROOT: Final = "/opt/ml/processing"
CONFIG_LOCAL_PATH: Final = f"{PROCESSING_ROOT}/input/config"
DATASET_LOCAL_PATH: Final = f"{PROCESSING_ROOT}/input/data"
OUTPUT_LOCAL_PATH: Final = f"{PROCESSING_ROOT}/output"
CATCH_ALL: Final = ["States.ALL"]
# The state a bias-gate rejection ends in (the gate-rejection metric counts it with the quality gate's).
BIAS_GATE_REJECTED_STATE: Final = "BiasGateRejected"
# Where a failed DeleteModel after a failure goes, so that it does not hide the error that failed the run.
CLEANUP_ERROR_PATH: Final = "$.cleanup_error"
# The two analyses: state id suffix, and the ClarifyResult fields of the job's name, config and output.
ANALYSES: Final = (
    ("Bias", "bias_job_name", "bias_config_uri", "bias_output_uri"),
    ("Explainability", "explainability_job_name", "explainability_config_uri", "explainability_output_uri"),
)

Task = TypeVar("Task", bound=sfn.TaskStateBase | sfn.CustomState)


class Guard(Protocol):
    """Adds the run's catch-all (NotifyFailure) to a state and returns it."""

    def __call__(self, state: Task, /) -> Task: ...


Notify = Callable[[str, str, dict[str, Any]], tasks.SnsPublish]


@dataclass(frozen=True)
class ClarifyInputs:
    env_name: str
    bias: BiasConfig
    image: str  # the region's Clarify processing image (stacks.clarify_images.clarify_image)
    role_arn: str  # the jobs' role
    model_role_arn: str  # the temporary model's execution role
    key_arn: str  # encrypts the outputs and the volumes
    network: TrainingNetwork | None
    write_config: lambda_.IFunction
    bias_gate: lambda_.IFunction


def task_timeout_seconds(bias: BiasConfig) -> int:
    """One Clarify job's longest wait: its runtime limit plus half an hour (provisioning, the shadow endpoint)."""
    return bias.max_runtime_minutes * 60 + 30 * 60


def processing_job_parameters(inputs: ClarifyInputs, job: str, config: str, output: str) -> dict[str, Any]:
    """CreateProcessingJob's parameters for one analysis; ``job``, ``config`` and ``output`` are ClarifyResult
    fields."""
    bias = inputs.bias
    parameters: dict[str, Any] = {
        "ProcessingJobName.$": path(ClarifyResult, job),
        "AppSpecification": {"ImageUri": inputs.image},
        "ProcessingInputs": [
            {
                "InputName": ANALYSIS_CONFIG_INPUT,
                "S3Input": {
                    "S3Uri.$": path(ClarifyResult, config),
                    "LocalPath": CONFIG_LOCAL_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": DATASET_INPUT,
                "S3Input": {
                    "S3Uri.$": path(ClarifyResult, "dataset_uri"),
                    "LocalPath": DATASET_LOCAL_PATH,
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            },
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": ANALYSIS_RESULT_OUTPUT,
                    "S3Output": {
                        "S3Uri.$": path(ClarifyResult, output),
                        "LocalPath": OUTPUT_LOCAL_PATH,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": inputs.key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": bias.instance_count,
                "InstanceType": bias.instance_type,
                "VolumeSizeInGB": bias.volume_size_gb,
                "VolumeKmsKeyId": inputs.key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": bias.max_runtime_minutes * 60},
        # Clarify calls its shadow endpoint: the docs require network isolation off.
        "NetworkConfig": {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": True},
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


class ClarifySteps:
    """Makes the states in ``scope``; ``guarded`` adds the run's catch-all, ``notify_failure`` is its target."""

    def __init__(
        self,
        scope: Construct,
        inputs: ClarifyInputs,
        *,
        job_name_prefix: str,
        guarded: Guard,
        notify_failure: sfn.IChainable,
    ) -> None:
        self.scope = scope
        self.inputs = inputs
        self.prefix = job_name_prefix
        self.guarded = guarded
        self.notify_failure = notify_failure

    def _sagemaker(
        self, construct_id: str, action: str, resource: str, parameters: dict[str, Any]
    ) -> tasks.CallAwsService:
        return tasks.CallAwsService(
            self.scope,
            construct_id,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=[jobs_arn(self.scope, self.prefix, resource)],
            result_path=sfn.JsonPath.DISCARD,
        )

    def _delete_model(self, construct_id: str) -> tasks.CallAwsService:
        delete = self._sagemaker(
            construct_id,
            "deleteModel",
            "model",
            {"ModelName": sfn.JsonPath.string_at(path(ClarifyResult, "model_name"))},
        )
        delete.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(5), backoff_rate=2, max_attempts=4
        )
        return delete

    def write_config(self) -> tasks.LambdaInvoke:
        return self.guarded(
            tasks.LambdaInvoke(
                self.scope,
                "WriteClarifyConfig",
                lambda_function=self.inputs.write_config,
                payload=sfn.TaskInput.from_object(
                    {
                        "training_job_name": sfn.JsonPath.string_at(path(TrainingJobResult, "training_job_name")),
                        "run_id": sfn.JsonPath.string_at(path(PrepareResult, "dataset_run_id")),
                        "dataset_uri": sfn.JsonPath.string_at(path(PrepareResult, "holdout_channel_uri")),
                    }
                ),
                payload_response_only=True,
                result_path=result_path(ClarifyResult),
                retry_on_service_exceptions=True,
            )
        )

    def create_model(self) -> tasks.CallAwsService:
        container = {
            "Image": sfn.JsonPath.string_at(path(TrainingJobResult, "training_image")),
            "ModelDataUrl": sfn.JsonPath.string_at(path(TrainingJobResult, "model_artifacts")),
        }
        parameters: dict[str, Any] = {
            "ModelName": sfn.JsonPath.string_at(path(ClarifyResult, "model_name")),
            "ExecutionRoleArn": self.inputs.model_role_arn,
            "PrimaryContainer": container,
            "EnableNetworkIsolation": True,  # the container needs no network; Clarify reaches it through SageMaker
            "Tags": [
                {"Key": "project", "Value": names.PROJECT},
                {"Key": "environment", "Value": self.inputs.env_name},
            ],
        }
        if self.inputs.network:  # the docs: a model in a VPC is analysed by a Clarify job in the same VPC
            parameters["VpcConfig"] = {
                "Subnets": self.inputs.network.subnet_ids,
                "SecurityGroupIds": self.inputs.network.security_group_ids,
            }
        create = self._sagemaker("CreateClarifyModel", "createModel", "model", parameters)
        create.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(5), backoff_rate=2, max_attempts=4
        )
        return self.guarded(create)

    def job(self, suffix: str, job: str, config: str, output: str, cleanup: sfn.IChainable) -> sfn.CustomState:
        """One Clarify job, retried on SageMaker's transient errors; a timed-out job is stopped, and any failure
        deletes the model before NotifyFailure."""
        state = sfn.CustomState(
            self.scope,
            f"Clarify{suffix}",
            state_json={
                "Type": "Task",
                "Comment": f"SageMaker Clarify's {suffix.lower()} analysis of the candidate on the run's holdout",
                "Resource": f"arn:{Stack.of(self.scope).partition}:states:::sagemaker:createProcessingJob.sync",
                "Parameters": processing_job_parameters(self.inputs, job, config, output),
                "ResultPath": None,
                "TimeoutSeconds": task_timeout_seconds(self.inputs.bias),
            },
        )
        state.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(30), backoff_rate=2, max_attempts=3
        )
        stop = self._sagemaker(
            f"StopClarify{suffix}Job",
            "stopProcessingJob",
            "processing-job",
            {"ProcessingJobName": sfn.JsonPath.string_at(path(ClarifyResult, job))},
        )
        stop.add_catch(cleanup, errors=CATCH_ALL, result_path=STOP_ERROR_PATH)
        stop.next(cleanup)
        state.add_catch(stop, errors=["States.Timeout"], result_path=ERROR_PATH)
        state.add_catch(cleanup, errors=CATCH_ALL, result_path=ERROR_PATH)
        return state

    def bias_gate(self) -> tasks.LambdaInvoke:
        return self.guarded(
            tasks.LambdaInvoke(
                self.scope,
                "BiasGate",
                lambda_function=self.inputs.bias_gate,
                # rows: the holdout's rows (the dataset run's manifest), from which the gate sizes each facet group.
                payload=sfn.TaskInput.from_object(
                    {
                        "analysis_uri": sfn.JsonPath.string_at(path(ClarifyResult, "bias_analysis_uri")),
                        "rows": sfn.JsonPath.number_at(f"{path(DatasetManifest, 'manifest')}.{HOLDOUT_ROWS}"),
                    }
                ),
                payload_response_only=True,
                result_path=result_path(BiasGateResult),
                retry_on_service_exceptions=True,
            )
        )

    def rejected(self, notify: Notify) -> sfn.IChainable:
        """NotifyBiasRejected -> BiasGateRejected: the execution succeeds, its output saying why."""
        reason = sfn.JsonPath.string_at(path(BiasGateResult, "reason"))
        training_job = sfn.JsonPath.string_at(path(TrainingJobResult, "training_job_name"))
        notify_rejected = self.guarded(
            notify(
                "NotifyBiasRejected",
                "model rejected by the bias gate",
                {
                    "outcome": OUTCOME_GATE_REJECTED,
                    "environment": self.inputs.env_name,
                    "reason": reason,
                    "training_job_name": training_job,
                    "bias_report": sfn.JsonPath.string_at(path(ClarifyResult, "bias_analysis_uri")),
                    "execution": sfn.JsonPath.execution_id,
                },
            )
        )
        gate_rejected = sfn.Pass(
            self.scope,
            BIAS_GATE_REJECTED_STATE,
            comment="The bias gate rejected the model: an outcome, not a failure (the gate-rejection metric counts it)",
            parameters={
                "outcome": OUTCOME_GATE_REJECTED,
                "reason": reason,
                "metric": sfn.JsonPath.string_at(path(BiasGateResult, "metric")),
                "facet": sfn.JsonPath.string_at(path(BiasGateResult, "failed_facet")),
                "value": sfn.JsonPath.number_at(path(BiasGateResult, "failed_value")),
                "minimum": sfn.JsonPath.number_at(path(BiasGateResult, "minimum")),
                "maximum": sfn.JsonPath.number_at(path(BiasGateResult, "maximum")),
                "training_job_name": training_job,
            },
        )
        return notify_rejected.next(gate_rejected)

    def chain(self, notify: Notify, passed: sfn.IChainable) -> sfn.IChainable:
        """The steps from the quality gate's pass to ``passed`` (Baseline) or the bias gate's rejection."""
        cleanup = self._delete_model("DeleteClarifyModelOnFailure")
        cleanup.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=CLEANUP_ERROR_PATH)
        cleanup.next(self.notify_failure)
        jobs = [self.job(suffix, job, config, output, cleanup) for suffix, job, config, output in ANALYSES]
        delete = self.guarded(self._delete_model("DeleteClarifyModel"))
        decision = (
            sfn.Choice(self.scope, "BiasGatePassed")
            .when(sfn.Condition.boolean_equals(path(BiasGateResult, "passed"), True), passed)
            .otherwise(self.rejected(notify))
        )
        start = self.write_config()
        start.next(self.create_model()).next(jobs[0]).next(jobs[1]).next(delete).next(self.bias_gate()).next(decision)
        return start


def clarify_model_metrics() -> dict[str, Any]:
    """CreateModelPackage's ModelMetrics.Bias and .Explainability: the run's two analysis.json (one bias report holds
    the pre- and the post-training metrics, hence Bias.Report)."""
    return {
        kind: {
            "Report": {
                "ContentType": "application/json",
                "S3Uri": sfn.JsonPath.string_at(path(ClarifyResult, field)),
            }
        }
        for kind, field in (("Bias", "bias_analysis_uri"), ("Explainability", "explainability_analysis_uri"))
    }
