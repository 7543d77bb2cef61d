"""Predictions from transform output -> fan-out loop -> SQS FIFO -> consumer -> DynamoDB, over HTTP.

1,000 predictions by default; the 10,000-prediction run (about half of the suite's time on its own) is marked
``full_scale``: ``pytest -m full_scale tests/lambdas/test_end_to_end.py``."""

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


@pytest.mark.slow
@pytest.mark.parametrize("total", [1_000, pytest.param(10_000, marks=pytest.mark.full_scale)])
def test_every_prediction_arrives_once_and_lands_in_the_table(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch, total: int
) -> None:
    # GIVEN a transform output of `total` predictions in 4 objects
    ids = aws.put_predictions(PREFIX, objects=4, per_object=total // 4)
    for name, value in (aws.fanout_env() | aws.consumer_env()).items():
        monkeypatch.setenv(name, value)
    sends = count_calls(clients.sqs(), "SendMessageBatch")
    # WHEN the fan-out loop runs (time running low every 3/10 of the lines: every 3,000 of 10,000) and then the
    # consumer drains the queue in batches of 10, as Lambda's event source mapping would (one poller: Powertools'
    # processor is per process)
    outputs = run_loop(
        fanout_handler,
        {"run_id": RUN_ID, "bucket": aws.bucket, "prefix": PREFIX},
        lambda: lambda_context(countdown(total * 3 // 10 - 1)),
    )
    delivered: list[str] = []
    failures: list[str] = []
    while True:
        messages, failed = aws.poll_once(consumer_handler)
        if not messages:
            break
        delivered.extend(messages)
        failures.extend(failed)
    # THEN the fan-out needed 4 invocations and exactly total / 10 SendMessageBatch calls
    assert len(outputs) == 4
    assert len(sends) == total // 10
    assert all(len(call["Entries"]) == 10 for call in sends)
    # AND there were exactly `total` distinct deliveries, none failed, and `total` items in the table
    assert failures == []
    assert len(delivered) == len(set(delivered)) == total
    items = aws.scan_predictions()
    assert sorted(items) == ids
    assert {item["run_id"] for item in items.values()} == {RUN_ID}
    summary = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=summary_key(RUN_ID))["Body"].read())
    assert (summary["stats"]["sent"], summary["stats"]["quarantined"], summary["stats"]["send_calls"]) == (
        total,
        0,
        total // 10,
    )
