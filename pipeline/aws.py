"""The local AWS stand-in: a moto server on a loopback port, the resources the runtime code expects, the registry.

moto keeps its state in memory, so everything that must outlive a run is on disk in the output folder (the
extraction's lake and watermark, ``registry.json``, approved models) and is replayed into moto at the start of a
run: the registry's model packages are re-created in moto's SageMaker, in order, so the Evaluate Lambda finds the
champion through the real ``ListModelPackages`` / ``DescribeModelPackage`` calls.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esteira_contracts import layout
from pipeline.processes import Children, free_port, wait_for_http

REGION = "us-east-1"
ACCOUNT = "123456789012"
CURATED_BUCKET = "esteira-local-curated"
# The stacks' layout (the curated prefix was "curated/" here and "extractions/" in AWS; AWS's is the one kept).
CURATED_PREFIX = layout.CURATED_EXTRACTION_PREFIX
ARTIFACTS_BUCKET = "esteira-local-artifacts"
MODEL_PREFIX = layout.MODEL_ARTIFACTS_PREFIX
CHECKPOINT_PREFIX = layout.CHECKPOINTS_PREFIX
PREDICTIONS_BUCKET = "esteira-local-predictions"
INPUT_PREFIX = layout.BATCH_INPUT_PREFIX
OUTPUT_PREFIX = layout.BATCH_OUTPUT_PREFIX
QUEUE_NAME = "esteira-local-predictions.fifo"
DLQ_NAME = "esteira-local-predictions-dlq.fifo"
PREDICTIONS_TABLE = "esteira-local-predictions"
IDEMPOTENCY_TABLE = "esteira-local-predictions-idempotency"
MODEL_PACKAGE_GROUP = "esteira-local"
# The role the batch launcher names in CreateModel (moto checks only its form).
TRANSFORM_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/esteira-local-transform"
SOURCE_SECRET = "esteira/local/source-db"
REGISTRY_FILENAME = "registry.json"

# Credentials that can only ever reach the local server: real ones are removed from the environment.
_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass(frozen=True)
class Endpoints:
    """The local AWS APIs: DynamoDB on a server of its own, every other service on the main one.

    On AWS every service has its own endpoint; locally, the consume stage's DynamoDB transactions and its SQS
    receives and deletes would otherwise queue behind one another on one moto process (one GIL). boto3 sends
    DynamoDB calls to ``AWS_ENDPOINT_URL_DYNAMODB`` and the rest to ``AWS_ENDPOINT_URL``.
    """

    main: str
    dynamodb: str


def local_aws_environment(endpoint: str, dynamodb_endpoint: str | None = None) -> dict[str, str]:
    """Environment variables that point boto3 (here and in children) at the local server(s) only."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint or endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def apply_environment(env: dict[str, str]) -> None:
    for name in _SCRUBBED:
        os.environ.pop(name, None)
    os.environ.update(env)


def start_moto(children: Children, log_dir: Path, repo: Path) -> Endpoints:
    """Both moto servers: one child that imports moto once and serves DynamoDB's port from a process it forks
    (pipeline.moto_server), so the two still run on separate cores."""
    main_port, dynamodb_port = free_port(), free_port()
    argv = [sys.executable, "-m", "pipeline.moto_server", str(main_port), str(dynamodb_port)]
    child = children.start("moto-server", argv, dict(os.environ), log_dir / "moto-server.log", repo)
    endpoints = Endpoints(main=f"http://127.0.0.1:{main_port}", dynamodb=f"http://127.0.0.1:{dynamodb_port}")
    for endpoint in (endpoints.main, endpoints.dynamodb):
        wait_for_http(f"{endpoint}/moto-api/", child, timeout=60)
    return endpoints


@dataclass(frozen=True)
class Resources:
    queue_url: str
    dlq_url: str


