"""One CloudWatch dashboard per environment, and the alarms the other stacks do not already own."""

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

FIVE_MINUTES = Duration.minutes(5)
ONE_DAY = Duration.days(1)
ERROR_METRICS = ("Invocation4XXErrors", "Invocation5XXErrors")


@dataclass(frozen=True)
class Observed:
    """Everything the dashboard shows, as objects handed over by the stacks that own them."""

    extraction_job_name: str
    extraction_succeeded: events.IRule
    extraction_failed: events.IRule
    training: sfn.IStateMachine
    gate_rejections: cloudwatch.IMetric  # executions the gate rejected (they succeed: not in ExecutionsFailed)
    fanout: sfn.IStateMachine
    endpoint_name: str | None
    variant_names: list[str]
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue
    consumer: lambda_.IFunction
    fanout_function: lambda_.IFunction


class OperationsDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        alarm_prefix: str,
        observed: Observed,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=dashboard_name, default_interval=Duration.days(7)
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# {dashboard_name}\nExtraction → training → serving → batch predictions. "
                "Alarms notify the alerts topic.",
                width=24,
                height=2,
            )
        )
        self._extraction(observed)
        self._training(observed)
        if observed.endpoint_name:
            self._endpoint(observed.endpoint_name, observed.variant_names)
        else:
            self.dashboard.add_widgets(
                cloudwatch.TextWidget(markdown="## Endpoint\nNo model configured: no endpoint.", width=24, height=2)
            )
        self._batch(observed)
        self.alarms = self._alarms(observed, alerts, alarm_prefix)

    def _extraction(self, observed: Observed) -> None:
        def triggered(rule: events.IRule, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": rule.rule_name},
                statistic="Sum",
                period=ONE_DAY,
                label=label,
            )

        elapsed = cloudwatch.Metric(
            namespace="Glue",
            metric_name="glue.driver.aggregate.elapsedTime",
            dimensions_map={"JobName": observed.extraction_job_name, "JobRunId": "ALL", "Type": "count"},
            statistic="Maximum",
            period=ONE_DAY,
            label="run duration (ms)",
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Extraction runs per day",
                left=[
                    triggered(observed.extraction_succeeded, "succeeded"),
                    triggered(observed.extraction_failed, "failed"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Extraction duration", left=[elapsed], width=12),
        )

    def _training(self, observed: Observed) -> None:
        machine = observed.training
        gate_metric = cloudwatch.MathExpression(
            expression=("SEARCH('{/aws/sagemaker/TrainingJobs,Host} MetricName=\"validation:auc\"', 'Maximum', 86400)"),
            label="validation:auc per training job",
            period=ONE_DAY,
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Training executions",
                left=[
                    machine.metric_started(period=ONE_DAY, label="started"),
                    machine.metric_succeeded(period=ONE_DAY, label="succeeded (registered, gate-rejected or skipped)"),
                    observed.gate_rejections,
                    machine.metric_failed(period=ONE_DAY, label="failed"),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Training metrics", left=[gate_metric], width=12),
        )

    def _endpoint(self, endpoint_name: str, variants: list[str]) -> None:
        def metric(variant: str, name: str, statistic: str, namespace: str = "AWS/SageMaker") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map={"EndpointName": endpoint_name, "VariantName": variant},
                statistic=statistic,
                period=FIVE_MINUTES,
                label=f"{variant} {name} {statistic}",
            )

        def instances(variant: str) -> cloudwatch.Metric:
            # Every instance reports CPU once a minute, so the one-minute sample count is the instance count.
            return cloudwatch.Metric(
                namespace="/aws/sagemaker/Endpoints",
                metric_name="CPUUtilization",
                dimensions_map={"EndpointName": endpoint_name, "VariantName": variant},
                statistic="SampleCount",
                period=Duration.minutes(1),
                label=f"{variant} instances",
            )

        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Endpoint invocations",
                left=[metric(v, "Invocations", "Sum") for v in variants],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Model latency (µs)",
                left=[metric(v, "ModelLatency", stat) for v in variants for stat in ("p50", "p99")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Errors and instances",
                left=[
                    metric(v, name, "Sum") for v in variants for name in ("Invocation4XXErrors", "Invocation5XXErrors")
                ],
                # Each instance reports CPU separately, so the sample count per period is the instance count.
                right=[metric(v, "CPUUtilization", "SampleCount", "/aws/sagemaker/Endpoints") for v in variants],
                right_y_axis=cloudwatch.YAxisProps(label="instances (CPU samples / 5 min ÷ 5)"),
                width=8,
            ),
        )

    def _batch(self, observed: Observed) -> None:
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Prediction queue",
                left=[
                    observed.queue.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, label="queue"),
                    observed.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, label="dead letters"
                    ),
                ],
                right=[
                    observed.queue.metric_approximate_age_of_oldest_message(
                        period=FIVE_MINUTES, statistic="Maximum", label="oldest message (s)"
                    )
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Fan-out and consumers",
                left=[
                    observed.consumer.metric_errors(period=FIVE_MINUTES, label="consumer errors"),
                    observed.consumer.metric_throttles(period=FIVE_MINUTES, label="consumer throttles"),
                    observed.fanout_function.metric_errors(period=FIVE_MINUTES, label="fan-out errors"),
                ],
                right=[observed.fanout.metric_failed(period=FIVE_MINUTES, label="fan-out runs failed")],
                width=12,
            ),
        )

    def _alarms(self, observed: Observed, alerts: sns.ITopic, prefix: str) -> list[cloudwatch.Alarm]:
        watched = (
            (
                "TrainingFailed",
                "training-failed",
                "A training execution failed (a gate rejection is not a failure: see the gate rejections metric)",
                observed.training.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
                1,
            ),
            (
                "FanoutFailed",
                "fanout-failed",
                "A prediction fan-out run failed",
                observed.fanout.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
                1,
            ),
            (
                "ConsumerErrors",
                "consumer-errors",
                "The prediction consumer is failing whole invocations",
                observed.consumer.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                3,
            ),
        )
        alarms = [
            cloudwatch.Alarm(
                self,
                construct_id,
                alarm_name=f"{prefix}-{suffix}",
                alarm_description=description,
                metric=metric,
                threshold=1,
                evaluation_periods=periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for construct_id, suffix, description, metric, periods in watched
        ]
        for alarm in alarms:
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=alarms, width=24))
        return alarms
