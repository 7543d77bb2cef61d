"""Consumer: FIFO partial batch responses, idempotency on DynamoDB, run-ordered conditional writes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from batch.consumer.handler import handler
from batch.fanout.sender import deduplication_id
from common import clients
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import RUN_ID, AwsResources, lambda_context

OLDER_RUN = "esteira-test-20241231-020000"
NEWER_RUN = "esteira-test-20250102-020000"


@pytest.fixture
def consumer(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> AwsResources:
    for name, value in aws.consumer_env().items():
        monkeypatch.setenv(name, value)
    return aws


def send(aws: AwsResources, run_id: str, entities: list[str], group: str | None = None, tag: str = "") -> None:
    """Put prediction messages on the queue as the fan-out does (``tag`` changes the dedup id, for replays)."""
    for start in range(0, len(entities), 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(
                    {"run_id": run_id, "entity_id": e, "predicted_label": "1", "score": 0.5 + i / 100}
                ),
                "MessageGroupId": group or e,
                "MessageDeduplicationId": deduplication_id(run_id + tag, e),
            }
            for i, e in enumerate(entities[start : start + 10])
        ]
        aws.sqs.send_message_batch(QueueUrl=aws.queue_url, Entries=entries)


def fail_puts_for(entities: set[str], table: str) -> dict[str, int]:
    """Make the consumer's TransactWriteItems fail as a whole whenever it puts a prediction of ``entities`` in
    ``table`` (throttled after botocore's retries): a hook on its real client."""
    seen = {"failed": 0}

    def hook(params: dict[str, Any], **_: Any) -> None:
        puts = [action["Put"] for action in params["TransactItems"] if "Put" in action]
        if any(put["TableName"] == table and put["Item"]["entity_id"]["S"] in entities for put in puts):
            seen["failed"] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                "TransactWriteItems",
            )

    clients.dynamodb().meta.events.register("provide-client-params.dynamodb.TransactWriteItems", hook)
    return seen


def cancel_items_for(entities: set[str], table: str) -> dict[str, int]:
    """Make DynamoDB cancel the consumer's transactions that put a prediction of ``entities``, blaming those puts
    alone (``ThrottlingError``) in ``CancellationReasons``, as DynamoDB does."""
    seen = {"cancelled": 0}

    def hook(params: dict[str, Any], **_: Any) -> None:
        actions = params["TransactItems"]
        blamed = [
            "Put" in a and a["Put"]["TableName"] == table and a["Put"]["Item"]["entity_id"]["S"] in entities
            for a in actions
        ]
        if any(blamed):
            seen["cancelled"] += 1
            reasons = [{"Code": "ThrottlingError", "Message": "injected"} if b else {"Code": "None"} for b in blamed]
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )

    clients.dynamodb().meta.events.register("provide-client-params.dynamodb.TransactWriteItems", hook)
    return seen


def bodies_by_id(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["MessageId"]: json.loads(m["Body"])["entity_id"] for m in messages}


def test_predictions_are_written_keyed_by_entity(consumer: AwsResources) -> None:
    # GIVEN 15 prediction messages on the queue
    entities = [f"cust-{i:03d}" for i in range(15)]
    send(consumer, RUN_ID, entities)
    # WHEN the consumer polls until the queue is empty
    while consumer.poll_once(handler)[0]:
        pass
    # THEN each entity has its prediction with run id, label, score and a timestamp
    items = consumer.scan_predictions()
    assert sorted(items) == entities
    item = items["cust-003"]
    assert (item["run_id"], item["predicted_label"], item["score"]) == (RUN_ID, "1", "0.53")
    assert item["run_key"] == f"20250101-020000#{RUN_ID}"
    assert item["updated_at"].endswith("+00:00")


