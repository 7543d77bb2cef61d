"""10,000 predictions: transform output -> fan-out loop -> SQS FIFO -> consumer -> DynamoDB, over HTTP."""

from __future__ import annotations

import json

import pytest

from batch.consumer.handler import handler as consumer_handler
from batch.fanout.handler import handler as fanout_handler
from batch.fanout.state import summary_key
from common import clients
from tests.lambdas.faults import count_calls
from tests.lambdas.helpers import RUN_ID, AwsResources, countdown, lambda_context, run_loop

PREFIX = f"batch-output/{RUN_ID}/"
TOTAL = 10_000


@pytest.mark.slow
def test_ten_thousand_predictions_arrive_once_and_land_in_the_table(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a transform output of 10,000 predictions in 4 objects
    ids = aws.put_predictions(PREFIX, objects=4, per_object=TOTAL // 4)
    for name, value in (aws.fanout_env() | aws.consumer_env()).items():
        monkeypatch.setenv(name, value)
    sends = count_calls(clients.sqs(), "SendMessageBatch")
    # WHEN the fan-out loop runs (time running low every 3,000 lines) and then the consumer drains the queue in
    # batches of 10, as Lambda's event source mapping would (one poller: Powertools' processor is per process)
    outputs = run_loop(
        fanout_handler,
        {"run_id": RUN_ID, "bucket": aws.bucket, "prefix": PREFIX},
        lambda: lambda_context(countdown(2_999)),
    )
    delivered: list[str] = []
    failures: list[str] = []
    while True:
        messages, failed = aws.poll_once(consumer_handler)
        if not messages:
            break
        delivered.extend(messages)
        failures.extend(failed)
    # THEN the fan-out needed 4 invocations and exactly 1,000 SendMessageBatch calls
    assert len(outputs) == 4
    assert len(sends) == TOTAL // 10
    assert all(len(call["Entries"]) == 10 for call in sends)
    # AND there were exactly 10,000 distinct deliveries, none failed, and 10,000 items in the table
    assert failures == []
    assert len(delivered) == len(set(delivered)) == TOTAL
    items = aws.scan_predictions()
    assert sorted(items) == ids
    assert {item["run_id"] for item in items.values()} == {RUN_ID}
    summary = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=summary_key(RUN_ID))["Body"].read())
    assert (summary["stats"]["sent"], summary["stats"]["quarantined"], summary["stats"]["send_calls"]) == (
        TOTAL,
        0,
        TOTAL // 10,
    )
