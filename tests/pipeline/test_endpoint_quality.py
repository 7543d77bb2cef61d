"""The local stand-in for the endpoint's model-quality monitor: capture written for what the real server answers,
merged with ground truth by inferenceId = eventId, scored with the container's own metric code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from esteira_contracts.endpoint_quality import EndpointQualityError
from esteira_model.predictor import Predictor
from pipeline.endpoint_quality import (
    MergedRecord,
    capture_key,
    capture_line,
    capture_records,
    merge,
    quality_statistics,
    read_jsonl,
    to_jsonl,
)
from pipeline.serving import ServeClient
from pipeline.smoke_check import csv_records
from tests.containers.model.conftest import Server
from tests.pipeline.smoke_models import TaskModel

MOMENT = datetime(2026, 12, 6, 11, 30, 5, tzinfo=UTC)
METRICS = ("auc", "f1", "accuracy", "precision", "recall")


def ground_truth_line(record_id: str, label: str) -> dict[str, Any]:
    """A label as the dataset job writes it (SageMaker's ground-truth format)."""
    return {
        "groundTruthData": {"data": label, "encoding": "CSV"},
        "eventMetadata": {"eventId": record_id},
        "eventVersion": "0",
    }


@pytest.fixture(scope="module")
def binary(task_models: dict[str, TaskModel]) -> TaskModel:
    return task_models["binary"]


@pytest.fixture(scope="module")
def client(task_servers: dict[str, Server]) -> Iterator[ServeClient]:
    serve = ServeClient(task_servers["binary"].port)
    yield serve
    serve.close()


@pytest.fixture(scope="module")
def captured(binary: TaskModel, client: ServeClient) -> list[dict[str, Any]]:
    """Every holdout row sent once, its record id as the inference id."""
    predictor = Predictor.load(binary.model_dir)
    features = binary.holdout[list(predictor.schema.names)].to_numpy(dtype=np.float64)
    ids = [f"emp-{key}" for key in binary.holdout["customer_id"]]
    return capture_records(client, zip(ids, csv_records(features), strict=True), clock=lambda: MOMENT)


def labels_of(binary: TaskModel) -> list[dict[str, Any]]:
    return [
        ground_truth_line(f"emp-{key}", str(label))
        for key, label in zip(binary.holdout["customer_id"], binary.holdout["label"], strict=True)
    ]


def test_capture_is_sagemakers_format_one_request_per_record(
    binary: TaskModel, client: ServeClient, captured: list[dict[str, Any]]
) -> None:
    # GIVEN the holdout sent through the capture stand-in
    # THEN there is one capture line and one request per record, each in the documented capture format
    assert len(captured) == len(binary.holdout)
    assert client.requests == len(captured)
    first = captured[0]
    assert set(first) == {"captureData", "eventMetadata", "eventVersion"}
    assert first["eventVersion"] == "0"
    for side, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
        assert set(first["captureData"][side]) == {"observedContentType", "mode", "data", "encoding"}
        assert first["captureData"][side]["observedContentType"] == "text/csv"
        assert first["captureData"][side]["mode"] == mode
        assert first["captureData"][side]["encoding"] == "CSV"
    assert first["eventMetadata"]["inferenceId"] == f"emp-{binary.holdout['customer_id'].iloc[0]}"
    assert first["eventMetadata"]["inferenceTime"] == "2026-12-06T11:30:05Z"
    assert re.fullmatch(r"[0-9a-f-]{36}", first["eventMetadata"]["eventId"])
    # AND the response is the container's "label,score": the label at index 0, the probability at index 1
    label, score = first["captureData"]["endpointOutput"]["data"].rstrip("\n").split(",")
    assert label in {"0", "1"} and 0.0 <= float(score) <= 1.0
    # AND the lines survive JSON lines
    assert read_jsonl(to_jsonl(captured), "capture.jsonl") == captured


def test_merged_capture_scores_as_the_container_scored_the_holdout(
    binary: TaskModel, captured: list[dict[str, Any]]
) -> None:
    # GIVEN every holdout record's label arrived as ground truth
    merged = merge(captured, labels_of(binary))
    # WHEN the monitor's statistics are computed at the served threshold
    statistics = quality_statistics(merged, threshold=0.5, evaluation_time=MOMENT)
    # THEN they are what train measured on the same holdout with the same metric code
    metrics = statistics["binary_classification_metrics"]
    for name in METRICS:
        assert metrics[name]["value"] == pytest.approx(binary.holdout_metric(name), abs=1e-12), name
    matrix = binary.evaluation["holdout"]["confusion_matrix"]
    assert metrics["confusion_matrix"] == {
        "0": {"0": matrix[0][0], "1": matrix[0][1]},
        "1": {"0": matrix[1][0], "1": matrix[1][1]},
    }
    assert metrics["true_positive_rate"]["value"] == metrics["recall"]["value"]
    assert metrics["false_positive_rate"]["value"] == pytest.approx(matrix[0][1] / (matrix[0][0] + matrix[0][1]))
    # AND the count and shape are the monitor's statistics.json
    assert statistics["version"] == 0.0
    assert statistics["dataset"] == {"item_count": len(binary.holdout), "evaluation_time": "2026-12-06T11:30:05Z"}
    # AND with 200 records or more, each metric has the standard deviation of five 80% samples
    assert all(isinstance(metrics[name]["standard_deviation"], float) for name in METRICS)
    json.dumps(statistics, allow_nan=False)


def test_only_labelled_predictions_merge_and_the_latest_label_wins(captured: list[dict[str, Any]]) -> None:
    # GIVEN labels for two captured records (one labelled twice) and for a record never captured
    first, second = (line["eventMetadata"]["inferenceId"] for line in captured[:2])
    truth = [ground_truth_line(first, "0"), ground_truth_line(second, "1"), ground_truth_line(first, "1")]
    truth.append(ground_truth_line("never-scored", "1"))
    # WHEN merged
    merged = merge(captured, truth)
    # THEN only the two captured records merge, in capture order, the later label counting
    assert [(record.inference_id, record.ground_truth) for record in merged] == [(first, "1"), (second, "1")]
    # AND with under 200 records the standard deviation is NaN, as the monitor writes it
    statistics = quality_statistics(merged, threshold=0.5)
    assert statistics["binary_classification_metrics"]["accuracy"]["standard_deviation"] == "NaN"


def test_a_capture_without_an_inference_id_merges_by_its_event_id() -> None:
    line = capture_line("emp-1", "1,2\n", "1,0.9\n", event_id="event-7", inference_time=MOMENT)
    del line["eventMetadata"]["inferenceId"]
    (record,) = merge([line], [ground_truth_line("event-7", "1")])
    assert record == MergedRecord("event-7", "1", 0.9, "1")


def test_capture_key_is_the_hosting_layers_hourly_layout() -> None:
    key = capture_key("esteira-local-endpoint", "champion", MOMENT, "run-1")
    assert key == "data-capture/esteira-local-endpoint/champion/2026/12/06/11/run-1.jsonl"


def records(*rows: tuple[str, str, float, str]) -> list[MergedRecord]:
    return [MergedRecord(*row) for row in rows]


@pytest.mark.parametrize(
    ("merged", "message"),
    [
        pytest.param([], "no captured prediction has ground truth", id="nothing-merged"),
        pytest.param(records(("a", "1", 0.9, "yes")), "the ground truth of 'a' is 'yes'", id="label-not-a-class"),
        pytest.param(
            records(("a", "1", 0.4, "1")), "training.hyperparameters.threshold is not the served", id="other-threshold"
        ),
    ],
)
def test_statistics_refuse_what_the_monitor_could_not_score(merged: list[MergedRecord], message: str) -> None:
    with pytest.raises(EndpointQualityError, match=re.escape(message)):
        quality_statistics(merged, threshold=0.5)


def test_bad_capture_and_ground_truth_are_named() -> None:
    good = capture_line("a", "1,2\n", "1,0.9\n", event_id="e", inference_time=MOMENT)
    two = capture_line("b", "1,2\n3,4\n", "1,0.9\n0,0.1\n", event_id="f", inference_time=MOMENT)
    with pytest.raises(EndpointQualityError, match=r"capture 'b': the response holds 2 records"):
        merge([good, two], [])
    with pytest.raises(EndpointQualityError, match=r"ground-truth line 1 has no eventMetadata.eventId"):
        merge([good], [{"groundTruthData": {"data": "1", "encoding": "CSV"}}])
    with pytest.raises(EndpointQualityError, match=r"gt.jsonl, line 2: not JSON"):
        read_jsonl(b'{"a": 1}\n{oops\n', "gt.jsonl")


@pytest.mark.parametrize("inference_id", ["", " leading-space", "x" * 65, "ação"])
def test_an_id_sagemaker_would_refuse_as_inference_id_is_named(inference_id: str) -> None:
    with pytest.raises(EndpointQualityError, match="is no InferenceId"):
        capture_line(inference_id, "1\n", "1,0.9\n", event_id="e", inference_time=MOMENT)


def test_a_record_id_sent_twice_is_refused(client: ServeClient, binary: TaskModel) -> None:
    predictor = Predictor.load(binary.model_dir)
    row = csv_records(binary.holdout[list(predictor.schema.names)].to_numpy(dtype=np.float64)[:1])[0]
    with pytest.raises(EndpointQualityError, match="'emp-1' is sent twice"):
        capture_records(client, [("emp-1", row), ("emp-1", row)])
