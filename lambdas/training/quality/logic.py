"""Publish a dataset run's model-quality report as CloudWatch metrics.

Per model version in the report (dimension ``ModelVersion``): AUC, Precision, Recall, F1, BrierScore and
LabelledPredictions; the same figures of the report's latest model version again under ``Scope=latest``, the
fixed dimension the model-quality alarm names (an alarm cannot follow a dimension value that changes with every
registration). A null figure is skipped, never sent as 0: a missing point leaves the alarm where it is (missing
data is not breaching), a 0 would fire it.

Requests respect PutMetricData's documented limits: at most 1000 metrics and 1 MB each
(``esteira_contracts.model_quality``). Throttling and transient errors are retried inside each call by botocore
(standard mode, ``common.clients``); a request CloudWatch still refuses raises :class:`MetricsNotPublished` saying
how many metrics went out before it, so the state machine's notice is exact.

:func:`publish_report` takes the parsed JSON document and a CloudWatch client, so the local run can publish to
moto's CloudWatch with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from esteira_contracts.layout import MODEL_QUALITY_REPORT_FILENAME
from esteira_contracts.model_quality import (
    MAX_METRICS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    METRIC_LABELLED_PREDICTIONS,
    SCOPE_DIMENSION,
    SCOPE_LATEST,
    VERSION_DIMENSION,
    QualityPublisherSettings,
)
from training.errors import InvalidQualityReport, InvalidRequest, MetricsNotPublished, QualityReportNotFound
from training.quality.report import ModelQuality, QualityReport, parse_report
from training.s3uri import S3Uri

logger = Logger(child=True)

REPORT_URI = "report_uri"
# A request's size, estimated from above: the form-encoded parameter names of one datum (~400 bytes with their
# member indices) plus its percent-encoded strings (at most 3 bytes per character). Keeps each request under 1 MB
# even with 1024-character model versions, where 1000 data would not fit.
_DATUM_OVERHEAD_BYTES = 400
_REQUEST_OVERHEAD_BYTES = 1024


def publish(event: Any, settings: QualityPublisherSettings, s3: Any, cloudwatch: Any) -> dict[str, Any]:
    """The Lambda's work: read the report the event names, publish it, return the summary."""
    uri = _report_uri(event, settings)
    document = _read(s3, uri)
    summary = publish_report(document, cloudwatch, settings)
    return {REPORT_URI: str(uri), **summary}


def publish_report(
    report: dict[str, Any], cloudwatch: Any, settings: QualityPublisherSettings, now: datetime | None = None
) -> dict[str, Any]:
    """Publish the report's figures; returns what was published and whether the alarm can judge the latest."""
    parsed = parse_report(report)
    timestamp = now or datetime.now(UTC)
    data = list(metric_data(parsed, timestamp))
    requests = 0
    published = 0
    for batch in batches(data):
        try:
            cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=batch)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            raise MetricsNotPublished(
                f"CloudWatch refused PutMetricData ({code}) in {settings.namespace} for dataset run "
                f"{parsed.dataset_run_id}: {published} of {len(data)} metrics were published before it"
            ) from error
        requests += 1
        published += len(batch)
    latest = parsed.latest()
    labelled = latest.labelled_predictions if latest else None
    summary: dict[str, Any] = {
        "dataset_run_id": parsed.dataset_run_id,
        "as_of_date": parsed.as_of_date,
        "namespace": settings.namespace,
        "model_versions": [m.model_version for m in parsed.models],
        "published_metrics": published,
        "requests": requests,
        "skipped": sorted(f"{m.model_version}/{field}" for m in parsed.models for field in m.skipped),
        "latest_model_version": parsed.latest_model_version,
        "latest_published": latest is not None,
        "latest_labelled_predictions": labelled,
        # The alarm compares the latest version's figure with the gate only over this many labelled predictions.
        "enough_labels_for_alarm": labelled is not None and labelled >= settings.min_labelled_predictions,
        "min_labelled_predictions": settings.min_labelled_predictions,
        "reason": parsed.reason,
    }
    logger.info("model quality published", extra=summary)
    return summary


def metric_data(report: QualityReport, timestamp: datetime) -> Iterator[dict[str, Any]]:
    """The MetricData entries: each version's figures, then the latest version's under Scope=latest."""
    for model in report.models:
        yield from _model_data(model, {"Name": VERSION_DIMENSION, "Value": model.model_version}, timestamp)
    latest = report.latest()
    if latest is not None:
        yield from _model_data(latest, {"Name": SCOPE_DIMENSION, "Value": SCOPE_LATEST}, timestamp)


def batches(data: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Consecutive requests of at most MAX_METRICS_PER_REQUEST entries and (estimated) MAX_REQUEST_BYTES."""
    batch: list[dict[str, Any]] = []
    size = _REQUEST_OVERHEAD_BYTES
    for datum in data:
        datum_size = _estimated_size(datum)
        if batch and (len(batch) >= MAX_METRICS_PER_REQUEST or size + datum_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], _REQUEST_OVERHEAD_BYTES
        batch.append(datum)
        size += datum_size
    if batch:
        yield batch


def _model_data(model: ModelQuality, dimension: dict[str, str], timestamp: datetime) -> Iterator[dict[str, Any]]:
    # One point per figure and publication; a metric's own name and dimension make it distinct in its request.
    for name, value in model.figures.items():
        yield {"MetricName": name, "Dimensions": [dimension], "Timestamp": timestamp, "Value": value, "Unit": "None"}
    if model.labelled_predictions is not None:
        yield {
            "MetricName": METRIC_LABELLED_PREDICTIONS,
            "Dimensions": [dimension],
            "Timestamp": timestamp,
            "Value": float(model.labelled_predictions),
            "Unit": "Count",
        }


def _estimated_size(datum: dict[str, Any]) -> int:
    text = datum["MetricName"] + "".join(d["Name"] + d["Value"] for d in datum["Dimensions"]) + datum["Unit"]
    return _DATUM_OVERHEAD_BYTES + 3 * len(text)


def _report_uri(event: Any, settings: QualityPublisherSettings) -> S3Uri:
    if not isinstance(event, dict):
        raise InvalidRequest(f"the quality publisher's input must be a JSON object, got {type(event).__name__}")
    try:
        uri = S3Uri.parse(event.get(REPORT_URI))
    except ValueError as error:
        raise InvalidRequest(f"{REPORT_URI}: {error}") from error
    expected = f"s3://{settings.artifacts_bucket}/{settings.report_prefix}"
    if uri.bucket != settings.artifacts_bucket or not uri.key.startswith(settings.report_prefix):
        raise InvalidRequest(f"{REPORT_URI} {uri} is not under {expected}, where reports are read from")
    if uri.name != MODEL_QUALITY_REPORT_FILENAME:
        raise InvalidRequest(f"{REPORT_URI} {uri} does not name a {MODEL_QUALITY_REPORT_FILENAME}")
    return uri


def _read(s3: Any, uri: S3Uri) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise QualityReportNotFound(f"no model-quality report at {uri}") from error
        raise
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidQualityReport(f"{uri} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise InvalidQualityReport(f"{uri} must hold a JSON object, got {type(document).__name__}")
    return document
