"""Quality publisher against moto over HTTP: the report's figures become CloudWatch metrics per model version and
under Scope=latest; nulls are skipped; requests stay within PutMetricData's limits; bad input is named."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from esteira_contracts.model_quality import MAX_METRICS_PER_REQUEST, QualityPublisherSettings, metrics_namespace
from tests.lambdas.training.helpers import REGION, fixture_json, lambda_context
from training.errors import InvalidQualityReport, InvalidRequest, MetricsNotPublished, QualityReportNotFound
from training.quality.handler import handler
from training.quality.logic import batches, publish, publish_report

REPORT = fixture_json("quality/report.json")
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class World:
    settings: QualityPublisherSettings
    s3: Any
    cloudwatch: Any

    def put_report(self, report: Any, run: str = "run-1") -> str:
        key = f"monitoring/model-quality/run_id={run}/report.json"
        body = report if isinstance(report, bytes) else json.dumps(report).encode()
        self.s3.put_object(Bucket=self.settings.artifacts_bucket, Key=key, Body=body)
        return f"s3://{self.settings.artifacts_bucket}/{key}"

    def value(self, metric: str, name: str, value: str) -> float | None:
        """The metric's Average over the last hour under one dimension, or None when nothing was published."""
        points = self.cloudwatch.get_metric_statistics(
            Namespace=self.settings.namespace,
            MetricName=metric,
            Dimensions=[{"Name": name, "Value": value}],
            StartTime=NOW - timedelta(hours=1),
            EndTime=NOW + timedelta(hours=1),
            Period=3600,
            Statistics=["Average"],
        )["Datapoints"]
        return float(points[0]["Average"]) if points else None

    def metric_names(self, name: str, value: str) -> set[str]:
        metrics = self.cloudwatch.list_metrics(
            Namespace=self.settings.namespace, Dimensions=[{"Name": name, "Value": value}]
        )["Metrics"]
        return {metric["MetricName"] for metric in metrics}


@pytest.fixture
def world(training_env: str) -> Iterator[World]:
    """A fresh artifacts bucket and a namespace of its own (the moto server is shared)."""
    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session()
    s3, cloudwatch = session.client("s3"), session.client("cloudwatch")
    bucket = f"esteira-dev-artifacts-{suffix}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    settings = QualityPublisherSettings(
        env_name="dev",
        namespace=f"{metrics_namespace('dev')}/{suffix}",
        artifacts_bucket=bucket,
        min_labelled_predictions=200,
    )
    yield World(settings, s3, cloudwatch)


def test_each_version_and_the_latest_are_published_and_nulls_skipped(world: World) -> None:
    # GIVEN a report with versions 2 and 3 (the latest), version 3 without precision and F1
    uri = world.put_report(REPORT)
    # WHEN the publisher runs on it
    summary = publish({"report_uri": uri}, world.settings, world.s3, world.cloudwatch)
    # THEN each version's figures are metrics under its ModelVersion
    assert world.value("AUC", "ModelVersion", "2") == pytest.approx(0.84)
    assert world.value("BrierScore", "ModelVersion", "2") == pytest.approx(0.13)
    assert world.value("LabelledPredictions", "ModelVersion", "2") == 640
    # AND the latest version's again under Scope=latest, which the alarm names
    assert world.value("AUC", "Scope", "latest") == pytest.approx(0.74)
    assert world.value("LabelledPredictions", "Scope", "latest") == 240
    # AND null figures are absent, not zero
    expected = {"AUC", "Recall", "BrierScore", "LabelledPredictions"}
    assert world.metric_names("ModelVersion", "3") == expected
    assert world.metric_names("Scope", "latest") == expected
    assert world.value("F1", "Scope", "latest") is None
    # AND the summary says what went out and that the alarm can judge the latest version (240 >= 200 labels)
    assert summary["report_uri"] == uri
    assert summary["published_metrics"] == 6 + 4 + 4
    assert summary["requests"] == 1
    assert summary["skipped"] == ["3/f1", "3/precision"]
    assert summary["latest_model_version"] == "3" and summary["latest_published"] is True
    assert summary["enough_labels_for_alarm"] is True
    assert summary["dataset_run_id"] == REPORT["dataset_run_id"]


def test_a_latest_version_with_few_labels_is_published_but_not_enough_for_the_alarm(world: World) -> None:
    # GIVEN the latest version has 50 labelled predictions (the alarm needs 200)
    report = copy.deepcopy(REPORT)
    report["models"][1]["labelled_predictions"] = 50
    # WHEN published THEN its count is published and the summary says the alarm will not judge it
    summary = publish_report(report, world.cloudwatch, world.settings)
    assert world.value("LabelledPredictions", "Scope", "latest") == 50
    assert summary["enough_labels_for_alarm"] is False


def test_an_empty_report_publishes_nothing_and_says_why(world: World) -> None:
    # GIVEN a report with no labelled predictions yet
    report = {**REPORT, "models": [], "latest_model_version": None, "reason": "no scored record has a final label"}
    # WHEN published THEN no request is made and the reason is in the summary
    summary = publish_report(report, world.cloudwatch, world.settings)
    assert summary["published_metrics"] == 0 and summary["requests"] == 0
    assert summary["latest_published"] is False and summary["enough_labels_for_alarm"] is False
    assert summary["reason"] == "no scored record has a final label"
    assert world.cloudwatch.list_metrics(Namespace=world.settings.namespace)["Metrics"] == []


