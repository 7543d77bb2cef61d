"""The training pipeline's Lambdas: Prepare, Evaluate and the quality publisher, their settings and grants (used by
``training_pipeline.py``, on its scope: their construct ids and so their logical ids are unchanged)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct, IConstruct

from esteira_contracts.layout import EVALUATION_FILENAME, MODEL_QUALITY_PREFIX
from esteira_contracts.model_quality import QualityPublisherSettings
from esteira_contracts.training import EvaluateSettings, PrepareSettings
from stacks import names
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.training_jobs import model_packages_arn
from stacks.nag import acknowledge, acknowledge_bucket_grants, acknowledge_key_grant, objects_of

if TYPE_CHECKING:
    from stacks.constructs.training_pipeline import TrainingPipelineSettings


def _function(
    scope: Construct,
    settings: TrainingPipelineSettings,
    key: kms.IKey,
    construct_id: str,
    name: str,
    handler: str,
    description: str,
    env: dict[str, str],
) -> PythonFunction:
    return PythonFunction(
        scope,
        construct_id,
        function_name=f"{settings.job_name_prefix}-{name}",
        handler=handler,
        description=description,
        environment=env,
        key=key,
        log_retention=settings.log_retention,
        powertools_layer_version=settings.powertools_layer_version,
        timeout=Duration.minutes(2),
        retain_logs=settings.retain,
    )


def _grant_read_champion(role: iam.Role, packages: str) -> None:
    """Both Lambdas read the champion: any version of this environment's package group, found by listing."""
    role.add_to_policy(
        iam.PolicyStatement(sid="ReadChampion", actions=["sagemaker:DescribeModelPackage"], resources=[packages])
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="ListPackages", actions=["sagemaker:ListModelPackages"], resources=["*"])
    )


def _acknowledge_read_champion(policy: IConstruct, packages: str, reason: str) -> None:
    acknowledge(policy, f"IAM5[Resource::{packages}]", reason)
    acknowledge(
        policy,
        "IAM5[Resource::*]",
        "sagemaker:ListModelPackages has no resource-level permission; X-Ray tracing neither.",
    )


def prepare_function(
    scope: Construct,
    settings: TrainingPipelineSettings,
    key: kms.IKey,
    curated: s3.IBucket,
    artifacts: s3.IBucket,
    predictions: s3.IBucket,
) -> PythonFunction:
    """Prepare: resolves the run's input, names its jobs; reads the extraction manifests and the champion."""
    prefix = settings.curated_extraction_prefix
    packages = model_packages_arn(scope, settings.model_package_group_name)
    prepare = _function(
        scope,
        settings,
        key,
        "PrepareFunction",
        "train-prepare",
        "training.prepare.handler.handler",
        "Resolves the training input from the extraction manifest, names the job, its dataset run and champion",
        PrepareSettings(
            curated_uri=curated.s3_url_for_object(prefix),
            artifacts_bucket=artifacts.bucket_name,
            model_prefix=names.MODEL_ARTIFACTS_PREFIX,
            checkpoint_prefix=names.CHECKPOINTS_PREFIX,
            datasets_prefix=names.DATASETS_PREFIX,
            predictions_bucket=predictions.bucket_name,
            batch_input_prefix=names.BATCH_INPUT_PREFIX,
            baselines_prefix=names.MONITORING_BASELINES_PREFIX,
            model_package_group=settings.model_package_group_name,
            job_name_prefix=settings.job_name_prefix,
        ).to_env(),
    )
    manifests = f"{prefix}_manifests/*"
    curated.grant_read(prepare.role, manifests)
    key.grant_decrypt(prepare.role)
    policy = prepare.role.node.find_child("DefaultPolicy")
    for finding in ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*"):
        acknowledge(policy, f"IAM5[{finding}]", "CDK grant_read limited to the extraction's _manifests/ prefix.")
    acknowledge(
        policy,
        f"IAM5[{objects_of(curated, manifests, scope)}]",
        "Prepare reads the manifest of one extraction run, named by its run id.",
    )
    _grant_read_champion(prepare.role, packages)
    _acknowledge_read_champion(
        policy,
        packages,
        "Any version of this environment's model package group can be the champion scored on the holdout.",
    )
    return prepare


