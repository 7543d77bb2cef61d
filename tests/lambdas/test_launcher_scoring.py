"""The launcher's scoring record: which model version scored a transform run, written beside its outputs before
the job starts (the store of predictions by model version that the dataset job's quality step reads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from batch.launcher.handler import handler
from batch.launcher.scoring import scoring_record
from common import clients
from esteira_contracts import quality
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import lambda_context
from tests.lambdas.launcher_world import (
    INPUT_RUN,
    KMS,
    artifacts_for,
    bucket_for,
    launcher_env,
    lineage,
    make_registry,
    new_group,
    register,
)


@pytest.fixture
def group(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    name = new_group()
    make_registry(name)
    for key, value in launcher_env(name).items():
        monkeypatch.setenv(key, value)
    return name


def read_record(bucket: str, run_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    got = clients.s3().get_object(Bucket=bucket, Key=f"batch-output/{run_id}/_scoring.json")
    return json.loads(got["Body"].read()), got


def test_given_a_launch_when_the_job_starts_then_its_scoring_record_is_beside_its_outputs(group: str) -> None:
    # GIVEN the registry (version 2 is the newest Approved, its metadata records no threshold)
    sagemaker = clients.sagemaker()
    order: list[str] = []
    jobs = count_calls(sagemaker, "CreateTransformJob")
    sagemaker.meta.events.register("before-call.sagemaker.CreateTransformJob", lambda **_: order.append("job"))
    s3 = clients.s3()
    s3.meta.events.register("before-call.s3.PutObject", lambda **_: order.append("record"))
    # WHEN launched for one dataset run
    out = handler({"input_run_id": INPUT_RUN}, lambda_context())
    # THEN the record names the run, the package and its version, the dataset run and the container's threshold
    record, got = read_record(bucket_for(group), out["run_id"])
    assert record == {
        "record_version": 1,
        "run_id": out["run_id"],
        "model_package_arn": out["model_package_arn"],
        "model_version": "2",
        "input_run_id": INPUT_RUN,
        "scored_at": record["scored_at"],
        "threshold": 0.5,
        "threshold_source": "container-default",
        "task": "binary",
        "task_source": "container-default",
    }
    assert datetime.fromisoformat(record["scored_at"]).tzinfo is not None
    assert out["scoring_record_uri"] == f"s3://{bucket_for(group)}/batch-output/{out['run_id']}/_scoring.json"
    assert out["output_uri"] == f"s3://{bucket_for(group)}/batch-output/{out['run_id']}/"
    # AND it was written first, with the data key, before the one transform job was asked for
    assert order == ["record", "job"] and len(jobs) == 1
    assert got["ServerSideEncryption"] == "aws:kms" and got["SSEKMSKeyId"] == KMS


def test_given_a_package_recording_its_threshold_and_objective_when_launched_then_the_record_carries_them(
    group: str,
) -> None:
    # GIVEN a newer Approved package whose metadata records the served threshold and a regression objective
    metadata = lineage(artifacts_for(group), INPUT_RUN) | {
        quality.THRESHOLD_METADATA_KEY: "0.35",
        quality.OBJECTIVE_METADATA_KEY: "multi:softprob",
    }
    arn = register(group, "Approved", metadata)
    # WHEN the event names it
    out = handler({"input_run_id": INPUT_RUN, "model_package_arn": arn}, lambda_context())
    # THEN its record says so
    record, _ = read_record(bucket_for(group), out["run_id"])
    assert (record["model_version"], record["threshold"], record["threshold_source"]) == (
        arn.rsplit("/", 1)[1],
        0.35,
        "customer-metadata",
    )
    assert (record["task"], record["task_source"]) == ("multiclass", "customer-metadata")


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({}, (0.5, "container-default", "binary", "container-default")),
        ({"hyperparameter.threshold": "not-a-number"}, (0.5, "container-default", "binary", "container-default")),
        ({"hyperparameter.threshold": "1.5"}, (0.5, "container-default", "binary", "container-default")),
        ({"hyperparameter.threshold": "0.7"}, (0.7, "customer-metadata", "binary", "container-default")),
        ({"metric.rmse": "1.2"}, (0.5, "container-default", "regression", "package-metrics")),
        (
            {"hyperparameter.objective": "reg:squarederror"},
            (0.5, "container-default", "regression", "customer-metadata"),
        ),
        ({"hyperparameter.objective": "rank:pairwise"}, (0.5, "container-default", "binary", "container-default")),
    ],
)
def test_given_package_metadata_when_recorded_then_threshold_and_task_follow_the_rule(
    metadata: dict[str, str], expected: tuple[float, str, str, str]
) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/12"
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    record = scoring_record("esteira-dev-20261206-100000", arn, {"CustomerMetadataProperties": metadata}, "ds-1", now)
    assert (record["threshold"], record["threshold_source"], record["task"], record["task_source"]) == expected
    assert (record["model_version"], record["scored_at"]) == ("12", "2026-12-06T10:00:00+00:00")


def test_a_package_arn_without_a_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a versioned model package ARN"):
        quality.model_version_of("arn:aws:sagemaker:us-east-1:123456789012:model-package/churn")
