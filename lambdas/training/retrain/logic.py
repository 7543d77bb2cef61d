"""Decide whether a trigger starts a retraining, start it, and tell the team either way.

Triggers (EventBridge events, see ``stacks/constructs/retraining.py``):

- a Model Monitor execution of this environment's schedule that completed with violations (a "SageMaker Processing
  Job State Change" whose ``ExitMessage`` starts with ``CompletedWithViolations``);
- a model-quality alarm entering ALARM (a "CloudWatch Alarm State Change").

Debounce: at most one retraining per window. The window's state is one DynamoDB item per environment holding
``last_started_at`` (epoch seconds). Why DynamoDB rather than Step Functions' execution-name idempotency: a name
derived from a window bucket coalesces only triggers in the same fixed bucket (two triggers a minute apart on either
side of a bucket's edge would both start), and a second call with a different input (another reason) fails with
ExecutionAlreadyExists rather than returning the running execution. A conditional write expresses the rule itself,
"the last start is older than the window", and of concurrent triggers exactly one write succeeds: the others
coalesce into it. If StartExecution then fails, the claim is released so the next trigger is not debounced by a
retraining that never ran.

:func:`decide` is the rule; the local run (``pipeline/retraining.py``) uses it too.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from esteira_contracts.retraining import (
    LAST_STARTED_ATTRIBUTE,
    SOURCE,
    TABLE_PARTITION_KEY,
    TRIGGER_DATA_QUALITY,
    TRIGGER_MODEL_QUALITY,
    RetrainSettings,
)

logger = Logger(child=True)

Decision = Literal["triggered", "debounced", "coalesced"]
VIOLATIONS_PREFIX = "CompletedWithViolations"
# SNS's Subject: at most 100 characters.
MAX_SUBJECT = 100


class InvalidTriggerEventError(ValueError):
    """The event is neither a monitoring execution with violations nor a quality alarm entering ALARM."""


@dataclass(frozen=True)
class Trigger:
    kind: str  # TRIGGER_DATA_QUALITY or TRIGGER_MODEL_QUALITY
    reason: str  # one line for people: what fired and why


@dataclass(frozen=True)
class Clients:
    dynamodb: Any
    stepfunctions: Any
    sns: Any


def decide(now: datetime, last_started_at: datetime | None, window: timedelta) -> Literal["triggered", "debounced"]:
    """Triggered when no retraining started, or the last one started at least ``window`` before ``now``."""
    if last_started_at is None or now - last_started_at >= window:
        return "triggered"
    return "debounced"


def trigger_of(event: Any) -> Trigger:
    """What fired, from the EventBridge event; anything else is refused with the reason."""
    if not isinstance(event, dict) or not isinstance(event.get("detail"), dict):
        raise InvalidTriggerEventError("the retrain trigger takes an EventBridge event with a 'detail' object")
    detail = event["detail"]
    kind = event.get("detail-type")
    if kind == "SageMaker Processing Job State Change":
        exit_message = str(detail.get("ExitMessage") or "")
        if not exit_message.startswith(VIOLATIONS_PREFIX):
            raise InvalidTriggerEventError(
                f"processing job {detail.get('ProcessingJobName')!r} did not complete with violations "
                f"(ExitMessage {exit_message[:80]!r})"
            )
        schedule = str(detail.get("MonitoringScheduleArn") or "?").rsplit("/", 1)[-1]
        return Trigger(
            TRIGGER_DATA_QUALITY,
            f"data-quality monitoring {schedule} completed with violations "
            f"(processing job {detail.get('ProcessingJobName')})",
        )
    if kind == "CloudWatch Alarm State Change":
        state = detail.get("state") if isinstance(detail.get("state"), dict) else {}
        if state.get("value") != "ALARM":
            raise InvalidTriggerEventError(f"alarm {detail.get('alarmName')!r} is {state.get('value')!r}, not ALARM")
        return Trigger(
            TRIGGER_MODEL_QUALITY,
            f"model-quality alarm {detail.get('alarmName')} is in ALARM: {str(state.get('reason') or '')[:300]}",
        )
    raise InvalidTriggerEventError(f"unexpected event detail-type {kind!r}")


def handle(event: Any, settings: RetrainSettings, aws: Clients, now: datetime) -> dict[str, Any]:
    """Decide, start (or not) and notify; returns the decision for the logs and tests."""
    trigger = trigger_of(event)
    window = timedelta(seconds=settings.min_interval_seconds)
    previous = _last_started_at(aws.dynamodb, settings)
    decision: Decision = decide(now, previous, window)
    result: dict[str, Any] = {"decision": decision, "trigger": trigger.kind, "reason": trigger.reason}
    if previous is not None:
        result["last_started_at"] = previous.isoformat()
    if decision == "triggered":
        if _claim(aws.dynamodb, settings, now, window):
            result["execution_arn"] = _start(aws, settings, trigger, now, previous)
        else:
            result["decision"] = "coalesced"  # a concurrent trigger claimed the window between the read and the write
    logger.info("retraining decision", extra=result)
    _notify(aws.sns, settings, result)
    return result


def _last_started_at(dynamodb: Any, settings: RetrainSettings) -> datetime | None:
    item = dynamodb.get_item(
        TableName=settings.table_name, Key={TABLE_PARTITION_KEY: {"S": settings.env_name}}, ConsistentRead=True
    ).get("Item")
    if not item or LAST_STARTED_ATTRIBUTE not in item:
        return None
    return datetime.fromtimestamp(int(item[LAST_STARTED_ATTRIBUTE]["N"]), tz=UTC)


def _claim(dynamodb: Any, settings: RetrainSettings, now: datetime, window: timedelta) -> bool:
    """The conditional write: True when this trigger owns the window (decide()'s rule, atomically)."""
    try:
        dynamodb.put_item(
            TableName=settings.table_name,
            Item={
                TABLE_PARTITION_KEY: {"S": settings.env_name},
                LAST_STARTED_ATTRIBUTE: {"N": str(int(now.timestamp()))},
            },
            ConditionExpression="attribute_not_exists(#last) OR #last <= :cutoff",
            ExpressionAttributeNames={"#last": LAST_STARTED_ATTRIBUTE},
            ExpressionAttributeValues={":cutoff": {"N": str(int((now - window).timestamp()))}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _release(dynamodb: Any, settings: RetrainSettings, now: datetime, previous: datetime | None) -> None:
    """Undo this trigger's claim (only if still ours), so a failed start debounces nothing."""
    key = {TABLE_PARTITION_KEY: {"S": settings.env_name}}
    ours = {
        "ConditionExpression": "#last = :mine",
        "ExpressionAttributeNames": {"#last": LAST_STARTED_ATTRIBUTE},
        "ExpressionAttributeValues": {":mine": {"N": str(int(now.timestamp()))}},
    }
    try:
        if previous is None:
            dynamodb.delete_item(TableName=settings.table_name, Key=key, **ours)
        else:
            item = {**key, LAST_STARTED_ATTRIBUTE: {"N": str(int(previous.timestamp()))}}
            dynamodb.put_item(TableName=settings.table_name, Item=item, **ours)
    except ClientError as error:
        logger.warning("could not release the retraining claim", extra={"error": str(error)})


def _start(aws: Clients, settings: RetrainSettings, trigger: Trigger, now: datetime, previous: datetime | None) -> str:
    # Prepare reads run_id ("latest": the newest committed extraction); source, reason and trigger pass through to
    # the execution's input, where the console and the notifications show why it ran.
    payload = {"run_id": "latest", "source": SOURCE, "reason": trigger.reason, "trigger": trigger.kind}
    # Execution names: at most 80 characters of letters, digits, '-' and '_'.
    name = f"retrain-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
    try:
        started = aws.stepfunctions.start_execution(
            stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(payload)
        )
    except ClientError:
        _release(aws.dynamodb, settings, now, previous)
        raise
    return str(started["executionArn"])


def _notify(sns: Any, settings: RetrainSettings, result: dict[str, Any]) -> None:
    headline = {
        "triggered": "retraining started",
        "debounced": "retraining debounced (one already started within the window)",
        "coalesced": "retraining coalesced into a concurrent trigger's",
    }[result["decision"]]
    subject = f"Esteira {settings.env_name}: {headline}"[:MAX_SUBJECT]
    window_hours = settings.min_interval_seconds / 3600
    sns.publish(
        TopicArn=settings.topic_arn,
        Subject=subject,
        Message=json.dumps({**result, "min_interval_hours": window_hours}, indent=2),
    )