def test_failed_records_are_exactly_the_reported_ones_and_are_redelivered(consumer: AwsResources) -> None:
    # GIVEN 10 messages in 10 groups, and the table refusing writes for two entities
    entities = [f"cust-{i:03d}" for i in range(10)]
    send(consumer, RUN_ID, entities)
    fault = fail_puts_for({"cust-002", "cust-007"}, consumer.predictions_table)
    # WHEN the consumer handles the batch
    messages = consumer.receive()
    response = handler(consumer.lambda_event(messages), lambda_context())
    # THEN exactly those two records are reported as failures (the batch's transaction and their own retries
    # failed; the other eight were stored one by one)
    ids = bodies_by_id(messages)
    reported = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert {ids[i] for i in reported} == {"cust-002", "cust-007"}
    assert fault["failed"] == 3
    assert sorted(consumer.scan_predictions()) == sorted(set(entities) - {"cust-002", "cust-007"})
    # AND once Lambda deletes the others, only those two come back after the visibility timeout
    consumer.delete(m for m in messages if m["MessageId"] not in reported)
    time.sleep(1.2)
    clients.reset_clients()  # the fault is gone: a fresh client has no hook
    redelivered = consumer.receive()
    assert {m["MessageId"] for m in redelivered} == reported
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in redelivered} == {"2"}
    # AND handling them again succeeds and every entity is in the table
    response = handler(consumer.lambda_event(redelivered), lambda_context())
    assert response["batchItemFailures"] == []
    assert sorted(consumer.scan_predictions()) == entities


def test_in_a_single_group_everything_after_a_failure_is_reported(consumer: AwsResources) -> None:
    # GIVEN 6 messages of one group (the seed's single-group strategy) and the 3rd failing
    entities = [f"cust-{i:03d}" for i in range(6)]
    send(consumer, RUN_ID, entities, group="all")
    fail_puts_for({"cust-002"}, consumer.predictions_table)
    # WHEN the consumer handles the batch
    messages = consumer.receive()
    response = handler(consumer.lambda_event(messages), lambda_context())
    # THEN the failing record and every later one are reported, so order within the group holds
    ids = bodies_by_id(messages)
    assert sorted(ids[i["itemIdentifier"]] for i in response["batchItemFailures"]) == entities[2:]
    assert sorted(consumer.scan_predictions()) == entities[:2]


def test_a_replayed_batch_writes_nothing(consumer: AwsResources) -> None:
    # GIVEN a batch already consumed
    entities = [f"cust-{i:03d}" for i in range(8)]
    send(consumer, RUN_ID, entities)
    consumer.poll_once(handler)
    before = consumer.scan_predictions()
    transactions = count_calls(clients.dynamodb(), "TransactWriteItems")
    # WHEN the same predictions arrive again as new messages (new message ids, new dedup ids)
    send(consumer, RUN_ID, entities, tag="replay")
    delivered, failed = consumer.poll_once(handler)
    # THEN they are acknowledged, and no prediction was written again (idempotency answered from its table:
    # the one transaction was cancelled by the idempotency records' conditions, so it wrote nothing)
    assert (len(delivered), failed) == (8, [])
    assert len(transactions) == 1
    assert consumer.scan_predictions() == before  # the same updated_at: not rewritten


def test_newer_run_overwrites_and_an_older_late_message_does_not(consumer: AwsResources) -> None:
    # GIVEN an entity predicted by the current run
    send(consumer, RUN_ID, ["cust-1"])
    consumer.poll_once(handler)
    # WHEN a newer run's prediction arrives THEN it replaces it
    send(consumer, NEWER_RUN, ["cust-1"])
    consumer.poll_once(handler)
    assert consumer.scan_predictions()["cust-1"]["run_id"] == NEWER_RUN
    # WHEN an older run's message arrives late THEN it is acknowledged but does not clobber the newer one
    send(consumer, OLDER_RUN, ["cust-1"])
    delivered, failed = consumer.poll_once(handler)
    assert (len(delivered), failed) == (1, [])
    assert consumer.scan_predictions()["cust-1"]["run_id"] == NEWER_RUN


def test_malformed_message_fails_alone(consumer: AwsResources) -> None:
    # GIVEN a batch with a message that is not a prediction
    send(consumer, RUN_ID, ["cust-1", "cust-2"])
    consumer.sqs.send_message(
        QueueUrl=consumer.queue_url, MessageBody="{not json", MessageGroupId="bad", MessageDeduplicationId="bad"
    )
    # WHEN consumed THEN only it is reported (it will reach the dead-letter queue) and the others are written
    messages = consumer.receive()
    response = handler(consumer.lambda_event(messages), lambda_context())
    bad = next(m["MessageId"] for m in messages if m["Body"] == "{not json")
    assert response["batchItemFailures"] == [{"itemIdentifier": bad}]
    assert sorted(consumer.scan_predictions()) == ["cust-1", "cust-2"]


