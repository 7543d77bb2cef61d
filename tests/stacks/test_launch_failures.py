"""A scheduled batch launch that fails is kept: the schedule target's DLQ and the launcher's async on-failure
destination are one encrypted, TLS-only queue, alarmed. On moto: both are accepted as synthesized and name that
queue, the real handler fails on the schedule's input, and Lambda's on-failure record (sent by the test, as moto
routes no failure) carries the event intact."""

import io
import json
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Match, Template
from moto.server import ThreadedMotoServer

from batch.launcher.handler import handler
from common import clients
from tests.lambdas.helpers import lambda_context
from tests.stacks.conftest import ENVS, SynthesizedEnv

Synth = Callable[[str], SynthesizedEnv]
SCHEDULED_ENVS = ["staging", "prod"]


def _resource(template: Template, logical_id: str) -> dict[str, Any]:
    resource: dict[str, Any] = template.to_json()["Resources"][logical_id]
    return resource


def _launcher_id(template: Template) -> str:
    (logical_id,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "batch.launcher.handler.handler"}}
    )
    return logical_id


def _on_failure_queue(template: Template) -> str:
    launcher = _launcher_id(template)
    (config,) = [
        resource["Properties"]
        for resource in template.find_resources("AWS::Lambda::EventInvokeConfig").values()
        if resource["Properties"]["FunctionName"] == {"Ref": launcher}
    ]
    queue_id: str = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    return queue_id


def _schedule_target(template: Template) -> dict[str, Any]:
    (rule,) = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}}
    ).values()
    (target,) = rule["Properties"]["Targets"]
    return dict(target)


@pytest.mark.parametrize("env", ENVS)
def test_the_launcher_sends_failed_async_invocations_to_an_encrypted_tls_only_queue(synth: Synth, env: str) -> None:
    # GIVEN each environment's batch stack
    template = synth(env).templates["Batch"]
    # THEN the launcher's async invocations retry twice within 6 hours, then go to a queue
    launcher = _launcher_id(template)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": launcher}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600},
    )
    queue_id = _on_failure_queue(template)
    queue = _resource(template, queue_id)["Properties"]
    # AND that queue is KMS-encrypted and keeps a message 14 days
    assert queue["KmsMasterKeyId"], "the queue has no KMS key"
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    # AND refuses requests without TLS
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            },
        },
    )
    # AND a message in it raises an alarm to the alerts topic
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [Match.any_value()],
        },
    )


@pytest.mark.parametrize("env", SCHEDULED_ENVS)
def test_the_schedule_target_retries_then_dead_letters_into_the_same_queue(synth: Synth, env: str) -> None:
    # GIVEN an environment whose launcher runs on a schedule
    template = synth(env).templates["Batch"]
    target = _schedule_target(template)
    queue_id = _on_failure_queue(template)
    # THEN the target retries with an explicit policy and dead-letters into the launcher's failure queue
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 2 * 3600}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    # AND only that rule may send to the queue as EventBridge
    (rule_id,) = template.find_resources("AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}})
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "sqs:SendMessage",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}},
                            }
                        )
                    ]
                )
            },
        },
    )


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset_clients()
    try:
        yield url
    finally:
        clients.reset_clients()
        server.stop()