def test_many_versions_are_split_into_requests_of_at_most_1000_metrics(world: World) -> None:
    # GIVEN a report with 200 versions (6 metrics each: 1200, plus the latest's 6)
    model = REPORT["models"][0]
    report = {**REPORT, "latest_model_version": "199"}
    report["models"] = [{**model, "model_version": str(v)} for v in range(200)]
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["MetricData"]))

    world.cloudwatch.meta.events.register("provide-client-params.cloudwatch.PutMetricData", count)
    # WHEN published
    summary = publish_report(report, world.cloudwatch, world.settings, now=NOW)
    # THEN two requests carried them all, none over the limit
    assert calls == [MAX_METRICS_PER_REQUEST, 206]
    assert summary["published_metrics"] == 1206 and summary["requests"] == 2
    assert world.value("AUC", "ModelVersion", "199") == pytest.approx(0.84)


def test_long_model_versions_keep_each_request_under_one_megabyte() -> None:
    # GIVEN 1000 data whose dimension values are the longest CloudWatch takes (1024 characters)
    datum = {"MetricName": "AUC", "Dimensions": [{"Name": "ModelVersion", "Value": "v" * 1024}], "Unit": "None"}
    # WHEN batched THEN no batch's worst-case encoding exceeds 1 MB, so they are split before 1000
    sizes = [len(batch) for batch in batches([datum] * 1000)]
    assert len(sizes) > 1 and sum(sizes) == 1000
    assert all(size * (400 + 3 * (3 + 12 + 1024 + 4)) + 1024 <= 1024 * 1024 for size in sizes)


def test_throttling_that_outlasts_the_retries_is_named_with_what_was_published(world: World) -> None:
    # GIVEN CloudWatch accepts the first request and throttles the second (botocore's retries exhausted)
    report = {**REPORT, "latest_model_version": None}
    report["models"] = [{**REPORT["models"][0], "model_version": str(v)} for v in range(200)]
    stubber = Stubber(world.cloudwatch)
    stubber.add_response("put_metric_data", {})
    stubber.add_client_error("put_metric_data", service_error_code="Throttling", http_status_code=400)
    # WHEN published THEN the error names the refusal and how many metrics went out before it
    with stubber, pytest.raises(MetricsNotPublished, match=r"\(Throttling\).*1000 of 1200 metrics"):
        publish_report(report, world.cloudwatch, world.settings, now=NOW)
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(report_version=2), "report_version=2"),
        (lambda r: r["models"][0].update(auc="high"), r"models\[0\].auc='high' is not a number"),
        (lambda r: r["models"][1].update(model_version=""), r"models\[1\].model_version"),
        (lambda r: r["models"][1].update(model_version="v\n3"), "printable ASCII"),
        (lambda r: r["models"][0].update(labelled_predictions=-1), "labelled_predictions=-1"),
        (lambda r: r["models"][1].update(model_version="2"), "more than once"),
        (lambda r: r.update(models={}), "models must be a list"),
    ],
)
def test_a_bad_report_is_refused_naming_the_field(world: World, mutate: Any, message: str) -> None:
    report = copy.deepcopy(REPORT)
    mutate(report)
    with pytest.raises(InvalidQualityReport, match=message):
        publish_report(report, world.cloudwatch, world.settings)
    assert world.cloudwatch.list_metrics(Namespace=world.settings.namespace)["Metrics"] == []


def test_a_missing_or_unreadable_report_and_a_uri_elsewhere_are_named(world: World) -> None:
    bucket = world.settings.artifacts_bucket
    missing = f"s3://{bucket}/monitoring/model-quality/run_id=gone/report.json"
    with pytest.raises(QualityReportNotFound, match="run_id=gone"):
        publish({"report_uri": missing}, world.settings, world.s3, world.cloudwatch)
    broken = world.put_report(b"{not json", run="broken")
    with pytest.raises(InvalidQualityReport, match="not valid JSON"):
        publish({"report_uri": broken}, world.settings, world.s3, world.cloudwatch)
    for event in (
        {"report_uri": f"s3://{bucket}/datasets/run_id=x/report.json"},
        {"report_uri": "s3://other-bucket/monitoring/model-quality/run_id=x/report.json"},
        {"report_uri": f"s3://{bucket}/monitoring/model-quality/run_id=x/other.json"},
        {"report_uri": "not a uri"},
        "not an object",
    ):
        with pytest.raises(InvalidRequest):
            publish(event, world.settings, world.s3, world.cloudwatch)


def test_the_handler_reads_its_contract_and_uses_its_own_clients(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the environment the construct renders
    for name, value in world.settings.to_env().items():
        monkeypatch.setenv(name, value)
    uri = world.put_report(REPORT)
    # WHEN the handler runs THEN it published through the Lambda's lazily made clients
    summary = handler({"report_uri": uri}, lambda_context())
    assert summary["published_metrics"] == 14
    assert world.value("AUC", "Scope", "latest") == pytest.approx(0.74)
