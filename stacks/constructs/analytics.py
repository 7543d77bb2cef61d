"""Glue Data Catalog table over the curated extraction and an Athena workgroup to query it."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from esteira_contracts import layout
from stacks import names
from stacks.extraction_spec import ExtractionSpecSummary

_GLUE_TYPES = {
    "int": glue.Schema.INTEGER,
    "bigint": glue.Schema.BIG_INT,
    "double": glue.Schema.DOUBLE,
    "float": glue.Schema.FLOAT,
    "string": glue.Schema.STRING,
    "date": glue.Schema.DATE,
    "timestamp": glue.Schema.TIMESTAMP,
    "boolean": glue.Schema.BOOLEAN,
}


class AnalyticsCatalog(Construct):
    """Analysts query `<database>.<spec name>` by `dt`; partition projection means no crawler and no
    `MSCK REPAIR`: a partition is queryable as soon as the job writes it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database_name: str,
        workgroup_name: str,
        spec: ExtractionSpecSummary,
        curated: s3.IBucket,
        key: kms.IKey,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY
        self.database = glue.Database(
            self,
            "Database",
            database_name=database_name,
            description="Esteira curated extractions",
            removal_policy=removal,
        )
        self.table = glue.S3Table(
            self,
            "CuratedTable",
            database=self.database,
            table_name=spec.name,
            description=f"Curated extraction '{spec.name}', one partition per extraction date",
            storage=glue.S3TableStorage.from_bucket(curated),
            s3_prefix=layout.curated_extraction_prefix(spec.name),
            data_format=glue.DataFormat.PARQUET,
            # SSE-KMS is transparent to Athena; `true` would announce client-side encryption.
            has_encrypted_data=False,
            columns=[glue.Column(name=column.name, type=_GLUE_TYPES[column.type]) for column in spec.output_columns],
            partition_keys=[glue.Column(name=names.EXTRACTION_PARTITION_KEY, type=glue.Schema.STRING)],
            partition_projection={
                names.EXTRACTION_PARTITION_KEY: glue.PartitionProjectionConfiguration.date(
                    min="2020-01-01",
                    max="NOW",
                    format="yyyy-MM-dd",
                )
            },
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=workgroup_name,
            description="Esteira analysts: results encrypted with the data key",
            state="ENABLED",
            recursive_delete_option=not retain,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=100 * 1024**3,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=curated.s3_url_for_object(names.ATHENA_RESULTS_PREFIX),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.workgroup.apply_removal_policy(removal)