def _on_failure_record(event: dict[str, Any], error: Exception, function_arn: str, invocations: int) -> dict[str, Any]:
    """The record Lambda's async on-failure destination sends, in its documented format ("Capturing records of
    Lambda asynchronous invocations", AWS Lambda Developer Guide): the event under requestPayload."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": invocations,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_tb(error.__traceback__),
        },
    }


def _launcher_on_moto(template: Template, queue_arn: str) -> tuple[str, dict[str, Any]]:
    """The launcher function, its async-invoke config and its schedule's target, created on moto from the template's
    own properties (the queue as their destination). Returns the function ARN and the target as EventBridge holds
    it. moto validates what AWS validates here: retries at most 2, event age at most 6 hours, ARN patterns."""
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"launcher-{uuid.uuid4().hex[:6]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("batch/launcher/handler.py", "")
    function = _resource(template, _launcher_id(template))["Properties"]
    function_arn = boto3.client("lambda").create_function(
        FunctionName="esteira-staging-batch-launcher",
        Runtime=function["Runtime"],
        Role=role,
        Handler=function["Handler"],
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    (invoke_config,) = template.find_resources("AWS::Lambda::EventInvokeConfig").values()
    retries = invoke_config["Properties"]
    boto3.client("lambda").put_function_event_invoke_config(
        FunctionName=function_arn,
        MaximumRetryAttempts=retries["MaximumRetryAttempts"],
        MaximumEventAgeInSeconds=retries["MaximumEventAgeInSeconds"],
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    target = _schedule_target(template)
    (rule,) = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": Match.any_value()}}
    ).values()
    events = boto3.client("events")
    events.put_rule(Name="esteira-staging-launch", ScheduleExpression=rule["Properties"]["ScheduleExpression"])
    events.put_targets(
        Rule="esteira-staging-launch",
        Targets=[
            {
                "Id": target["Id"],
                "Arn": function_arn,
                "Input": target["Input"],
                "RetryPolicy": target["RetryPolicy"],
                "DeadLetterConfig": {"Arn": queue_arn},
            }
        ],
    )
    (stored,) = events.list_targets_by_rule(Rule="esteira-staging-launch")["Targets"]
    return function_arn, stored


def test_a_failing_scheduled_launch_is_kept_in_the_dead_letter_queue_as_lambda_records_it(
    synth: Synth, moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What this proves, on moto over HTTP: (1) the schedule target's retry policy and dead-letter queue, and the
    function's async retries and on-failure destination, as synthesized, are accepted by the EventBridge and Lambda
    APIs and name the same queue; (2) the real handler, given the schedule's own input, fails with a named error on
    each of Lambda's attempts; (3) the record Lambda then sends, in AWS's documented format, reaches the queue with
    the event intact. What it cannot prove: that AWS sends it. moto runs no Lambda without docker, and neither its
    EventBridge nor its Lambda routes a failure to a dead-letter queue or destination, so step (3)'s send is this
    test's, standing in for Lambda's; the delivery itself is AWS's documented behaviour, not tested here."""
    # GIVEN staging's launcher, schedule and failure queue as synthesized, created on moto
    template = synth("staging").templates["Batch"]
    queue_properties = _resource(template, _on_failure_queue(template))["Properties"]
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(
        QueueName="esteira-staging-launch-dlq",
        Attributes={
            "MessageRetentionPeriod": str(queue_properties["MessageRetentionPeriod"]),
            "KmsMasterKeyId": "alias/esteira-staging-data",
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function_arn, target = _launcher_on_moto(template, queue_arn)
    invoke_config = boto3.client("lambda").get_function_event_invoke_config(FunctionName=function_arn)
    # THEN both failure paths (EventBridge could not invoke; the function failed) end in the same queue
    assert target["DeadLetterConfig"] == {"Arn": queue_arn}
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    max_retries = invoke_config["MaximumRetryAttempts"]
    # AND a batch-input run to score, but a model package group with nothing approved yet: the launch cannot succeed
    group = f"esteira-staging-model-{uuid.uuid4().hex[:6]}"
    clients.sagemaker().create_model_package_group(ModelPackageGroupName=group)
    s3 = boto3.client("s3")
    bucket = f"esteira-staging-predictions-{uuid.uuid4().hex[:6]}"
    region = s3.meta.region_name
    s3.create_bucket(
        Bucket=bucket,
        **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
    )
    s3.put_object(Bucket=bucket, Key="batch-input/run_id=r1/part-00000.csv", Body=b"id-1,1.0\n")
    for name, value in {
        "MODEL_PACKAGE_GROUP": group,
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::222222222222:role/esteira-staging-transform",
        "PREDICTIONS_BUCKET": bucket,
        "ARTIFACTS_BUCKET": f"{bucket}-artifacts",
        "INSTANCE_TYPE": "ml.m5.large",
        "INSTANCE_COUNT": "1",
        "MAX_PAYLOAD_MB": "6",
        "MAX_CONCURRENT_TRANSFORMS": "4",
        "KMS_KEY_ID": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ENV_NAME": "staging",
    }.items():
        monkeypatch.setenv(name, value)
    # WHEN the target's input, as EventBridge holds it, is handed to the real handler, once and on each retry
    event = json.loads(target["Input"])
    failures: list[Exception] = []
    for _ in range(1 + max_retries):
        with pytest.raises(Exception) as failure:
            handler(json.loads(json.dumps(event)), lambda_context(name="esteira-staging-batch-launcher"))
        failures.append(failure.value)
    # AND the on-failure record Lambda sends after the last retry (built here: moto does not send it) goes to the
    # destination the function's config names
    record = _on_failure_record(event, failures[-1], function_arn, invocations=len(failures))
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[-1])["QueueUrl"], MessageBody=json.dumps(record)
    )
    # THEN the queue holds one record of the failed launch: the original event, intact, and why it failed
    (message,) = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    received = json.loads(message["Body"])
    assert received["requestPayload"] == event == {}
    assert received["requestContext"]["condition"] == "RetriesExhausted"
    assert received["requestContext"]["approximateInvokeCount"] == 3
    assert {type(error).__name__ for error in failures} == {"NoApprovedModelPackageError"}
    assert received["responsePayload"]["errorType"] == "NoApprovedModelPackageError"
    assert f"'{group}' has no Approved model package" in received["responsePayload"]["errorMessage"]
