"""Batch predictions: FIFO queue and DLQ, alarms, transform events, the fan-out loop, consumers and tables."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from esteira_contracts import layout
from esteira_contracts.fanout import NON_RETRYABLE_ERRORS, FanoutSettings
from stacks import names
from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]


def batch(synth: Synth, env: str) -> Template:
    return synth(env).templates["Batch"]


@pytest.mark.parametrize("env", ENVS)
def test_queue_is_fifo_encrypted_tls_only_with_a_dead_letter_queue(synth: Synth, env: str) -> None:
    synthesized = synth(env)
    template = batch(synth, env)
    (dlq_id,) = [
        logical_id
        for logical_id, queue in template.find_resources("AWS::SQS::Queue").items()
        if str(queue["Properties"].get("QueueName", "")).endswith("-dlq.fifo")
    ]
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "QueueName": f"esteira-{env}-{names.PREDICTIONS_QUEUE}.fifo",
            "FifoQueue": True,
            "ContentBasedDeduplication": False,
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
            "KmsMasterKeyId": Match.any_value(),
            "RedrivePolicy": {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                "maxReceiveCount": synthesized.config.batch.max_receive_count,
            },
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {"QueueName": f"esteira-{env}-predictions-dlq.fifo", "FifoQueue": True, "KmsMasterKeyId": Match.any_value()},
    )
    # (the launcher's failed-launch queue has its own policy: tests/stacks/test_launch_failures.py)
    fifo_queues = {
        logical_id
        for logical_id, queue in template.find_resources("AWS::SQS::Queue").items()
        if queue["Properties"].get("FifoQueue")
    }
    fifo_policies = [
        policy
        for policy in template.find_resources("AWS::SQS::QueuePolicy").values()
        if {queue["Ref"] for queue in policy["Properties"]["Queues"]} <= fifo_queues
    ]
    for policy in fifo_policies:
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(fifo_policies) == 2


@pytest.mark.parametrize("env", ENVS)
def test_dead_letters_and_oldest_message_age_are_alarmed(synth: Synth, env: str) -> None:
    template = batch(synth, env)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": Match.any_value(),
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateAgeOfOldestMessage",
            "Threshold": synth(env).config.batch.oldest_message_alarm_minutes * 60,
            "AlarmActions": Match.any_value(),
        },
    )


@pytest.mark.parametrize("env", ENVS)
def test_transform_events_start_the_fanout_or_notify(synth: Synth, env: str) -> None:
    template = batch(synth, env)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Transform Job State Change"],
                "detail": {"TransformJobName": [{"prefix": f"esteira-{env}-"}], "TransformJobStatus": ["Completed"]},
            },
            "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("FanoutStateMachine")}})],
        },
    )
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": Match.object_like(
                {
                    "detail": {
                        "TransformJobName": [{"prefix": f"esteira-{env}-"}],
                        "TransformJobStatus": ["Failed", "Stopped"],
                    }
                }
            ),
            "Targets": [Match.object_like({"InputTransformer": Match.any_value()})],
        },
    )


def fanout_states(template: Template, env: str) -> dict[str, Any]:
    (machine,) = template.find_resources(
        "AWS::StepFunctions::StateMachine", {"Properties": {"StateMachineName": f"esteira-{env}-fanout"}}
    ).values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    states: dict[str, Any] = json.loads("".join(p if isinstance(p, str) else "<ref>" for p in parts))["States"]
    return states


@pytest.mark.parametrize("env", ENVS)
def test_fanout_loops_until_done_retries_from_the_cursor_and_notifies_what_retrying_cannot_fix(
    synth: Synth, env: str
) -> None:
    # GIVEN the synthesized fan-out state machine
    template = batch(synth, env)
    fanout = synth(env).config.batch.fanout
    states = fanout_states(template, env)
    # THEN it loops until done
    assert states["FanOut"]["Next"] == "Done"
    assert states["Done"]["Choices"] == [{"Variable": "$.done", "BooleanEquals": True, "Next": "Delivered"}]
    assert states["Done"]["Default"] == "FanOut"
    # AND the errors retrying cannot fix are not retried but notified, then fail the execution
    never, everything_else = states["FanOut"]["Retry"]
    assert never == {"ErrorEquals": list(NON_RETRYABLE_ERRORS), "MaxAttempts": 0}
    assert states["FanOut"]["Catch"] == [
        {"ErrorEquals": list(NON_RETRYABLE_ERRORS), "ResultPath": "$.error", "Next": "NotifyFanoutFailure"}
    ]
    assert states["NotifyFanoutFailure"]["Next"] == "FanoutFailed"
    # AND every other error (timeouts, crashes, SendFailedError, Lambda's own) is retried with bounded, jittered
    # backoff; once spent, the execution fails in FanOut itself, so a redrive runs FanOut again
    assert everything_else == {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": fanout.retry_interval_seconds,
        "MaxAttempts": fanout.retry_max_attempts,
        "BackoffRate": fanout.retry_backoff_rate,
        "MaxDelaySeconds": fanout.retry_max_delay_seconds,
        "JitterStrategy": "FULL",
    }
    # AND the function's timeout and handover margin come from config, its environment from the contract
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": f"esteira-{env}-batch-fanout"}}
    ).values()
    assert function["Properties"]["Handler"] == "batch.fanout.handler.handler"
    assert function["Properties"]["Timeout"] == fanout.timeout_seconds
    variables = function["Properties"]["Environment"]["Variables"]
    assert {name for name in variables if not name.startswith("POWERTOOLS_")} <= set(FanoutSettings.names())
    as_strings = {name: value if isinstance(value, str) else "<token>" for name, value in variables.items()}
    settings = FanoutSettings.from_env(as_strings)
    assert (settings.group_strategy, settings.safety_margin_ms) == (
        synth(env).config.batch.message_group_strategy,
        fanout.handover_margin_seconds * 1000,
    )


@pytest.mark.parametrize("env", ENVS)
def test_consumer_reports_partial_batch_failures_into_encrypted_tables(synth: Synth, env: str) -> None:
    template = batch(synth, env)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": synth(env).config.batch.consumer_batch_size,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": synth(env).config.batch.consumer_max_concurrency},
        },
    )
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TableName": f"esteira-{env}-{names.PREDICTIONS_TABLE}",
            "KeySchema": [{"AttributeName": names.PREDICTIONS_TABLE_KEY, "KeyType": "HASH"}],
            "SSESpecification": Match.object_like({"SSEEnabled": True, "SSEType": "KMS"}),
            "Replicas": [Match.object_like({"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})],
        },
    )
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "TableName": f"esteira-{env}-{names.IDEMPOTENCY_TABLE}",
            "TimeToLiveSpecification": {"AttributeName": names.IDEMPOTENCY_TTL_ATTRIBUTE, "Enabled": True},
        },
    )


@pytest.mark.parametrize(("env", "scheduled"), [("dev", False), ("prod", True)])
def test_launcher_runs_on_the_configured_schedule_with_the_configured_fleet(
    synth: Synth, env: str, scheduled: bool
) -> None:
    synthesized = synth(env)
    template = batch(synth, env)
    config = synthesized.config.batch
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "batch.launcher.handler.handler",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "INSTANCE_TYPE": config.instance_type,
                        "INSTANCE_COUNT": str(config.instance_count),
                        "MAX_PAYLOAD_MB": str(config.max_payload_mb),
                        "MAX_CONCURRENT_TRANSFORMS": str(config.max_concurrent_transforms),
                        "MODEL_PACKAGE_GROUP": f"esteira-{env}-model",
                    }
                )
            },
        },
    )
    schedules = template.find_resources("AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}})
    assert len(schedules) == (1 if scheduled else 0)
    if scheduled:
        (rule,) = schedules.values()
        assert rule["Properties"]["ScheduleExpression"] == config.schedule


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_launcher_writes_only_the_scoring_records_beside_the_transform_outputs(synth: Synth, env: str) -> None:
    # GIVEN the launcher's role policy
    policies = batch(synth, env).find_resources("AWS::IAM::Policy")
    (policy,) = [p for logical_id, p in policies.items() if logical_id.startswith("BatchLauncherRole")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    # THEN its only S3 write is PutObject of batch-output/<run>/_scoring.json
    writes = [s for s in statements if any(str(a).startswith(("s3:Put", "s3:Delete")) for a in _actions(s))]
    assert [_actions(s) for s in writes] == [["s3:PutObject"]]
    assert f'/{names.BATCH_OUTPUT_PREFIX}*/{layout.SCORING_RECORD_FILENAME}"' in json.dumps(writes[0]["Resource"])


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)
