"""The alerts topic every component reports failures to, and the training gate's own rejection metric."""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks import names

GATE_REJECTIONS_METRIC = "TrainingGateRejections"


class Alerts(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, topic_name: str, key: kms.IKey, emails: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name="Esteira alerts",
            master_key=key,
            enforce_ssl=True,
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))


def gate_rejection_metric(
    scope: Construct, execution_logs: logs.ILogGroup, *, env_name: str, state_names: tuple[str, ...]
) -> cloudwatch.Metric:
    """Counts the training executions a gate (quality or bias) rejected: each enters one of ``state_names`` once,
    which the state machine's execution log (level ALL) records. A rejection ends the execution as succeeded, so
    ExecutionsFailed (the "training failed" alarm) never counts it; this metric does, in ``esteira/<env>``."""
    namespace = f"{names.PROJECT}/{env_name}"
    logs.MetricFilter(
        scope,
        "GateRejections",
        log_group=execution_logs,
        filter_pattern=logs.FilterPattern.all(
            logs.FilterPattern.string_value("$.type", "=", "PassStateEntered"),
            logs.FilterPattern.any(
                *(logs.FilterPattern.string_value("$.details.name", "=", name) for name in state_names)
            ),
        ),
        metric_namespace=namespace,
        metric_name=GATE_REJECTIONS_METRIC,
        metric_value="1",
        default_value=0,
    )
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=GATE_REJECTIONS_METRIC,
        statistic="Sum",
        period=Duration.days(1),
        label="rejected by the gate",
    )
