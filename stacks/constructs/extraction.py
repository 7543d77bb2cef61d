"""The daily extraction: source credentials, JDBC connections, the Glue job and its schedule."""

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from esteira_contracts.extraction import ExtractionJobArgs
from stacks import names
from stacks.constructs import glue_job_parts as glue_parts
from stacks.nag import (
    acknowledge,
    acknowledge_bucket_grants,
    acknowledge_hardcoded_zones,
    acknowledge_key_grant,
    objects_of,
    skip_checkov,
)
from stacks.source_database import RotationConfig

# The job's library ships as a zip whose root holds its packages (Glue --extra-py-files): the job's own, and the
# contract it parses its arguments with (glue_jobs/esteira_contracts is a symlink to the repo's package).
LIBRARY_PACKAGES = ("esteira_extract", "esteira_contracts")
# Template metadata key of a resource's reasoned exceptions to a control.
EXCEPTIONS_METADATA_KEY = "EsteiraExceptions"


@dataclass(frozen=True)
class ExtractionJobSettings:
    job_name: str
    connection_name_prefix: str
    security_configuration_name: str
    secret_name: str
    jdbc_url: str
    tls_ca_bundle: str
    spec_name: str
    spec_path: Path
    schedule: str
    worker_type: str
    number_of_workers: int
    timeout: Duration
    max_retries: int
    log_retention: logs.RetentionDays
    rotation: RotationConfig


