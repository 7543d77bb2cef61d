"""The model-quality alarm: the served model's ground-truth figure below the gate, over enough labelled predictions.

The quality publisher (``lambdas/training/quality``) puts the report's latest model version's figures under the
fixed dimension ``Scope=latest`` in ``Esteira/<env>/ModelQuality``. The alarm reads two of them, the gate's metric
(``training.gate.metric``: AUC by default) and LabelledPredictions, and watches

    IF(labelled >= <training.quality.min_labelled_predictions>, quality, <training.gate.threshold>)

below the gate's threshold: too few labels yield the threshold itself, which never breaches. No point in a period
(no dataset run, nothing labelled yet) is missing data, not breaching. ALARM notifies the alerts topic and, through
EventBridge, starts a retraining (``stacks/constructs/retraining.py``).
"""

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from esteira_contracts.model_quality import METRIC_LABELLED_PREDICTIONS, SCOPE_DIMENSION, SCOPE_LATEST
from stacks.construct_rules import check_metric_math_alarm

# The metric math's ids (PutMetricAlarm: letters, digits and '_', starting lowercase; checked at synth). The
# expression's own id is CDK's: an alarm on a MathExpression renders it as "expr_1".
QUALITY_ID = "quality"
LABELLED_ID = "labelled"
EXPRESSION_ID = "expr_1"


@dataclass(frozen=True)
class QualityAlarmSettings:
    alarm_name: str
    namespace: str
    metric_name: str  # the published metric of the gate's metric (esteira_contracts.model_quality.GATE_METRICS)
    threshold: float  # training.gate.threshold
    min_labelled_predictions: int
    period_hours: int
    evaluation_periods: int
    datapoints_to_alarm: int


def judged_expression(settings: QualityAlarmSettings) -> str:
    """The metric math: the figure when enough predictions are labelled, else the threshold (never breaching)."""
    return f"IF({LABELLED_ID} >= {settings.min_labelled_predictions}, {QUALITY_ID}, {settings.threshold!r})"


class QualityAlarm(Construct):
    """Exposes `alarm`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: QualityAlarmSettings, alerts: sns.ITopic
    ) -> None:
        super().__init__(scope, construct_id)
        check_metric_math_alarm(settings.alarm_name, [QUALITY_ID, LABELLED_ID], [EXPRESSION_ID])
        period = Duration.hours(settings.period_hours)
        latest = {SCOPE_DIMENSION: SCOPE_LATEST}
        judged = cloudwatch.MathExpression(
            expression=judged_expression(settings),
            using_metrics={
                QUALITY_ID: cloudwatch.Metric(
                    namespace=settings.namespace,
                    metric_name=settings.metric_name,
                    dimensions_map=latest,
                    statistic="Average",
                    period=period,
                ),
                LABELLED_ID: cloudwatch.Metric(
                    namespace=settings.namespace,
                    metric_name=METRIC_LABELLED_PREDICTIONS,
                    dimensions_map=latest,
                    statistic="Maximum",
                    period=period,
                ),
            },
            period=period,
            label=f"latest model's {settings.metric_name} over >= {settings.min_labelled_predictions} labels",
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Alarm",
            alarm_name=settings.alarm_name,
            alarm_description=(
                f"The latest model's ground-truth {settings.metric_name} is below the gate's {settings.threshold:g} "
                f"over at least {settings.min_labelled_predictions} labelled predictions: retrain"
            ),
            metric=judged,
            threshold=settings.threshold,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=settings.evaluation_periods,
            datapoints_to_alarm=settings.datapoints_to_alarm,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
