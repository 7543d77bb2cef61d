"""What AWS does with the ground-truth quality report, done by the local run: the publisher Lambda's own logic puts
the report's metrics in moto's CloudWatch (server mode, over HTTP), the alarm's rule judges the latest version with
the config's threshold and minimum of labels, and an ALARM is the local retraining decision's second trigger."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from esteira_contracts.model_quality import metrics_namespace
from esteira_contracts.retraining import TRIGGER_DATA_QUALITY, TRIGGER_MODEL_QUALITY
from pipeline import aws, model_quality, retraining
from pipeline.context import RunContext
from pipeline.options import DEMO_SPEC, REPO, Options
from pipeline.processes import Children
from stacks.config import EnvironmentConfig, load_config
from tests.servers import module_server

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
RUN = "esteira-local-20261206-090000-ccc333"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture
def cloudwatch(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's CloudWatch, its state reset, reached as the run reaches it."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    for name, value in aws.local_aws_environment(endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    return boto3.session.Session().client("cloudwatch")


@pytest.fixture(scope="module")
def config() -> EnvironmentConfig:
    return load_config("dev")


def section(auc: float | None, labelled: int, version: str = "1") -> dict[str, Any]:
    """The dataset stage's ``model_quality`` section: the job's report of one model version, and its path."""
    return {
        "report_version": 1,
        "dataset_run_id": RUN,
        "as_of_date": "2026-12-06",
        "task": "binary",
        "latest_model_version": version,
        "reason": None,
        "models": [
            {
                "model_version": version,
                "labelled_predictions": labelled,
                "auc": auc,
                "precision": 0.7,
                "recall": 0.6,
                "f1": 0.65,
                "brier_score": 0.15,
                "calibration": [],
            }
        ],
        "path": f"/tmp/lake/monitoring/model-quality/run_id={RUN}/report.json",
        "labelled_predictions": labelled,
    }


def test_the_report_of_one_version_lands_in_moto_cloudwatch(cloudwatch: Any, config: EnvironmentConfig) -> None:
    # GIVEN a report of one model version with 250 labelled predictions
    quality = section(0.75, 250)
    # WHEN the local run publishes it
    model_quality.publish(quality, config, cloudwatch, now=NOW)
    # THEN the publisher's summary is in the section: 6 figures per version and again under Scope=latest
    published = quality["published"]
    assert published["namespace"] == metrics_namespace(config.name)
    assert published["published_metrics"] == 12 and published["requests"] == 1
    assert published["latest_model_version"] == "1" and published["latest_labelled_predictions"] == 250
    assert published["read_back"] == {"metric": "LabelledPredictions", "dimension": "Scope=latest", "value": 250.0}
    # AND the alarm's metric is in moto's CloudWatch under the dimension the alarm names
    auc = cloudwatch.get_metric_statistics(
        Namespace=metrics_namespace(config.name),
        MetricName="AUC",
        Dimensions=[{"Name": "Scope", "Value": "latest"}],
        StartTime=NOW - timedelta(minutes=5),
        EndTime=NOW + timedelta(minutes=5),
        Period=600,
        Statistics=["Average"],
    )["Datapoints"]
    assert [point["Average"] for point in auc] == [0.75]
    versions = cloudwatch.list_metrics(
        Namespace=metrics_namespace(config.name), Dimensions=[{"Name": "ModelVersion", "Value": "1"}]
    )["Metrics"]
    assert {metric["MetricName"] for metric in versions} == {
        "AUC",
        "Precision",
        "Recall",
        "F1",
        "BrierScore",
        "LabelledPredictions",
    }


def test_a_report_without_models_publishes_nothing(cloudwatch: Any, config: EnvironmentConfig) -> None:
    # GIVEN a first run's report: nothing labelled yet
    quality = section(None, 0) | {"models": [], "latest_model_version": None, "reason": "no scored record"}
    # WHEN published THEN nothing is recorded and CloudWatch holds nothing
    model_quality.publish(quality, config, cloudwatch, now=NOW)
    assert "published" not in quality
    assert cloudwatch.list_metrics(Namespace=metrics_namespace(config.name))["Metrics"] == []


def test_the_alarm_judges_with_the_configs_threshold_and_minimum(config: EnvironmentConfig) -> None:
    # GIVEN the config's gate threshold and minimum of labelled predictions
    threshold = config.training.gate.threshold
    minimum = config.training.quality.min_labelled_predictions
    # WHEN the latest version's AUC is judged at the boundaries THEN the alarm's states
    assert model_quality.alarm(section(threshold - 0.01, minimum), config)["state"] == "ALARM"
    assert model_quality.alarm(section(threshold, minimum), config)["state"] == "OK"
    assert model_quality.alarm(section(threshold - 0.01, minimum - 1), config)["state"] == "INSUFFICIENT_DATA"
    judged = model_quality.alarm(section(threshold - 0.01, minimum), config)
    assert judged["metric"] == "AUC" and judged["threshold"] == threshold
    assert judged["min_labelled_predictions"] == minimum and judged["model_version"] == "1"
    # AND the run's --gate-threshold moves the alarm's threshold as it moves the gate's
    assert model_quality.alarm(section(0.6, minimum), config, threshold=0.5)["state"] == "OK"


def test_an_environment_without_the_alarm_judges_nothing(config: EnvironmentConfig) -> None:
    # GIVEN quality publishing disabled: the stack creates no alarm WHEN judged THEN no state, saying why
    training = config.training.model_copy(
        update={"quality": config.training.quality.model_copy(update={"enabled": False})}
    )
    disabled = config.model_copy(update={"training": training})
    judged = model_quality.alarm(section(0.1, 10_000), disabled)
    assert judged["state"] is None and "no model-quality alarm" in judged["reason"]


def run_context(tmp_path: Path, config: EnvironmentConfig) -> RunContext:
    options = Options(
        rows=0,
        out=tmp_path,
        change_rows=0,
        fresh=False,
        seed=0,
        source_url=None,
        config=REPO / "config" / "dev.yaml",
        spec=DEMO_SPEC,
        gate_threshold=None,
        min_match_rate=0.8,
    )
    return RunContext(options, config, tmp_path, RUN, tmp_path / "runs" / RUN, Children("test-model-quality"))


def test_the_quality_alarm_triggers_the_local_retraining(tmp_path: Path, config: EnvironmentConfig) -> None:
    # GIVEN a run without drift whose latest model is below the gate over enough labels
    ctx = run_context(tmp_path, config)
    quality = section(config.training.gate.threshold - 0.1, config.training.quality.min_labelled_predictions)
    quality["alarm"] = model_quality.alarm(quality, config)
    ctx.report["model_quality"] = quality
    # WHEN the retraining decision is recorded
    retraining.record(ctx, now=NOW)
    # THEN the quality alarm is the trigger that fired, and the summary says why
    decided = ctx.report["retraining"]
    assert decided["decision"] == "triggered"
    assert decided["trigger"] == TRIGGER_MODEL_QUALITY and decided["triggers"] == [TRIGGER_MODEL_QUALITY]
    assert "model-quality alarm" in decided["summary"]


def test_an_ok_alarm_triggers_nothing_and_drift_still_does(tmp_path: Path, config: EnvironmentConfig) -> None:
    # GIVEN an OK alarm WHEN decided THEN not triggered
    ctx = run_context(tmp_path, config)
    quality = section(0.99, config.training.quality.min_labelled_predictions)
    quality["alarm"] = model_quality.alarm(quality, config)
    ctx.report["model_quality"] = quality
    retraining.record(ctx, now=NOW)
    assert ctx.report["retraining"]["decision"] == "not_triggered"
    # AND with both drift and the alarm, both triggers are named (drift first)
    both = retraining.decision(
        enabled=True, window_hours=24, violations=["idade"], last_started_at=None, now=NOW, quality_alarm="AUC low"
    )
    assert both["triggers"] == [TRIGGER_DATA_QUALITY, TRIGGER_MODEL_QUALITY]
