"""The batch launcher's scheduled launches, and where a launch that fails is kept: nothing is dropped silently.

Two ways a scheduled launch can fail, one queue for both, alarmed:
- EventBridge cannot invoke the function (throttled, missing permission): after the target's retry policy the event
  goes to the queue as the target's dead-letter queue.
- The function is invoked (asynchronously) and fails: after Lambda's retries, the async-invoke on-failure destination
  puts the invocation record, the original event under `requestPayload`, on the same queue.
"""

import jsii
from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from stacks.nag import acknowledge

DEAD_LETTER_RETENTION = Duration.days(14)
# EventBridge retries a failed delivery (not a function error) with backoff, for at most this long.
TARGET_RETRY_ATTEMPTS = 4
TARGET_MAX_EVENT_AGE = Duration.hours(2)
# Lambda retries a failed asynchronous invocation this many times (its maximum is 2), within this age.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(6)


def launch_dead_letter_queue(
    scope: Construct, queue_name: str, launcher: lambda_.IFunction, key: kms.IKey, alerts: sns.ITopic
) -> sqs.Queue:
    """The launcher's failed launches: its async on-failure destination, alarmed on the first message."""
    queue = sqs.Queue(
        scope,
        "LaunchDeadLetterQueue",
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
    acknowledge(
        queue,
        "SQS3",
        "This queue is the launcher's dead-letter queue (schedule target and async on-failure destination).",
    )
    launcher.configure_async_invoke(
        on_failure=destinations.SqsDestination(queue),
        retry_attempts=ASYNC_RETRY_ATTEMPTS,
        max_event_age=ASYNC_MAX_EVENT_AGE,
    )
    cloudwatch.Alarm(
        scope,
        "UndeliveredLaunches",
        alarm_description=f"A batch launch failed in {Stack.of(scope).stack_name}: its event is in the DLQ",
        metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    ).add_alarm_action(cloudwatch_actions.SnsAction(alerts))
    return queue


def launch_schedule(
    scope: Construct, launcher: lambda_.IFunction, schedule: str, dead_letter_queue: sqs.IQueue
) -> events.Rule:
    """A rule that invokes the launcher with `{}`, retrying per TARGET_*, dead-lettering into the queue."""
    rule = events.Rule(
        scope,
        "Schedule",
        description="Scores the batch input prefix with the latest approved model",
        schedule=events.Schedule.expression(schedule),
    )
    rule.add_target(_InvokeWithEmptyEvent(launcher, dead_letter_queue))
    launcher.add_permission(
        "InvokedBySchedule",
        principal=iam.ServicePrincipal("events.amazonaws.com"),
        source_arn=rule.rule_arn,
    )
    # What targets.LambdaFunction adds for its DLQ: only this rule may send to the queue on EventBridge's behalf.
    dead_letter_queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ScheduleDeadLetters",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[dead_letter_queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )
    return rule


@jsii.implements(events.IRuleTarget)
class _InvokeWithEmptyEvent:
    """targets.LambdaFunction without its permission, whose id embeds the function's path: the permission above has
    a fixed id, so the stack deployed by hand and as a pipeline stage keep the same resources."""

    def __init__(self, function: lambda_.IFunction, dead_letter_queue: sqs.IQueue) -> None:
        self._function = function
        self._dead_letter_queue = dead_letter_queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._function.function_arn,
            input=events.RuleTargetInput.from_object({}),
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(TARGET_MAX_EVENT_AGE.to_seconds()),
            ),
        )