def test_a_batch_is_stored_in_one_transaction(consumer: AwsResources) -> None:
    # GIVEN a full batch of 10 predictions
    entities = [f"cust-{i:03d}" for i in range(10)]
    send(consumer, RUN_ID, entities)
    transactions = count_calls(clients.dynamodb(), "TransactWriteItems")
    # WHEN the consumer handles it
    delivered, failed = consumer.poll_once(handler)
    # THEN one transaction stored all ten, each with its idempotency record, every put conditional
    assert (len(delivered), failed) == (10, [])
    assert len(transactions) == 1
    puts = [action["Put"] for action in transactions[0]["TransactItems"]]
    assert sorted(p["TableName"] for p in puts) == sorted([consumer.predictions_table, consumer.idempotency_table] * 10)
    assert all(p["ConditionExpression"] for p in puts)
    assert sorted(consumer.scan_predictions()) == entities
    records = consumer.dynamodb.scan(TableName=consumer.idempotency_table)["Items"]
    assert len(records) == 10
    assert {r["status"]["S"] for r in records} == {"COMPLETED"}


def test_a_duplicate_within_a_batch_is_stored_once_and_acknowledged(consumer: AwsResources) -> None:
    # GIVEN a batch holding the same prediction twice (new dedup id: SQS cannot tell), between two others
    send(consumer, RUN_ID, ["cust-1", "cust-2"])
    send(consumer, RUN_ID, ["cust-1"], tag="again")
    send(consumer, RUN_ID, ["cust-3"])
    messages = consumer.receive()
    assert len(messages) == 4
    # WHEN the consumer handles the batch
    response = handler(consumer.lambda_event(messages), lambda_context())
    # THEN every record is acknowledged, each entity is stored, and only one idempotency record exists per prediction
    assert response["batchItemFailures"] == []
    assert sorted(consumer.scan_predictions()) == ["cust-1", "cust-2", "cust-3"]
    assert len(consumer.dynamodb.scan(TableName=consumer.idempotency_table)["Items"]) == 3


def test_a_cancelled_item_fails_alone_and_the_rest_is_stored(consumer: AwsResources) -> None:
    # GIVEN 10 messages in 10 groups, and DynamoDB cancelling any transaction with cust-004's put, blaming it alone
    entities = [f"cust-{i:03d}" for i in range(10)]
    send(consumer, RUN_ID, entities)
    fault = cancel_items_for({"cust-004"}, consumer.predictions_table)
    # WHEN the consumer handles the batch
    messages = consumer.receive()
    response = handler(consumer.lambda_event(messages), lambda_context())
    # THEN only cust-004 is reported, after one cancelled transaction, and the nine others are stored
    ids = bodies_by_id(messages)
    assert [ids[i["itemIdentifier"]] for i in response["batchItemFailures"]] == ["cust-004"]
    assert fault["cancelled"] == 1
    assert sorted(consumer.scan_predictions()) == [e for e in entities if e != "cust-004"]
    # AND its idempotency record was not written either, so its redelivery stores it
    assert len(consumer.dynamodb.scan(TableName=consumer.idempotency_table)["Items"]) == 9


def test_an_older_run_in_a_batch_is_skipped_while_the_rest_is_stored(consumer: AwsResources) -> None:
    # GIVEN cust-1 stored by a newer run, then a batch with an older run's cust-1 and this run's cust-2
    send(consumer, NEWER_RUN, ["cust-1"])
    consumer.poll_once(handler)
    send(consumer, OLDER_RUN, ["cust-1"])
    send(consumer, RUN_ID, ["cust-2"])
    # WHEN the consumer handles the batch
    delivered, failed = consumer.poll_once(handler)
    # THEN both are acknowledged; the newer prediction is kept, and cust-2 is stored
    assert (len(delivered), failed) == (2, [])
    items = consumer.scan_predictions()
    assert (items["cust-1"]["run_id"], items["cust-2"]["run_id"]) == (NEWER_RUN, RUN_ID)
