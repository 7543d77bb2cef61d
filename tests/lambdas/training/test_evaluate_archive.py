"""Evaluate finding evaluation.json in the job's tarballs (``training/evaluate/archive.py``): which tarball, streamed,
and the evaluations it rejects."""

from __future__ import annotations

import os
from typing import Any

import pytest

from esteira_contracts.training import EvaluateSettings
from tests.lambdas.training.evaluate_helpers import BINARY, BINARY_AUC, run, with_auc
from tests.lambdas.training.helpers import JOB_NAME, TrainingResources, fixture_bytes, model_members
from training.errors import EvaluationNotFound, InvalidEvaluation
from training.evaluate.logic import evaluate


class CountingBody:
    """A StreamingBody wrapper that counts the bytes the code under test pulls from S3."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.bytes_read = 0

    def read(self, amt: int | None = None) -> bytes:
        data: bytes = self.body.read(amt)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.body.close()


class CountingS3:
    """The real S3 client, with GetObject bodies wrapped in :class:`CountingBody`."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.bodies: dict[str, CountingBody] = {}

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.real.get_object(**kwargs)
        body = CountingBody(response["Body"])
        self.bodies[kwargs["Key"]] = body
        return response | {"Body": body}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


# --- finding evaluation.json --------------------------------------------------------------------------------------


def test_output_tarball_is_preferred_over_model_tarball(aws: TrainingResources) -> None:
    # GIVEN both tarballs, with different evaluations
    aws.put_tarball("output.tar.gz", {"evaluation.json": with_auc(0.91)})
    aws.put_tarball("model.tar.gz", model_members(with_auc(0.51)))
    # WHEN evaluate runs
    out = run(aws)
    # THEN the output.tar.gz one is used
    assert out["metric_value"] == 0.91
    assert out["evaluation_source"].endswith(f"{JOB_NAME}/output/output.tar.gz")


def test_falls_back_to_model_tarball_when_output_tarball_is_missing(aws: TrainingResources) -> None:
    aws.put_tarball("model.tar.gz", model_members(with_auc(0.88)))
    out = run(aws)
    assert out["metric_value"] == 0.88
    assert out["evaluation_source"].endswith("model.tar.gz")


@pytest.mark.parametrize(
    "output_tarball",
    [b"this is not gzip", b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic", {"failure": b"nothing useful"}],
    ids=["not-gzip", "corrupt-gzip", "no-evaluation"],
)
def test_falls_back_to_model_tarball_when_output_tarball_is_unusable(
    aws: TrainingResources, output_tarball: bytes | dict[str, bytes]
) -> None:
    aws.put_tarball("output.tar.gz", output_tarball)
    aws.put_tarball("model.tar.gz", model_members(with_auc(0.88)))
    out = run(aws)
    assert out["metric_value"] == 0.88


def test_no_tarballs_is_evaluation_not_found(aws: TrainingResources) -> None:
    # GIVEN a job prefix with nothing in it
    # WHEN evaluate runs
    # THEN EvaluationNotFound names both places it looked
    with pytest.raises(EvaluationNotFound) as caught:
        run(aws)
    message = str(caught.value)
    assert "output.tar.gz does not exist" in message
    assert "model.tar.gz does not exist" in message


def test_tarballs_without_evaluation_json_is_evaluation_not_found(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"failure": b"Training failed"})
    aws.put_tarball("model.tar.gz", model_members(None))
    with pytest.raises(EvaluationNotFound, match=r"model\.tar\.gz holds no evaluation\.json"):
        run(aws)


def test_stream_stops_after_evaluation_json(aws: TrainingResources) -> None:
    # GIVEN only a model.tar.gz with evaluation.json first and 3 MB of incompressible model after it
    aws.put_tarball("model.tar.gz", {"evaluation.json": BINARY, "xgboost-model.ubj": os.urandom(3 * 1024 * 1024)})
    counting = CountingS3(aws.s3)
    settings = EvaluateSettings.from_env(aws.evaluate_env())
    # WHEN evaluate runs
    out = evaluate(aws.evaluate_event(), settings, counting, aws.sagemaker, lambda _region: aws.ecr).to_payload()
    # THEN it read a few kilobytes of the tarball, not the model
    assert out["metric_value"] == BINARY_AUC
    assert counting.bodies[f"models/{JOB_NAME}/output/model.tar.gz"].bytes_read < 256 * 1024


def test_evaluation_json_after_the_model_is_still_found(aws: TrainingResources) -> None:
    aws.put_tarball("model.tar.gz", {"xgboost-model.ubj": os.urandom(200_000), "evaluation.json": BINARY})
    assert run(aws)["metric_value"] == BINARY_AUC


def test_root_evaluation_json_wins_over_a_nested_one(aws: TrainingResources) -> None:
    # GIVEN a nested copy before the root one (e.g. a checkpoint folder), and a tarball with only a nested copy
    aws.put_tarball("output.tar.gz", {"extra/evaluation.json": with_auc(0.5), "./evaluation.json": with_auc(0.9)})
    assert run(aws)["metric_value"] == 0.9


def test_a_nested_evaluation_json_is_used_when_there_is_no_root_one(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"data/evaluation.json": with_auc(0.9)})
    assert run(aws)["metric_value"] == 0.9


# --- invalid evaluations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("evaluation/truncated.json", "is not valid JSON"),
        ("evaluation/no_validation.json", "no 'validation' object"),
        ("evaluation/auc_nan.json", "is nan, not a finite number"),
        ("evaluation/auc_string.json", "is '0.91', not a finite number"),
        ("evaluation/regression.json", r"gate metric 'auc' is not in evaluation.json .*'mae', 'r2', 'rmse'"),
    ],
)
def test_bad_evaluation_json_is_invalid_evaluation(aws: TrainingResources, fixture: str, message: str) -> None:
    # GIVEN an output.tar.gz whose evaluation.json is unusable for an auc gate
    aws.put_tarball("output.tar.gz", {"evaluation.json": fixture_bytes(fixture)})
    aws.put_tarball("model.tar.gz", model_members(BINARY))
    # WHEN evaluate runs
    # THEN InvalidEvaluation says what is wrong (the good model.tar.gz copy does not mask the problem)
    with pytest.raises(InvalidEvaluation, match=message):
        run(aws)


def test_an_oversized_evaluation_json_is_invalid(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": b" " * (5 * 1024 * 1024 + 1)})
    with pytest.raises(InvalidEvaluation, match="more than"):
        run(aws)
