"""Buckets: raw and curated extractions, model artifacts, batch predictions, and their access logs."""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names
from stacks.nag import skip_checkov


@dataclass(frozen=True)
class LifecycleSettings:
    raw_expiration_days: int
    curated_infrequent_access_days: int
    noncurrent_version_expiration_days: int
    access_log_expiration_days: int
    athena_results_expiration_days: int
    data_capture_expiration_days: int
    monitoring_reports_expiration_days: int
    batch_output_expiration_days: int
    batch_input_expiration_days: int


class DataLake(Construct):
    """Every bucket is KMS-encrypted (logs: SSE-S3, as S3 log delivery requires), TLS-only, private,
    versioned, access-logged and lifecycle-managed. Kept on stack deletion when `retain` is set."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lifecycle: LifecycleSettings,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._retain = retain
        self._noncurrent = s3.LifecycleRule(
            id="ExpireNoncurrentVersions",
            noncurrent_version_expiration=Duration.days(lifecycle.noncurrent_version_expiration_days),
            abort_incomplete_multipart_upload_after=Duration.days(1),
            expired_object_delete_marker=True,
        )

        self.access_logs = self._bucket(
            "AccessLogs",
            None,
            s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(lifecycle.access_log_expiration_days)),
        )
        skip_checkov(
            self.access_logs,
            "CKV_AWS_18",
            "This is the access-log bucket the others log to: logging it into itself would log every log delivery.",
        )
        self.raw = self._bucket(
            "Raw",
            key,
            s3.LifecycleRule(id="ExpireRawExtractions", expiration=Duration.days(lifecycle.raw_expiration_days)),
        )
        self.curated = self._bucket(
            "Curated",
            key,
            s3.LifecycleRule(
                id="CuratedToInfrequentAccess",
                prefix=names.CURATED_EXTRACTION_PREFIX,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(lifecycle.curated_infrequent_access_days),
                    )
                ],
            ),
            s3.LifecycleRule(
                id="ExpireAthenaResults",
                prefix=names.ATHENA_RESULTS_PREFIX,
                expiration=Duration.days(lifecycle.athena_results_expiration_days),
            ),
            s3.LifecycleRule(id="ExpireGlueTemp", prefix=names.GLUE_TEMP_PREFIX, expiration=Duration.days(7)),
        )
        self.artifacts = self._bucket(
            "Artifacts",
            key,
            s3.LifecycleRule(id="ExpireCheckpoints", prefix=names.CHECKPOINTS_PREFIX, expiration=Duration.days(14)),
            s3.LifecycleRule(
                id="ExpireDataCapture",
                prefix=names.DATA_CAPTURE_PREFIX,
                expiration=Duration.days(lifecycle.data_capture_expiration_days),
            ),
            s3.LifecycleRule(
                id="ExpireMonitoringReports",
                prefix=names.MONITORING_REPORTS_PREFIX,
                expiration=Duration.days(lifecycle.monitoring_reports_expiration_days),
            ),
        )
        self.predictions = self._bucket(
            "Predictions",
            key,
            s3.LifecycleRule(
                id="PredictionsToInfrequentAccess",
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=Duration.days(lifecycle.curated_infrequent_access_days),
                    )
                ],
            ),
            *(
                s3.LifecycleRule(
                    id=rule_id, prefix=prefix, expiration=Duration.days(lifecycle.batch_output_expiration_days)
                )
                for rule_id, prefix in (
                    ("ExpireBatchOutput", names.BATCH_OUTPUT_PREFIX),
                    ("ExpireFanoutSummaries", names.FANOUT_SUMMARY_PREFIX),
                )
            ),
            s3.LifecycleRule(
                id="ExpireBatchInput",
                prefix=names.BATCH_INPUT_PREFIX,
                expiration=Duration.days(lifecycle.batch_input_expiration_days),
            ),
        )

    def _bucket(self, construct_id: str, key: kms.IKey | None, *rules: s3.LifecycleRule) -> s3.Bucket:
        """A bucket with our baseline; `key=None` means SSE-S3, for the access-log bucket."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            bucket_key_enabled=True if key else None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs if key else None,
            server_access_logs_prefix=f"{construct_id.lower()}/" if key else None,
            lifecycle_rules=[*rules, self._noncurrent],
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN if self._retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not self._retain,
        )