def preload_lambda_clients() -> None:
    """Create the boto3 clients that the Lambdas run in this process make on their first call (Prepare: S3 and
    SageMaker; the fan-out: SQS). Each is a new botocore session parsing its service's JSON model, ~0.35 s in all;
    the local run calls this in a thread while it waits on the Spark jobs. They are the Lambdas' own cached clients
    (``common.clients``), made with the local endpoints already in the environment."""
    from common import clients

    clients.s3()
    clients.sagemaker()
    clients.sqs()


def create_resources(session: Any, max_receive_count: int) -> Resources:
    s3 = session.client("s3")
    for bucket in (CURATED_BUCKET, ARTIFACTS_BUCKET, PREDICTIONS_BUCKET):
        s3.create_bucket(Bucket=bucket)
    sqs = session.client("sqs")
    dlq_url = sqs.create_queue(QueueName=DLQ_NAME, Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME,
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "2",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    dynamodb = session.client("dynamodb")
    for table, key in ((PREDICTIONS_TABLE, "entity_id"), (IDEMPOTENCY_TABLE, "id")):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    session.client("sagemaker").create_model_package_group(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP, ModelPackageGroupDescription="Esteira local pipeline"
    )
    return Resources(queue_url=queue_url, dlq_url=dlq_url)


def create_source_secret(session: Any, username: str, password: str) -> str:
    """The source credentials as the extraction job expects them (never in its arguments)."""
    session.client("secretsmanager").create_secret(
        Name=SOURCE_SECRET, SecretString=json.dumps({"username": username, "password": password})
    )
    return SOURCE_SECRET


def upload_tree(s3: Any, root: Path, bucket: str, prefix: str, only: str = "") -> int:
    """Upload the files under ``root`` (optionally only those under ``root/only``) to ``bucket/prefix``."""
    base = root / only if only else root
    count = 0
    for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.endswith(".crc")):
        key = prefix + path.relative_to(root).as_posix()
        s3.upload_file(str(path), bucket, key)
        count += 1
    return count


# ------------------------------------------------------------------------------------------------ registry


class Registry:
    """``registry.json``: the model packages this output folder has registered, replayed into moto per run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        self.packages: list[dict[str, Any]] = list(raw.get("packages", []))

    def replay(self, sagemaker: Any) -> None:
        for record in self.packages:
            arn = create_package(
                sagemaker,
                record["image"],
                record["model_data_url"],
                record["customer_metadata"],
                record.get("approval", "Approved"),
                record.get("drift_check_baselines"),
            )
            if arn != record["arn"]:
                raise RuntimeError(f"registry replay gave {arn}, expected {record['arn']}; use --fresh")

    def champion(self) -> dict[str, Any] | None:
        approved = [p for p in self.packages if p.get("approval") == "Approved"]
        return approved[-1] if approved else None

    def add(self, record: dict[str, Any]) -> None:
        self.packages.append(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"group": MODEL_PACKAGE_GROUP, "packages": self.packages}, indent=2) + "\n")
        tmp.replace(self.path)


def create_package(
    sagemaker: Any,
    image: str,
    model_data_url: str,
    metadata: dict[str, str],
    approval: str = "Approved",
    drift_check_baselines: dict[str, Any] | None = None,
    model_metrics: dict[str, Any] | None = None,
) -> str:
    """A package with the config's `training.approval` status, as the training state machine's Register step
    (with the run's data-quality baseline as its DriftCheckBaselines, when the baseline stage made one, and Clarify's
    reports as its ModelMetrics.Bias / .Explainability, when the bias stage made them)."""
    extra: dict[str, Any] = {"DriftCheckBaselines": drift_check_baselines} if drift_check_baselines else {}
    if model_metrics:
        extra["ModelMetrics"] = model_metrics
    response = sagemaker.create_model_package(
        **extra,
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelApprovalStatus=approval,
        CustomerMetadataProperties=metadata,
        InferenceSpecification={
            "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
            "SupportedTransformInstanceTypes": ["ml.m5.large"],
        },
    )
    return str(response["ModelPackageArn"])


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
