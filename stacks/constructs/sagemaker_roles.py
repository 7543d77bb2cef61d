"""Execution roles SageMaker assumes to touch the data lake. They live beside the buckets they may read.

Each role may write its own CloudWatch log groups and metric namespace, use the data key, and reach only the
bucket prefixes its job needs. Image pulls are granted by the stack that names the image.
"""

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names
from stacks.nag import acknowledge, acknowledge_bucket_grants, acknowledge_key_grant, objects_of


class _SageMakerRole(Construct):
    """A role for SageMaker jobs or endpoints writing to `/aws/sagemaker/<kind>` logs and metrics."""

    def __init__(
        self, scope: Construct, construct_id: str, *, description: str, key: kms.IKey, kind: str, log_group: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description=description
        )
        key.grant_encrypt_decrypt(self.role)
        log_groups = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/{log_group}",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_groups],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PublishMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={
                    "StringLike": {"cloudwatch:namespace": [f"/aws/sagemaker/{kind}*", f"aws/sagemaker/{kind}*"]}
                },
            )
        )
        self.policy = self.role.node.find_child("DefaultPolicy")
        acknowledge_key_grant(self.policy)
        acknowledge(
            self.policy,
            f"IAM5[Resource::{log_groups}]",
            f"SageMaker names these log groups itself: /aws/sagemaker/{kind}, one stream per job or instance.",
        )
        acknowledge(
            self.policy,
            "IAM5[Resource::*]",
            f"cloudwatch:PutMetricData has no resource-level permission; the condition limits it to {kind} metrics.",
        )


class ModelRole(Construct):
    """Serves a model: reads model artifacts, writes data capture."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, endpoint_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description=f"Serves the model of {endpoint_name}: reads model artifacts, writes data capture",
            key=key,
            kind="Endpoints",
            log_group=f"Endpoints/{endpoint_name}*",
        )
        self.role = base.role
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        capture = f"{names.DATA_CAPTURE_PREFIX}{endpoint_name}/*"
        artifacts.grant_read(self.role, models)
        artifacts.grant_put(self.role, capture)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to models/ (read: one folder per training job) and this endpoint's "
            "data-capture/ prefix (put: one object per sampled request).",
            objects_of(artifacts, models),
            objects_of(artifacts, capture),
        )


class MonitorRole(Construct):
    """Runs data-quality monitoring: reads captured requests and the baseline, writes reports."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, endpoint_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description=f"Runs data-quality monitoring of {endpoint_name}",
            key=key,
            kind="Endpoints",
            log_group="ProcessingJobs*",
        )
        self.role = base.role
        reads = (
            f"{names.DATA_CAPTURE_PREFIX}{endpoint_name}/*",
            # The served package's baseline: any training run's folder, named when a package is promoted.
            f"{names.MONITORING_BASELINES_PREFIX}*",
        )
        puts = (f"{names.MONITORING_REPORTS_PREFIX}{endpoint_name}/*",)
        for pattern in reads:
            artifacts.grant_read(self.role, pattern)
        for pattern in puts:
            artifacts.grant_put(self.role, pattern)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to this endpoint's capture (read) and report (put) prefixes, and the baselines "
            "(read: one folder per training run, named when a package is promoted).",
            *(objects_of(artifacts, pattern) for pattern in (*reads, *puts)),
        )


