"""Fan-out resumption: the run's state object, ranged re-opens of broken S3 streams, and errors that name the line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch.fanout import source
from batch.fanout.errors import OutputObjectError, OutputStreamError, QueueRejectedError, SendFailedError
from batch.fanout.logic import fan_out
from batch.fanout.state import state_key
from esteira_contracts.fanout import FanoutSettings
from tests.lambdas.fanout_faults import FaultPlan, Schedule
from tests.lambdas.faults import FlakySqs, count_calls
from tests.lambdas.helpers import RUN_ID, AwsResources
from tests.lambdas.sfn_local import SimClock

PREFIX = f"batch-output/{RUN_ID}/"
LINE_BYTES = 22  # "cust-0000000,1,0.0000\n"


def first_input(aws: AwsResources) -> dict[str, Any]:
    return {"run_id": RUN_ID, "bucket": aws.bucket, "prefix": PREFIX, "cursor": None}


def settings(aws: AwsResources, **overrides: str) -> FanoutSettings:
    return FanoutSettings.from_env(aws.fanout_env(**overrides))


def entity_ids(aws: AwsResources) -> list[str]:
    return [json.loads(m["Body"])["entity_id"] for m in aws.drain()]


def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batch.fanout.sender.pause", lambda seconds: None)


def inject(aws: AwsResources, s3: Any, schedule: Schedule) -> FaultPlan:
    """S3 faults on ``s3`` (the SQS side of the plan goes on a client the fan-out does not use)."""
    return FaultPlan(aws.session.client("sqs"), s3, SimClock(), seed=0, schedule=schedule)


def test_a_body_reset_mid_stream_is_reopened_at_its_offset(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an output object whose body is reset after 1,000 bytes on the first read and 3,000 on the second
    ids = aws.put_predictions(PREFIX, objects=1, per_object=300)
    no_pause(monkeypatch)
    s3 = aws.session.client("s3")
    inject(aws, s3, Schedule(break_body_after_bytes={1: 1_000, 2: 3_000}))
    gets = count_calls(s3, "GetObject")
    # WHEN the fan-out reads it
    out = fan_out(first_input(aws), settings(aws), s3, aws.sqs, lambda: 900_000)
    # THEN it re-opened the object twice with ranged GETs at the bytes reached, pinned to the listed ETag
    reads = [g for g in gets if g["Key"].endswith(".out")]
    assert [g.get("Range") for g in reads] == [None, "bytes=1000-", "bytes=4000-"]
    assert len({g["IfMatch"] for g in reads}) == 1
    assert out["stats"]["stream_reopens"] == 2
    # AND every line was sent once
    assert sorted(entity_ids(aws)) == ids
    assert out["stats"]["lines"] == 300


def test_a_body_that_keeps_breaking_fails_naming_the_object_and_line(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a body that breaks after 100 bytes on every read
    aws.put_predictions(PREFIX, objects=1, per_object=50)
    no_pause(monkeypatch)
    s3 = aws.session.client("s3")
    breaks = dict.fromkeys(range(1, source.MAX_REOPENS + 2), 100)
    inject(aws, s3, Schedule(break_body_after_bytes=breaks))
    # WHEN the fan-out reads it THEN each re-open moved on 100 bytes, and after its re-opens it gives up with a
    # retryable error naming where it was (5 x 100 bytes = 22 whole lines of 22 bytes: reading line 23)
    where = f"s3://{aws.bucket}/{PREFIX}part-000.csv.out line 23"
    with pytest.raises(OutputStreamError, match=rf"{where}: the body broke 5 times"):
        fan_out(first_input(aws), settings(aws), s3, aws.sqs, lambda: 900_000)


def test_a_missing_object_is_not_retryable_and_names_the_object(aws: AwsResources) -> None:
    # GIVEN an output object deleted between the listing and its read
    aws.put_predictions(PREFIX, objects=1, per_object=5)
    s3 = aws.session.client("s3")
    inject(aws, s3, Schedule(missing_object={f"{PREFIX}part-000.csv.out"}))
    # WHEN the fan-out reads it THEN OutputObjectError names the object and the line it was about to read
    with pytest.raises(OutputObjectError, match=rf"s3://{aws.bucket}/{PREFIX}part-000.csv.out line 1: "):
        fan_out(first_input(aws), settings(aws), s3, aws.sqs, lambda: 900_000)


def test_a_retry_with_the_same_input_resumes_from_the_cursor_saved_on_failure(aws: AwsResources) -> None:
    # GIVEN an invocation whose sender gives up on the 4th batch (entries failing every attempt)
    ids = aws.put_predictions(PREFIX, objects=1, per_object=60)
    doomed = ids[35]
    flaky = FlakySqs(aws.sqs, lambda entry, attempt: "transient" if entry["MessageGroupId"] == doomed else None)
    with pytest.raises(SendFailedError, match=r"part-000.csv.out line 36: 1 entries still failing after 3"):
        fan_out(first_input(aws), settings(aws, SEND_MAX_ATTEMPTS="3"), aws.s3, flaky, lambda: 900_000)
    # THEN the state object holds the cursor after the last accepted batch
    saved = aws.get_json(state_key(RUN_ID))
    cursor = {"key": f"{PREFIX}part-000.csv.out", "line": 30, "offset": 30 * LINE_BYTES}
    assert (saved["done"], saved["cursor"]) == (False, cursor)
    # WHEN Step Functions retries with the same input (cursor null)
    sends = count_calls(aws.sqs, "SendMessageBatch")
    out = fan_out(first_input(aws), settings(aws), aws.s3, aws.sqs, lambda: 900_000)
    # THEN only the lines after the saved cursor are sent, each prediction arrives once, and the stats count once
    assert [len(call["Entries"]) for call in sends] == [10, 10, 10]
    assert sorted(entity_ids(aws)) == ids
    assert (out["stats"]["lines"], out["stats"]["sent"], out["stats"]["invocations"]) == (60, 60, 2)


def test_a_done_run_stays_done(aws: AwsResources) -> None:
    # GIVEN a completed run
    aws.put_predictions(PREFIX, objects=1, per_object=12)
    first = fan_out(first_input(aws), settings(aws), aws.s3, aws.sqs, lambda: 900_000)
    aws.drain()
    # WHEN it is invoked again (a retried last invocation, or a second execution for the same run)
    sends = count_calls(aws.sqs, "SendMessageBatch")
    again = fan_out(first_input(aws), settings(aws), aws.s3, aws.sqs, lambda: 900_000)
    # THEN nothing is sent and the saved stats come back
    assert again["done"] is True and sends == [] and aws.drain() == []
    assert again["stats"] == first["stats"]


def test_a_queue_that_refuses_the_call_is_not_retried(aws: AwsResources) -> None:
    # GIVEN a queue URL that does not exist
    aws.put_predictions(PREFIX, objects=1, per_object=3)
    missing = aws.queue_url.replace("predictions-", "missing-")
    # WHEN the fan-out sends THEN QueueRejectedError names the lines, after a single call
    sends = count_calls(aws.sqs, "SendMessageBatch")
    with pytest.raises(QueueRejectedError, match=r"part-000.csv.out lines 1-3: SendMessageBatch refused"):
        fan_out(first_input(aws), settings(aws, QUEUE_URL=missing), aws.s3, aws.sqs, lambda: 900_000)
    assert len(sends) == 1
