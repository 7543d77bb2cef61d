"""Test helpers: resources on the moto server, a Lambda context with a programmable clock, an SQS poller that
behaves like Lambda's event source mapping, and the Step Functions fan-out loop."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.delivery import sqs_event

REGION = "us-east-1"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "batch"
RUN_ID = "esteira-test-20250101-020000"


class FakeContext:
    """A Lambda context whose remaining time comes from a callable (a simulated clock)."""

    def __init__(self, remaining_ms: Callable[[], int] | None = None, name: str = "esteira-test") -> None:
        self._function_name = name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        self._memory_limit_in_mb = 512
        self._aws_request_id = "00000000-0000-0000-0000-000000000000"
        self._log_group_name = f"/aws/lambda/{name}"
        self._log_stream_name = "stream"
        self._tenant_id: str | None = None
        self._remaining = remaining_ms or (lambda: 900_000)

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_version(self) -> str:
        return self._function_version

    @property
    def invoked_function_arn(self) -> str:
        return self._invoked_function_arn

    @property
    def memory_limit_in_mb(self) -> int:
        return self._memory_limit_in_mb

    @property
    def aws_request_id(self) -> str:
        return self._aws_request_id

    @property
    def log_group_name(self) -> str:
        return self._log_group_name

    @property
    def log_stream_name(self) -> str:
        return self._log_stream_name

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining()


def lambda_context(remaining_ms: Callable[[], int] | None = None, name: str = "esteira-test") -> LambdaContext:
    """A :class:`FakeContext` typed as the Powertools protocol the handlers declare."""
    return cast(LambdaContext, FakeContext(remaining_ms, name))


def countdown(calls_before_low: int, high: int = 900_000, low: int = 1_000) -> Callable[[], int]:
    """Remaining time that is ample for ``calls_before_low`` checks, then below any safety margin."""
    state = {"calls": 0}

    def remaining() -> int:
        state["calls"] += 1
        return high if state["calls"] <= calls_before_low else low

    return remaining


@dataclass
class AwsResources:
    session: Any
    bucket: str
    queue_url: str
    queue_arn: str
    predictions_table: str
    idempotency_table: str
    s3: Any = field(repr=False)
    sqs: Any = field(repr=False)
    dynamodb: Any = field(repr=False)

    @classmethod
    def create(cls, session: Any, suffix: str, visibility_timeout: int = 1) -> AwsResources:
        s3, sqs, dynamodb = (session.client(name) for name in ("s3", "sqs", "dynamodb"))
        bucket = f"predictions-{suffix}"
        s3.create_bucket(Bucket=bucket)
        queue_url = sqs.create_queue(
            QueueName=f"predictions-{suffix}.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": str(visibility_timeout)},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        predictions, idempotency = f"predictions-{suffix}", f"idempotency-{suffix}"
        for table, key in ((predictions, "entity_id"), (idempotency, "id")):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        return cls(session, bucket, queue_url, queue_arn, predictions, idempotency, s3, sqs, dynamodb)

    # --- environment for each Lambda ---------------------------------------------------------------------
    def fanout_env(self, **overrides: str) -> dict[str, str]:
        env = {"QUEUE_URL": self.queue_url, "SEND_BASE_DELAY_MS": "1", "SEND_MAX_DELAY_MS": "5"}
        return env | overrides

    def consumer_env(self) -> dict[str, str]:
        return {"PREDICTIONS_TABLE": self.predictions_table, "IDEMPOTENCY_TABLE": self.idempotency_table}

    # --- data -----------------------------------------------------------------------------------------------
    def put_text(self, key: str, text: str | bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=text.encode() if isinstance(text, str) else text)

    def put_predictions(self, prefix: str, objects: int, per_object: int, start: int = 0) -> list[str]:
        """Transform-like outputs ``<prefix>part-NNN.csv.out`` with ``record_id,label,score``; returns the ids."""
        ids: list[str] = []
        for index in range(objects):
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            for row in range(per_object):
                record = f"cust-{start + index * per_object + row:07d}"
                ids.append(record)
                writer.writerow([record, "1" if row % 3 else "0", f"{(row % 100) / 100:.4f}"])
            self.put_text(f"{prefix}part-{index:03d}.csv.out", buffer.getvalue())
        return ids

    def get_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def list_keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    # --- queue ----------------------------------------------------------------------------------------------
    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def drain(self) -> list[dict[str, Any]]:
        """Receive and delete every visible message."""
        drained: list[dict[str, Any]] = []
        while batch := self.receive():
            drained.extend(batch)
            self.delete(batch)
        return drained

    def delete(self, messages: Iterable[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        if entries:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def lambda_event(self, messages: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda's SQS event source mapping builds from received messages."""
        return sqs_event(list(messages), self.queue_arn, REGION)

    def poll_once(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> tuple[list[str], list[str]]:
        """One event source mapping poll: receive, invoke, delete all but the reported failures.

        Returns (message ids delivered, message ids reported as failed)."""
        messages = self.receive()
        if not messages:
            return [], []
        response = handler(self.lambda_event(messages), lambda_context(name="consumer"))
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        self.delete(m for m in messages if m["MessageId"] not in failed)
        return [m["MessageId"] for m in messages], sorted(failed)

    def scan_predictions(self) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.predictions_table):
            for item in page["Items"]:
                items[item["entity_id"]["S"]] = {name: next(iter(value.values())) for name, value in item.items()}
        return items


def run_loop(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    first_input: dict[str, Any],
    context_factory: Callable[[], LambdaContext],
    max_iterations: int = 10_000,
) -> list[dict[str, Any]]:
    """What the Step Functions loop does: invoke, feed the output back, until done. Returns every output."""
    outputs: list[dict[str, Any]] = []
    state = first_input
    for _ in range(max_iterations):
        state = handler(state, context_factory())
        outputs.append(state)
        if state["done"]:
            return outputs
    raise AssertionError(f"fan-out not done after {max_iterations} iterations")
