"""The SQS FIFO queue predictions are fanned out to, its dead-letter queue, and their alarms."""

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class PredictionQueue(Construct):
    """FIFO with deduplication by id (not content), KMS, TLS-only; failures land in a FIFO DLQ, alarmed."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_name: str,
        key: kms.IKey,
        max_receive_count: int,
        visibility_timeout: Duration,
        oldest_message_alarm: Duration,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=f"{queue_name}-dlq.fifo",
            fifo=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=f"{queue_name}.fifo",
            fifo=True,
            content_based_deduplication=False,
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            data_key_reuse=Duration.hours(1),
            enforce_ssl=True,
            visibility_timeout=visibility_timeout,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
        )
        self.dead_letters_alarm = cloudwatch.Alarm(
            self,
            "DeadLetters",
            alarm_name=f"{queue_name}-dead-letters",
            alarm_description="Predictions the consumer could not store: inspect and redrive the DLQ",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.oldest_message_alarm = cloudwatch.Alarm(
            self,
            "OldestMessage",
            alarm_name=f"{queue_name}-oldest-message",
            alarm_description="Predictions are waiting too long: the consumer is stuck or too slow",
            metric=self.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            threshold=oldest_message_alarm.to_seconds(),
            evaluation_periods=5,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.dead_letters_alarm, self.oldest_message_alarm):
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts))
