"""The patched moto server behaves as SQS and DynamoDB do where the consumer relies on it (server mode, over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tests.servers import module_server


@pytest.fixture(scope="module")
def session_clients() -> Iterator[dict[str, Any]]:
    with module_server("pipeline.moto_server") as url:
        session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
        yield {name: session.client(name, endpoint_url=url) for name in ("dynamodb", "sqs")}


def make_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def put(table: str, key: str, condition: bool = True) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": table, "Item": {"k": {"S": key}, "v": {"N": "1"}}}
    if condition:
        action["ConditionExpression"] = "attribute_not_exists(k)"
    return {"Put": action}


def keys(dynamodb: Any, table: str) -> list[str]:
    return sorted(item["k"]["S"] for item in dynamodb.scan(TableName=table)["Items"])


def test_a_cancelled_transaction_changes_nothing_and_says_why(session_clients: dict[str, Any]) -> None:
    dynamodb = session_clients["dynamodb"]
    make_table(dynamodb, "cancel")
    dynamodb.transact_write_items(TransactItems=[put("cancel", "a")])
    update = {
        "Update": {
            "TableName": "cancel",
            "Key": {"k": {"S": "a"}},
            "UpdateExpression": "SET v = :two",
            "ExpressionAttributeValues": {":two": {"N": "2"}},
        }
    }
    # GIVEN a transaction that adds b, updates a in place, and puts c on a condition that holds
    # WHEN a fourth action's condition fails (d exists)
    dynamodb.transact_write_items(TransactItems=[put("cancel", "d")])
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(
            TransactItems=[put("cancel", "b"), update, put("cancel", "c"), put("cancel", "d")]
        )
    # THEN nothing of it stays (a's in-place update is undone too) and the reasons name the failing action
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "None", "ConditionalCheckFailed"]
    assert keys(dynamodb, "cancel") == ["a", "d"]
    item = dynamodb.get_item(TableName="cancel", Key={"k": {"S": "a"}})["Item"]
    assert item["v"] == {"N": "1"}


def test_concurrent_transactions_lose_no_write_and_pass_a_condition_once(session_clients: dict[str, Any]) -> None:
    dynamodb = session_clients["dynamodb"]
    make_table(dynamodb, "race")
    rounds, own = 10, 40

    # GIVEN 8 threads, each transaction putting 40 keys of its own and, on a condition, a key all threads race for
    # (long transactions, so the server's threads interleave inside them)
    def worker(n: int) -> int:
        wins = 0
        for i in range(rounds):
            actions = [put("race", f"{n}-{i}-{j}", condition=False) for j in range(own)] + [put("race", f"x{i}")]
            try:
                dynamodb.transact_write_items(TransactItems=actions)
                wins += 1
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TransactionCanceledException"
        return wins

    # WHEN they run at once
    with ThreadPoolExecutor(8) as pool:
        wins = sum(pool.map(worker, range(8)))
    # THEN each raced key was won exactly once, and every winner's own keys are there (no rollback undid them)
    assert wins == rounds
    stored = keys(dynamodb, "race")
    assert [k for k in stored if k.startswith("x")] == sorted(f"x{i}" for i in range(rounds))
    assert len(stored) == rounds + rounds * own


def test_delete_message_by_current_and_old_receipt_handles(session_clients: dict[str, Any]) -> None:
    sqs = session_clients["sqs"]
    url = sqs.create_queue(QueueName="deletes.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "0"})[
        "QueueUrl"
    ]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i), MessageGroupId=str(i), MessageDeduplicationId=str(i))
    # GIVEN messages received twice (the first receipt handles are old ones)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(first) == len(second) == 3
    assert all(len(m["ReceiptHandle"]) == 185 and m["ReceiptHandle"].islower() for m in second)
    # WHEN one is deleted by its old handle, one by its new one, and one of them again
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[1]["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second[1]["ReceiptHandle"])
    # THEN one message is left, and an unknown handle is refused as SQS does
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == [second[2]["Body"]]
    with pytest.raises(ClientError) as caught:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="x" * 185)
    assert "ReceiptHandle" in caught.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def plain_dynamodb() -> Iterator[Any]:
    """moto's own server, unpatched, in this process (the patches apply only to the server process above)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    yield session.client("dynamodb", endpoint_url=f"http://{host}:{port}")
    server.stop()


