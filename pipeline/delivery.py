"""The batch stack's delivery path with the real handlers: the fan-out loop, then the queue consumer.

``run_fanout`` does what the Step Functions loop does (invoke ``batch.fanout.handler.handler``, feed its output
back until ``done``). ``run_consumer`` does what Lambda's SQS event source mapping does with
``ReportBatchItemFailures``: receive up to 10 messages, invoke ``batch.consumer.handler.handler`` with the SQS event,
delete every message not reported as failed; failed ones reappear after the visibility timeout and, after
``maxReceiveCount`` receives, moto moves them to the dead-letter queue.

The handler modules are imported inside the functions: Powertools reads its settings from the environment when
the modules are imported, and the environment is set up first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.lambda_context import new_context

logger = logging.getLogger(__name__)

MAX_FANOUT_ITERATIONS = 10_000
# How soon a consumer polls an empty queue again while the producer is still sending.
EMPTY_POLL_SECONDS = 0.05


def run_fanout(first_input: dict[str, Any], timeout_seconds: int = 900) -> dict[str, Any]:
    from batch.fanout.handler import handler

    state = first_input
    for _ in range(MAX_FANOUT_ITERATIONS):
        state = handler(state, new_context("esteira-local-fanout", timeout_seconds))
        if state["done"]:
            return state
    raise RuntimeError(f"the fan-out was not done after {MAX_FANOUT_ITERATIONS} invocations")


@dataclass
class ConsumerStats:
    invocations: int = 0
    failed_invocations: int = 0
    received: int = 0
    failures_reported: int = 0
    delivered_ids: set[str] = field(default_factory=set)
    # Wall-clock times (time.time()), comparable across the consumer processes: the first message received, the end.
    first_received_at: float | None = None
    finished_at: float | None = None

    @property
    def delivered(self) -> int:
        return len(self.delivered_ids)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def queue_depth(sqs: Any, queue_url: str) -> int:
    return sum(queue_counts(sqs, queue_url))


def run_consumer(
    sqs: Any,
    queue_url: str,
    region: str,
    batch_size: int = 10,
    timeout_seconds: float = 600.0,
    on_progress: Callable[[ConsumerStats], None] | None = None,
    producer_done: Callable[[], bool] = lambda: True,
) -> ConsumerStats:
    """Poll until the producer is done and the queue holds nothing, visible or in flight.

    Lambda's event source mapping polls from before the first message is sent, so the local run starts its
    consumers with the fan-out and tells them when it is done (``producer_done``); until then an empty queue means
    "not yet", and they poll again shortly.
    """
    from batch.consumer.handler import handler

    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stats = ConsumerStats()
    deadline = time.monotonic() + timeout_seconds
    last_progress = time.monotonic()
    waits_on_in_flight = 0
    while time.monotonic() < deadline:
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=batch_size,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            if not producer_done():
                time.sleep(EMPTY_POLL_SECONDS)
                continue
            visible, in_flight = queue_counts(sqs, queue_url)
            if visible + in_flight == 0:
                stats.finished_at = time.time()
                return stats
            # Visible ones may be behind an in-flight message of their FIFO group, or have just arrived. In flight
            # with none visible: most often the other consumer's last batch, done within milliseconds, else failed
            # messages invisible until their visibility timeout ends; so poll again soon, then every 0.5 s (a fixed
            # 0.5 s kept the last consumer, and the stage, waiting ~0.5 s after the queue was drained).
            if visible:
                time.sleep(EMPTY_POLL_SECONDS)
            else:
                time.sleep(min(0.5, EMPTY_POLL_SECONDS * 2**waits_on_in_flight))
                waits_on_in_flight += 1
            continue
        waits_on_in_flight = 0
        if stats.first_received_at is None:
            stats.first_received_at = time.time()
        stats.received += len(messages)
        stats.delivered_ids.update(m["MessageId"] for m in messages)
        stats.invocations += 1
        try:
            response = handler(sqs_event(messages, queue_arn, region), new_context("esteira-local-consumer", 60))
        except Exception:
            # A failed invocation (Powertools raises when every record of a batch failed): the mapping deletes
            # nothing, so the whole batch comes back after the visibility timeout and, in the end, goes to the DLQ.
            logger.exception("the consumer invocation failed; its %d message(s) stay queued", len(messages))
            stats.failed_invocations += 1
            continue
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        stats.failures_reported += len(failed)
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if m["MessageId"] not in failed
        ]
        if entries:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        if on_progress is not None and time.monotonic() - last_progress >= 10:
            last_progress = time.monotonic()
            on_progress(stats)
    raise RuntimeError(f"the queue was not drained within {timeout_seconds:.0f} s ({stats.received} received)")


def count_stored(dynamodb: Any, table: str, run_id: str) -> int:
    total = 0
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(
        TableName=table,
        Select="COUNT",
        FilterExpression="run_id = :run",
        ExpressionAttributeValues={":run": {"S": run_id}},
    ):
        total += int(page["Count"])
    return total
