"""Test helpers for the training Lambdas: fixture files, resources on the moto server, tarballs, a Lambda context."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

REGION = "eu-west-1"
ACCOUNT = "123456789012"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "training"
CURATED_PREFIX = "extractions/employees/"
RUN_ID = "jr_4f1c2a9b7e0d"
ZERO_ROWS_RUN_ID = "jr_9a8b7c6d5e4f"
JOB_NAME = "esteira-dev-20250314-020700-a1b2c3"
IMAGE_TAG = "1.4.0"


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> Any:
    return json.loads(fixture_bytes(relative))


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes Powertools' ``inject_lambda_context`` reads; a plain dataclass, not a mock."""

    function_name: str = "esteira-training-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:esteira-training-test"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "11111111-2222-3333-4444-555555555555"
    log_group_name: str = "/aws/lambda/esteira-training-test"
    log_stream_name: str = "2025/03/14/[$LATEST]0123456789abcdef"
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def lambda_context() -> LambdaContext:
    return cast(LambdaContext, FakeLambdaContext())


def tarball(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``members`` in the given order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_741_917_600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def model_members(evaluation: bytes | None, model_bytes: int = 4096) -> dict[str, bytes]:
    """model.tar.gz as the container writes it: the booster, the feature schema and (maybe) evaluation.json."""
    members = {
        "xgboost-model.ubj": hashlib.sha256(b"model").digest() * (model_bytes // 32),
        "feature-schema.json": b'{"names": ["f0"], "types": ["float"]}',
    }
    if evaluation is not None:
        members["evaluation.json"] = evaluation
    return members


@dataclass
class TrainingResources:
    """Uniquely named resources on the shared moto server for one test."""

    data_bucket: str
    artifacts_bucket: str
    package_group: str
    repository: str
    s3: Any = field(repr=False)
    sagemaker: Any = field(repr=False)
    ecr: Any = field(repr=False)

    @classmethod
    def create(cls, clients: dict[str, Any], suffix: str) -> TrainingResources:
        s3, sagemaker, ecr = clients["s3"], clients["sagemaker"], clients["ecr"]
        data_bucket, artifacts_bucket = f"curated-{suffix}", f"artifacts-{suffix}"
        for bucket in (data_bucket, artifacts_bucket):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        group, repository = f"esteira-{suffix}", f"esteira-model-{suffix}"
        sagemaker.create_model_package_group(ModelPackageGroupName=group)
        ecr.create_repository(repositoryName=repository)
        return cls(data_bucket, artifacts_bucket, group, repository, s3, sagemaker, ecr)

    # --- URIs ---------------------------------------------------------------------------------------------
    @property
    def curated_uri(self) -> str:
        return f"s3://{self.data_bucket}/{CURATED_PREFIX}"

    def job_prefix(self, job: str = JOB_NAME) -> str:
        return f"models/{job}/output/"

    # --- environment ------------------------------------------------------------------------------------
    def prepare_env(self, **overrides: str) -> dict[str, str]:
        env = {
            "CURATED_URI": self.curated_uri,
            "ARTIFACTS_BUCKET": self.artifacts_bucket,
            "MODEL_PREFIX": "models/",
            "CHECKPOINT_PREFIX": "checkpoints/",
            "JOB_NAME_PREFIX": "esteira-dev",
        }
        return env | overrides

    def evaluate_env(self, **overrides: str) -> dict[str, str]:
        env = {
            "MODEL_PACKAGE_GROUP": self.package_group,
            "GATE_METRIC": "auc",
            "GATE_THRESHOLD": "0.8",
            "MIN_IMPROVEMENT": "0.0",
            "ARTIFACTS_BUCKET": self.artifacts_bucket,
            "MODEL_PREFIX": "models/",
        }
        return env | overrides

    # --- data -------------------------------------------------------------------------------------------
    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def put_manifest(self, body: bytes | dict[str, Any], run_date: str, run_id: str, latest: bool = False) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        key = f"{CURATED_PREFIX}_manifests/dt={run_date}/{run_id}.json"
        self.put(self.data_bucket, key, raw)
        if latest:
            self.put(self.data_bucket, f"{CURATED_PREFIX}_manifests/latest.json", raw)
        return f"s3://{self.data_bucket}/{key}"

    def put_run(self, manifest: dict[str, Any], latest: bool = True) -> str:
        """A committed run as the extraction job leaves it: a Parquet part, the dated manifest and latest.json."""
        run_date, run_id = manifest["run_date"], manifest["run_id"]
        self.put(self.data_bucket, f"{CURATED_PREFIX}dt={run_date}/run_id={run_id}/part-00000.parquet", b"PAR1")
        return self.put_manifest(manifest, run_date, run_id, latest=latest)

    def put_tarball(self, name: str, members: dict[str, bytes] | bytes, job: str = JOB_NAME) -> str:
        body = members if isinstance(members, bytes) else tarball(members)
        key = self.job_prefix(job) + name
        self.put(self.artifacts_bucket, key, body)
        return f"s3://{self.artifacts_bucket}/{key}"

    def get(self, bucket: str, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    # --- registry ---------------------------------------------------------------------------------------
    def create_package(self, status: str, metadata: dict[str, str] | None = None) -> str:
        """A model package in the group; packages are ordered by creation time, so they are spaced apart."""
        time.sleep(0.01)
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=self.package_group,
            ModelApprovalStatus=status,
            CustomerMetadataProperties=metadata or {},
            InferenceSpecification={
                "Containers": [{"Image": self.image_uri(), "ModelDataUrl": f"s3://{self.artifacts_bucket}/m.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        return arn

    def image_uri(self, tag: str = IMAGE_TAG) -> str:
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{self.repository}:{tag}"

    def push_image(self, tag: str = IMAGE_TAG) -> str:
        """Register an image manifest under ``tag``; returns the digest ECR reports for it."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 2,
                "digest": _digest(b"{}"),
            },
            "layers": [],
        }
        self.ecr.put_image(repositoryName=self.repository, imageManifest=json.dumps(manifest), imageTag=tag)
        details = self.ecr.describe_images(repositoryName=self.repository, imageIds=[{"imageTag": tag}])
        digest: str = details["imageDetails"][0]["imageDigest"]
        return digest

    # --- events -----------------------------------------------------------------------------------------
    def evaluate_event(self, **overrides: Any) -> dict[str, Any]:
        text = Template(fixture_bytes("events/evaluate_input.json").decode()).substitute(
            ARTIFACTS_BUCKET=self.artifacts_bucket, DATA_BUCKET=self.data_bucket, REPOSITORY=self.repository
        )
        event: dict[str, Any] = json.loads(text)
        return event | overrides


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
