"""The training state machine's definition: prepare, train (or tune), evaluate against the gate, register, notify.

Built from explicit inputs (functions, topic, names, config) into a chain of states in ``scope``; the construct
(``training_pipeline.py``) owns the resources and grants. Every JSONPath that reads a step's result comes from
``training_paths.path`` over the result's class.

    Prepare -> NewData? --0 rows--> NothingNew
      \\-> Dataset (Glue, .sync) -> ReadDatasetManifest -> DatasetStatus? --no_new_data--> NoNewData
      \\-> PublishModelQuality (failure: NotifyQualityNotPublished, and on; training_quality.py)
      \\-> Champion? -> ChannelsWithChampion | Channels -> Train | Tune -> DescribeBestTrainingJob -> Evaluate
      -> Gate? --passed--> [Clarify's bias and SHAP jobs -> BiasGate (training_clarify_states.py)]
               -> Baseline (Model Monitor's analyzer, .sync) -> Register [-> ScoreBatch (dev)]
               -> NotifyRegistered -> Registered
               otherwise NotifyRejected -> GateRejected

A gate rejection is an outcome, not a failure: GateRejected ends the execution as succeeded, with output
``{"outcome": "gate_rejected", ...}``, counted by its own metric (``alerts.gate_rejection_metric``), so the
"training failed" alarm (ExecutionsFailed) counts failures only. Every task is caught (``States.ALL``) into
NotifyFailure -> Failed; a timed-out job is stopped first. Only PublishModelQuality's errors continue to training.
"""

from dataclasses import dataclass
from typing import Any, TypeVar

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts.batch import LINEAGE_DATASET, LINEAGE_FEATURE_SCHEMA, LINEAGE_SPEC
from esteira_contracts.training import (
    MAX_TUNING_JOB_NAME_PREFIX_LENGTH,
    OUTCOME_GATE_REJECTED,
    OUTCOME_REGISTERED,
    EvaluateResult,
    PrepareResult,
    field_names,
)
from stacks.constructs.training_baseline import (
    BaselineJobInputs,
    baseline_state,
    stop_baseline_state,
)
from stacks.constructs.training_clarify_states import ClarifyInputs, ClarifySteps
from stacks.constructs.training_dataset import dataset_states
from stacks.constructs.training_jobs import (
    SAGEMAKER_TRANSIENT_ERRORS,
    TRAINING_RESULT,
    TrainingJobInputs,
    jobs_arn,
    train_state,
    tune_state,
)
from stacks.constructs.training_paths import (
    ERROR_CAUSE,
    ERROR_NAME,
    ERROR_PATH,
    RUN_ID_INPUT,
    STOP_ERROR_PATH,
    DatasetManifest,
    DatasetManifestBody,
    RegistrationResult,
    TrainingJobResult,
    TuningResult,
    path,
    result_path,
)
from stacks.constructs.training_quality import QualityStepInputs, quality_step
from stacks.constructs.training_registration import model_package_request

CATCH_ALL = ["States.ALL"]
# The state a gate rejection ends in; its entries in the execution log are the gate-rejection metric.
GATE_REJECTED_STATE = "GateRejected"


def manifest_field(field: str) -> str:
    """A field of the dataset run's manifest.json, as ReadDatasetManifest kept it."""
    if field not in field_names(DatasetManifestBody):  # only the fields the state machine documents reading
        raise ValueError(f"DatasetManifestBody has no field {field!r}")
    return f"{path(DatasetManifest, 'manifest')}.{field}"


Task = TypeVar("Task", bound=sfn.TaskStateBase | sfn.CustomState)


@dataclass(frozen=True)
class TrainingDefinitionInputs:
    """Everything the definition refers to; nothing else is read."""

    job: TrainingJobInputs  # the environment, the training config, image, role, key and network of the jobs
    job_name_prefix: str  # the jobs Prepare names, which the Stop/Describe calls may touch
    model_package_group_name: str
    git_commit: str  # recorded in each package's lineage
    prepare: lambda_.IFunction
    evaluate: lambda_.IFunction
    alerts: sns.ITopic
    dataset_job_name: str  # the Glue dataset job the Dataset step runs
    baseline: BaselineJobInputs  # the baselining job the Baseline step runs (training_baseline.py)
    datasets_objects_arn: str  # <artifacts bucket ARN>/datasets/*: ReadDatasetManifest's resource
    # Dev: invoked (asynchronously) after Register, to score this run's batch input with the new package.
    batch_launcher: lambda_.IFunction | None = None
    # Publishes the dataset run's model-quality report before training (training.quality.enabled).
    quality_publisher: lambda_.IFunction | None = None
    clarify: ClarifyInputs | None = None  # training.bias: Clarify's jobs and the bias gate after the quality gate


