"""Evaluate: publication, the gate vs threshold and champion, image digest, metadata, input and handler (the pure gate:
test_evaluate_gate.py; finding evaluation.json: test_evaluate_archive.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from esteira_contracts import SettingsError
from esteira_contracts.training import EvaluateSettings
from tests.lambdas.training.conftest import SetEnv
from tests.lambdas.training.evaluate_helpers import BINARY, BINARY_AUC, run, with_auc
from tests.lambdas.training.helpers import (
    JOB_NAME,
    TrainingResources,
    fixture_bytes,
    lambda_context,
    model_members,
)
from training.errors import EvaluationNotFound, InvalidRequest
from training.evaluate.handler import handler
from training.evaluate.logic import UNKNOWN_DIGEST, customer_metadata, evaluate

# CustomerMetadataProperties' key/value pattern ^([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)$, for the ASCII we produce.
METADATA_TEXT = re.compile(r"^[A-Za-z0-9 _.:/=+\-@]*$")
OUTPUT_KEYS = {
    "passed",
    "reason",
    "metrics",
    "metric_name",
    "metric_value",
    "champion",
    "evaluation_uri",
    "evaluation_source",
    "image_digest",
    "customer_metadata",
}


# --- end to end on moto -------------------------------------------------------------------------------------------


def test_passes_the_threshold_without_a_champion(aws: TrainingResources) -> None:
    # GIVEN a finished job whose output.tar.gz holds the container's evaluation.json, an empty registry, a pushed image
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    aws.put_tarball("model.tar.gz", model_members(BINARY))
    digest = aws.push_image()
    # WHEN evaluate runs with an auc >= 0.8 gate
    out = run(aws)
    # THEN it passes, and reports the flat metrics, the evaluation's new home and the image digest
    assert set(out) == OUTPUT_KEYS
    assert out["passed"] is True
    assert out["reason"] == (
        f"auc {BINARY_AUC:.6g} >= threshold 0.8 and there is no approved champion (the candidate on 80 validation rows)"
    )
    assert out["metric_name"] == "auc"
    assert out["metric_value"] == BINARY_AUC
    assert set(out["metrics"]) == {"auc", "f1", "accuracy", "precision", "recall"}
    assert out["champion"] is None
    assert out["evaluation_uri"] == f"s3://{aws.artifacts_bucket}/models/{JOB_NAME}/evaluation.json"
    assert out["image_digest"] == digest
    json.dumps(out, allow_nan=False)  # Step Functions accepts only strict JSON


def test_a_failing_threshold_is_a_result_not_an_error(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    out = run(aws, GATE_THRESHOLD="0.9")
    assert out["passed"] is False
    assert out["reason"] == f"auc {BINARY_AUC:.6g} < threshold 0.9 (the candidate on 80 validation rows)"


def test_the_evaluation_is_published_byte_for_byte(aws: TrainingResources) -> None:
    # GIVEN a job output
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    # WHEN evaluate runs
    run(aws)
    # THEN models/<job>/evaluation.json holds exactly what the container wrote (ModelMetrics points at it)
    assert aws.get(aws.artifacts_bucket, f"models/{JOB_NAME}/evaluation.json") == BINARY
    head = aws.s3.head_object(Bucket=aws.artifacts_bucket, Key=f"models/{JOB_NAME}/evaluation.json")
    assert head["ContentType"] == "application/json"


def test_champion_is_the_latest_approved_package(aws: TrainingResources) -> None:
    # GIVEN an old approved package, a newer approved one (the champion) and newer unapproved ones
    aws.create_package("Approved", {"metric.auc": "0.95"})
    champion = aws.create_package("Approved", {"metric.auc": "0.85"})
    aws.create_package("Rejected", {"metric.auc": "0.99"})
    aws.create_package("PendingManualApproval", {"metric.auc": "0.99"})
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    # WHEN evaluate runs with a 0.02 improvement margin
    out = run(aws, MIN_IMPROVEMENT="0.02")
    # THEN it compares against the newest approved package only, and 0.873 beats 0.85 + 0.02
    assert out["champion"] == {"arn": champion, "metric_value": 0.85}
    assert out["passed"] is True
    assert out["reason"].endswith(
        "and beats champion 0.85 by at least 0.02 (the candidate on 80 validation rows; the champion's stored metric)"
    )


def test_candidate_that_does_not_beat_the_champion_by_the_margin_fails(aws: TrainingResources) -> None:
    aws.create_package("Approved", {"metric.auc": "0.85"})
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    out = run(aws, MIN_IMPROVEMENT="0.05")
    assert out["passed"] is False
    assert "but does not beat champion 0.85 by at least 0.05 (needs >= 0.9)" in out["reason"]


@pytest.mark.parametrize("metadata", [{}, {"metric.auc": "n/a"}, {"metric.auc": "nan"}, {"metric.f1": "0.99"}])
def test_champion_without_a_usable_metric_is_gated_on_the_threshold(
    aws: TrainingResources, metadata: dict[str, str]
) -> None:
    # GIVEN a champion registered without a usable metric.auc (e.g. by hand)
    arn = aws.create_package("Approved", metadata)
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    # WHEN evaluate runs
    out = run(aws, MIN_IMPROVEMENT="0.5")
    # THEN the champion is reported without a value and only the threshold decides
    assert out["champion"] == {"arn": arn, "metric_value": None}
    assert out["passed"] is True


def test_regression_gate_minimises_rmse_and_skips_undefined_metrics(aws: TrainingResources) -> None:
    # GIVEN a regression evaluation whose r2 is NaN, and a champion with a worse rmse
    aws.create_package("Approved", {"metric.rmse": "1.05"})
    aws.put_tarball("output.tar.gz", {"evaluation.json": fixture_bytes("evaluation/regression_r2_nan.json")})
    # WHEN the gate metric is rmse (direction inferred: lower is better)
    out = run(aws, GATE_METRIC="validation:rmse", GATE_THRESHOLD="1.0", MIN_IMPROVEMENT="0.1")
    # THEN rmse 0.94 <= 1.0 and beats 1.05 by >= 0.1; the NaN r2 is left out of the metrics
    assert out["passed"] is True
    assert out["metric_name"] == "rmse"
    assert set(out["metrics"]) == {"rmse", "mae"}
    assert out["reason"].startswith("rmse 0.939741 <= threshold 1 and beats champion 1.05")


# --- image digest -------------------------------------------------------------------------------------------------


def test_digest_in_the_image_uri_is_used_as_is(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    digest = "sha256:" + "ab" * 32
    image = f"{aws.image_uri().rsplit(':', 1)[0]}@{digest}"
    out = run(aws, aws.evaluate_event(training_image=image))
    assert out["image_digest"] == digest
    assert out["customer_metadata"]["lineage.image"] == image


@pytest.mark.parametrize(
    "image",
    ["python:3.11-slim", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/no-such-repository:1.0"],
    ids=["not-ecr", "missing-repository"],
)
def test_an_unresolvable_image_has_an_unknown_digest(aws: TrainingResources, image: str) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    out = run(aws, aws.evaluate_event(training_image=image))
    assert out["image_digest"] == UNKNOWN_DIGEST
    assert out["customer_metadata"]["lineage.image_digest"] == UNKNOWN_DIGEST


def test_an_unpushed_tag_has_an_unknown_digest(aws: TrainingResources) -> None:
    aws.push_image("1.3.0")
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    assert run(aws)["image_digest"] == UNKNOWN_DIGEST


# --- customer metadata --------------------------------------------------------------------------------------------


def test_customer_metadata_is_strings_that_createmodelpackage_accepts(aws: TrainingResources) -> None:
    # GIVEN a job and its pushed image
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    digest = aws.push_image()
    event = aws.evaluate_event()
    # WHEN evaluate runs
    out = run(aws, event)
    metadata = out["customer_metadata"]
    # THEN every metric and the lineage are there, as strings within CreateModelPackage's limits
    assert metadata == {
        **{f"metric.{name}": repr(value) for name, value in out["metrics"].items()},
        "lineage.data": event["train_uri"],
        "lineage.manifest": event["manifest_uri"],
        "lineage.image": event["training_image"],
        "lineage.image_digest": digest,
        "lineage.training_job": JOB_NAME,
        "lineage.execution": event["lineage"]["execution"],
        "lineage.git_commit": event["lineage"]["git_commit"],
    }
    assert float(metadata["metric.auc"]) == out["metric_value"]  # exact round trip for the next champion check
    assert len(metadata) <= 50
    for key, value in metadata.items():
        assert isinstance(value, str)
        assert METADATA_TEXT.match(key) and len(key) <= 128, key
        assert METADATA_TEXT.match(value) and len(value) <= 256, value


def test_customer_metadata_accepted_by_moto_create_model_package(aws: TrainingResources) -> None:
    # GIVEN an evaluation's metadata
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    metadata = run(aws)["customer_metadata"]
    # WHEN Register would store it, and a later evaluation reads it back as the champion
    aws.create_package("Approved", metadata)
    aws.put_tarball("output.tar.gz", {"evaluation.json": with_auc(0.9)})
    out = run(aws, MIN_IMPROVEMENT="0.01")
    # THEN the champion's metric is the stored auc
    assert out["champion"]["metric_value"] == BINARY_AUC
    assert out["passed"] is True


def test_customer_metadata_keeps_at_most_50_entries_and_the_gate_metric() -> None:
    metrics = {f"m{i:02d}": float(i) for i in range(60)} | {"zzz_gate": 0.9}
    lineage = {"lineage.training_job": JOB_NAME}
    metadata = customer_metadata(metrics, "zzz_gate", lineage)
    assert len(metadata) == 50
    assert metadata["metric.zzz_gate"] == "0.9"
    assert metadata["lineage.training_job"] == JOB_NAME


def test_metric_names_not_allowed_as_metadata_keys_are_skipped() -> None:
    metadata = customer_metadata({"auc": 0.9, "weird!name": 1.0}, "auc", {})
    assert metadata == {"metric.auc": "0.9"}


def test_a_lineage_value_metadata_cannot_hold_is_an_invalid_request(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    event = aws.evaluate_event(train_uri=f"s3://{aws.data_bucket}/{'x' * 300}/")
    with pytest.raises(InvalidRequest, match=r"lineage\.data"):
        run(aws, event)


# --- input and settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lineage", "message"),
    [
        ({"image": "spoofed"}, "lineage key 'image'"),
        ({"Bad Key": "x"}, "lineage key 'Bad Key'"),
        ({"execution": 3}, "lineage.execution must be a string"),
        (["execution"], "lineage must be an object"),
    ],
)
def test_bad_caller_lineage_is_an_invalid_request(aws: TrainingResources, lineage: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        run(aws, aws.evaluate_event(lineage=lineage))


def test_caller_lineage_is_optional(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    event = aws.evaluate_event()
    del event["lineage"]
    metadata = run(aws, event)["customer_metadata"]
    assert "lineage.execution" not in metadata
    assert metadata["lineage.training_job"] == JOB_NAME


def test_model_artifacts_default_from_output_uri(aws: TrainingResources) -> None:
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    event = aws.evaluate_event(output_uri=f"s3://{aws.artifacts_bucket}/models/")
    del event["model_artifacts"]
    assert run(aws, event)["evaluation_source"].endswith(f"models/{JOB_NAME}/output/output.tar.gz")


def test_bad_input_lists_every_problem(aws: TrainingResources) -> None:
    # GIVEN an input with a bad job name, a non-S3 artifact, no image and no lineage
    event = {"training_job_name": "bad_name", "model_artifacts": "/opt/ml/model.tar.gz"}
    # WHEN evaluate runs
    # THEN one InvalidRequest names each problem
    with pytest.raises(InvalidRequest) as caught:
        run(aws, event)
    message = str(caught.value)
    for part in ("training_job_name", "model_artifacts", "training_image", "train_uri", "manifest_uri"):
        assert part in message


def test_a_non_object_input_is_an_invalid_request(aws: TrainingResources) -> None:
    with pytest.raises(InvalidRequest, match="JSON object"):
        evaluate([], EvaluateSettings.from_env(aws.evaluate_env()), aws.s3, aws.sagemaker, lambda _r: aws.ecr)


def test_evaluate_settings_name_every_bad_variable() -> None:
    env = {"GATE_THRESHOLD": "high", "MIN_IMPROVEMENT": "-0.1", "GATE_DIRECTION": "up", "ARTIFACTS_BUCKET": "a"}
    with pytest.raises(SettingsError) as caught:
        EvaluateSettings.from_env(env)
    message = str(caught.value)
    for part in ("MODEL_PACKAGE_GROUP is required", "GATE_THRESHOLD", "MIN_IMPROVEMENT", "GATE_DIRECTION", "bucket"):
        assert part in message


def test_evaluate_settings_infer_the_direction() -> None:
    base = {"MODEL_PACKAGE_GROUP": "g", "GATE_THRESHOLD": "0.8", "ARTIFACTS_BUCKET": "artifacts"}
    assert EvaluateSettings.from_env(base).maximize
    assert not EvaluateSettings.from_env(base | {"GATE_METRIC": "rmse"}).maximize
    assert EvaluateSettings.from_env(base | {"GATE_METRIC": "rmse", "GATE_DIRECTION": "maximize"}).maximize


# --- handler ------------------------------------------------------------------------------------------------------


def test_handler_end_to_end(aws: TrainingResources, set_env: SetEnv) -> None:
    # GIVEN a finished job, a champion, a pushed image and the Lambda's environment
    aws.put_tarball("output.tar.gz", {"evaluation.json": BINARY})
    aws.put_tarball("model.tar.gz", model_members(BINARY))
    aws.create_package("Approved", {"metric.auc": "0.9"})
    digest = aws.push_image()
    set_env(aws.evaluate_env())
    # WHEN the deployed handler is invoked with a Lambda context
    out = handler(aws.evaluate_event(), lambda_context())
    # THEN the candidate (0.873) loses to the champion (0.9): passed is false, not an error
    assert out["passed"] is False
    assert out["image_digest"] == digest
    assert "does not beat champion 0.9" in out["reason"]
    json.dumps(out, allow_nan=False)


def test_handler_raises_the_named_error_for_step_functions(aws: TrainingResources, set_env: SetEnv) -> None:
    set_env(aws.evaluate_env())
    with pytest.raises(EvaluationNotFound):
        handler(aws.evaluate_event(), lambda_context())
