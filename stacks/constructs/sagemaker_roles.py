"""Execution roles SageMaker assumes to touch the data lake. They live beside the buckets they may read."""

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names
from stacks.nag import acknowledge, objects_of

KMS_GRANT_FINDINGS = ("Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
S3_GRANT_FINDINGS = ("Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:Abort*")


class ModelRole(Construct):
    """Serves a model: reads model artifacts, writes data capture. Image pull is granted by the serving stack."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, endpoint_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Serves the model of {endpoint_name}: reads model artifacts, writes data capture",
        )
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        capture = f"{names.DATA_CAPTURE_PREFIX}{endpoint_name}/*"
        artifacts.grant_read(self.role, models)
        artifacts.grant_put(self.role, capture)
        key.grant_encrypt_decrypt(self.role)
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"/aws/sagemaker/Endpoints/{endpoint_name}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_groups],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="EndpointMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        for finding in S3_GRANT_FINDINGS:
            acknowledge(
                policy, f"IAM5[{finding}]", "CDK bucket grants limited to models/ (read) and data-capture/ (put)."
            )
        for finding in KMS_GRANT_FINDINGS:
            acknowledge(policy, f"IAM5[{finding}]", "CDK grant_encrypt_decrypt, limited to the environment's data key.")
        acknowledge(
            policy,
            f"IAM5[{objects_of(artifacts, models)}]",
            "Model artifacts live under the models/ prefix, one folder per training job.",
        )
        acknowledge(
            policy,
            f"IAM5[{objects_of(artifacts, capture)}]",
            "Data capture writes one object per sampled request under the endpoint's data-capture/ prefix.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::{log_groups}]",
            "SageMaker names the endpoint's log group /aws/sagemaker/Endpoints/<endpoint name>.",
        )
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permission; limited to the endpoint namespace.",
        )


class MonitorRole(Construct):
    """Runs data-quality monitoring: reads captured requests and the baseline, writes reports."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, endpoint_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Runs data-quality monitoring of {endpoint_name}",
        )
        prefixes = {
            "read": (
                f"{names.DATA_CAPTURE_PREFIX}{endpoint_name}/*",
                f"{names.MONITORING_BASELINE_PREFIX}{endpoint_name}/*",
            ),
            "put": (f"{names.MONITORING_REPORTS_PREFIX}{endpoint_name}/*",),
        }
        for pattern in prefixes["read"]:
            artifacts.grant_read(self.role, pattern)
        for pattern in prefixes["put"]:
            artifacts.grant_put(self.role, pattern)
        key.grant_encrypt_decrypt(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="MonitoringMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": "aws/sagemaker/Endpoints/*"}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        scoped = "CDK bucket grant limited to this endpoint's capture, baseline (read) or report (put) prefix."
        for finding in (*S3_GRANT_FINDINGS, *(objects_of(artifacts, p) for p in (*prefixes["read"], *prefixes["put"]))):
            acknowledge(policy, f"IAM5[{finding}]", scoped)
        for finding in KMS_GRANT_FINDINGS:
            acknowledge(policy, f"IAM5[{finding}]", "CDK grant_encrypt_decrypt, limited to the environment's data key.")
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permission; limited to the monitor's namespace.",
        )


class TrainingRole(Construct):
    """Trains: reads only the curated extraction, writes only model artifacts and checkpoints.

    Image pull and (in an existing VPC) network-interface permissions are added by the training stack.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        extraction_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs Esteira training and tuning jobs",
        )
        reads = f"{extraction_prefix}*"
        writes = (f"{names.MODEL_ARTIFACTS_PREFIX}*", f"{names.CHECKPOINTS_PREFIX}*")
        curated.grant_read(self.role, reads)
        for pattern in writes:
            artifacts.grant_read_write(self.role, pattern)
        key.grant_encrypt_decrypt(self.role)
        log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name="/aws/sagemaker/TrainingJobs*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_groups],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TrainingMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        for finding in (*S3_GRANT_FINDINGS, "Action::s3:DeleteObject*"):
            acknowledge(
                policy,
                f"IAM5[{finding}]",
                "CDK bucket grants limited to the curated extraction prefix (read) and the models/ and "
                "checkpoints/ prefixes (read/write: spot checkpoints are rewritten and pruned).",
            )
        acknowledge(
            policy, f"IAM5[{objects_of(curated, reads)}]", "Training reads every curated partition of the extraction."
        )
        for pattern in writes:
            acknowledge(
                policy,
                f"IAM5[{objects_of(artifacts, pattern)}]",
                "SageMaker writes one folder per training job under this prefix.",
            )
        for finding in KMS_GRANT_FINDINGS:
            acknowledge(policy, f"IAM5[{finding}]", "CDK grant_encrypt_decrypt, limited to the environment's data key.")
        acknowledge(
            policy,
            f"IAM5[Resource::{log_groups}]",
            "SageMaker writes job logs to /aws/sagemaker/TrainingJobs, one stream per job.",
        )
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permission; limited to the training namespace.",
        )


class TransformRole(Construct):
    """Runs batch transforms: reads model artifacts and batch input, writes batch output."""

    def __init__(
        self, scope: Construct, construct_id: str, *, key: kms.IKey, artifacts: s3.IBucket, predictions: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Runs Esteira batch transform jobs",
        )
        models = f"{names.MODEL_ARTIFACTS_PREFIX}*"
        inputs = f"{names.BATCH_INPUT_PREFIX}*"
        outputs = f"{names.BATCH_OUTPUT_PREFIX}*"
        artifacts.grant_read(self.role, models)
        predictions.grant_read(self.role, inputs)
        predictions.grant_put(self.role, outputs)
        key.grant_encrypt_decrypt(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TransformLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[
                    Stack.of(self).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/TransformJobs*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TransformMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TransformJobs"}},
            )
        )
        policy = self.role.node.find_child("DefaultPolicy")
        for finding in (
            *S3_GRANT_FINDINGS,
            objects_of(artifacts, models),
            objects_of(predictions, inputs),
            objects_of(predictions, outputs),
        ):
            acknowledge(
                policy,
                f"IAM5[{finding}]",
                "CDK bucket grants limited to models/ (read), batch-input/ (read) and batch-output/ (put).",
            )
        for finding in KMS_GRANT_FINDINGS:
            acknowledge(policy, f"IAM5[{finding}]", "CDK grant_encrypt_decrypt, limited to the environment's data key.")
        acknowledge(
            policy,
            "IAM5[Resource::arn:aws:logs:"
            f"{Stack.of(self).region}:{Stack.of(self).account}:log-group:/aws/sagemaker/TransformJobs*]",
            "SageMaker writes transform logs to /aws/sagemaker/TransformJobs, one stream per job.",
        )
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permission; limited to the transform namespace.",
        )
