"""The endpoint's model quality as SageMaker Model Monitor's model-quality job computes it: capture plus ground truth.

On AWS, SageMaker's hosting layer captures each request the endpoint serves (one JSON line: ``captureData`` with the
request and the response, ``eventMetadata`` with the caller's ``InferenceId``), the dataset job writes the labels
that became final as ground truth (``eventMetadata.eventId`` = that record id), and the model-quality job merges the
two by ``inferenceId`` = ``eventId`` and writes ``statistics.json`` with ``binary_classification_metrics``.

The local container is the model server alone, with no hosting layer in front of it. :func:`capture_records`
stands in for that layer on the client side: it sends every record as its own ``POST /invocations`` (an
InferenceId names one request) and returns the capture line the hosting layer would write for it, in SageMaker's
documented format. :func:`merge` joins capture with ground truth as the merge job does, and
:func:`quality_statistics` computes the binary metrics with the container's own metric code
(:func:`esteira_model.metrics.classification_metrics`, what ``train`` reports), in the monitor's output shape.
The formats' names live in :mod:`esteira_contracts.endpoint_quality`, which the stacks render into the job.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from esteira_contracts import endpoint_quality as contract
from esteira_contracts.endpoint_quality import EndpointQualityError
from esteira_model.metrics import classification_metrics
from pipeline.serving import CsvInvoker

# Model Monitor gives a metric's standard deviation from 200 merged records up: the metric over five random 80%
# samples (the "Model quality metrics" page); below that, "NaN".
STANDARD_DEVIATION_MIN_RECORDS = 200
STANDARD_DEVIATION_SAMPLES = 5
STANDARD_DEVIATION_FRACTION = 0.8
NAN = "NaN"  # how the monitor's JSON spells an undefined number


def _now() -> datetime:
    return datetime.now(UTC)


def _event_id() -> str:
    return str(uuid.uuid4())


def _time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capture_line(
    inference_id: str, request: str, response: str, *, event_id: str, inference_time: datetime
) -> dict[str, Any]:
    """One request and its response as SageMaker's data capture writes them (CSV in, CSV out)."""
    return {
        "captureData": {
            "endpointInput": {
                "observedContentType": contract.CSV_CONTENT_TYPE,
                "mode": contract.INPUT_MODE,
                "data": request,
                "encoding": contract.CSV_ENCODING,
            },
            "endpointOutput": {
                "observedContentType": contract.CSV_CONTENT_TYPE,
                "mode": contract.OUTPUT_MODE,
                "data": response,
                "encoding": contract.CSV_ENCODING,
            },
        },
        "eventMetadata": {
            "eventId": event_id,
            "inferenceId": contract.check_inference_id(inference_id),
            "inferenceTime": _time_text(inference_time),
        },
        "eventVersion": contract.EVENT_VERSION,
    }


def capture_records(
    invoker: CsvInvoker,
    records: Iterable[tuple[str, str]],
    *,
    clock: Callable[[], datetime] = _now,
    event_ids: Callable[[], str] = _event_id,
) -> list[dict[str, Any]]:
    """Invoke the served model once per ``(inference id, headerless CSV features)`` record; its capture lines.

    Stands in for SageMaker's hosting layer, which captures every request of an endpoint whose capture is on (here
    100% of what is sent). The inference id is the record id, as callers pass it to InvokeEndpoint.
    """
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    for inference_id, features in records:
        if inference_id in seen:
            raise EndpointQualityError(f"inference id {inference_id!r} is sent twice: each names one request")
        seen.add(contract.check_inference_id(inference_id))
        request = features.rstrip("\r\n") + "\n"
        (answer,) = invoker.invoke_csv([features.rstrip("\r\n")])
        lines.append(capture_line(inference_id, request, answer + "\n", event_id=event_ids(), inference_time=clock()))
    return lines


def capture_key(endpoint_name: str, variant: str, inference_time: datetime, name: str) -> str:
    """Where the hosting layer would put a capture file: ``data-capture/<endpoint>/<variant>/yyyy/mm/dd/hh/``."""
    hour = inference_time.astimezone(UTC).strftime(contract.HOUR_FOLDER_FORMAT)
    return f"{contract.capture_prefix(endpoint_name)}{variant}/{hour}{name}.jsonl"


