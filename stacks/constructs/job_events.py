"""EventBridge rules on the extraction job's state changes."""

import jsii
from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct

SUCCEEDED = "SUCCEEDED"
FAILURE_STATES = ("FAILED", "TIMEOUT", "ERROR", "STOPPED")


def job_state_pattern(job_name: str, *states: str) -> events.EventPattern:
    return events.EventPattern(
        source=["aws.glue"],
        detail_type=["Glue Job State Change"],
        detail={"jobName": [job_name], "state": list(states)},
    )


class ExtractionEvents(Construct):
    """Failures notify the alerts topic; successes are recorded and offered to other stacks.

    Other stacks call `on_succeeded(scope, id, target)`: the rule is created in *their* scope, so the
    dependency points from the consumer to this stack and never back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        job_name: str,
        alerts: sns.ITopic,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        retain: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.job_name = job_name
        self.succeeded_pattern = job_state_pattern(job_name, SUCCEEDED)
        self.failed_pattern = job_state_pattern(job_name, *FAILURE_STATES)

        self.failed_rule = events.Rule(
            self,
            "Failed",
            description=f"Glue job {job_name} failed, timed out or was stopped",
            event_pattern=self.failed_pattern,
        )
        self.failed_rule.add_target(
            targets.SnsTopic(
                alerts,
                message=events.RuleTargetInput.from_text(
                    f"Extraction job {events.EventField.from_path('$.detail.jobName')} run "
                    f"{events.EventField.from_path('$.detail.jobRunId')} ended in state "
                    f"{events.EventField.from_path('$.detail.state')}: "
                    f"{events.EventField.from_path('$.detail.message')}"
                ),
            )
        )

        self.history = logs.LogGroup(
            self,
            "History",
            encryption_key=key,
            retention=log_retention,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        self.succeeded_rule = events.Rule(
            self,
            "Succeeded",
            description=f"Glue job {job_name} succeeded: recorded here, training subscribes on its own",
            event_pattern=self.succeeded_pattern,
        )
        self.succeeded_rule.add_target(_LogGroupTarget(self.history))
        logs.ResourcePolicy(
            self,
            "HistoryWriters",
            resource_policy_name=f"{job_name}-history-writers",
            policy_statements=[
                iam.PolicyStatement(
                    sid="EventBridgeWritesExtractionHistory",
                    principals=[
                        iam.ServicePrincipal("events.amazonaws.com"),
                        iam.ServicePrincipal("delivery.logs.amazonaws.com"),
                    ],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.history.log_group_arn],
                )
            ],
        )

    def on_succeeded(
        self, scope: Construct, construct_id: str, target: events.IRuleTarget, description: str
    ) -> events.Rule:
        rule = events.Rule(scope, construct_id, description=description, event_pattern=self.succeeded_pattern)
        rule.add_target(target)
        return rule


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """Delivers events to a log group whose resource policy we write ourselves.

    CDK's `targets.CloudWatchLogGroup` installs that policy through a Lambda-backed custom resource;
    `AWS::Logs::ResourcePolicy` does the same natively, with no function to own.
    """

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        arn = Stack.of(rule).format_arn(
            service="logs",
            resource="log-group",
            resource_name=self._log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return events.RuleTargetConfig(arn=arn)