EVERY_TYPE = {
    "s": {"S": "olá"},
    "n": {"N": "-12.5"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"x", b"\x01"]},
    "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "3"}, {"NULL": True}, {"BOOL": False}]}}},
}


def test_item_reads_answer_as_moto_serializes_them(session_clients: dict[str, Any], plain_dynamodb: Any) -> None:
    # GIVEN the same table, with an item of every attribute type under 5 keys, on the patched and a plain server
    answers = []
    for dynamodb in (session_clients["dynamodb"], plain_dynamodb):
        make_table(dynamodb, "reads")
        for key in "abcde":
            dynamodb.put_item(TableName="reads", Item={"k": {"S": key}, **EVERY_TYPE})
        # WHEN each item read runs: paged, projected, counted, with consumed capacity, and on a missing key
        calls = [
            dynamodb.get_item(TableName="reads", Key={"k": {"S": "c"}}, ReturnConsumedCapacity="TOTAL"),
            dynamodb.get_item(TableName="reads", Key={"k": {"S": "none"}}),
            dynamodb.batch_get_item(RequestItems={"reads": {"Keys": [{"k": {"S": "a"}}, {"k": {"S": "e"}}]}}),
            dynamodb.query(
                TableName="reads",
                KeyConditionExpression="k = :k",
                ExpressionAttributeValues={":k": {"S": "b"}},
                ProjectionExpression="k, b, m.inner",
            ),
            dynamodb.scan(TableName="reads", Limit=2, ReturnConsumedCapacity="TOTAL"),
            dynamodb.scan(TableName="reads", Select="COUNT"),
        ]
        for answer in calls:
            answer.pop("ResponseMetadata")
            for batch in answer.get("Responses", {}).values():
                batch.sort(key=lambda item: item["k"]["S"])
        answers.append(calls)
    # THEN boto3 reads exactly what it reads from moto's own serializer
    patched, plain = answers
    assert patched == plain
    assert patched[0]["Item"]["b"] == {"B": b"\x00\xffbytes"} and "LastEvaluatedKey" in patched[4]


@pytest.fixture(scope="module")
def plain_sqs(plain_dynamodb: Any) -> Any:
    """An SQS client of the plain server above."""
    endpoint = plain_dynamodb.meta.endpoint_url
    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")
    return session.client("sqs", endpoint_url=endpoint)


# Values each server draws itself (ids, handles, clocks): compared by presence only.
DRAWN = ("MessageId", "ReceiptHandle", "SentTimestamp", "ApproximateFirstReceiveTimestamp", "SequenceNumber")