def to_jsonl(lines: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines)


def read_jsonl(body: bytes, source: str) -> list[dict[str, Any]]:
    """JSON lines (capture or ground truth) as dicts; a line that is not a JSON object is named with its file."""
    lines: list[dict[str, Any]] = []
    for number, raw in enumerate(body.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as err:
            raise EndpointQualityError(f"{source}, line {number}: not JSON ({err.msg})") from None
        if not isinstance(value, dict):
            raise EndpointQualityError(f"{source}, line {number}: not a JSON object")
        lines.append(value)
    return lines


# --------------------------------------------------------------------------------------------------- merge


@dataclass(frozen=True)
class MergedRecord:
    """A captured prediction with the label that arrived for it."""

    inference_id: str
    predicted_label: str  # the response's InferenceAttribute
    probability: float  # the response's ProbabilityAttribute
    ground_truth: str


def _field(line: dict[str, Any], path: str, what: str) -> Any:
    node: Any = line
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise EndpointQualityError(f"{what} has no {path}")
        node = node[part]
    return node


def _csv_fields(data: Any, encoding: Any, what: str) -> list[str]:
    if encoding != contract.CSV_ENCODING or not isinstance(data, str):
        raise EndpointQualityError(f"{what}: the response is {encoding!r}, not CSV text; the monitor reads CSV indexes")
    records = [line for line in data.splitlines() if line.strip()]
    if len(records) != 1:
        raise EndpointQualityError(f"{what}: the response holds {len(records)} records; an inference id names one")
    return records[0].split(",")


def _prediction(line: dict[str, Any], index: int) -> tuple[str, str, float]:
    what = f"capture line {index}"
    metadata = _field(line, "eventMetadata", what)
    # The merge key: the caller's inference id, else the event id SageMaker made (as Model Monitor does).
    key = (metadata.get("inferenceId") or metadata.get("eventId")) if isinstance(metadata, dict) else None
    if not isinstance(key, str) or not key:
        raise EndpointQualityError(f"{what} has neither eventMetadata.inferenceId nor eventMetadata.eventId")
    what = f"capture {key!r}"
    output = _field(line, "captureData.endpointOutput", what)
    fields = _csv_fields(_field(line, "captureData.endpointOutput.data", what), output.get("encoding"), what)
    label_at, probability_at = int(contract.INFERENCE_ATTRIBUTE), int(contract.PROBABILITY_ATTRIBUTE)
    if len(fields) <= max(label_at, probability_at):
        raise EndpointQualityError(f"{what}: the response {','.join(fields)!r} has no label and probability")
    try:
        probability = float(fields[probability_at])
    except ValueError:
        raise EndpointQualityError(f"{what}: {fields[probability_at]!r} is no probability") from None
    return key, fields[label_at].strip(), probability


def merge(capture: Iterable[dict[str, Any]], ground_truth: Iterable[dict[str, Any]]) -> list[MergedRecord]:
    """Captured predictions that have ground truth, joined by ``inferenceId`` = ``eventId``, in capture order.

    Predictions whose label has not arrived are left out, as are labels of records never captured. A record id
    with several ground-truth lines takes the last one read (read the hourly folders in order: the latest label).
    """
    labels: dict[str, str] = {}
    for number, line in enumerate(ground_truth, start=1):
        what = f"ground-truth line {number}"
        event_id = _field(line, "eventMetadata.eventId", what)
        truth = _field(line, "groundTruthData", what)
        if truth.get("encoding") != contract.CSV_ENCODING or not isinstance(truth.get("data"), str):
            raise EndpointQualityError(f"{what} ({event_id!r}): groundTruthData is not CSV text")
        labels[str(event_id)] = truth["data"].strip()
    merged: list[MergedRecord] = []
    for number, line in enumerate(capture, start=1):
        key, predicted, probability = _prediction(line, number)
        if key in labels:
            merged.append(MergedRecord(key, predicted, probability, labels[key]))
    return merged


# ---------------------------------------------------------------------------------------------- statistics


def _label_text(value: float) -> str:
    """A class value as the container writes it: ``1`` for 1.0, ``2.5`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _class_index(text: str, classes: tuple[float, float], what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value not in classes:
        names = " or ".join(_label_text(c) for c in classes)
        raise EndpointQualityError(f"{what} is {text!r}; a label of this binary model is {names}")
    return classes.index(value)


def _json_number(value: float) -> float | str:
    return NAN if math.isnan(value) else value


def _binary_metrics(truth: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """The container's classification metrics, and the rates Model Monitor also reports from the same matrix."""
    metrics = classification_metrics(truth, probability, threshold)
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    metrics["true_positive_rate"] = metrics["recall"]
    metrics["true_negative_rate"] = tn / (tn + fp) if tn + fp else 0.0
    metrics["false_positive_rate"] = fp / (tn + fp) if tn + fp else 0.0
    metrics["false_negative_rate"] = fn / (fn + tp) if fn + tp else 0.0
    return metrics


SCALAR_METRICS = (
    "recall",
    "precision",
    "accuracy",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "auc",
    "f1",
)


def quality_statistics(
    merged: Sequence[MergedRecord],
    *,
    threshold: float,
    classes: tuple[float, float] = (0.0, 1.0),
    evaluation_time: datetime | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The model-quality monitor's ``statistics.json`` for these merged records of a binary model.

    ``threshold`` is the served threshold (the monitor's ProbabilityThresholdAttribute) and ``classes`` the model's
    label values, negative then positive (its feature schema's ``classes``). Every captured label must be the one
    the threshold gives: else the monitor would score at another threshold than the model serves.
    """
    if not merged:
        raise EndpointQualityError("no captured prediction has ground truth yet: nothing to measure")
    truth = np.array([_class_index(r.ground_truth, classes, f"the ground truth of {r.inference_id!r}") for r in merged])
    probability = np.array([r.probability for r in merged], dtype=np.float64)
    positive = _label_text(classes[1])
    for record in merged:
        served = _class_index(record.predicted_label, classes, f"the served label of {record.inference_id!r}")
        if served != int(record.probability >= threshold):
            raise EndpointQualityError(
                f"{record.inference_id!r} was served {record.predicted_label!r} at probability {record.probability}, "
                f"which threshold {threshold} labels otherwise: training.hyperparameters.threshold is not the "
                f"served model's (positive class {positive})"
            )
    metrics = _binary_metrics(truth, probability, threshold)
    deviations = _standard_deviations(truth, probability, threshold, seed)
    names = [_label_text(c) for c in classes]
    matrix = metrics["confusion_matrix"]
    section: dict[str, Any] = {
        # By true label, then predicted label, as the monitor keys it.
        "confusion_matrix": {names[t]: {names[p]: int(matrix[t][p]) for p in range(2)} for t in range(2)},
    }
    for name in SCALAR_METRICS:
        section[name] = {"value": _json_number(float(metrics[name])), "standard_deviation": deviations[name]}
    moment = evaluation_time or _now()
    return {
        "version": 0.0,
        "dataset": {"item_count": len(merged), "evaluation_time": _time_text(moment)},
        "binary_classification_metrics": section,
    }


def _standard_deviations(
    truth: np.ndarray, probability: np.ndarray, threshold: float, seed: int
) -> dict[str, float | str]:
    if len(truth) < STANDARD_DEVIATION_MIN_RECORDS:
        return dict.fromkeys(SCALAR_METRICS, NAN)
    rng = np.random.default_rng(seed)
    size = int(len(truth) * STANDARD_DEVIATION_FRACTION)
    samples = []
    for _ in range(STANDARD_DEVIATION_SAMPLES):
        rows = rng.choice(len(truth), size=size, replace=False)
        samples.append(_binary_metrics(truth[rows], probability[rows], threshold))
    return {
        name: _json_number(float(np.std([float(sample[name]) for sample in samples], ddof=1)))
        for name in SCALAR_METRICS
    }
