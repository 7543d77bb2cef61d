"""Promotion on model approval: the registry's decisions reach this account and start the pipeline.

The registry environment forwards "Model Package State Change" events (Approved, Rejected) to this account's
default bus. A rule hands them to the promoter Lambda, which records the promoted package and starts the pipeline
with its ARN as the pipeline variable. An event the Lambda cannot handle lands in a dead-letter queue, alarmed.
"""

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from esteira_contracts.delivery import PromoterSettings
from stacks import names
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.registry_events import package_state_changes
from stacks.nag import acknowledge, acknowledge_key_grant


@dataclass(frozen=True)
class PromotionSettings:
    function_name: str
    pipeline_variable: str
    registry_account: str
    model_package_group: str
    # The registry's role that puts its decisions on this account's default bus: the only principal admitted.
    forwarder_role_name: str
    log_retention: logs.RetentionDays
    powertools_layer_version: int


class PromotionTrigger(Construct):
    """Exposes `rule` (registry decisions → promoter), `promoter` and `dead_letter_queue`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: PromotionSettings,
        pipeline: codepipeline.IPipeline,
        key: kms.IKey,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        promoted = ssm.StringParameter(
            self,
            "PromotedPackage",
            parameter_name=names.PROMOTED_PACKAGE_PARAMETER,
            description="The model package the delivery pipeline last promoted; a push deploys this one",
            string_value=names.NO_MODEL_PACKAGE,
        )
        history = ssm.StringParameter(
            self,
            "PromotionHistory",
            parameter_name=names.PROMOTION_HISTORY_PARAMETER,
            description="Packages promoted before, newest first: a rejection rolls back to the newest one left",
            string_value="[]",
        )
        # L1 with a JSON statement: the L2's principal object sends CDK's tree metadata into a reference cycle.
        # (CDK's tree metadata also reads the L1's deprecated `principal`, hence a deprecation line at synth.)
        events.CfnEventBusPolicy(
            self,
            "RegistryMayForward",
            statement_id=f"{names.PROJECT}-registry-{settings.registry_account}",
            event_bus_name="default",
            statement={
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{stack.partition}:iam::{settings.registry_account}:root"},
                "Action": "events:PutEvents",
                "Resource": stack.format_arn(service="events", resource="event-bus", resource_name="default"),
                # Not the whole registry account: its forwarding rule's role, and only the registry's events.
                "Condition": {
                    "ArnEquals": {
                        "aws:PrincipalArn": f"arn:{stack.partition}:iam::{settings.registry_account}:role/"
                        f"{settings.forwarder_role_name}"
                    },
                    "StringEquals": {"events:source": "aws.sagemaker"},
                },
            },
        )
        self.promoter = PythonFunction(
            self,
            "Promoter",
            function_name=settings.function_name,
            handler="delivery.promote.handler.handler",
            description="Starts the delivery pipeline with an approved model package, or rolls back a rejected one",
            environment=PromoterSettings(
                pipeline_name=pipeline.pipeline_name,
                pipeline_variable=settings.pipeline_variable,
                model_package_groups=(settings.model_package_group,),
                registry_account=settings.registry_account,
                promoted_parameter=names.PROMOTED_PACKAGE_PARAMETER,
                history_parameter=names.PROMOTION_HISTORY_PARAMETER,
            ).to_env(),
            key=key,
            log_retention=settings.log_retention,
            powertools_layer_version=settings.powertools_layer_version,
            # One decision at a time: the promoter reads, then writes, two SSM parameters, which cannot be
            # written conditionally. Lambda holds concurrent events back and retries them.
            reserved_concurrency=1,
        )
        self.promoter.role.add_to_policy(
            iam.PolicyStatement(
                sid="StartPipeline", actions=["codepipeline:StartPipelineExecution"], resources=[pipeline.pipeline_arn]
            )
        )
        for parameter in (promoted, history):
            parameter.grant_read(self.promoter.role)
            parameter.grant_write(self.promoter.role)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            "SQS3",
            "This queue is the dead-letter queue of the rule's Lambda target; cdk-nag cannot see EventBridge DLQs.",
        )
        # EventBridge invokes asynchronously: what the promoter still fails on after Lambda's retries lands here too.
        self.promoter.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letter_queue),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        acknowledge_key_grant(self.promoter.role.node.find_child("DefaultPolicy"))
        self.rule = events.Rule(
            self,
            "RegistryDecisions",
            description=f"Approvals and rejections in {settings.model_package_group} start the delivery pipeline",
            event_pattern=package_state_changes(
                settings.model_package_group, names.PROMOTION_DECISIONS, account=settings.registry_account
            ),
        )
        self.rule.add_target(
            targets.LambdaFunction(
                self.promoter.function,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=4,
                max_event_age=Duration.hours(2),
            )
        )
        # EventBridge must be able to encrypt what it dead-letters with the key.
        key.grant_encrypt_decrypt(iam.ServicePrincipal("events.amazonaws.com"))
        cloudwatch.Alarm(
            self,
            "UndeliveredDecisions",
            alarm_description=f"A registry decision did not reach the promoter in {stack.stack_name}: see the DLQ",
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ).add_alarm_action(cloudwatch_actions.SnsAction(alerts))