def received_shape(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shaped = []
    for message in sorted(messages, key=lambda m: m["Body"]):
        attributes = {k: ("<drawn>" if k in DRAWN else v) for k, v in message.get("Attributes", {}).items()}
        rest = {k: ("<drawn>" if k in DRAWN else v) for k, v in message.items() if k != "Attributes"}
        shaped.append(rest | {"Attributes": attributes})
    return shaped


def test_receive_message_answers_as_moto_serializes_it(session_clients: dict[str, Any], plain_sqs: Any) -> None:
    # GIVEN a FIFO queue on each server holding messages with and without message attributes of every data type
    answers = []
    for sqs in (session_clients["sqs"], plain_sqs):
        url = sqs.create_queue(QueueName="shape.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="plain", MessageGroupId="g1", MessageDeduplicationId="d1")
        sqs.send_message(
            QueueUrl=url,
            MessageBody="with attributes",
            MessageGroupId="g2",
            MessageDeduplicationId="d2",
            MessageAttributes={
                "text": {"DataType": "String", "StringValue": "olá"},
                "count": {"DataType": "Number", "StringValue": "42"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
            },
        )
        # WHEN both are received with every attribute, then received again without any
        every = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
        )
        none = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # in flight: nothing
        answers.append((received_shape(every["Messages"]), none.get("Messages")))
    # THEN boto3 reads the same from both, drawn values aside
    patched, plain = answers
    assert patched == plain
    assert patched[0][1]["MessageAttributes"]["blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
    assert patched[0][0]["Attributes"]["MessageGroupId"] == "g1"


def send_outcomes(sqs: Any, content_based: str) -> list[str]:
    """What a FIFO queue answers to sends with and without a group and a deduplication id, and a delay."""
    name = f"validate-{content_based}.fifo"
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": content_based}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    sends: list[dict[str, Any]] = [
        {"MessageGroupId": "g", "MessageDeduplicationId": "d"},
        {"MessageGroupId": "g"},
        {"MessageDeduplicationId": "d2"},
        {"MessageGroupId": "g", "MessageDeduplicationId": "d3", "DelaySeconds": 5},
    ]
    outcomes = []
    for extra in sends:
        try:
            sqs.send_message(QueueUrl=url, MessageBody="b", **extra)
            outcomes.append("sent")
        except ClientError as err:
            outcomes.append(f"{err.response['Error']['Code']}: {err.response['Error']['Message']}")
    return outcomes


@pytest.mark.parametrize("content_based", ["true", "false"])
def test_fifo_sends_are_validated_as_moto_validates_them(
    session_clients: dict[str, Any], plain_sqs: Any, content_based: str
) -> None:
    # GIVEN a FIFO queue with or without content-based deduplication on each server
    # WHEN sends miss a group id, a deduplication id, or carry a delay
    patched = send_outcomes(session_clients["sqs"], content_based)
    plain = send_outcomes(plain_sqs, content_based)
    # THEN both servers accept and refuse the same sends with the same errors
    assert patched == plain
    assert patched[0] == "sent" and any(outcome != "sent" for outcome in patched)


def batch_shape(answer: dict[str, Any]) -> dict[str, Any]:
    """A batch call's answer without its metadata, drawn values replaced by their type."""

    def shape(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: (f"<drawn {type(v).__name__}>" if k in DRAWN else v) for k, v in entry.items()}

    return {
        key: sorted((shape(e) for e in answer.get(key, [])), key=lambda e: e["Id"]) for key in ("Successful", "Failed")
    }


def test_batch_sends_and_deletes_answer_as_moto_serializes_them(
    session_clients: dict[str, Any], plain_sqs: Any
) -> None:
    # GIVEN a FIFO queue on each server
    answers = []
    for sqs in (session_clients["sqs"], plain_sqs):
        url = sqs.create_queue(QueueName="batch-shape.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        # WHEN a batch is sent (one entry with message attributes, one without) and what was
        # received is deleted in a batch with one unknown receipt handle
        sent = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": "a", "MessageBody": "one", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
                {
                    "Id": "b",
                    "MessageBody": "two",
                    "MessageGroupId": "h",
                    "MessageDeduplicationId": "2",
                    "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}},
                },
            ],
        )
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        entries = [{"Id": f"r{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
        deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[*entries, {"Id": "bad", "ReceiptHandle": "x" * 185}])
        answers.append((batch_shape(sent), batch_shape(deleted)))
    # THEN boto3 reads the same from both, drawn values aside (and of the same type)
    patched, plain = answers
    assert patched == plain
    assert [e["Id"] for e in patched[0]["Successful"]] == ["a", "b"]
    assert len(patched[1]["Successful"]) == 2 and patched[1]["Failed"][0]["Id"] == "bad"