class BaselineRole(Construct):
    """Runs the baselining job (Model Monitor's analyzer): reads the dataset runs' baseline/ CSV, writes
    constraints.json and statistics.json under monitoring/baselines/."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description="Runs Esteira's Model Monitor baselining jobs",
            key=key,
            kind="ProcessingJobs",
            log_group="ProcessingJobs*",
        )
        self.role = base.role
        self.policy = base.policy
        reads = f"{names.DATASETS_PREFIX}{names.RUN_PARTITION_KEY}=*/{names.BASELINE_DATASET_DIR}/*"
        puts = f"{names.MONITORING_BASELINES_PREFIX}*"
        artifacts.grant_read(self.role, reads)
        artifacts.grant_put(self.role, puts)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to the dataset runs' baseline/ CSV (read) and monitoring/baselines/ (put: "
            "one folder per training run, named at run time).",
            objects_of(artifacts, reads, self),
            objects_of(artifacts, puts, self),
        )


class TrainingRole(Construct):
    """Trains: reads only the curated extraction, writes only model artifacts and checkpoints."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        extraction_prefix: str,
        job_name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description="Runs Esteira training and tuning jobs",
            key=key,
            kind="TrainingJobs",
            log_group="TrainingJobs*",
        )
        self.role = base.role
        # The jobs read the dataset job's splits (datasets/run_id=R/), never the curated extraction itself. A job
        # writes only under its own name (models/<job>/, checkpoints/<job>/), and every job is named
        # <job_name_prefix>-...; it reads any model (the champion's is a channel) but replaces or deletes none.
        reads = f"{names.DATASETS_PREFIX}*"
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        own_models = f"{names.MODEL_ARTIFACTS_PREFIX}{job_name_prefix}-*"
        own_checkpoints = f"{names.CHECKPOINTS_PREFIX}{job_name_prefix}-*"
        artifacts.grant_read(self.role, reads)
        artifacts.grant_read(self.role, models)
        artifacts.grant_put(self.role, own_models)
        artifacts.grant_read_write(self.role, own_checkpoints)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to datasets/ (read: the dataset run's train, validation and holdout), models/ "
            "(read: the champion's model is a channel; put under this env's job names only) and checkpoints/ of "
            "this env's jobs (read/write: spot checkpoints are rewritten and pruned). Job names are made per run, so "
            "a pattern is the narrowest.",
            *(objects_of(artifacts, pattern) for pattern in (reads, models, own_models, own_checkpoints)),
            extra=("Action::s3:DeleteObject*",),
        )


class TransformRole(Construct):
    """Runs batch transforms: reads model artifacts and batch input, writes batch output."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, predictions: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description="Runs Esteira batch transform jobs",
            key=key,
            kind="TransformJobs",
            log_group="TransformJobs*",
        )
        self.role = base.role
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        inputs = f"{names.BATCH_INPUT_PREFIX}*"
        outputs = f"{names.BATCH_OUTPUT_PREFIX}*"
        artifacts.grant_read(self.role, models)
        predictions.grant_read(self.role, inputs)
        predictions.grant_put(self.role, outputs)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to models/ (read), batch-input/ (read) and batch-output/ (put).",
            objects_of(artifacts, models),
            objects_of(predictions, inputs),
            objects_of(predictions, outputs),
        )


class ClarifyRole(Construct):
    """Runs the Clarify jobs: reads the run's holdout and analysis configs, writes the analyses, and serves the
    candidate on a shadow endpoint named under ``endpoint_name_prefix`` (Clarify creates, calls and deletes it)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, endpoint_name_prefix: str
    ) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description="Runs Esteira's SageMaker Clarify bias and explainability jobs",
            key=key,
            kind="ProcessingJobs",
            log_group="ProcessingJobs*",
        )
        self.role = base.role
        self.policy = base.policy
        holdouts = f"{names.DATASETS_PREFIX}{names.RUN_PARTITION_KEY}=*/holdout/*"
        clarify = f"{names.CLARIFY_PREFIX}*"
        artifacts.grant_read(self.role, holdouts)
        artifacts.grant_read(self.role, clarify)
        artifacts.grant_put(self.role, clarify)
        stack = Stack.of(self)
        shadow = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{endpoint_name_prefix}*")
            for kind in ("endpoint", "endpoint-config")
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ShadowEndpoint",
                actions=[
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:InvokeEndpoint",
                    "sagemaker:DeleteEndpoint",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:AddTags",
                ],
                resources=shadow,
            )
        )
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grants limited to the dataset runs' holdout/ (read) and monitoring/clarify/ (read the "
            "analysis configs, write the analyses: one folder per training run, named at run time).",
            objects_of(artifacts, holdouts, self),
            objects_of(artifacts, clarify, self),
        )
        for arn in shadow:
            acknowledge(
                base.policy,
                f"IAM5[Resource::{arn}]",
                "Clarify names its shadow endpoint (and config) per job, under the endpoint_name_prefix the analysis "
                "config gives it.",
            )


class ClarifyModelRole(Construct):
    """The execution role of a run's temporary model (the candidate Clarify serves): reads model artifacts."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        base = _SageMakerRole(
            self,
            "Base",
            description="Serves the candidate model to SageMaker Clarify's shadow endpoint: reads model artifacts",
            key=key,
            kind="Endpoints",
            log_group="Endpoints/*",
        )
        self.role = base.role
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        artifacts.grant_read(self.role, models)
        acknowledge_bucket_grants(
            base.policy,
            "CDK bucket grant limited to models/ (read: one folder per training job).",
            objects_of(artifacts, models, self),
        )