class _Builder:
    """Holds the inputs and the shared failure path while the states are made."""

    def __init__(self, scope: Construct, inputs: TrainingDefinitionInputs) -> None:
        self.scope = scope
        self.inputs = inputs
        self.env_name = inputs.job.env_name
        self.notify_failure = self.notify(
            "NotifyFailure",
            "training failed",
            {
                "outcome": "failed",
                "environment": self.env_name,
                "execution": sfn.JsonPath.execution_id,
                "error": sfn.JsonPath.string_at(ERROR_NAME),
                "cause": sfn.JsonPath.string_at(ERROR_CAUSE),
            },
        ).next(sfn.Fail(scope, "Failed", error_path=ERROR_NAME, cause_path=ERROR_CAUSE))

    def guarded(self, state: Task) -> Task:
        state.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=ERROR_PATH)
        return state

    def notify(self, construct_id: str, subject: str, message: dict[str, Any]) -> tasks.SnsPublish:
        return tasks.SnsPublish(
            self.scope,
            construct_id,
            topic=self.inputs.alerts,
            subject=f"Esteira {self.env_name}: {subject}",
            message=sfn.TaskInput.from_object(message),
            result_path=sfn.JsonPath.DISCARD,
        )

    def sagemaker_call(
        self, construct_id: str, action: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tasks.CallAwsService:
        prefix = self.inputs.job_name_prefix
        return tasks.CallAwsService(
            self.scope,
            construct_id,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=[
                jobs_arn(self.scope, prefix, "training-job"),
                jobs_arn(self.scope, prefix, "hyper-parameter-tuning-job"),
            ],
            **kwargs,
        )

    def prepare(self) -> tasks.LambdaInvoke:
        return self.guarded(
            tasks.LambdaInvoke(
                self.scope,
                "Prepare",
                lambda_function=self.inputs.prepare,
                payload=sfn.TaskInput.from_object(
                    {"run_id": sfn.JsonPath.string_at(RUN_ID_INPUT), "execution": sfn.JsonPath.execution_name}
                ),
                payload_response_only=True,
                result_path=result_path(PrepareResult),
                retry_on_service_exceptions=True,
            )
        )

    def fit(self) -> tuple[sfn.CustomState, sfn.Chain]:
        """Train or Tune (then DescribeBestTrainingJob), retried on SageMaker's transient errors, and its stop."""
        tuning = self.inputs.job.training.tuning
        stop: sfn.TaskStateBase
        if tuning is None:
            fit = train_state(self.scope, self.inputs.job)
            stop = self.sagemaker_call(
                "StopTrainingJob",
                "stopTrainingJob",
                {"TrainingJobName": sfn.JsonPath.string_at(path(PrepareResult, "training_job_name"))},
                result_path=sfn.JsonPath.DISCARD,
            )
            fit_chain = sfn.Chain.start(fit)
        else:
            prefix = self.inputs.job_name_prefix
            if len(prefix) > MAX_TUNING_JOB_NAME_PREFIX_LENGTH:
                # Prepare would name no tuning job (SageMaker allows 32 characters) and every execution would fail.
                raise ValueError(
                    f"training.tuning: the job name prefix {prefix!r} (from the environment's name) is longer than "
                    f"{MAX_TUNING_JOB_NAME_PREFIX_LENGTH} characters, too long for a tuning job name: shorten 'name' "
                    "or remove training.tuning"
                )
            fit = tune_state(self.scope, self.inputs.job, tuning)
            stop = self.sagemaker_call(
                "StopTuningJob",
                "stopHyperParameterTuningJob",
                {"HyperParameterTuningJobName": sfn.JsonPath.string_at(path(PrepareResult, "tuning_job_name"))},
                result_path=sfn.JsonPath.DISCARD,
            )
            describe_best = self.guarded(
                self.sagemaker_call(
                    "DescribeBestTrainingJob",
                    "describeTrainingJob",
                    {"TrainingJobName": sfn.JsonPath.string_at(path(TuningResult, "best_training_job_name"))},
                    result_selector=TRAINING_RESULT,
                    result_path=result_path(TrainingJobResult),
                )
            )
            fit_chain = sfn.Chain.start(fit).next(describe_best)
        fit.add_retry(errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(30), backoff_rate=2, max_attempts=3)
        # No orphaned jobs: a timed-out wait stops the job before reporting the failure.
        stop.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=STOP_ERROR_PATH)
        stop.next(self.notify_failure)
        fit.add_catch(stop, errors=["States.Timeout"], result_path=ERROR_PATH)
        fit.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=ERROR_PATH)
        return fit, fit_chain

    def evaluate(self) -> tasks.LambdaInvoke:
        trained = TrainingJobResult
        return self.guarded(
            tasks.LambdaInvoke(
                self.scope,
                "Evaluate",
                lambda_function=self.inputs.evaluate,
                payload=sfn.TaskInput.from_object(
                    {
                        "training_job_name": sfn.JsonPath.string_at(path(trained, "training_job_name")),
                        "model_artifacts": sfn.JsonPath.string_at(path(trained, "model_artifacts")),
                        "training_image": sfn.JsonPath.string_at(path(trained, "training_image")),
                        "train_uri": sfn.JsonPath.string_at(path(PrepareResult, "train_uri")),
                        "manifest_uri": sfn.JsonPath.string_at(path(PrepareResult, "manifest_uri")),
                        "champion_package_arn": sfn.JsonPath.string_at(path(PrepareResult, "champion_package_arn")),
                        "lineage": {
                            "execution": sfn.JsonPath.execution_id,
                            "git_commit": self.inputs.git_commit,
                            LINEAGE_DATASET: sfn.JsonPath.string_at(path(PrepareResult, "dataset_uri")),
                            # The batch launcher scores only rows of this spec and feature schema with the package.
                            LINEAGE_SPEC: sfn.JsonPath.string_at(manifest_field("spec_name")),
                            LINEAGE_FEATURE_SCHEMA: sfn.JsonPath.hash(
                                sfn.JsonPath.json_to_string(sfn.JsonPath.list_at(manifest_field("features"))),
                                "SHA-256",
                            ),
                        },
                    }
                ),
                payload_response_only=True,
                result_path=result_path(EvaluateResult),
                retry_on_service_exceptions=True,
            )
        )

    def register(self) -> tasks.CallAwsService:
        register = self.guarded(
            self.sagemaker_call(
                "Register",
                "createModelPackage",
                model_package_request(
                    self.inputs.model_package_group_name,
                    self.inputs.job.training.approval,
                    with_clarify=self.inputs.clarify is not None,
                ),
                result_selector={"model_package_arn.$": "$.ModelPackageArn"},
                result_path=result_path(RegistrationResult),
            )
        )
        register.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(5), backoff_rate=2, max_attempts=4
        )
        return register

    def baseline(self) -> sfn.CustomState:
        """The baselining job, retried on SageMaker's transient errors; a timed-out job is stopped first."""
        baseline = baseline_state(self.scope, self.inputs.baseline)
        baseline.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(30), backoff_rate=2, max_attempts=3
        )
        stop = stop_baseline_state(self.scope, self.inputs.job_name_prefix)
        stop.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=STOP_ERROR_PATH)
        stop.next(self.notify_failure)
        baseline.add_catch(stop, errors=["States.Timeout"], result_path=ERROR_PATH)
        baseline.add_catch(self.notify_failure, errors=CATCH_ALL, result_path=ERROR_PATH)
        return baseline

    def score_batch(self) -> tasks.LambdaInvoke:
        """The launcher scores this run's batch input with the package just registered; asynchronous, so a
        transform never holds the execution (its own events report it)."""
        assert self.inputs.batch_launcher is not None
        return self.guarded(
            tasks.LambdaInvoke(
                self.scope,
                "ScoreBatch",
                lambda_function=self.inputs.batch_launcher,
                invocation_type=tasks.LambdaInvocationType.EVENT,
                payload=sfn.TaskInput.from_object(
                    {
                        "input_run_id": sfn.JsonPath.string_at(path(PrepareResult, "dataset_run_id")),
                        "model_package_arn": sfn.JsonPath.string_at(path(RegistrationResult, "model_package_arn")),
                    }
                ),
                result_path=sfn.JsonPath.DISCARD,
                retry_on_service_exceptions=True,
            )
        )

    def gate(self) -> sfn.Choice:
        """Passed: Baseline, Register, NotifyRegistered, Registered. Otherwise: NotifyRejected, GateRejected."""
        baseline = self.baseline()
        register = self.register()
        reason = sfn.JsonPath.string_at(path(EvaluateResult, "reason"))
        notify_registered = self.notify(
            "NotifyRegistered",
            "model registered",
            {
                "outcome": OUTCOME_REGISTERED,
                "environment": self.env_name,
                "model_package_arn": sfn.JsonPath.string_at(path(RegistrationResult, "model_package_arn")),
                "approval": self.inputs.job.training.approval,
                "reason": reason,
                "execution": sfn.JsonPath.execution_id,
            },
        )
        notify_rejected = self.notify(
            "NotifyRejected",
            "model rejected by the quality gate",
            {
                "outcome": OUTCOME_GATE_REJECTED,
                "environment": self.env_name,
                "reason": reason,
                "training_job_name": sfn.JsonPath.string_at(path(TrainingJobResult, "training_job_name")),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        # Ends the execution as succeeded (a Pass state with no next), its output saying why.
        gate_rejected = sfn.Pass(
            self.scope,
            GATE_REJECTED_STATE,
            comment="The gate rejected the model: an outcome, not a failure (its own metric counts it)",
            parameters={
                "outcome": OUTCOME_GATE_REJECTED,
                "reason": reason,
                "metric": sfn.JsonPath.string_at(path(EvaluateResult, "metric_name")),
                "value": sfn.JsonPath.number_at(path(EvaluateResult, "metric_value")),
                "training_job_name": sfn.JsonPath.string_at(path(TrainingJobResult, "training_job_name")),
            },
        )
        for notify in (notify_registered, notify_rejected):
            self.guarded(notify)
        if self.inputs.batch_launcher is not None:
            registered: sfn.IChainable = register.next(self.score_batch()).next(notify_registered)
        else:
            registered = register.next(notify_registered)
        passed: sfn.IChainable = baseline.next(registered)
        if self.inputs.clarify is not None:
            clarify = ClarifySteps(
                self.scope,
                self.inputs.clarify,
                job_name_prefix=self.inputs.job_name_prefix,
                guarded=self.guarded,
                notify_failure=self.notify_failure,
            )
            passed = clarify.chain(self.notify, passed)
        gate = (
            sfn.Choice(self.scope, "Gate")
            .when(sfn.Condition.boolean_equals(path(EvaluateResult, "passed"), True), passed)
            .otherwise(notify_rejected.next(gate_rejected))
        )
        notify_registered.next(sfn.Succeed(self.scope, "Registered"))
        return gate


def build_training_definition(scope: Construct, inputs: TrainingDefinitionInputs) -> sfn.IChainable:
    """The chain of states, made in ``scope`` (their ids are the state names)."""
    builder = _Builder(scope, inputs)
    prepare = builder.prepare()
    evaluate = builder.evaluate()
    fit, fit_chain = builder.fit()
    fit_chain.next(evaluate).next(builder.gate())
    # An extraction that added no rows leaves the data as the last training saw it: nothing to do.
    new_data = (
        sfn.Choice(scope, "NewData")
        .when(sfn.Condition.number_equals(path(PrepareResult, "rows"), 0), sfn.Succeed(scope, "NothingNew"))
        .otherwise(
            dataset_states(
                scope,
                job_name=inputs.dataset_job_name,
                datasets_objects_arn=inputs.datasets_objects_arn,
                guarded=builder.guarded,
                then=fit,
                before_training=None
                if inputs.quality_publisher is None
                else quality_step(scope, QualityStepInputs(inputs.quality_publisher, builder.env_name, builder.notify)),
            )
        )
    )
    chain: sfn.IChainable = prepare.next(new_data)
    return chain
