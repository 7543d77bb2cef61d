"""EventBridge rules on the extraction job's state changes."""

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.nag import acknowledge

# The singleton Lambda behind every AwsCustomResource in a stack.
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
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
        self.succeeded_rule.add_target(targets.CloudWatchLogGroup(self.history))
        # The log group target installs its resource policy through a CDK-provided custom resource.
        stack = Stack.of(self)
        for child in stack.node.children:
            if child.node.id.startswith("EventsLogGroupPolicy"):
                acknowledge(
                    child,
                    "IAM5[Resource::*]",
                    "CDK's custom resource that puts the CloudWatch Logs resource policy letting EventBridge "
                    "write the extraction history; logs:PutResourcePolicy has no resource-level permission.",
                )
        provider = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_PROVIDER_ID)
        if provider is not None:
            acknowledge(
                provider,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's AwsCustomResource provider function only writes its own logs with the basic execution role.",
            )

    def on_succeeded(
        self, scope: Construct, construct_id: str, target: events.IRuleTarget, description: str
    ) -> events.Rule:
        rule = events.Rule(scope, construct_id, description=description, event_pattern=self.succeeded_pattern)
        rule.add_target(target)
        return rule
