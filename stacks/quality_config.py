"""``training.quality`` in `config/<env>.yaml`: publishing ground-truth model quality, and the alarm on it.

Its own module (``stacks.training_config`` imports it). The dataset job's quality step writes a report per dataset
run; the training state machine's PublishModelQuality step publishes it (``esteira_contracts.model_quality``), and
the model-quality alarm (``stacks/constructs/quality_alarm.py``) watches the latest model version's figure for the
gate's metric (``training.gate.metric``: auc, precision, recall or f1) against ``training.gate.threshold``, only
when that version has at least ``min_labelled_predictions`` labelled predictions. The alarm's ALARM state starts a
retraining (``training.retraining``). A regression or multiclass objective, or a gate on a metric the report does
not carry (accuracy), gets the metrics but no alarm: the report's figures are those of a binary classifier.

AWS's alarm rules that span keys (the evaluation range, ``datapoints_to_alarm`` within ``evaluation_periods``)
are checked in ``stacks/aws_rules.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from esteira_contracts.model_quality import GATE_METRICS
from esteira_contracts.tasks import BINARY, DEFAULT_OBJECTIVE, task_of_objective
from stacks.config_base import StrictModel

if TYPE_CHECKING:
    from stacks.training_config import TrainingConfig

# An alarm's period is 10, 20, 30 s or a multiple of 60 s (PutMetricAlarm); hours are multiples of 60 s. One data
# point per training run, so hours are the natural unit; at most 7 days, the longest evaluation range.
MAX_PERIOD_HOURS = 7 * 24


class QualityConfig(StrictModel):
    """``enabled``: publish the reports' metrics and alarm on them. ``period_hours``: the alarm's period (a
    dataset run publishes one point per metric; a day suits a daily extraction). ``evaluation_periods`` and
    ``datapoints_to_alarm``: N and M of "M out of N" periods breaching. ``min_labelled_predictions``: fewer
    labelled predictions than this and the latest version's figure is not judged."""

    enabled: bool = True
    min_labelled_predictions: Annotated[int, Field(ge=1)] = 200
    period_hours: Annotated[int, Field(ge=1, le=MAX_PERIOD_HOURS)] = 24
    evaluation_periods: Annotated[int, Field(ge=1)] = 1
    datapoints_to_alarm: Annotated[int, Field(ge=1)] = 1


def quality_alarm_metric(training: TrainingConfig) -> str | None:
    """The published metric the model-quality alarm watches, or None when this training gets no alarm: quality
    disabled, a task other than binary classification, or a gate metric the report does not carry."""
    objective = str(training.hyperparameters.get("objective", DEFAULT_OBJECTIVE))
    if not training.quality.enabled or task_of_objective(objective) != BINARY:
        return None
    return GATE_METRICS.get(training.gate.metric)