class ExtractionJob(Construct):
    """A Glue 5 PySpark job reading the source database over JDBC into raw and curated Parquet.

    The job gets the secret's ARN, never its value: it reads the credentials at run time.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: ExtractionJobSettings,
        key: kms.IKey,
        raw: s3.IBucket,
        curated: s3.IBucket,
        vpc: ec2.IVpc,
        subnets: list[ec2.ISubnet],
        security_groups: list[ec2.ISecurityGroup],
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY

        self.secret = secretsmanager.Secret(
            self,
            "SourceCredentials",
            secret_name=settings.secret_name,
            description="Source database credentials for the extraction job: set username and password after deploy",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"username": "esteira_reader"}',
                generate_string_key="password",
                exclude_punctuation=True,
            ),
            removal_policy=removal,
        )
        self._rotate(settings.rotation, f"{settings.job_name}-secret-rotation", vpc, subnets, security_groups)

        self.connections = [
            glue.Connection(
                self,
                f"JdbcConnection{index}",
                type=glue.ConnectionType.JDBC,
                connection_name=f"{settings.connection_name_prefix}-{index}",
                description=f"Source database through {subnet.availability_zone}",
                network=glue.ConnectionNetwork.subnet(subnet),
                security_groups=security_groups,
                properties={"JDBC_CONNECTION_URL": settings.jdbc_url, "JDBC_ENFORCE_SSL": "true"},
                secret=self.secret,
            )
            for index, subnet in enumerate(subnets)
        ]
        for connection in self.connections:
            acknowledge_hardcoded_zones(connection)

        self.security_configuration = glue_parts.security_configuration(self, settings.security_configuration_name, key)
        self.role = glue_parts.job_role(self, settings.job_name)
        self._grant_job_permissions(settings, key, raw, curated)

        self.log_group = glue_parts.job_logs(self, settings.job_name, key, settings.log_retention, removal)
        spec, library = glue_parts.job_assets(self, self.role, settings.spec_path, LIBRARY_PACKAGES)
        spec_name = settings.spec_name
        job_args = ExtractionJobArgs(
            spec_uri=spec.s3_object_url,
            secret_id=self.secret.secret_arn,
            jdbc_url=settings.jdbc_url,
            tls_ca_bundle=settings.tls_ca_bundle,
            raw_uri=raw.s3_url_for_object(f"{names.RAW_EXTRACTION_PREFIX}{spec_name}/"),
            curated_uri=curated.s3_url_for_object(f"{names.CURATED_EXTRACTION_PREFIX}{spec_name}/"),
            quarantine_uri=curated.s3_url_for_object(f"{names.QUARANTINE_PREFIX}{spec_name}/"),
            state_uri=curated.s3_url_for_object(f"{names.EXTRACTION_STATE_PREFIX}{spec_name}/watermark.json"),
        )
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=settings.job_name,
            description="Daily incremental extraction of the source database into curated Parquet",
            role=self.role,
            glue_version=glue.GlueVersion.V5_0,
            script=glue.Code.from_asset(str(glue_parts.GLUE_JOBS_DIR / "extract_job.py")),
            extra_python_files=[glue.Code.from_bucket(library.bucket, library.s3_object_key)],
            worker_configuration=glue.WorkerConfiguration(
                worker_type=glue.WorkerType[settings.worker_type.replace(".", "_")],
                number_of_workers=settings.number_of_workers,
            ),
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            max_concurrent_runs=1,
            connections=self.connections,
            security_configuration=self.security_configuration,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True, log_group=self.log_group, quiet=True),
            enable_metrics=True,
            enable_observability_metrics=True,
            default_arguments={
                **job_args.to_args(),
                "--TempDir": curated.s3_url_for_object(names.GLUE_TEMP_PREFIX),
                "--enable-job-insights": "true",
                "--enable-glue-datacatalog": "true",
            },
        )

        self.trigger = glue.CfnTrigger(
            self,
            "Schedule",
            name=f"{settings.job_name}-schedule",
            description="Starts the extraction every day (UTC)",
            type="SCHEDULED",
            schedule=settings.schedule,
            start_on_creation=True,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.job_name)],
        )

    def _rotate(
        self,
        rotation: RotationConfig,
        function_name: str,
        vpc: ec2.IVpc,
        subnets: list[ec2.ISubnet],
        security_groups: list[ec2.ISecurityGroup],
    ) -> None:
        """Hosted: Secrets Manager's single-user PostgreSQL rotation function, in the job's subnets and groups (they
        reach the database's port and, through the endpoint or the network's egress, Secrets Manager). External: the
        database's owner rotates; the reason is recorded in the template's metadata."""
        if rotation.mode == "external":
            reason = (
                "rotation.mode 'external': the source database belongs to its owners, who rotate its credentials on "
                "their schedule and put the new value in this secret; the job re-reads the secret at every run and "
                "never keeps the password between runs."
            )
            acknowledge(self.secret, "SMG4", reason)
            # In the template itself too, for a reviewer or a policy scan reading it without cdk-nag.
            secret = self.secret.node.default_child
            assert isinstance(secret, CfnResource)
            secret.add_metadata(
                EXCEPTIONS_METADATA_KEY,
                [{"control": "secret rotation", "config": "source_database.rotation.mode: external", "reason": reason}],
            )
            return
        self.secret.add_rotation_schedule(
            "Rotation",
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                function_name=function_name,
                vpc=vpc,
                vpc_subnets=ec2.SubnetSelection(subnets=subnets),
                security_groups=security_groups,
            ),
            automatically_after=Duration.hours(int(rotation.interval.total_seconds()) // 3600),
        )

    def _grant_job_permissions(
        self, settings: ExtractionJobSettings, key: kms.IKey, raw: s3.IBucket, curated: s3.IBucket
    ) -> None:
        stack = Stack.of(self)
        raw.grant_read_write(self.role)
        curated.grant_read_write(self.role)
        self.secret.grant_read(self.role)
        key.grant_encrypt_decrypt(self.role)
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadOwnConnections",
                actions=["glue:GetConnection"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    *(connection.connection_arn for connection in self.connections),
                ],
            )
        )
        glue_log_groups = glue_parts.grant_logs_and_metrics(self.role)
        # Glue places worker ENIs in the connection's subnet. These EC2 actions do not support
        # resource-level permissions (Describe*) or act on ENIs that do not exist yet.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ManageWorkerNetworkInterfaces",
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeVpcAttribute",
                    "ec2:DescribeRouteTables",
                ],
                resources=["*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="TagWorkerNetworkInterfaces",
                actions=["ec2:CreateTags", "ec2:DeleteTags"],
                resources=[stack.format_arn(service="ec2", resource="network-interface", resource_name="*")],
                conditions={"ForAllValues:StringEquals": {"aws:TagKeys": ["aws-glue-service-resource"]}},
            )
        )
        self._acknowledge_job_policy(glue_log_groups, raw, curated)

    def _acknowledge_job_policy(self, glue_log_groups: str, raw: s3.IBucket, curated: s3.IBucket) -> None:
        policy = self.role.node.find_child("DefaultPolicy")
        stack = Stack.of(self)
        skip_checkov(
            policy,
            "CKV_AWS_111",
            "ManageWorkerNetworkInterfaces: Glue creates and deletes the job's worker ENIs in the connection's "
            "subnet at run time, whose ids are unknown beforehand; ec2:Describe* have no resource-level form.",
        )
        bucket_access = (
            "CDK grant_read_write on the job's own raw and curated buckets: the job lists, reads, writes and "
            "replaces its partitions, manifests and watermark there, and nowhere else."
        )
        acknowledge_bucket_grants(
            policy, bucket_access, objects_of(raw), objects_of(curated), extra=("Action::s3:DeleteObject*",)
        )
        acknowledge_key_grant(policy)
        glue_parts.acknowledge_log_groups(policy, glue_log_groups)
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "ec2:Describe* and ec2:CreateNetworkInterface have no resource-level permissions; Glue creates "
            "the worker ENIs in the connection subnet. cloudwatch:PutMetricData is limited to the Glue namespace.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::{stack.format_arn(service='ec2', resource='network-interface', resource_name='*')}]",
            "Glue tags and deletes worker ENIs it creates at run time, whose ids are unknown; tag keys are "
            "restricted to aws-glue-service-resource.",
        )
        glue_parts.acknowledge_assets_read(policy)
