"""Retrain trigger against moto over HTTP: the decision, the debounce item, the execution it starts, the notice."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from esteira_contracts import SettingsError
from esteira_contracts.retraining import TRIGGER_DATA_QUALITY, TRIGGER_MODEL_QUALITY, RetrainSettings
from tests.lambdas.helpers import lambda_context
from tests.lambdas.training.helpers import ACCOUNT, REGION
from training.retrain.handler import handler
from training.retrain.logic import Clients, InvalidTriggerEventError, decide, handle

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
SCHEDULE_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:monitoring-schedule/esteira-dev-endpoint-data-quality"
VIOLATIONS_EVENT: dict[str, Any] = {
    "source": "aws.sagemaker",
    "detail-type": "SageMaker Processing Job State Change",
    "detail": {
        "ProcessingJobName": "model-monitoring-202612060800-abc",
        "ProcessingJobStatus": "Completed",
        "ExitMessage": "CompletedWithViolations: Job completed successfully with 3 violations.",
        "MonitoringScheduleArn": SCHEDULE_ARN,
    },
}
ALARM_EVENT: dict[str, Any] = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "resources": [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:esteira-dev-model-quality"],
    "detail": {
        "alarmName": "esteira-dev-model-quality",
        "state": {"value": "ALARM", "reason": "AUC 0.71 below 0.80 over 120 labelled predictions"},
    },
}


@dataclass
class Retraining:
    settings: RetrainSettings
    clients: Clients
    queue_url: str
    sqs: Any

    def started(self) -> list[dict[str, Any]]:
        sfn = self.clients.stepfunctions
        executions = sfn.list_executions(stateMachineArn=self.settings.state_machine_arn)["executions"]
        return [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]

    def notices(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    def last_started_at(self) -> int | None:
        item = self.clients.dynamodb.get_item(
            TableName=self.settings.table_name, Key={"env": {"S": "dev"}}, ConsistentRead=True
        ).get("Item")
        return int(item["last_started_at"]["N"]) if item else None

    def started_before(self, when: datetime) -> None:
        self.clients.dynamodb.put_item(
            TableName=self.settings.table_name,
            Item={"env": {"S": "dev"}, "last_started_at": {"N": str(int(when.timestamp()))}},
        )


@pytest.fixture
def retraining(training_env: str) -> Iterator[Retraining]:
    """A debounce table, a training state machine, and the alerts topic delivering into a queue we read."""
    suffix = uuid.uuid4().hex[:10]
    session = boto3.session.Session()
    dynamodb, sfn, sns, sqs = (session.client(name) for name in ("dynamodb", "stepfunctions", "sns", "sqs"))
    table = f"esteira-dev-retraining-{suffix}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "env", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "env", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    machine = sfn.create_state_machine(
        name=f"esteira-dev-training-{suffix}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/esteira-dev-training",
    )["stateMachineArn"]
    topic = sns.create_topic(Name=f"esteira-dev-alerts-{suffix}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"alerts-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    settings = RetrainSettings(
        env_name="dev", state_machine_arn=machine, topic_arn=topic, table_name=table, min_interval_seconds=24 * 3600
    )
    yield Retraining(settings, Clients(dynamodb=dynamodb, stepfunctions=sfn, sns=sns), queue_url, sqs)


# --- the rule, without AWS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, "triggered"),  # never retrained
        (NOW - timedelta(hours=1), "debounced"),  # inside the window
        (NOW - DAY, "triggered"),  # exactly one window ago: the window has passed
        (NOW - DAY - timedelta(seconds=1), "triggered"),
    ],
)
def test_decide_allows_one_start_per_window(last: datetime | None, expected: str) -> None:
    assert decide(NOW, last, DAY) == expected


# --- the Lambda against moto -------------------------------------------------------------------------------------
def test_violations_start_training_with_reason_and_notify(retraining: Retraining) -> None:
    # GIVEN no retraining ever started
    # WHEN a monitoring execution of the schedule completes with violations
    result = handle(VIOLATIONS_EVENT, retraining.settings, retraining.clients, NOW)

    # THEN training starts on the latest extraction, with the reason and trigger in its input
    assert result["decision"] == "triggered"
    (execution,) = retraining.started()
    assert execution["executionArn"] == result["execution_arn"]
    # Execution names: 1-80 characters of letters, digits, '-' and '_' (StartExecution's name constraint).
    assert re.fullmatch(r"retrain-20261206T090000-[0-9a-f]{8}", execution["name"])
    payload = json.loads(execution["input"])
    assert payload["run_id"] == "latest"
    assert payload["source"] == "retraining"
    assert payload["trigger"] == TRIGGER_DATA_QUALITY
    assert "esteira-dev-endpoint-data-quality completed with violations" in payload["reason"]
    # AND the window starts now, and the team is told why
    assert retraining.last_started_at() == int(NOW.timestamp())
    (notice,) = retraining.notices()
    assert notice["decision"] == "triggered"
    assert notice["reason"] == payload["reason"]


def test_a_trigger_inside_the_window_is_debounced_and_noted(retraining: Retraining) -> None:
    # GIVEN a retraining started an hour ago (window 24 h)
    retraining.started_before(NOW - timedelta(hours=1))

    # WHEN the quality alarm fires
    result = handle(ALARM_EVENT, retraining.settings, retraining.clients, NOW)

    # THEN nothing starts, the window is unchanged, and the notice says it was debounced
    assert result["decision"] == "debounced"
    assert result["trigger"] == TRIGGER_MODEL_QUALITY
    assert retraining.started() == []
    assert retraining.last_started_at() == int((NOW - timedelta(hours=1)).timestamp())
    (notice,) = retraining.notices()
    assert notice["decision"] == "debounced"
    assert "AUC 0.71" in notice["reason"]


def test_a_trigger_after_the_window_starts_again(retraining: Retraining) -> None:
    # GIVEN a retraining started 25 hours ago
    retraining.started_before(NOW - timedelta(hours=25))
    # WHEN the quality alarm fires
    result = handle(ALARM_EVENT, retraining.settings, retraining.clients, NOW)
    # THEN training starts and the window moves to now
    assert result["decision"] == "triggered"
    (execution,) = retraining.started()
    assert retraining.last_started_at() == int(NOW.timestamp())
    # AND the execution's input and the team's notice both carry the alarm's reason: which alarm, and why
    payload = json.loads(execution["input"])
    assert payload["trigger"] == TRIGGER_MODEL_QUALITY
    assert payload["reason"].startswith("model-quality alarm esteira-dev-model-quality is in ALARM: AUC 0.71")
    (notice,) = retraining.notices()
    assert notice["decision"] == "triggered" and notice["trigger"] == TRIGGER_MODEL_QUALITY
    assert notice["reason"] == payload["reason"]
    assert notice["execution_arn"] == execution["executionArn"]


def test_a_concurrent_claim_between_read_and_write_coalesces(retraining: Retraining) -> None:
    # GIVEN another trigger claims the window just before this one writes (after this one read an empty table)
    competitor = boto3.session.Session().client("dynamodb")

    def claim_first(**_: Any) -> None:
        competitor.put_item(
            TableName=retraining.settings.table_name,
            Item={"env": {"S": "dev"}, "last_started_at": {"N": str(int(NOW.timestamp()))}},
        )

    retraining.clients.dynamodb.meta.events.register_first("before-call.dynamodb.PutItem", claim_first)
    try:
        # WHEN violations arrive
        result = handle(VIOLATIONS_EVENT, retraining.settings, retraining.clients, NOW)
    finally:
        retraining.clients.dynamodb.meta.events.unregister("before-call.dynamodb.PutItem", claim_first)

    # THEN this trigger starts nothing: it coalesced into the other's, and says so
    assert result["decision"] == "coalesced"
    assert retraining.started() == []
    (notice,) = retraining.notices()
    assert notice["decision"] == "coalesced"


def test_simultaneous_triggers_start_one_training(retraining: Retraining) -> None:
    # GIVEN four triggers at the same moment, each with its own clients (as concurrent Lambdas have)
    session = boto3.session.Session()
    results: list[dict[str, Any]] = []

    def trigger() -> None:
        own = Clients(*(session.client(n) for n in ("dynamodb", "stepfunctions", "sns")))
        results.append(handle(VIOLATIONS_EVENT, retraining.settings, own, NOW))

    threads = [threading.Thread(target=trigger) for _ in range(4)]
    # WHEN they run together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # THEN exactly one starts training; the others are debounced or coalesced
    decisions = sorted(r["decision"] for r in results)
    assert decisions.count("triggered") == 1, decisions
    assert set(decisions) - {"triggered"} <= {"debounced", "coalesced"}
    assert len(retraining.started()) == 1


def test_a_failed_start_releases_the_window(retraining: Retraining) -> None:
    # GIVEN a start a day and a half ago, and a state machine that no longer exists
    before = NOW - timedelta(hours=36)
    retraining.started_before(before)
    missing = retraining.settings.state_machine_arn + "-gone"
    settings = RetrainSettings(**{**vars(retraining.settings), "state_machine_arn": missing})

    # WHEN violations arrive, StartExecution fails
    with pytest.raises(ClientError):
        handle(VIOLATIONS_EVENT, settings, retraining.clients, NOW)

    # THEN the claim is undone: the next trigger is not debounced by a retraining that never ran
    assert retraining.last_started_at() == int(before.timestamp())
    assert decide(NOW, datetime.fromtimestamp(int(before.timestamp()), UTC), DAY) == "triggered"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({**VIOLATIONS_EVENT, "detail": {**VIOLATIONS_EVENT["detail"], "ExitMessage": "Completed"}}, "violations"),
        ({**ALARM_EVENT, "detail": {"alarmName": "q", "state": {"value": "OK"}}}, "not ALARM"),
        ({"detail-type": "Glue Job State Change", "detail": {}}, "unexpected event"),
        ("not an event", "EventBridge event"),
    ],
)
def test_other_events_are_refused_by_name(retraining: Retraining, event: Any, message: str) -> None:
    # WHEN an event that is no trigger arrives THEN it is refused with a reason, and nothing starts or is claimed
    with pytest.raises(InvalidTriggerEventError, match=message):
        handle(event, retraining.settings, retraining.clients, NOW)
    assert retraining.started() == []
    assert retraining.last_started_at() is None


def test_handler_reads_its_contract_from_the_environment(
    retraining: Retraining, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the environment the construct renders
    for name, value in retraining.settings.to_env().items():
        monkeypatch.setenv(name, value)
    # WHEN the handler runs on violations
    result = handler(VIOLATIONS_EVENT, lambda_context())
    # THEN it started training through the Lambda's own clients
    assert result["decision"] == "triggered"
    assert len(retraining.started()) == 1


def test_settings_refuse_a_window_outside_the_bounds() -> None:
    env = {
        "ENV_NAME": "dev",
        "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:esteira-dev-training",
        "ALERTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:esteira-dev-alerts",
        "DEBOUNCE_TABLE": "esteira-dev-retraining",
        "MIN_INTERVAL_SECONDS": "60",
    }
    with pytest.raises(SettingsError, match="MIN_INTERVAL_SECONDS"):
        RetrainSettings.from_env(env)
    assert RetrainSettings.from_env({**env, "MIN_INTERVAL_SECONDS": "3600"}).min_interval_seconds == 3600
