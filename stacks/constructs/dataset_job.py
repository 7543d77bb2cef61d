"""The dataset job: a Glue 5 PySpark job that turns the curated extractions into one training run's data sets.

Started by the training state machine (``glue:startJobRun.sync``) with the run's id and output URIs; it reads the
spec's curated extraction prefix and writes only ``datasets/`` in the artifacts bucket and ``batch-input/`` in the
predictions bucket (``esteira_contracts.dataset`` documents the layout). Its quality step reads the transform runs'
``batch-output/`` and writes ``monitoring/model-quality/`` and ``monitoring/ground-truth/`` in the artifacts bucket:
every run gets those URIs as default arguments (environment constants, like the spec and the curated prefix).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from esteira_contracts import layout
from esteira_contracts.dataset import DatasetJobArgs
from stacks import names
from stacks.config import HyperparameterValue
from stacks.constructs import glue_job_parts as glue_parts
from stacks.dataset_config import DatasetConfig
from stacks.nag import acknowledge, acknowledge_bucket_grants, acknowledge_key_grant, objects_of

# The job's own package, the extraction's storage and spec helpers it reuses, and the contracts (a symlink).
LIBRARY_PACKAGES = ("esteira_dataset", "esteira_extract", "esteira_contracts")
# Set per run by the state machine; a run started without it fails naming the argument.
PER_RUN_ARGUMENTS = ("--run_id",)


def drop_columns(hyperparameters: dict[str, HyperparameterValue]) -> tuple[str, ...]:
    """The ``drop_columns`` hyperparameter (comma-separated or a JSON list), as the container reads it."""
    value = hyperparameters.get("drop_columns")
    if value is None:
        return ()
    text = str(value).strip()
    items = json.loads(text) if text.startswith("[") else text.split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


@dataclass(frozen=True)
class DatasetJobSettings:
    job_name: str
    security_configuration_name: str
    spec_path: Path
    spec_name: str
    dataset: DatasetConfig
    hyperparameters: dict[str, HyperparameterValue]
    log_retention: logs.RetentionDays
    retain: bool


class DatasetJob(Construct):
    """Exposes `job` (its `job_name`) for the state machine's Dataset step."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DatasetJobSettings,
        key: kms.IKey,
        curated: s3.IBucket,
        artifacts: s3.IBucket,
        predictions: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY
        curated_prefix = names.curated_extraction_prefix(settings.spec_name)

        self.security_configuration = glue_parts.security_configuration(self, settings.security_configuration_name, key)
        self.role = glue_parts.job_role(self, settings.job_name)
        self.log_group = glue_parts.job_logs(self, settings.job_name, key, settings.log_retention, removal)
        spec, library = glue_parts.job_assets(self, self.role, settings.spec_path, LIBRARY_PACKAGES)
        self._grant(key, curated, curated_prefix, artifacts, predictions)

        dataset = settings.dataset
        job_args = DatasetJobArgs(
            spec_uri=spec.s3_object_url,
            curated_uri=curated.s3_url_for_object(curated_prefix),
            datasets_uri=artifacts.s3_url_for_object(names.DATASETS_PREFIX),
            batch_input_uri=predictions.s3_url_for_object(names.BATCH_INPUT_PREFIX),
            predictions_uri=predictions.s3_url_for_object(names.BATCH_OUTPUT_PREFIX),
            quality_uri=artifacts.s3_url_for_object(layout.MODEL_QUALITY_PREFIX),
            ground_truth_uri=artifacts.s3_url_for_object(layout.GROUND_TRUTH_PREFIX),
            run_id="defaults",  # checked here, then left out of the defaults: each run names its own
            drop_columns=drop_columns(settings.hyperparameters),
            train_fraction=dataset.train_fraction,
            validation_fraction=dataset.validation_fraction,
            holdout_fraction=dataset.holdout_fraction,
        ).to_args()
        self.job = glue.PySparkEtlJob(
            self,
            "Job",
            job_name=settings.job_name,
            description="Latest version per key of the curated extractions, split by key hash into training sets",
            role=self.role,
            glue_version=glue.GlueVersion.V5_0,
            script=glue.Code.from_asset(str(glue_parts.GLUE_JOBS_DIR / "dataset_job.py")),
            extra_python_files=[glue.Code.from_bucket(library.bucket, library.s3_object_key)],
            worker_configuration=glue.WorkerConfiguration(
                worker_type=glue.WorkerType[dataset.worker_type.replace(".", "_")],
                number_of_workers=dataset.number_of_workers,
            ),
            timeout=Duration.minutes(dataset.timeout_minutes),
            max_retries=0,  # the state machine's execution is the unit of retry
            security_configuration=self.security_configuration,
            continuous_logging=glue.ContinuousLoggingProps(enabled=True, log_group=self.log_group, quiet=True),
            enable_metrics=True,
            enable_observability_metrics=True,
            default_arguments={
                **{name: value for name, value in job_args.items() if name not in PER_RUN_ARGUMENTS},
                "--enable-job-insights": "true",
            },
        )

    def _grant(
        self, key: kms.IKey, curated: s3.IBucket, curated_prefix: str, artifacts: s3.IBucket, predictions: s3.IBucket
    ) -> None:
        curated_objects = f"{curated_prefix}*"
        datasets = f"{names.DATASETS_PREFIX}*"
        batch_input = f"{names.BATCH_INPUT_PREFIX}*"
        batch_output = f"{names.BATCH_OUTPUT_PREFIX}*"
        quality = [f"{layout.MODEL_QUALITY_PREFIX}*", f"{layout.GROUND_TRUTH_PREFIX}*"]
        curated.grant_read(self.role, curated_objects)
        # The quality step: the transform runs' scoring records and outputs in, its report and ground truth out.
        predictions.grant_read(self.role, batch_output)
        for prefix in quality:
            artifacts.grant_put(self.role, prefix)
        # A re-run replaces its run's outputs (Spark's overwrite deletes the old files first).
        artifacts.grant_read_write(self.role, datasets)
        artifacts.grant_delete(self.role, datasets)
        predictions.grant_read_write(self.role, batch_input)
        predictions.grant_delete(self.role, batch_input)
        key.grant_encrypt_decrypt(self.role)
        glue_log_groups = glue_parts.grant_logs_and_metrics(self.role)
        policy = self.role.node.find_child("DefaultPolicy")
        acknowledge_bucket_grants(
            policy,
            "CDK grants limited to the spec's curated extraction prefix (read), datasets/ in the artifacts bucket "
            "and batch-input/ in the predictions bucket (read, write, replace), batch-output/ (read) and the "
            "monitoring/model-quality/ and monitoring/ground-truth/ prefixes (write): the job writes nowhere else.",
            objects_of(curated, curated_objects, self),
            objects_of(artifacts, datasets, self),
            objects_of(predictions, batch_input, self),
            objects_of(predictions, batch_output, self),
            *(objects_of(artifacts, prefix, self) for prefix in quality),
            extra=("Action::s3:DeleteObject*",),
        )
        acknowledge_key_grant(policy)
        glue_parts.acknowledge_log_groups(policy, glue_log_groups)
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "cloudwatch:PutMetricData has no resource-level permission; it is limited to the Glue namespace.",
        )
        glue_parts.acknowledge_assets_read(policy)
