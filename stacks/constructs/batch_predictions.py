"""Batch predictions: launch a transform, fan its output out to SQS FIFO, store each prediction once."""

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts import layout
from esteira_contracts.batch import ConsumerSettings, LauncherSettings
from esteira_contracts.fanout import NON_RETRYABLE_ERRORS, FanoutSettings
from stacks import names
from stacks.config import BatchConfig
from stacks.construct_rules import check_visibility_timeout, minimum_visibility_timeout_seconds
from stacks.constructs.launch_failures import launch_dead_letter_queue, launch_schedule
from stacks.constructs.prediction_queue import PredictionQueue
from stacks.constructs.python_function import PythonFunction
from stacks.nag import acknowledge, acknowledge_bucket_grants, acknowledge_key_grant, objects_of

CONSUMER_TIMEOUT = Duration.minutes(1)
# Lambda's SQS guidance: the queue's visibility timeout is at least six times its consumer's timeout.
QUEUE_VISIBILITY_TIMEOUT = Duration.seconds(minimum_visibility_timeout_seconds(CONSUMER_TIMEOUT.to_seconds()))


@dataclass(frozen=True)
class BatchSettings:
    env_name: str
    name_prefix: str
    model_package_group_name: str
    batch: BatchConfig
    log_retention: logs.RetentionDays
    powertools_layer_version: int
    retain: bool
    subnet_ids: list[str]
    security_group_ids: list[str]
    # In a stage that serves a promoted package, batch scores with that package, not the group's newest approved.
    pinned_model_package_arn: str | None = None


