"""Retraining on drift: monitoring violations or the model-quality alarm start the training state machine.

Two EventBridge rules invoke the retrain trigger Lambda (``training.retrain.handler.handler``), which debounces
(one DynamoDB item per environment, written conditionally: see ``lambdas/training/retrain/logic.py`` for why not
execution-name idempotency), starts the state machine with ``{"run_id": "latest", "source": "retraining",
"reason", "trigger"}`` and notifies the alerts topic, whether it started, debounced or coalesced.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

from esteira_contracts.retraining import TABLE_PARTITION_KEY, RetrainSettings
from stacks.constructs.python_function import PythonFunction
from stacks.nag import acknowledge_key_grant

HANDLER = "training.retrain.handler.handler"
# Model Monitor runs each scheduled execution as a processing job; EventBridge reports its end as a "SageMaker
# Processing Job State Change" whose detail is the job's description (DescribeProcessingJob: ProcessingJobStatus,
# ExitMessage, MonitoringScheduleArn). An execution that found violations completes with an ExitMessage starting
# "CompletedWithViolations" (its MonitoringExecutionStatus, see the MonitoringExecutionSummary API reference:
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_MonitoringExecutionSummary.html); the pattern
# keeps only those of this environment's schedule.
PROCESSING_JOB_STATE_CHANGE = "SageMaker Processing Job State Change"
VIOLATIONS_EXIT_PREFIX = "CompletedWithViolations"
# CloudWatch reports alarm transitions as "CloudWatch Alarm State Change" from aws.cloudwatch, with the alarm's ARN
# in `resources` and the new state in detail.state.value.
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
# The trigger is idempotent (the debounce table): retry a failed invocation twice within an hour.
TARGET_RETRY_ATTEMPTS = 2
TARGET_MAX_EVENT_AGE = Duration.hours(1)


@dataclass(frozen=True)
class RetrainingSettings:
    env_name: str
    function_name: str
    table_name: str
    min_interval_hours: int
    monitoring_schedule_arn: str | None  # None: the environment has no data-quality monitor
    quality_alarm_arns: Sequence[str]  # alarms whose ALARM state triggers (the model-quality alarm)
    log_retention: logs.RetentionDays
    powertools_layer_version: int
    retain: bool


class Retraining(Construct):
    """Exposes `function`, `table` and the `rules` that invoke the function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: RetrainingSettings,
        state_machine: sfn.IStateMachine,
        alerts: sns.ITopic,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY
        self.table = dynamodb.TableV2(
            self,
            "DebounceState",
            table_name=settings.table_name,
            partition_key=dynamodb.Attribute(name=TABLE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal,
            deletion_protection=removal == RemovalPolicy.RETAIN,
        )
        contract = RetrainSettings(
            env_name=settings.env_name,
            state_machine_arn=state_machine.state_machine_arn,
            topic_arn=alerts.topic_arn,
            table_name=self.table.table_name,
            min_interval_seconds=settings.min_interval_hours * 3600,
        )
        self.function = PythonFunction(
            self,
            "TriggerFunction",
            function_name=settings.function_name,
            handler=HANDLER,
            description="Starts training on monitoring violations or the quality alarm, at most once per window",
            environment=contract.to_env(),
            key=key,
            log_retention=settings.log_retention,
            powertools_layer_version=settings.powertools_layer_version,
            retain_logs=settings.retain,
        )
        role = self.function.role
        # Exactly the calls the logic makes: read the item, write it conditionally, release a failed claim.
        self.table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
        key.grant_encrypt_decrypt(role)
        state_machine.grant_start_execution(role)
        alerts.grant_publish(role)
        acknowledge_key_grant(
            role.node.find_child("DefaultPolicy"), "Debounce table and alerts topic encryption with the data key only."
        )
        target = _InvokeWithEventAsIs(self.function.function)
        self.rules: list[events.Rule] = []
        if settings.monitoring_schedule_arn is not None:
            self.rules.append(
                events.Rule(
                    self,
                    "OnViolations",
                    description="A data-quality monitoring execution completed with violations: retrain",
                    event_pattern=events.EventPattern(
                        source=["aws.sagemaker"],
                        detail_type=[PROCESSING_JOB_STATE_CHANGE],
                        detail={
                            "ProcessingJobStatus": ["Completed"],
                            "ExitMessage": [{"prefix": VIOLATIONS_EXIT_PREFIX}],
                            "MonitoringScheduleArn": [settings.monitoring_schedule_arn],
                        },
                    ),
                    targets=[target],
                )
            )
        if settings.quality_alarm_arns:
            self.rules.append(
                events.Rule(
                    self,
                    "OnQualityAlarm",
                    description="The model-quality alarm entered ALARM: retrain",
                    event_pattern=events.EventPattern(
                        source=["aws.cloudwatch"],
                        detail_type=[ALARM_STATE_CHANGE],
                        resources=list(settings.quality_alarm_arns),
                        detail={"state": {"value": ["ALARM"]}},
                    ),
                    targets=[target],
                )
            )
        for rule in self.rules:
            # A fixed id (targets.LambdaFunction's embeds the rule's path, which a pipeline stage nests): the stack
            # deployed by hand and as a pipeline stage keep the same resources.
            self.function.function.add_permission(
                f"InvokedBy{rule.node.id}",
                principal=iam.ServicePrincipal("events.amazonaws.com"),
                source_arn=rule.rule_arn,
            )


@jsii.implements(events.IRuleTarget)
class _InvokeWithEventAsIs:
    """targets.LambdaFunction without its permission (added above with a fixed id): the event as sent, two retries
    within an hour."""

    def __init__(self, function: lambda_.IFunction) -> None:
        self._function = function

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._function.function_arn,
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
                maximum_event_age_in_seconds=int(TARGET_MAX_EVENT_AGE.to_seconds()),
            ),
        )
