"""The training state machine: prepare, train (or tune), evaluate against the gate and champion, register."""

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks import names
from stacks.config import TrainingConfig, TuningConfig
from stacks.constructs.image_pull import grant_image_pull
from stacks.constructs.python_function import PythonFunction
from stacks.nag import acknowledge, acknowledge_bucket_grants, acknowledge_key_grant, objects_of

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
SAGEMAKER_TRANSIENT_ERRORS = [
    "SageMaker.AmazonSageMakerException",
    "SageMaker.ThrottlingException",
    "SageMaker.ResourceLimitExceededException",
    "ThrottlingException",
]
TRAINING_RESULT = {
    "training_job_name.$": "$.TrainingJobName",
    "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
    "training_image.$": "$.AlgorithmSpecification.TrainingImage",
}


@dataclass(frozen=True)
class TrainingNetwork:
    subnet_ids: list[str]
    security_group_ids: list[str]


@dataclass(frozen=True)
class TrainingPipelineSettings:
    env_name: str
    job_name_prefix: str
    state_machine_name: str
    model_package_group_name: str
    training: TrainingConfig
    curated_extraction_prefix: str
    git_commit: str
    log_retention: logs.RetentionDays
    powertools_layer_version: int
    retain: bool


class TrainingPipeline(Construct):
    """Exposes `state_machine` and `model_package_group_name`. Training never touches an endpoint."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingPipelineSettings,
        key: kms.IKey,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        repository: ecr.IRepository,
        training_role: iam.IRole,
        alerts: sns.ITopic,
        network: TrainingNetwork | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self._stack = Stack.of(self)
        self._key = key
        self._training_role = training_role
        self._network = network
        # Built from the repository name, not `repository_uri_for_tag`: that splits the repository ARN, and
        # cfn-lint rejects Fn::Split over a cross-stack Fn::GetStackOutput.
        self._image = (
            f"{self._stack.account}.dkr.ecr.{self._stack.region}.{self._stack.url_suffix}/"
            f"{repository.repository_name}:{settings.training.image_tag}"
        )
        self._alerts = alerts

        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=settings.model_package_group_name,
            model_package_group_description=f"Esteira models for {settings.env_name}, gated and with lineage",
        )
        self.model_package_group.apply_removal_policy(
            RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY
        )
        self.model_package_group_name = settings.model_package_group_name

        self.prepare = self._prepare_function(curated, artifacts)
        self.evaluate = self._evaluate_function(artifacts, repository)
        self._grant_image_pull(training_role, repository)

        self.log_group = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"/aws/vendedlogs/states/{settings.state_machine_name}",
            encryption_key=key,
            retention=settings.log_retention,
            removal_policy=RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY,
        )
        training = settings.training
        wait_minutes = training.max_wait_minutes if training.spot else training.max_runtime_minutes
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=settings.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.minutes(wait_minutes * (2 if training.tuning else 1) + 120),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        self._grant_state_machine()

    # --- Lambdas -------------------------------------------------------------------------------------

    def _function(
        self, construct_id: str, name: str, handler: str, description: str, env: dict[str, str]
    ) -> PythonFunction:
        return PythonFunction(
            self,
            construct_id,
            function_name=f"{self.settings.job_name_prefix}-{name}",
            handler=handler,
            description=description,
            environment=env,
            key=self._key,
            log_retention=self.settings.log_retention,
            powertools_layer_version=self.settings.powertools_layer_version,
            timeout=Duration.minutes(2),
            retain_logs=self.settings.retain,
        )

    def _prepare_function(self, curated: s3.IBucket, artifacts: s3.IBucket) -> PythonFunction:
        prefix = self.settings.curated_extraction_prefix
        prepare = self._function(
            "PrepareFunction",
            "train-prepare",
            "training.prepare.handler.handler",
            "Resolves the training input from the extraction manifest and names the training job",
            {
                "CURATED_URI": curated.s3_url_for_object(prefix),
                "ARTIFACTS_BUCKET": artifacts.bucket_name,
                "MODEL_PREFIX": names.MODEL_ARTIFACTS_PREFIX,
                "CHECKPOINT_PREFIX": names.CHECKPOINTS_PREFIX,
                "JOB_NAME_PREFIX": self.settings.job_name_prefix,
            },
        )
        manifests = f"{prefix}_manifests/*"
        curated.grant_read(prepare.role, manifests)
        self._key.grant_decrypt(prepare.role)
        policy = prepare.role.node.find_child("DefaultPolicy")
        for finding in ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*"):
            acknowledge(policy, f"IAM5[{finding}]", "CDK grant_read limited to the extraction's _manifests/ prefix.")
        acknowledge(
            policy,
            f"IAM5[{objects_of(curated, manifests, self)}]",
            "Prepare reads the manifest of one extraction run, named by its run id.",
        )
        return prepare

    def _evaluate_function(self, artifacts: s3.IBucket, repository: ecr.IRepository) -> PythonFunction:
        gate = self.settings.training.gate
        evaluate = self._function(
            "EvaluateFunction",
            "train-evaluate",
            "training.evaluate.handler.handler",
            "Reads the trained model's evaluation and decides pass or fail against the gate and the champion",
            {
                "MODEL_PACKAGE_GROUP": self.settings.model_package_group_name,
                "GATE_METRIC": gate.metric,
                "GATE_THRESHOLD": str(gate.threshold),
                "MIN_IMPROVEMENT": str(gate.min_improvement),
                "ARTIFACTS_BUCKET": artifacts.bucket_name,
                "MODEL_PREFIX": names.MODEL_ARTIFACTS_PREFIX,
            },
        )
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        artifacts.grant_read(evaluate.role, models)
        artifacts.grant_put(evaluate.role, models)
        self._key.grant_encrypt_decrypt(evaluate.role)
        evaluate.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadChampion",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[self._model_packages_arn()],
            )
        )
        evaluate.role.add_to_policy(
            iam.PolicyStatement(sid="ListPackages", actions=["sagemaker:ListModelPackages"], resources=["*"])
        )
        evaluate.role.add_to_policy(
            iam.PolicyStatement(
                sid="ResolveImageDigest", actions=["ecr:DescribeImages"], resources=[repository.repository_arn]
            )
        )
        policy = evaluate.role.node.find_child("DefaultPolicy")
        acknowledge_bucket_grants(
            policy,
            "CDK grants limited to models/: reads the job's output tarball, writes its evaluation.json.",
            objects_of(artifacts, models, self),
        )
        acknowledge_key_grant(policy)
        acknowledge(
            policy,
            f"IAM5[Resource::{self._model_packages_arn()}]",
            "Any version of this environment's model package group can be the champion.",
        )
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "sagemaker:ListModelPackages has no resource-level permission; X-Ray tracing neither.",
        )
        return evaluate

    def _grant_image_pull(self, role: iam.IRole, repository: ecr.IRepository) -> None:
        vpc_access = iam.PolicyStatement(
            actions=[
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            resources=["*"],
        )
        grant_image_pull(
            self,
            "TrainingImagePull",
            role=role,
            repository=repository,
            extra=vpc_access if self._network else None,
            extra_reason="Training in the VPC: SageMaker creates ENIs whose ids are unknown beforehand."
            if self._network
            else "",
        )

    # --- Definition ------------------------------------------------------------------------------------

    def _model_packages_arn(self) -> str:
        return self._stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.settings.model_package_group_name}/*"
        )

    def _algorithm(self) -> dict[str, Any]:
        return {
            "TrainingImage": self._image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [dict(definition) for definition in names.TRAINING_METRIC_DEFINITIONS],
        }

    def _job_definition(self, *, static_hyperparameters_key: str) -> dict[str, Any]:
        training = self.settings.training
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": training.max_runtime_minutes * 60}
        if training.spot:
            stopping["MaxWaitTimeInSeconds"] = training.max_wait_minutes * 60
        definition: dict[str, Any] = {
            "AlgorithmSpecification": self._algorithm(),
            "RoleArn": self._training_role.role_arn,
            static_hyperparameters_key: {key: str(value) for key, value in sorted(training.hyperparameters.items())},
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": "$.prepare.train_uri",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            ],
            "OutputDataConfig": {"S3OutputPath.$": "$.prepare.output_uri", "KmsKeyId": self._key.key_arn},
            "ResourceConfig": {
                "InstanceType": training.instance_type,
                "InstanceCount": training.instance_count,
                "VolumeSizeInGB": training.volume_size_gb,
                "VolumeKmsKeyId": self._key.key_arn,
            },
            "StoppingCondition": stopping,
            "EnableManagedSpotTraining": training.spot,
            "CheckpointConfig": {"S3Uri.$": "$.prepare.checkpoint_uri", "LocalPath": CHECKPOINT_LOCAL_PATH},
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        }
        if self._network:
            definition["VpcConfig"] = {
                "Subnets": self._network.subnet_ids,
                "SecurityGroupIds": self._network.security_group_ids,
            }
        return definition

    def _task_timeout_seconds(self) -> int:
        training = self.settings.training
        minutes = training.max_wait_minutes if training.spot else training.max_runtime_minutes
        return (minutes + 30) * 60

    def _train_state(self) -> sfn.CustomState:
        parameters = {
            "TrainingJobName.$": "$.prepare.training_job_name",
            **self._job_definition(static_hyperparameters_key="HyperParameters"),
            "Tags": [
                {"Key": "project", "Value": names.PROJECT},
                {"Key": "environment", "Value": self.settings.env_name},
            ],
        }
        return sfn.CustomState(
            self,
            "Train",
            state_json={
                "Type": "Task",
                "Comment": "Managed-spot training job with S3 checkpoints; the task stops the job if it times out",
                "Resource": f"arn:{self._stack.partition}:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "ResultSelector": TRAINING_RESULT,
                "ResultPath": "$.training",
                "TimeoutSeconds": self._task_timeout_seconds(),
            },
        )

    def _tune_state(self, tuning: TuningConfig) -> sfn.CustomState:
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
        tuned = set(tuning.ranges)
        job = self._job_definition(static_hyperparameters_key="StaticHyperParameters")
        job["StaticHyperParameters"] = {k: v for k, v in job["StaticHyperParameters"].items() if k not in tuned}
        return sfn.CustomState(
            self,
            "Tune",
            state_json={
                "Type": "Task",
                "Comment": "Hyperparameter tuning; the best training job is carried on",
                "Resource": f"arn:{self._stack.partition}:states:::sagemaker:createHyperParameterTuningJob.sync",
                "Parameters": {
                    "HyperParameterTuningJobName.$": "$.prepare.tuning_job_name",
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
                        "ParameterRanges": {key: value for key, value in ranges.items() if value},
                        "TrainingJobEarlyStoppingType": "Auto",
                    },
                    "TrainingJobDefinition": job,
                },
                "ResultSelector": {"best_training_job_name.$": "$.BestTrainingJob.TrainingJobName"},
                "ResultPath": "$.tuning",
                "TimeoutSeconds": self._task_timeout_seconds() * 2,
            },
        )

    def _sagemaker_call(
        self, construct_id: str, action: str, parameters: dict[str, Any], **kwargs: Any
    ) -> sfn.TaskStateBase:
        return tasks.CallAwsService(
            self,
            construct_id,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=[self._jobs_arn("training-job"), self._jobs_arn("hyper-parameter-tuning-job")],
            **kwargs,
        )

    def _jobs_arn(self, resource: str) -> str:
        return self._stack.format_arn(
            service="sagemaker", resource=resource, resource_name=f"{self.settings.job_name_prefix}-*"
        )

    def _definition(self) -> sfn.IChainable:
        settings = self.settings
        training = settings.training
        failure_message = sfn.TaskInput.from_object(
            {
                "outcome": "failed",
                "environment": settings.env_name,
                "execution": sfn.JsonPath.execution_id,
                "error": sfn.JsonPath.string_at("$.error.Error"),
                "cause": sfn.JsonPath.string_at("$.error.Cause"),
            }
        )
        notify_failure = tasks.SnsPublish(
            self,
            "NotifyFailure",
            topic=self._alerts,
            subject=f"Esteira {settings.env_name}: training failed",
            message=failure_message,
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "Failed", error_path="$.error.Error", cause_path="$.error.Cause"))

        def guarded(state: Any) -> Any:
            state.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")
            return state

        prepare = guarded(
            tasks.LambdaInvoke(
                self,
                "Prepare",
                lambda_function=self.prepare.function,
                payload=sfn.TaskInput.from_object(
                    {"run_id": sfn.JsonPath.string_at("$.run_id"), "execution": sfn.JsonPath.execution_name}
                ),
                payload_response_only=True,
                result_path="$.prepare",
                retry_on_service_exceptions=True,
            )
        )

        if training.tuning is None:
            fit = self._train_state()
            stop = self._sagemaker_call(
                "StopTrainingJob",
                "stopTrainingJob",
                {"TrainingJobName": sfn.JsonPath.string_at("$.prepare.training_job_name")},
                result_path=sfn.JsonPath.DISCARD,
            )
            fit_chain = sfn.Chain.start(fit)
        else:
            fit = self._tune_state(training.tuning)
            stop = self._sagemaker_call(
                "StopTuningJob",
                "stopHyperParameterTuningJob",
                {"HyperParameterTuningJobName": sfn.JsonPath.string_at("$.prepare.tuning_job_name")},
                result_path=sfn.JsonPath.DISCARD,
            )
            describe_best = guarded(
                self._sagemaker_call(
                    "DescribeBestTrainingJob",
                    "describeTrainingJob",
                    {"TrainingJobName": sfn.JsonPath.string_at("$.tuning.best_training_job_name")},
                    result_selector=TRAINING_RESULT,
                    result_path="$.training",
                )
            )
            fit_chain = sfn.Chain.start(fit).next(describe_best)
        fit.add_retry(errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(30), backoff_rate=2, max_attempts=3)
        # No orphaned jobs: a timed-out wait stops the job before reporting the failure.
        stop.add_catch(notify_failure, errors=["States.ALL"], result_path="$.stop_error")
        stop.next(notify_failure)
        fit.add_catch(stop, errors=["States.Timeout"], result_path="$.error")
        fit.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")

        evaluate = guarded(
            tasks.LambdaInvoke(
                self,
                "Evaluate",
                lambda_function=self.evaluate.function,
                payload=sfn.TaskInput.from_object(
                    {
                        "training_job_name": sfn.JsonPath.string_at("$.training.training_job_name"),
                        "model_artifacts": sfn.JsonPath.string_at("$.training.model_artifacts"),
                        "training_image": sfn.JsonPath.string_at("$.training.training_image"),
                        "train_uri": sfn.JsonPath.string_at("$.prepare.train_uri"),
                        "manifest_uri": sfn.JsonPath.string_at("$.prepare.manifest_uri"),
                        "lineage": {"execution": sfn.JsonPath.execution_id, "git_commit": settings.git_commit},
                    }
                ),
                payload_response_only=True,
                result_path="$.evaluation",
                retry_on_service_exceptions=True,
            )
        )

        register = guarded(
            self._sagemaker_call(
                "Register",
                "createModelPackage",
                {
                    "ModelPackageGroupName": settings.model_package_group_name,
                    "ModelPackageDescription": sfn.JsonPath.string_at("$.evaluation.reason"),
                    "ModelApprovalStatus": training.approval,
                    "InferenceSpecification": {
                        "Containers": [
                            {
                                "Image": sfn.JsonPath.string_at("$.training.training_image"),
                                "ModelDataUrl": sfn.JsonPath.string_at("$.training.model_artifacts"),
                            }
                        ],
                        "SupportedContentTypes": list(names.MODEL_REQUEST_CONTENT_TYPES),
                        "SupportedResponseMIMETypes": list(names.MODEL_RESPONSE_CONTENT_TYPES),
                    },
                    "ModelMetrics": {
                        "ModelQuality": {
                            "Statistics": {
                                "ContentType": "application/json",
                                "S3Uri": sfn.JsonPath.string_at("$.evaluation.evaluation_uri"),
                            }
                        }
                    },
                    "CustomerMetadataProperties": sfn.JsonPath.object_at("$.evaluation.customer_metadata"),
                },
                result_selector={"model_package_arn.$": "$.ModelPackageArn"},
                result_path="$.registration",
            )
        )
        register.add_retry(
            errors=SAGEMAKER_TRANSIENT_ERRORS, interval=Duration.seconds(5), backoff_rate=2, max_attempts=4
        )

        notify_registered = tasks.SnsPublish(
            self,
            "NotifyRegistered",
            topic=self._alerts,
            subject=f"Esteira {settings.env_name}: model registered",
            message=sfn.TaskInput.from_object(
                {
                    "outcome": "registered",
                    "environment": settings.env_name,
                    "model_package_arn": sfn.JsonPath.string_at("$.registration.model_package_arn"),
                    "approval": training.approval,
                    "reason": sfn.JsonPath.string_at("$.evaluation.reason"),
                    "execution": sfn.JsonPath.execution_id,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        notify_rejected = tasks.SnsPublish(
            self,
            "NotifyRejected",
            topic=self._alerts,
            subject=f"Esteira {settings.env_name}: model rejected by the quality gate",
            message=sfn.TaskInput.from_object(
                {
                    "outcome": "rejected",
                    "environment": settings.env_name,
                    "reason": sfn.JsonPath.string_at("$.evaluation.reason"),
                    "training_job_name": sfn.JsonPath.string_at("$.training.training_job_name"),
                    "execution": sfn.JsonPath.execution_id,
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        gate_failed = sfn.Fail(self, "GateFailed", error="QualityGateFailed", cause_path="$.evaluation.reason")
        for notify in (notify_registered, notify_rejected):
            notify.add_catch(notify_failure, errors=["States.ALL"], result_path="$.error")

        gate = (
            sfn.Choice(self, "Gate")
            .when(sfn.Condition.boolean_equals("$.evaluation.passed", True), register.next(notify_registered))
            .otherwise(notify_rejected.next(gate_failed))
        )
        notify_registered.next(sfn.Succeed(self, "Registered"))
        trained = fit_chain.next(evaluate).next(gate)
        # An extraction that added no rows leaves the data as the last training saw it: nothing to do.
        new_data = (
            sfn.Choice(self, "NewData")
            .when(sfn.Condition.number_equals("$.prepare.rows", 0), sfn.Succeed(self, "NothingNew"))
            .otherwise(trained)
        )
        chain: sfn.IChainable = prepare.next(new_data)
        return chain

    def _grant_state_machine(self) -> None:
        role = self.state_machine.role
        for action_prefix, resource in (
            ("TrainingJob", "training-job"),
            ("HyperParameterTuningJob", "hyper-parameter-tuning-job"),
        ):
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        f"sagemaker:Create{action_prefix}",
                        f"sagemaker:Describe{action_prefix}",
                        f"sagemaker:Stop{action_prefix}",
                        "sagemaker:AddTags",
                        "sagemaker:ListTags",
                    ],
                    resources=[self._jobs_arn(resource)],
                )
            )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._training_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    self._stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name=f"StepFunctionsGetEventsForSageMaker{kind}JobsRule",
                    )
                    for kind in ("Training", "Tuning")
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModelPackage"],
                resources=[
                    self._model_packages_arn(),
                    self._stack.format_arn(
                        service="sagemaker",
                        resource="model-package-group",
                        resource_name=self.settings.model_package_group_name,
                    ),
                ],
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            f"IAM5[Resource::{self._jobs_arn('training-job')}]",
            "Training jobs are named by Prepare at run time under this environment's prefix.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::{self._jobs_arn('hyper-parameter-tuning-job')}]",
            "Tuning jobs are named by Prepare at run time under this environment's prefix.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::{self._model_packages_arn()}]",
            "Registering creates the next version in this environment's model package group.",
        )
        acknowledge_key_grant(policy, "State machine encryption with the environment's data key only.")
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery (CreateLogDelivery and related) have no resource-level "
            "permissions; CDK adds them for tracing_enabled and logging.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::<{self._stack.get_logical_id(self.prepare.function.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "CDK's LambdaInvoke grants every version and alias of the Prepare function.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::<{self._stack.get_logical_id(self.evaluate.function.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "CDK's LambdaInvoke grants every version and alias of the Evaluate function.",
        )
