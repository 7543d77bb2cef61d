"""The launcher tests' world on moto: a model package group whose packages record their dataset run, this
environment's artifacts bucket (the dataset runs' manifests) and predictions bucket (their batch input)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from common import clients
from esteira_contracts.batch import feature_schema_digest

ROLE = "arn:aws:iam::123456789012:role/esteira-dev-sagemaker"
KMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Dataset runs are named like Prepare's training jobs: <prefix>-YYYYMMDD-HHMMSS-<hex>.
INPUT_RUN = "esteira-dev-20250101-020000-abc123"
NEWER_INPUT_RUN = "esteira-dev-20250102-020000-def456"
SPEC = "employees"
FEATURES = ("idade", "salario", "tempo_de_casa")
_CONTAINERS = {
    "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/esteira-model:abc123"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def bucket_for(group: str) -> str:
    return f"{group}-predictions".lower()


def artifacts_for(group: str) -> str:
    return f"{group}-artifacts".lower()


def package_arn(group: str, version: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}"


def new_group() -> str:
    return f"churn-{datetime.now(UTC).strftime('%H%M%S%f')}"


def launcher_env(group: str, **overrides: str) -> dict[str, str]:
    return {
        "MODEL_PACKAGE_GROUP": group,
        "SAGEMAKER_ROLE_ARN": ROLE,
        "PREDICTIONS_BUCKET": bucket_for(group),
        "ARTIFACTS_BUCKET": artifacts_for(group),
        "INSTANCE_TYPE": "ml.m5.large",
        "INSTANCE_COUNT": "2",
        "MAX_PAYLOAD_MB": "6",
        "MAX_CONCURRENT_TRANSFORMS": "8",
        "KMS_KEY_ID": KMS,
        "ENV_NAME": "dev",
    } | overrides


def lineage(bucket: str, run: str, features: tuple[str, ...] = FEATURES, spec: str = SPEC) -> dict[str, str]:
    """What Register records (training_definition.py): the dataset run's folder, the spec, the features' digest."""
    return {
        "lineage.dataset": f"s3://{bucket}/datasets/run_id={run}/",
        "lineage.spec": spec,
        "lineage.feature_schema": feature_schema_digest(features),
        "metric.auc": "0.9",
    }


def register(group: str, status: str, metadata: dict[str, str] | None) -> str:
    extra = {"CustomerMetadataProperties": metadata} if metadata else {}
    arn: str = clients.sagemaker().create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=_CONTAINERS, ModelApprovalStatus=status, **extra
    )["ModelPackageArn"]
    return arn


def put_run(
    group: str,
    run: str,
    *,
    rows: bytes | None = b"1,30,5000.0,2\n",
    features: tuple[str, ...] = FEATURES,
    spec: str = SPEC,
    manifest: bool = True,
    status: str = "ok",
) -> None:
    """One dataset run of this environment: its batch input (unless ``rows`` is None) and its manifest."""
    s3 = clients.s3()
    if rows is not None:
        s3.put_object(Bucket=bucket_for(group), Key=f"batch-input/run_id={run}/part-00000.csv", Body=rows)
    if manifest:
        body = {"run_id": run, "status": status, "spec_name": spec, "features": list(features)}
        s3.put_object(
            Bucket=artifacts_for(group), Key=f"datasets/run_id={run}/manifest.json", Body=json.dumps(body).encode()
        )


def make_registry(group: str) -> Any:
    """Versions 1-2 Approved (trained here on INPUT_RUN), 3 Pending, 4 Rejected, a newer Approved one in another
    group; the run's batch input and manifest, and a stray object outside any run folder."""
    sagemaker = clients.sagemaker()
    for name in (group, f"{group}-other"):
        sagemaker.create_model_package_group(ModelPackageGroupName=name)
    for status in ("Approved", "Approved", "PendingManualApproval", "Rejected"):
        register(group, status, lineage(artifacts_for(group), INPUT_RUN))
    register(f"{group}-other", "Approved", lineage(artifacts_for(group), INPUT_RUN))
    s3 = clients.s3()
    for bucket in (bucket_for(group), artifacts_for(group)):
        s3.create_bucket(Bucket=bucket)
    put_run(group, INPUT_RUN)
    s3.put_object(Bucket=bucket_for(group), Key="batch-input/stray.csv", Body=b"9,9,9\n")
    return sagemaker
