"""The Clarify steps' resources: the jobs' role and the temporary model's, their image pulls, the config writer and
bias gate Lambdas, and the state machine's grants. The states are in ``training_clarify_states.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from esteira_contracts.bias import ANALYSIS_FILENAME, BIAS_DIR, BiasGateSettings, ClarifySettings, facet_text
from stacks import names
from stacks.bias_config import ClarifyColumns
from stacks.clarify_images import clarify_image, clarify_repository_arn
from stacks.constructs.image_pull import grant_image_pull, sagemaker_vpc_access
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.sagemaker_roles import ClarifyModelRole, ClarifyRole
from stacks.constructs.training_clarify_states import ClarifyInputs
from stacks.constructs.training_jobs import TrainingNetwork, jobs_arn
from stacks.nag import acknowledge, acknowledge_key_grant, objects_of

if TYPE_CHECKING:
    from stacks.constructs.training_pipeline import TrainingPipelineSettings


class Clarifying(Construct):
    """Exposes ``inputs`` (for the definition), ``role`` and ``model_role``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: TrainingPipelineSettings,
        columns: ClarifyColumns,
        key: kms.IKey,
        artifacts: s3.IBucket,
        repository: ecr.IRepository,
        network: TrainingNetwork | None,
    ) -> None:
        super().__init__(scope, construct_id)
        region = Stack.of(self).region
        bias = settings.training.bias
        clarify_settings = ClarifySettings(
            artifacts_bucket=artifacts.bucket_name,
            clarify_prefix=names.CLARIFY_PREFIX,
            job_name_prefix=settings.job_name_prefix,
            headers=columns.headers,
            label=columns.label,
            excluded_columns=columns.excluded,
            facets=tuple(facet_text(f.column, f.values_or_threshold) for f in bias.facets),
            label_values=tuple(str(value) for value in bias.label_values_or_threshold),
            probability_threshold=bias.probability_threshold,
            shap_num_samples=bias.shap.num_samples,
            shap_agg_method=bias.shap.agg_method,
            shap_num_clusters=bias.shap.num_clusters,
            shap_seed=bias.shap.seed,
            shap_use_logit=bias.shap.use_logit,
            predictor_instance_type=bias.predictor_instance_type,
            predictor_instance_count=bias.predictor_instance_count,
        )
        vpc = sagemaker_vpc_access() if network else None
        vpc_reason = "SageMaker creates ENIs in the VPC whose ids are unknown beforehand." if network else ""
        self.role = ClarifyRole(
            self, "Role", key=key, artifacts=artifacts, endpoint_name_prefix=clarify_settings.endpoint_name_prefix
        ).role
        grant_image_pull(
            self,
            "ClarifyImagePull",
            role=self.role,
            repository=ecr.Repository.from_repository_arn(self, "ClarifyImage", clarify_repository_arn(region)),
            extra=vpc,
            extra_reason=vpc_reason,
        )
        self.model_role = ClarifyModelRole(self, "ModelRole", key=key, artifacts=artifacts).role
        grant_image_pull(
            self, "ModelImagePull", role=self.model_role, repository=repository, extra=vpc, extra_reason=vpc_reason
        )
        write_config = self._function(
            settings,
            key,
            "ConfigFunction",
            "train-clarify-config",
            "training.clarify.handler.handler",
            "Writes the run's SageMaker Clarify analysis configs and names its temporary model and jobs",
            clarify_settings.to_env(),
        )
        clarify = f"{names.CLARIFY_PREFIX}*"
        artifacts.grant_put(write_config.role, clarify)
        key.grant_encrypt_decrypt(write_config.role)
        gate = self._function(
            settings,
            key,
            "GateFunction",
            "train-bias-gate",
            "training.bias_gate.handler.handler",
            "Checks Clarify's bias analysis against the bias gate (training.bias.gate)",
            BiasGateSettings.for_gate(bias.gate).to_env(),
        )
        analyses = f"{names.CLARIFY_PREFIX}*/{BIAS_DIR}/{ANALYSIS_FILENAME}"
        artifacts.grant_read(gate.role, analyses)
        key.grant_decrypt(gate.role)
        for function, pattern, reason in (
            (write_config, clarify, "Writes one training run's analysis configs under monitoring/clarify/."),
            (gate, analyses, "Reads one training run's bias analysis.json under monitoring/clarify/."),
        ):
            policy = function.role.node.find_child("DefaultPolicy")
            for finding in ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:Put*"):
                acknowledge(policy, f"IAM5[{finding}]", f"CDK bucket grant limited to monitoring/clarify/. {reason}")
            acknowledge(policy, f"IAM5[{objects_of(artifacts, pattern, self)}]", reason)
            acknowledge(policy, "IAM5[Action::s3:Abort*]", reason)
            acknowledge_key_grant(policy)
        self.inputs = ClarifyInputs(
            env_name=settings.env_name,
            bias=bias,
            image=clarify_image(region),
            role_arn=self.role.role_arn,
            model_role_arn=self.model_role.role_arn,
            key_arn=key.key_arn,
            network=network,
            write_config=write_config.function,
            bias_gate=gate.function,
        )

    def _function(
        self,
        settings: TrainingPipelineSettings,
        key: kms.IKey,
        construct_id: str,
        name: str,
        handler: str,
        description: str,
        env: dict[str, str],
    ) -> PythonFunction:
        return PythonFunction(
            self,
            construct_id,
            function_name=f"{settings.job_name_prefix}-{name}",
            handler=handler,
            description=description,
            environment=env,
            key=key,
            log_retention=settings.log_retention,
            powertools_layer_version=settings.powertools_layer_version,
            timeout=Duration.minutes(1),
            retain_logs=settings.retain,
        )

    def grant_state_machine(self, role: iam.IRole, *, job_name_prefix: str) -> None:
        """CreateModel and DeleteModel of the run's model, and the roles the model and the jobs run as (the
        processing jobs' own calls are granted with the baselining job's, on the same prefix)."""
        models = jobs_arn(self, job_name_prefix, "model")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateModel", "sagemaker:DeleteModel", "sagemaker:AddTags"], resources=[models]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn, self.model_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        policy = role.node.find_child("DefaultPolicy")
        stack = Stack.of(self)
        for name, function in (("WriteClarifyConfig", self.inputs.write_config), ("BiasGate", self.inputs.bias_gate)):
            acknowledge(
                policy,
                f"IAM5[Resource::<{stack.get_logical_id(function.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
                f"CDK's LambdaInvoke grants every version and alias of the {name} function.",
            )
        acknowledge(
            policy,
            f"IAM5[Resource::{models}]",
            "Each run's temporary Clarify model is named like its training job, by Prepare at run time under this "
            "env's prefix.",
        )
