"""Contracts of the batch Lambdas: the launcher (starts a transform job) and the consumer (stores predictions).

The fan-out's settings are a contract of their own: ``esteira_contracts.fanout.FanoutSettings``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from esteira_contracts import aws_names, layout
from esteira_contracts._base import EnvContract, setting

# SageMaker CreateTransformJob: MaxPayloadInMB <= 100 and MaxConcurrentTransforms * MaxPayloadInMB <= 100.
MAX_TRANSFORM_BUFFER_MB = 100

# The tables the consumer writes: predictions keyed by entity, and Powertools idempotency records (their key and
# time-to-live attributes, which the table's schema and TTL setting must name).
PREDICTIONS_TABLE_KEY = "entity_id"
IDEMPOTENCY_TABLE_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"
# The message attribute the fan-out sets on each prediction, which downstream consumers filter on (the seed's name).
PREDICTION_MESSAGE_ATTRIBUTE = "recomendado-para-voce"

# What a registered package records about its data, as CustomerMetadataProperties "lineage.<name>" (the training state
# machine passes them to Evaluate as its lineage): the dataset run's folder (<datasets_uri>run_id=R/), the extraction
# spec, and the digest of the features the model takes, in order (``feature_schema_digest``).
LINEAGE_METADATA_PREFIX = "lineage."
LINEAGE_DATASET = "dataset"
LINEAGE_SPEC = "spec"
LINEAGE_FEATURE_SCHEMA = "feature_schema"


def feature_schema_digest(features: Sequence[str]) -> str:
    """SHA-256 (hex) of the feature names as compact JSON: what the state machine records with
    ``States.Hash(States.JsonToString(<manifest>.features), 'SHA-256')`` (compact JSON, UTF-8; names are ASCII)."""
    return hashlib.sha256(json.dumps(list(features), separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class LauncherSettings(EnvContract):
    """``batch.launcher.handler.handler``: which model scores which prefix, on what fleet, with which limits."""

    component: ClassVar[str] = "launcher"

    model_package_group: str = setting("MODEL_PACKAGE_GROUP", pattern=aws_names.MODEL_PACKAGE_GROUP)
    # The exact package version to score with (the one the environment's endpoint serves, promoted by the delivery
    # pipeline, possibly from another account's registry). None: the group's newest Approved one.
    model_package_arn: str | None = setting(
        "MODEL_PACKAGE_ARN",
        default=None,
        pattern=aws_names.MODEL_PACKAGE_ARN,
        pattern_help=aws_names.MODEL_PACKAGE_ARN_HELP,
    )
    role_arn: str = setting("SAGEMAKER_ROLE_ARN", pattern=aws_names.ROLE_ARN, pattern_help="an IAM role ARN")
    bucket: str = setting("PREDICTIONS_BUCKET", pattern=aws_names.BUCKET_NAME, pattern_help=aws_names.BUCKET_NAME_HELP)
    # This environment's dataset runs' manifests (<DATASETS_PREFIX>run_id=R/manifest.json): which runs are complete,
    # and the spec and features of the rows each wrote under <INPUT_PREFIX>run_id=R/.
    artifacts_bucket: str = setting(
        "ARTIFACTS_BUCKET", pattern=aws_names.BUCKET_NAME, pattern_help=aws_names.BUCKET_NAME_HELP
    )
    datasets_prefix: str = setting("DATASETS_PREFIX", default=layout.DATASETS_PREFIX, prefix=True)
    input_prefix: str = setting("INPUT_PREFIX", default=layout.BATCH_INPUT_PREFIX, prefix=True)
    output_prefix: str = setting("OUTPUT_PREFIX", default=layout.BATCH_OUTPUT_PREFIX, prefix=True)
    instance_type: str = setting("INSTANCE_TYPE")
    instance_count: int = setting("INSTANCE_COUNT", default=1, minimum=1)
    max_payload_mb: int = setting("MAX_PAYLOAD_MB", default=6, minimum=0, maximum=MAX_TRANSFORM_BUFFER_MB)
    max_concurrent_transforms: int = setting("MAX_CONCURRENT_TRANSFORMS", default=4, minimum=0)
    invocation_timeout_seconds: int | None = setting("INVOCATION_TIMEOUT_SECONDS", default=None, minimum=1)
    invocation_max_retries: int | None = setting("INVOCATION_MAX_RETRIES", default=None, minimum=0)
    kms_key_id: str | None = setting("KMS_KEY_ID", default=None)
    env_name: str = setting("ENV_NAME")
    # Run ids and the names of models and transform jobs start with it; unset: "esteira-<env_name>".
    run_id_prefix: str = setting("RUN_ID_PREFIX", default="")
    subnet_ids: tuple[str, ...] = setting("SUBNET_IDS", default=())
    security_group_ids: tuple[str, ...] = setting("SECURITY_GROUP_IDS", default=())

    def __post_init__(self) -> None:
        if not self.run_id_prefix:
            object.__setattr__(self, "run_id_prefix", f"{layout.PROJECT}-{self.env_name}")

    def problems(self) -> list[str]:
        problems = []
        if self.max_payload_mb * self.max_concurrent_transforms > MAX_TRANSFORM_BUFFER_MB:
            problems.append(
                f"{self.name_of('max_concurrent_transforms')} * {self.name_of('max_payload_mb')} = "
                f"{self.max_concurrent_transforms} * {self.max_payload_mb} MB exceeds SageMaker's "
                f"{MAX_TRANSFORM_BUFFER_MB} MB"
            )
        if bool(self.subnet_ids) != bool(self.security_group_ids):
            problems.append(
                f"{self.name_of('subnet_ids')} and {self.name_of('security_group_ids')} go together (both or neither)"
            )
        return problems


@dataclass(frozen=True, kw_only=True)
class ConsumerSettings(EnvContract):
    """``batch.consumer.handler.handler``: where each prediction is stored once."""

    component: ClassVar[str] = "consumer"

    predictions_table: str = setting(
        "PREDICTIONS_TABLE", pattern=aws_names.DYNAMODB_TABLE_NAME, pattern_help="a DynamoDB table name"
    )
    idempotency_table: str = setting(
        "IDEMPOTENCY_TABLE", pattern=aws_names.DYNAMODB_TABLE_NAME, pattern_help="a DynamoDB table name"
    )
    # How long a processed message id is remembered: longer than a message can come back (retries, redrive).
    idempotency_ttl_seconds: int = setting("IDEMPOTENCY_TTL_SECONDS", default=86_400, minimum=60)