def evaluate_function(
    scope: Construct,
    settings: TrainingPipelineSettings,
    key: kms.IKey,
    artifacts: s3.IBucket,
    repository: ecr.IRepository,
) -> PythonFunction:
    """Evaluate: the gate; reads the job's output, publishes its evaluation.json, compares with the champion."""
    gate = settings.training.gate
    packages = model_packages_arn(scope, settings.model_package_group_name)
    evaluate = _function(
        scope,
        settings,
        key,
        "EvaluateFunction",
        "train-evaluate",
        "training.evaluate.handler.handler",
        "Reads the trained model's evaluation and decides pass or fail against the gate and the champion",
        EvaluateSettings.for_gate(
            gate, model_package_group=settings.model_package_group_name, artifacts_bucket=artifacts.bucket_name
        ).to_env(),
    )
    models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
    # It publishes only models/<training job>/evaluation.json, for this env's jobs: no model file.
    evaluations = f"{names.MODEL_ARTIFACTS_PREFIX}{settings.job_name_prefix}-*/{EVALUATION_FILENAME}"
    artifacts.grant_read(evaluate.role, models)
    artifacts.grant_put(evaluate.role, evaluations)
    key.grant_encrypt_decrypt(evaluate.role)
    _grant_read_champion(evaluate.role, packages)
    evaluate.role.add_to_policy(
        iam.PolicyStatement(
            sid="ResolveImageDigest", actions=["ecr:DescribeImages"], resources=[repository.repository_arn]
        )
    )
    policy = evaluate.role.node.find_child("DefaultPolicy")
    acknowledge_bucket_grants(
        policy,
        "CDK grants limited to models/: reads the job's output tarball, writes its evaluation.json only.",
        objects_of(artifacts, models, scope),
        objects_of(artifacts, evaluations, scope),
    )
    acknowledge_key_grant(policy)
    _acknowledge_read_champion(
        policy, packages, "Any version of this environment's model package group can be the champion."
    )
    return evaluate


def quality_function(
    scope: Construct, settings: TrainingPipelineSettings, key: kms.IKey, artifacts: s3.IBucket
) -> PythonFunction:
    """The quality publisher: reads a dataset run's model-quality report, puts its metrics in the env's namespace."""
    contract = QualityPublisherSettings.for_env(
        settings.env_name, artifacts.bucket_name, settings.training.quality.min_labelled_predictions
    )
    publisher = _function(
        scope,
        settings,
        key,
        "QualityPublisherFunction",
        "train-quality",
        "training.quality.handler.handler",
        "Publishes the dataset run's ground-truth model-quality report as CloudWatch metrics",
        contract.to_env(),
    )
    reports = artifacts.arn_for_objects(f"{MODEL_QUALITY_PREFIX}*")
    role = publisher.role
    # Exactly the calls the logic makes: read one report under monitoring/model-quality/, put metrics in one namespace.
    role.add_to_policy(iam.PolicyStatement(sid="ReadQualityReports", actions=["s3:GetObject"], resources=[reports]))
    key.grant_decrypt(role)
    role.add_to_policy(
        iam.PolicyStatement(
            sid="PutQualityMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": contract.namespace}},
        )
    )
    policy = role.node.find_child("DefaultPolicy")
    acknowledge(
        policy,
        f"IAM5[{objects_of(artifacts, f'{MODEL_QUALITY_PREFIX}*', scope)}]",
        "The publisher reads the report of the dataset run it is given, named at run time under its prefix.",
    )
    acknowledge(
        policy,
        "IAM5[Resource::*]",
        "cloudwatch:PutMetricData has no resource-level permission (conditioned on the namespace); X-Ray neither.",
    )
    return publisher
