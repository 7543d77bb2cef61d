"""What AWS does with the dataset job's model-quality report, done locally: publish it, then judge it as the alarm.

On AWS the training state machine's PublishModelQuality step runs the quality publisher Lambda on the report, and
the model-quality alarm (``stacks/constructs/quality_alarm.py``) compares the ``Scope=latest`` gate metric with
``training.gate.threshold`` over at least ``training.quality.min_labelled_predictions`` labelled predictions; its
ALARM starts a retraining. Here the publisher's own ``publish_report`` sends the report to moto's CloudWatch (one
metric is read back to show it landed), and the alarm's rule (``esteira_contracts.model_quality``) decides on the
same figures, feeding the local retraining decision (``pipeline.retraining``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from esteira_contracts import quality
from esteira_contracts.model_quality import (
    GATE_METRICS,
    METRIC_LABELLED_PREDICTIONS,
    SCOPE_DIMENSION,
    SCOPE_LATEST,
    quality_alarm_state,
)
from pipeline import settings
from stacks.config import EnvironmentConfig
from stacks.quality_config import quality_alarm_metric
from training.quality.logic import publish_report

PUBLISHED = "published"
ALARM = "alarm"
READ_BACK = "read_back"


def publish(section: dict[str, Any], config: EnvironmentConfig, cloudwatch: Any, now: datetime | None = None) -> None:
    """Publish the report (``section``, the report's content) with the Lambda's logic when it has model versions,
    recording the publisher's summary and the latest version's LabelledPredictions read back from CloudWatch."""
    if not section.get(quality.MODELS):
        return  # nothing judged yet: the publisher would put no metric
    timestamp = now or datetime.now(UTC)
    publisher = settings.quality_publisher_settings(config)
    report = {key: value for key, value in section.items() if key not in ("path", PUBLISHED, ALARM)}
    summary = publish_report(report, cloudwatch, publisher, now=timestamp)
    if summary["latest_published"]:
        summary[READ_BACK] = _read_back(cloudwatch, publisher.namespace, timestamp)
    section[PUBLISHED] = summary


def _read_back(cloudwatch: Any, namespace: str, timestamp: datetime) -> dict[str, Any]:
    """The Scope=latest LabelledPredictions point CloudWatch now holds: proof the metrics landed."""
    found = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=METRIC_LABELLED_PREDICTIONS,
        Dimensions=[{"Name": SCOPE_DIMENSION, "Value": SCOPE_LATEST}],
        StartTime=timestamp - timedelta(minutes=5),
        EndTime=timestamp + timedelta(minutes=5),
        Period=600,
        Statistics=["Maximum"],
    )
    points = found.get("Datapoints", [])
    return {
        "metric": METRIC_LABELLED_PREDICTIONS,
        "dimension": f"{SCOPE_DIMENSION}={SCOPE_LATEST}",
        "value": max(float(p["Maximum"]) for p in points) if points else None,
    }


def alarm(section: dict[str, Any], config: EnvironmentConfig, threshold: float | None = None) -> dict[str, Any]:
    """The model-quality alarm's state on this report: the alarm's rule with the config's threshold and count.
    ``threshold`` overrides ``training.gate.threshold`` as the run's ``--gate-threshold`` does for its gate (on AWS
    the gate and the alarm share the key, so they share the override here). ``state`` is None when the environment
    has no such alarm (quality disabled, not binary, or a gate metric the report does not carry): the stack then
    creates none."""
    if quality_alarm_metric(config.training) is None:
        return {"state": None, "reason": "no model-quality alarm in this environment (training.quality, task, gate)"}
    gate = config.training.gate
    judged_threshold = gate.threshold if threshold is None else threshold
    minimum = config.training.quality.min_labelled_predictions
    latest_version = section.get(quality.LATEST_MODEL_VERSION)
    latest = next((m for m in section.get(quality.MODELS, []) if m[quality.MODEL_VERSION] == latest_version), None)
    figure = latest.get(gate.metric) if latest else None
    labelled = latest.get(quality.LABELLED_PREDICTIONS) if latest else None
    state, reason = quality_alarm_state(
        float(figure) if isinstance(figure, int | float) else None,
        int(labelled) if isinstance(labelled, int) else None,
        threshold=judged_threshold,
        min_labelled_predictions=minimum,
    )
    return {
        "state": state,
        "reason": reason,
        "metric": GATE_METRICS[gate.metric],
        "model_version": latest_version,
        "threshold": judged_threshold,
        "min_labelled_predictions": minimum,
    }
