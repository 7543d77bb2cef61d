"""Each Lambda's settings in the local run: its contract, built from the typed config as its construct builds it.

Only the names of local resources (buckets, tables, the package group) differ from AWS's;
``tests/pipeline/test_settings.py`` checks that everything else equals what the synthesized templates set.
"""

from __future__ import annotations

from esteira_contracts import layout
from esteira_contracts.batch import ConsumerSettings, LauncherSettings
from esteira_contracts.bias import BiasGateSettings, facet_text, number
from esteira_contracts.fanout import FanoutSettings
from esteira_contracts.model_quality import QualityPublisherSettings
from esteira_contracts.training import EvaluateSettings, PrepareSettings
from pipeline import aws
from pipeline.bias import Facet
from pipeline.context import RUN_ID_PREFIX
from stacks.bias_config import BiasConfig
from stacks.config import EnvironmentConfig


def curated_prefix(spec_name: str) -> str:
    """Where a spec's curated extractions live, as the stacks lay them out: one folder per spec."""
    return f"{aws.CURATED_PREFIX}{spec_name}/"


def prepare_settings(spec_name: str) -> PrepareSettings:
    return PrepareSettings(
        curated_uri=f"s3://{aws.CURATED_BUCKET}/{curated_prefix(spec_name)}",
        artifacts_bucket=aws.ARTIFACTS_BUCKET,
        predictions_bucket=aws.PREDICTIONS_BUCKET,
        model_package_group=aws.MODEL_PACKAGE_GROUP,
        job_name_prefix=RUN_ID_PREFIX,
    )


def evaluate_settings(config: EnvironmentConfig, threshold: float | None = None) -> EvaluateSettings:
    return EvaluateSettings.for_gate(
        config.training.gate,
        model_package_group=aws.MODEL_PACKAGE_GROUP,
        artifacts_bucket=aws.ARTIFACTS_BUCKET,
        threshold=threshold,
    )


def quality_publisher_settings(config: EnvironmentConfig) -> QualityPublisherSettings:
    """The quality publisher's settings as ``TrainingLambdas`` builds them (its namespace is the environment's)."""
    return QualityPublisherSettings.for_env(
        config.name, aws.ARTIFACTS_BUCKET, config.training.quality.min_labelled_predictions
    )


def launcher_settings(config: EnvironmentConfig) -> LauncherSettings:
    """The batch launcher's settings as ``BatchPredictions`` builds them. Unpinned: the local registry's newest
    Approved package is the one served (no promotion happens here); no KMS key and no VPC in moto."""
    batch = config.batch
    return LauncherSettings(
        model_package_group=aws.MODEL_PACKAGE_GROUP,
        model_package_arn=None,
        role_arn=aws.TRANSFORM_ROLE_ARN,
        bucket=aws.PREDICTIONS_BUCKET,
        artifacts_bucket=aws.ARTIFACTS_BUCKET,
        datasets_prefix=layout.DATASETS_PREFIX,
        input_prefix=layout.BATCH_INPUT_PREFIX,
        output_prefix=layout.BATCH_OUTPUT_PREFIX,
        instance_type=batch.instance_type,
        instance_count=batch.instance_count,
        max_payload_mb=batch.max_payload_mb,
        max_concurrent_transforms=batch.max_concurrent_transforms,
        kms_key_id=None,
        env_name=config.name,
        run_id_prefix=RUN_ID_PREFIX,
    )


def consumer_settings() -> ConsumerSettings:
    return ConsumerSettings(predictions_table=aws.PREDICTIONS_TABLE, idempotency_table=aws.IDEMPOTENCY_TABLE)


def fanout_settings(config: EnvironmentConfig, queue_url: str) -> FanoutSettings:
    # The local run writes no KMS-encrypted objects: moto's S3 has no key to use.
    return FanoutSettings.for_batch(config.batch, queue_url=queue_url, kms_key_id=None)


def bias_facets(bias: BiasConfig) -> list[Facet]:
    """``training.bias.facets`` as Clarify's analysis config gets them: each value the JSON number the FACETS
    setting renders (``esteira_contracts.bias.facet_text`` / ``number``)."""
    found = []
    for facet in bias.facets:
        column, _, values = facet_text(facet.column, facet.values_or_threshold).partition("=")
        found.append(Facet(column, tuple(number(value) for value in values.split("|"))))
    return found


def bias_label_values(bias: BiasConfig) -> list[int | float]:
    """``training.bias.label_values_or_threshold``: the positive label values, as Clarify's config gets them."""
    return [number(str(value)) for value in bias.label_values_or_threshold]


def bias_gate_settings(bias: BiasConfig) -> BiasGateSettings:
    """The bias gate Lambda's settings, from ``training.bias.gate`` as its construct builds them."""
    return BiasGateSettings.for_gate(bias.gate)