class BatchPredictions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: BatchSettings,
        key: kms.IKey,
        predictions: s3.IBucket,
        artifacts: s3.IBucket,
        transform_role: iam.IRole,
        alerts: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self._stack = Stack.of(self)
        self._key = key
        removal = RemovalPolicy.RETAIN if settings.retain else RemovalPolicy.DESTROY

        self.predictions_table = self._table(
            "PredictionsTable",
            f"{settings.name_prefix}-{names.PREDICTIONS_TABLE}",
            names.PREDICTIONS_TABLE_KEY,
            removal,
        )
        self.idempotency_table = self._table(
            "IdempotencyTable",
            f"{settings.name_prefix}-{names.IDEMPOTENCY_TABLE}",
            names.IDEMPOTENCY_TABLE_KEY,
            removal,
            ttl_attribute=names.IDEMPOTENCY_TTL_ATTRIBUTE,
        )
        self.queue = PredictionQueue(
            self,
            "Queue",
            queue_name=f"{settings.name_prefix}-{names.PREDICTIONS_QUEUE}",
            key=key,
            max_receive_count=settings.batch.max_receive_count,
            visibility_timeout=QUEUE_VISIBILITY_TIMEOUT,
            oldest_message_alarm=Duration.minutes(settings.batch.oldest_message_alarm_minutes),
            alerts=alerts,
        )
        self.launcher = self._launcher(predictions, artifacts, transform_role, alerts)
        self.fanout = self._fanout(predictions)
        self.consumer = self._consumer()
        self.fanout_state_machine = self._fanout_loop(alerts)
        self._transform_events(alerts)

    def _table(
        self, construct_id: str, name: str, partition_key: str, removal: RemovalPolicy, ttl_attribute: str | None = None
    ) -> dynamodb.TableV2:
        return dynamodb.TableV2(
            self,
            construct_id,
            table_name=name,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(self._key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=ttl_attribute,
            removal_policy=removal,
            # An environment that keeps its data (prod) also refuses a DeleteTable from outside CloudFormation.
            deletion_protection=removal == RemovalPolicy.RETAIN,
        )

    def _function(
        self, construct_id: str, name: str, handler: str, description: str, env: dict[str, str], timeout: Duration
    ) -> PythonFunction:
        return PythonFunction(
            self,
            construct_id,
            function_name=f"{self.settings.name_prefix}-{name}",
            handler=handler,
            description=description,
            environment=env,
            key=self._key,
            log_retention=self.settings.log_retention,
            powertools_layer_version=self.settings.powertools_layer_version,
            timeout=timeout,
            retain_logs=self.settings.retain,
        )

    def _launcher(
        self, predictions: s3.IBucket, artifacts: s3.IBucket, transform_role: iam.IRole, alerts: sns.ITopic
    ) -> PythonFunction:
        settings, batch = self.settings, self.settings.batch
        launcher = self._function(
            "Launcher",
            names.BATCH_LAUNCHER_FUNCTION,
            "batch.launcher.handler.handler",
            "Starts a batch transform of one batch-input run with the approved (or promoted) model",
            LauncherSettings(
                model_package_group=settings.model_package_group_name,
                model_package_arn=settings.pinned_model_package_arn,
                role_arn=transform_role.role_arn,
                bucket=predictions.bucket_name,
                artifacts_bucket=artifacts.bucket_name,
                datasets_prefix=names.DATASETS_PREFIX,
                input_prefix=names.BATCH_INPUT_PREFIX,
                output_prefix=names.BATCH_OUTPUT_PREFIX,
                instance_type=batch.instance_type,
                instance_count=batch.instance_count,
                max_payload_mb=batch.max_payload_mb,
                max_concurrent_transforms=batch.max_concurrent_transforms,
                kms_key_id=self._key.key_arn,
                env_name=settings.env_name,
                run_id_prefix=settings.name_prefix,
                subnet_ids=tuple(settings.subnet_ids),
                security_group_ids=tuple(settings.security_group_ids),
            ).to_env(),
            Duration.minutes(1),
        )
        prefix = settings.name_prefix
        group = settings.model_package_group_name
        manifests = layout.run_prefix(names.DATASETS_PREFIX, "*") + "manifest.json"
        scoring_records = f"{names.BATCH_OUTPUT_PREFIX}*/{layout.SCORING_RECORD_FILENAME}"
        statements = [
            # Each transform run's scoring record, beside its outputs: which model version scored the run.
            iam.PolicyStatement(
                sid="WriteScoringRecords",
                actions=["s3:PutObject"],
                resources=[predictions.arn_for_objects(scoring_records)],
            ),
            # This environment's dataset runs' manifests: is a run complete, which spec and features it wrote.
            iam.PolicyStatement(
                sid="ReadDatasetManifests", actions=["s3:GetObject"], resources=[artifacts.arn_for_objects(manifests)]
            ),
            iam.PolicyStatement(sid="ListPackages", actions=["sagemaker:ListModelPackages"], resources=["*"]),
            iam.PolicyStatement(
                sid="ReadPackages",
                actions=["sagemaker:DescribeModelPackage"],
                resources=[
                    self._arn("model-package", f"{group}/*"),
                    *([settings.pinned_model_package_arn] if settings.pinned_model_package_arn else []),
                ],
            ),
            iam.PolicyStatement(
                sid="CreateModelAndTransform",
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:DescribeModel",
                    "sagemaker:CreateTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:AddTags",
                ],
                resources=[self._arn("model", f"{prefix}-*"), self._arn("transform-job", f"{prefix}-*")],
            ),
            iam.PolicyStatement(
                sid="PassTransformRole",
                actions=["iam:PassRole"],
                resources=[transform_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            ),
        ]
        for statement in statements:
            launcher.role.add_to_policy(statement)
        # It lists the batch input runs to find the one to score, and refuses an empty one.
        batch_input = f"{names.BATCH_INPUT_PREFIX}*"
        predictions.grant_read(launcher.role, batch_input)
        policy = launcher.role.node.find_child("DefaultPolicy")
        acknowledge_bucket_grants(
            policy,
            "CDK grant_read limited to batch-input/: the launcher lists the runs there and checks one is not empty.",
            objects_of(predictions, batch_input, self),
        )
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "sagemaker:ListModelPackages and X-Ray tracing have no resource-level permission.",
        )
        for resource, reason in (
            (self._arn("model-package", f"{group}/*"), "Any version of the group can be the latest approved one."),
            (
                objects_of(artifacts, manifests, self).removeprefix("Resource::"),
                "One dataset run's manifest per run id: the launcher checks a run is complete and its schema.",
            ),
            (
                objects_of(predictions, scoring_records, self).removeprefix("Resource::"),
                "One scoring record per transform run, named batch-output/<run>/_scoring.json; nothing else.",
            ),
            (self._arn("model", f"{prefix}-*"), "One model per package version, named <group>-v<version>."),
            (self._arn("transform-job", f"{prefix}-*"), "Transform jobs are named per run under this prefix."),
        ):
            acknowledge(policy, f"IAM5[Resource::{resource}]", reason)
        self.launch_dead_letter_queue = launch_dead_letter_queue(
            self, f"{prefix}-batch-launch-dlq", launcher.function, self._key, alerts
        )
        acknowledge_key_grant(policy, "The launcher encrypts its failed launches' records with the data key only.")
        if settings.batch.schedule:
            launch_schedule(self, launcher.function, settings.batch.schedule, self.launch_dead_letter_queue)
        return launcher

    def _fanout(self, predictions: s3.IBucket) -> PythonFunction:
        config = self.settings.batch.fanout
        contract = FanoutSettings.for_batch(
            self.settings.batch, queue_url=self.queue.queue.queue_url, kms_key_id=self._key.key_arn
        )
        fanout = self._function(
            "Fanout",
            "batch-fanout",
            "batch.fanout.handler.handler",
            "Streams transform output to the FIFO queue, 10 messages per call, resumable",
            contract.to_env(),
            Duration.seconds(config.timeout_seconds),
        )
        outputs = f"{names.BATCH_OUTPUT_PREFIX}*"
        summaries = f"{names.FANOUT_SUMMARY_PREFIX}*"
        predictions.grant_read(fanout.role, outputs)
        # Summaries, quarantine parts and the run's state object, which a retried invocation reads back.
        predictions.grant_read(fanout.role, summaries)
        predictions.grant_put(fanout.role, summaries)
        self.queue.queue.grant_send_messages(fanout.role)
        self._key.grant_encrypt_decrypt(fanout.role)
        policy = fanout.role.node.find_child("DefaultPolicy")
        acknowledge_bucket_grants(
            policy,
            "CDK bucket grants limited to batch-output/ (read) and _fanout/ (summaries, quarantine, run state).",
            objects_of(predictions, outputs, self),
            objects_of(predictions, summaries, self),
        )
        acknowledge_key_grant(policy)
        return fanout

    def _consumer(self) -> PythonFunction:
        consumer = self._function(
            "Consumer",
            "batch-consumer",
            "batch.consumer.handler.handler",
            "Stores each prediction once in the predictions table; reports partial batch failures",
            ConsumerSettings(
                predictions_table=self.predictions_table.table_name,
                idempotency_table=self.idempotency_table.table_name,
            ).to_env(),
            CONSUMER_TIMEOUT,
        )
        self.predictions_table.grant_read_write_data(consumer.role)
        self.idempotency_table.grant_read_write_data(consumer.role)
        # A mapping with a fixed id, not SqsEventSource, whose id embeds the queue's full path: the same stack
        # deployed by hand and as a pipeline stage must not swap its event source mapping.
        self.queue.queue.grant_consume_messages(consumer.role)
        timeout = consumer.function.timeout
        assert timeout is not None, "the consumer is given CONSUMER_TIMEOUT"
        check_visibility_timeout("the predictions queue", QUEUE_VISIBILITY_TIMEOUT.to_seconds(), timeout.to_seconds())
        consumer.function.add_event_source_mapping(
            "QueueEvents",
            event_source_arn=self.queue.queue.queue_arn,
            batch_size=self.settings.batch.consumer_batch_size,
            report_batch_item_failures=True,
            max_concurrency=self.settings.batch.consumer_max_concurrency,
        )
        policy = consumer.role.node.find_child("DefaultPolicy")
        acknowledge_key_grant(policy, "Table and queue encryption with the environment's data key only.")
        return consumer

    def _fanout_loop(self, alerts: sns.ITopic) -> sfn.StateMachine:
        prefix = self.settings.name_prefix
        notify = tasks.SnsPublish(
            self,
            "NotifyFanoutFailure",
            topic=alerts,
            subject=f"Esteira {self.settings.env_name}: prediction fan-out failed",
            message=sfn.TaskInput.from_object(
                {
                    "outcome": "failed",
                    "execution": sfn.JsonPath.execution_id,
                    "error": sfn.JsonPath.string_at("$.error.Error"),
                    "cause": sfn.JsonPath.string_at("$.error.Cause"),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
        ).next(sfn.Fail(self, "FanoutFailed", error_path="$.error.Error", cause_path="$.error.Cause"))
        config = self.settings.batch.fanout
        fan_out = tasks.LambdaInvoke(
            self,
            "FanOut",
            lambda_function=self.fanout.function,
            comment="Sends what it can before its time runs low, then returns the cursor of the next line",
            payload_response_only=True,
            retry_on_service_exceptions=False,  # the retrier below covers Lambda's service errors too
        )
        # Retrying cannot fix these: straight to the notification, whose cause names the object and the line.
        fan_out.add_retry(errors=list(NON_RETRYABLE_ERRORS), max_attempts=0)
        # Everything else (a crash, a timeout, SendFailedError, a broken S3 stream, Lambda's own errors) is retried
        # with the same input; the handler resumes from the cursor saved in the run's state object. Once the
        # attempts are spent the execution fails in this state, so a redrive runs it again from that cursor.
        fan_out.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(config.retry_interval_seconds),
            backoff_rate=config.retry_backoff_rate,
            max_attempts=config.retry_max_attempts,
            max_delay=Duration.seconds(config.retry_max_delay_seconds),
            jitter_strategy=sfn.JitterType.FULL,
        )
        fan_out.add_catch(notify, errors=list(NON_RETRYABLE_ERRORS), result_path="$.error")
        done = (
            sfn.Choice(self, "Done")
            .when(sfn.Condition.boolean_equals("$.done", True), sfn.Succeed(self, "Delivered"))
            .otherwise(fan_out)
        )
        log_group = logs.LogGroup(
            self,
            "FanoutLogs",
            log_group_name=f"/aws/vendedlogs/states/{prefix}-fanout",
            encryption_key=self._key,
            retention=self.settings.log_retention,
            removal_policy=RemovalPolicy.RETAIN if self.settings.retain else RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            "FanoutStateMachine",
            state_machine_name=f"{prefix}-fanout",
            definition_body=sfn.DefinitionBody.from_chainable(fan_out.next(done)),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.hours(12),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self._key),
        )
        policy = machine.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "X-Ray tracing and CloudWatch Logs delivery have no resource-level permissions.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::<{self._stack.get_logical_id(self.fanout.function.node.default_child)}.Arn>:*]",  # type: ignore[arg-type]
            "CDK's LambdaInvoke grants every version and alias of the fan-out function.",
        )
        acknowledge_key_grant(policy, "State machine encryption with the environment's data key only.")
        return machine

    def _transform_events(self, alerts: sns.ITopic) -> None:
        def pattern(*statuses: str) -> events.EventPattern:
            return events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Transform Job State Change"],
                detail={
                    "TransformJobName": [{"prefix": f"{self.settings.name_prefix}-"}],
                    "TransformJobStatus": list(statuses),
                },
            )

        events.Rule(
            self,
            "TransformCompleted",
            description="A completed transform starts the fan-out of its predictions",
            event_pattern=pattern("Completed"),
        ).add_target(targets.SfnStateMachine(self.fanout_state_machine))
        events.Rule(
            self,
            "TransformFailed",
            description="A failed or stopped transform notifies the alerts topic",
            event_pattern=pattern("Failed", "Stopped"),
        ).add_target(
            targets.SnsTopic(
                alerts,
                message=events.RuleTargetInput.from_text(
                    f"Batch transform {events.EventField.from_path('$.detail.TransformJobName')} ended "
                    f"{events.EventField.from_path('$.detail.TransformJobStatus')}: "
                    f"{events.EventField.from_path('$.detail.FailureReason')}"
                ),
            )
        )

    def _arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)
