"""The training pipeline's resources: the Prepare and Evaluate Lambdas, the model package group, the state machine
(its definition: ``training_definition.py``) and their grants."""

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import names
from stacks.bias_config import ClarifyColumns
from stacks.config import TrainingConfig
from stacks.constructs.alerts import gate_rejection_metric
from stacks.constructs.image_pull import grant_image_pull, sagemaker_vpc_access
from stacks.constructs.training_baseline import Baselining, grant_baselining
from stacks.constructs.training_baseline import task_timeout_seconds as baseline_timeout_seconds
from stacks.constructs.training_clarify import Clarifying
from stacks.constructs.training_clarify_states import BIAS_GATE_REJECTED_STATE
from stacks.constructs.training_clarify_states import task_timeout_seconds as clarify_timeout_seconds
from stacks.constructs.training_definition import (
    GATE_REJECTED_STATE,
    TrainingDefinitionInputs,
    build_training_definition,
)
from stacks.constructs.training_jobs import TrainingJobInputs, TrainingNetwork, jobs_arn, model_packages_arn
from stacks.constructs.training_lambdas import evaluate_function, prepare_function
from stacks.nag import acknowledge, acknowledge_key_grant, objects_of, skip_checkov

__all__ = ["TrainingNetwork", "TrainingPipeline", "TrainingPipelineSettings"]


@dataclass(frozen=True)
class TrainingPipelineSettings:
    env_name: str
    job_name_prefix: str
    state_machine_name: str
    model_package_group_name: str
    training: TrainingConfig
    curated_extraction_prefix: str
    dataset_job_name: str  # the Glue dataset job (constructs/dataset_job.py) the Dataset step runs
    id_column: str | None  # the spec's primary key: the training job's `id_column`
    # Dev: the batch launcher's function name, invoked after Register to score the run's batch input.
    batch_launcher_name: str | None
    git_commit: str
    log_retention: logs.RetentionDays
    powertools_layer_version: int
    retain: bool
    # The holdout's columns for Clarify (from the extraction spec); required when training.bias is enabled.
    clarify_columns: ClarifyColumns | None = None


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
        predictions: s3.IBucket,
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
        self._artifacts = artifacts

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

        self.prepare = prepare_function(self, settings, key, curated, artifacts, predictions)
        self.evaluate = evaluate_function(self, settings, key, artifacts, repository)
        self._grant_image_pull(training_role, repository)
        self.baselining = Baselining(
            self, "Baselining", env_name=settings.env_name, key=key, artifacts=artifacts, network=network
        )
        self.clarifying: Clarifying | None = None
        if settings.training.bias.enabled:
            if settings.clarify_columns is None:
                raise ValueError("training.bias is enabled but no holdout columns were given (clarify_columns)")
            self.clarifying = Clarifying(
                self,
                "Clarifying",
                settings=settings,
                columns=settings.clarify_columns,
                key=key,
                artifacts=artifacts,
                repository=repository,
                network=network,
            )
        bias = settings.training.bias
        clarify_seconds = 2 * clarify_timeout_seconds(bias) if bias.enabled else 0

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
            # The dataset job, the training (or tuning) job, the Clarify jobs and the baselining job, each bounded by
            # its own timeout.
            timeout=Duration.minutes(
                training.dataset.timeout_minutes
                + wait_minutes * (2 if training.tuning else 1)
                + baseline_timeout_seconds() // 60
                + clarify_seconds // 60
                + 120
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
        )
        self._grant_state_machine()
        self.gate_rejections = gate_rejection_metric(
            self,
            self.log_group,
            env_name=settings.env_name,
            state_names=(GATE_REJECTED_STATE, *((BIAS_GATE_REJECTED_STATE,) if self.clarifying else ())),
        )

    def _grant_image_pull(self, role: iam.IRole, repository: ecr.IRepository) -> None:
        grant_image_pull(
            self,
            "TrainingImagePull",
            role=role,
            repository=repository,
            extra=sagemaker_vpc_access() if self._network else None,
            extra_reason="Training in the VPC: SageMaker creates ENIs whose ids are unknown beforehand."
            if self._network
            else "",
        )

    # --- Definition ------------------------------------------------------------------------------------

    def _model_packages_arn(self) -> str:
        return model_packages_arn(self, self.settings.model_package_group_name)

    def _jobs_arn(self, resource: str) -> str:
        return jobs_arn(self, self.settings.job_name_prefix, resource)

    def _batch_launcher(self) -> lambda_.IFunction | None:
        """By name, not by reference: the batch stack deploys after this one and owns the function."""
        name = self.settings.batch_launcher_name
        if name is None:
            return None
        arn = self._stack.format_arn(
            service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )
        return lambda_.Function.from_function_attributes(self, "BatchLauncher", function_arn=arn, same_environment=True)

    def _definition(self) -> sfn.IChainable:
        # The states are made in this construct, as before the definition had its own module: their ids are the
        # state names, and nothing in the template moves.
        return build_training_definition(
            self,
            TrainingDefinitionInputs(
                job=TrainingJobInputs(
                    env_name=self.settings.env_name,
                    training=self.settings.training,
                    image=self._image,
                    training_role_arn=self._training_role.role_arn,
                    key_arn=self._key.key_arn,
                    network=self._network,
                    id_column=self.settings.id_column,
                ),
                job_name_prefix=self.settings.job_name_prefix,
                model_package_group_name=self.settings.model_package_group_name,
                git_commit=self.settings.git_commit,
                prepare=self.prepare.function,
                evaluate=self.evaluate.function,
                alerts=self._alerts,
                dataset_job_name=self.settings.dataset_job_name,
                baseline=self.baselining.job,
                datasets_objects_arn=self._artifacts.arn_for_objects(f"{names.DATASETS_PREFIX}*"),
                batch_launcher=self._batch_launcher(),
                clarify=self.clarifying.inputs if self.clarifying else None,
            ),
        )

    def _grant_state_machine(self) -> None:
        role = self.state_machine.role
        policy = role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            skip_checkov(
                policy,
                "CKV_AWS_108",
                "s3:GetObject only on the artifacts bucket's datasets/* objects (the ReadDatasetManifest step reads "
                "the dataset run's manifest); checkov cannot resolve the cross-stack bucket ARN.",
            )
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
        grant_baselining(role, scope=self, job_name_prefix=self.settings.job_name_prefix, role=self.baselining.role)
        if self.clarifying is not None:
            self.clarifying.grant_state_machine(role, job_name_prefix=self.settings.job_name_prefix)
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
            f"IAM5[{objects_of(self._artifacts, f'{names.DATASETS_PREFIX}*', self)}]",
            "ReadDatasetManifest reads the manifest.json of the run's dataset, named at run time under datasets/.",
        )
        if self.settings.batch_launcher_name is not None:
            launcher = self._stack.format_arn(
                service="lambda",
                resource="function",
                resource_name=f"{self.settings.batch_launcher_name}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            acknowledge(
                policy,
                f"IAM5[Resource::{launcher}]",
                "CDK's LambdaInvoke grants every version and alias of the batch launcher (ScoreBatch, dev).",
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
