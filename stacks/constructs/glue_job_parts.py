"""What every Esteira Glue job has (the extraction and the dataset job): its security configuration, role, log
group, spec and library assets, and the logs and metrics it writes. Each part is made in the caller's scope with the
caller's construct ids, so the jobs' templates keep their logical ids."""

from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack, SymlinkFollowMode
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct, IConstruct

from stacks.nag import acknowledge, assets_bucket_objects

GLUE_JOBS_DIR = Path(__file__).resolve().parents[2] / "glue_jobs"
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", ".mypy_cache", ".pytest_cache"]


def security_configuration(scope: Construct, name: str, key: kms.IKey) -> glue.SecurityConfiguration:
    """The job's S3 output, logs and bookmarks encrypted with the environment's key."""
    return glue.SecurityConfiguration(
        scope,
        "SecurityConfiguration",
        security_configuration_name=name,
        s3_encryption=glue.S3Encryption.kms(key),
        cloud_watch_encryption=glue.CloudWatchEncryption.kms(key),
        job_bookmarks_encryption=glue.JobBookmarksEncryption.client_side_kms(key),
    )


def job_role(scope: Construct, job_name: str) -> iam.Role:
    return iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
        description=f"Runs the Glue job {job_name}",
    )


def job_logs(
    scope: Construct, job_name: str, key: kms.IKey, retention: logs.RetentionDays, removal: RemovalPolicy
) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        "Logs",
        log_group_name=f"/aws-glue/jobs/{job_name}",
        encryption_key=key,
        retention=retention,
        removal_policy=removal,
    )


def job_assets(
    scope: Construct, role: iam.IRole, spec_path: Path, packages: tuple[str, ...]
) -> tuple[s3_assets.Asset, s3_assets.Asset]:
    """The spec (readable by the job's role) and the library zip of ``packages`` (Glue --extra-py-files)."""
    spec = s3_assets.Asset(scope, "Spec", path=str(spec_path))
    spec.grant_read(role)
    library = s3_assets.Asset(
        scope,
        "Library",
        path=str(GLUE_JOBS_DIR),
        exclude=["*", *(f"!{p}{tail}" for p in packages for tail in ("", "/**")), *ASSET_EXCLUDES],
        # Copy the symlinked contracts package's files into the asset, not the link.
        follow_symlinks=SymlinkFollowMode.ALWAYS,
    )
    return spec, library


def grant_logs_and_metrics(role: iam.IRole) -> str:
    """Glue's own log groups and metrics namespace; returns the log groups' ARN pattern (for the acknowledgment)."""
    glue_log_groups = Stack.of(role).format_arn(
        service="logs",
        resource="log-group",
        resource_name="/aws-glue/*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="WriteJobLogs",
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
            resources=[glue_log_groups],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PublishJobMetrics",
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
        )
    )
    return glue_log_groups


def acknowledge_log_groups(policy: IConstruct, glue_log_groups: str) -> None:
    acknowledge(
        policy,
        f"IAM5[Resource::{glue_log_groups}]",
        "Glue names the job's log groups itself (/aws-glue/jobs/logs-v2-<security configuration>, "
        "/aws-glue/jobs/error...), so the grant covers the /aws-glue/ namespace only.",
    )


def acknowledge_assets_read(policy: IConstruct) -> None:
    acknowledge(
        policy,
        f"IAM5[{assets_bucket_objects(Stack.of(policy))}]",
        "Read-only access to the CDK assets bucket: the job loads its script, library zip and spec from it.",
    )
