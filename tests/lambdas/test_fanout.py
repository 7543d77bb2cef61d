"""Fan-out: streaming, 10 entries per SendMessageBatch, dedup ids, retries, quarantine, resume, summary (its line
parsing: test_fanout_records.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from batch.fanout import errors, quarantine, request, sender, state
from batch.fanout.errors import SendFailedError
from batch.fanout.handler import handler
from batch.fanout.logic import fan_out
from batch.fanout.request import Cursor
from common import clients
from esteira_contracts import SettingsError
from esteira_contracts.fanout import FanoutSettings
from tests.lambdas.faults import FlakySqs, count_calls, throttle_calls
from tests.lambdas.helpers import FIXTURES, RUN_ID, AwsResources, countdown, lambda_context, run_loop

PREFIX = f"batch-output/{RUN_ID}/"


def first_input(aws: AwsResources) -> dict[str, Any]:
    return {"run_id": RUN_ID, "bucket": aws.bucket, "prefix": PREFIX, "cursor": None}


def bodies(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in messages]


def entity_ids(messages: list[dict[str, Any]]) -> list[str]:
    return [body["entity_id"] for body in bodies(messages)]


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def quarantine_records(aws: AwsResources) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for key in aws.list_keys(quarantine.Quarantine.prefix_for(RUN_ID)):
        text = aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read().decode()
        records.extend(json.loads(line) for line in text.splitlines())
    return records


# --- pure pieces ------------------------------------------------------------------------------------------------


def test_transform_event_detail_maps_to_first_fanout_input() -> None:
    # GIVEN the EventBridge event of a completed transform job
    event = json.loads((FIXTURES / "transform_job_completed_event.json").read_text())
    # WHEN its detail is mapped
    mapped = request.input_from_transform_event(event["detail"])
    # THEN the run id is the job name and bucket/prefix come from S3OutputPath
    assert mapped == {
        "run_id": "esteira-dev-20250101-020000",
        "bucket": "esteira-dev-predictions-123456789012",
        "prefix": "batch-output/esteira-dev-20250101-020000/",
        "cursor": None,
        "stats": None,
    }
    # AND the whole event is accepted as a loop input too
    parsed = request.FanoutRequest.from_event(event)
    assert (parsed.run_id, parsed.bucket, parsed.prefix, parsed.cursor) == (
        mapped["run_id"],
        mapped["bucket"],
        mapped["prefix"],
        None,
    )


def test_failed_transform_event_is_refused() -> None:
    # GIVEN the event of a failed job WHEN mapped THEN it is refused, naming the status
    event = json.loads((FIXTURES / "transform_job_failed_event.json").read_text())
    with pytest.raises(errors.InvalidFanoutRequestError, match="Failed, not Completed"):
        request.input_from_transform_event(event["detail"])


def test_settings_refuse_bad_environment() -> None:
    # GIVEN no queue and an unknown group strategy WHEN settings are read THEN both problems are named
    with pytest.raises(SettingsError, match=r"QUEUE_URL is required.*MESSAGE_GROUP_STRATEGY='random'"):
        FanoutSettings.from_env({"MESSAGE_GROUP_STRATEGY": "random"})


# --- against the moto server ------------------------------------------------------------------------------------


def test_messages_carry_body_attribute_group_and_deterministic_dedup_id(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 25 predictions and the entity group strategy
    ids = aws.put_predictions(PREFIX, objects=1, per_object=25)
    use_env(monkeypatch, aws.fanout_env())
    calls = count_calls(clients.sqs(), "SendMessageBatch")
    # WHEN the fan-out runs
    out = handler(first_input(aws), lambda_context())
    # THEN 25 messages arrive in 3 SendMessageBatch calls (10, 10, 5)
    assert out["done"] is True
    assert [len(c["Entries"]) for c in calls] == [10, 10, 5]
    messages = aws.drain()
    assert sorted(entity_ids(messages)) == ids
    # AND each carries the body, the seed's attribute, its entity as group and a run+record dedup id
    first = next(m for m in messages if json.loads(m["Body"])["entity_id"] == ids[1])
    assert json.loads(first["Body"]) == {"run_id": RUN_ID, "entity_id": ids[1], "predicted_label": "1", "score": 0.01}
    assert first["MessageAttributes"]["recomendado-para-voce"] == {"DataType": "String", "StringValue": "1"}
    assert first["Attributes"]["MessageGroupId"] == ids[1]
    assert first["Attributes"]["MessageDeduplicationId"] == sender.deduplication_id(RUN_ID, ids[1])
    # AND a summary object holds the stats
    summary = aws.get_json(state.summary_key(RUN_ID))
    assert summary["stats"] | {"reasons": {}} == {
        "objects": 1,
        "lines": 25,
        "sent": 25,
        "blank": 0,
        "quarantined": 0,
        "reasons": {},
        "send_calls": 3,
        "retried_entries": 0,
        "throttled_calls": 0,
        "invocations": 1,
        "stream_reopens": 0,
    }


def test_single_group_strategy_uses_one_group(aws: AwsResources, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the seed's single-group behaviour is configured
    aws.put_predictions(PREFIX, objects=1, per_object=12)
    use_env(monkeypatch, aws.fanout_env(MESSAGE_GROUP_STRATEGY="single", SINGLE_MESSAGE_GROUP_ID="recs"))
    # WHEN the fan-out runs THEN every message is in that group
    handler(first_input(aws), lambda_context())
    messages = aws.drain()
    assert len(messages) == 12
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"recs"}


def test_malformed_lines_are_quarantined_with_reasons_and_the_rest_proceeds(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the sample transform output with malformed lines, and a CRLF file with a non-UTF-8 line
    expected = json.loads((FIXTURES / "transform_output_sample.expected.json").read_text())
    aws.put_text(f"{PREFIX}a.csv.out", (FIXTURES / "transform_output_sample.csv.out").read_bytes())
    aws.put_text(f"{PREFIX}b.csv.out", (FIXTURES / "transform_output_crlf_latin1.csv.out").read_bytes())
    aws.put_text(f"{PREFIX}_SUCCESS", b"not an output object")
    use_env(monkeypatch, aws.fanout_env())
    # WHEN the fan-out runs
    out = handler(first_input(aws), lambda_context())
    # THEN the valid lines are delivered
    assert sorted(entity_ids(aws.drain())) == sorted([*expected["delivered"], "cust-0000012", "cust-0000014"])
    # AND every malformed line has a quarantine record with its object, line number, reason and raw text
    records = quarantine_records(aws)
    found = {(r["key"].rsplit("/", 1)[-1], r["line"]): r["reason"] for r in records}
    wanted = {("a.csv.out", int(line)): reason for line, reason in expected["quarantined"].items()}
    assert found == wanted | {("b.csv.out", 2): "not_utf8"}
    assert all(r["run_id"] == RUN_ID and r["detail"] for r in records)
    assert next(r for r in records if r["line"] == 5)["raw"] == "cust-0000004,1,high"
    # AND the stats account for every line, and the summary holds the reason counts
    stats = out["stats"]
    assert stats["lines"] == stats["sent"] + stats["quarantined"] + stats["blank"] == 16
    assert stats["reasons"] == dict(Counter([*expected["quarantined"].values(), "not_utf8"]))
    assert aws.get_json(state.summary_key(RUN_ID))["stats"]["reasons"] == stats["reasons"]


def test_partial_failures_are_retried_without_loss_or_duplicates(aws: AwsResources) -> None:
    # GIVEN 500 predictions and an SQS client that reports a third of the entries as failed on their first two
    # attempts, although SQS had accepted them (the response lies: the worst case for duplicates)
    ids = aws.put_predictions(PREFIX, objects=2, per_object=250)
    flaky = FlakySqs(
        aws.sqs,
        lambda entry, attempt: "transient" if attempt <= 2 and int(entry["MessageGroupId"][-1]) % 3 == 0 else None,
        deliver_failed=True,
    )
    settings_ = FanoutSettings.from_env(aws.fanout_env())
    # WHEN the fan-out runs
    out = fan_out(first_input(aws), settings_, aws.s3, flaky, lambda: 900_000)
    # THEN failed entries were retried with backoff
    assert flaky.injected["transient"] == 2 * len([i for i in ids if int(i[-1]) % 3 == 0])
    assert out["stats"]["retried_entries"] == flaky.injected["transient"]
    # AND every prediction was delivered exactly once
    delivered = entity_ids(aws.drain())
    assert len(delivered) == len(set(delivered)) == 500
    assert sorted(delivered) == ids


def test_partial_failures_not_delivered_are_retried_until_sent(aws: AwsResources) -> None:
    # GIVEN a client that drops (does not deliver) some entries on their first attempt
    ids = aws.put_predictions(PREFIX, objects=1, per_object=95)
    flaky = FlakySqs(aws.sqs, lambda entry, attempt: "transient" if attempt == 1 and entry["Id"] in "1357" else None)
    # WHEN the fan-out runs THEN nothing is lost or duplicated
    out = fan_out(first_input(aws), FanoutSettings.from_env(aws.fanout_env()), aws.s3, flaky, lambda: 900_000)
    delivered = entity_ids(aws.drain())
    assert sorted(delivered) == ids
    assert out["stats"]["sent"] == 95
    assert out["stats"]["send_calls"] == 10 + 10  # every full batch had a failure and one retry call


def test_throttled_calls_are_retried_by_one_layer_and_deliver_once(aws: AwsResources) -> None:
    # GIVEN SendMessageBatch is throttled 3 times in a row, on the SQS client the handler uses
    ids = aws.put_predictions(PREFIX, objects=1, per_object=40)
    sqs = clients.sqs()
    throttled = throttle_calls(sqs, "SendMessageBatch", failures=3)
    # WHEN the fan-out runs
    out = fan_out(first_input(aws), FanoutSettings.from_env(aws.fanout_env()), aws.s3, sqs, lambda: 900_000)
    # THEN botocore made one attempt per call and the sender retried: 3 throttled calls are 3 sender attempts,
    # not 3 sender attempts times botocore's own retries
    assert throttled["throttled"] == 3
    assert out["stats"]["throttled_calls"] == 3
    assert out["stats"]["send_calls"] == 4 + 3
    delivered = entity_ids(aws.drain())
    assert sorted(delivered) == ids


def test_entries_failing_every_attempt_stop_the_invocation_and_a_retry_completes_it(aws: AwsResources) -> None:
    # GIVEN one entry that fails on all of its 3 allowed attempts
    ids = aws.put_predictions(PREFIX, objects=1, per_object=30)
    settings_ = FanoutSettings.from_env(aws.fanout_env(SEND_MAX_ATTEMPTS="3"))
    doomed = ids[15]
    flaky = FlakySqs(aws.sqs, lambda entry, attempt: "transient" if entry["MessageGroupId"] == doomed else None)
    # WHEN the fan-out runs THEN it raises a named error the state machine retries on
    with pytest.raises(SendFailedError, match="still failing after 3"):
        fan_out(first_input(aws), settings_, aws.s3, flaky, lambda: 900_000)
    # WHEN the state machine retries the same input once the fault is gone
    out = fan_out(first_input(aws), settings_, aws.s3, aws.sqs, lambda: 900_000)
    # THEN the retry re-sent the first batch, but deduplication delivered each prediction once
    assert out["done"] is True
    delivered = entity_ids(aws.drain())
    assert sorted(delivered) == ids


def test_crash_after_send_and_rerun_from_the_cursor_delivers_once(aws: AwsResources) -> None:
    # GIVEN a connection that dies right after the 3rd batch reached SQS
    ids = aws.put_predictions(PREFIX, objects=1, per_object=60)
    calls = {"n": 0}

    def decide(entry: dict[str, Any], attempt: int) -> str | None:
        if entry["Id"] == "0":
            calls["n"] += 1
        return "crash" if calls["n"] == 3 and entry["Id"] == "9" else None

    settings_ = FanoutSettings.from_env(aws.fanout_env())
    with pytest.raises(ConnectionResetError):
        fan_out(first_input(aws), settings_, aws.s3, FlakySqs(aws.sqs, decide, deliver_failed=True), lambda: 900_000)
    # WHEN the invocation is retried from its input
    fan_out(first_input(aws), settings_, aws.s3, aws.sqs, lambda: 900_000)
    # THEN each prediction arrived exactly once
    delivered = entity_ids(aws.drain())
    assert sorted(delivered) == ids


def test_sqs_rejected_entry_is_quarantined(aws: AwsResources) -> None:
    # GIVEN SQS rejects one entry as the sender's fault
    ids = aws.put_predictions(PREFIX, objects=1, per_object=20)
    flaky = FlakySqs(aws.sqs, lambda entry, attempt: "sender" if entry["MessageGroupId"] == ids[4] else None)
    # WHEN the fan-out runs THEN the rest is delivered and the rejected one is quarantined with SQS's reason
    out = fan_out(first_input(aws), FanoutSettings.from_env(aws.fanout_env()), aws.s3, flaky, lambda: 900_000)
    assert sorted(entity_ids(aws.drain())) == [i for i in ids if i != ids[4]]
    [record] = quarantine_records(aws)
    assert (record["line"], record["reason"]) == (5, "sqs_rejected")
    assert "InvalidParameterValue" in record["detail"]
    assert out["stats"]["reasons"] == {"sqs_rejected": 1}


def test_low_remaining_time_hands_over_and_the_loop_resumes_exactly(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 3 output objects of 700 lines (with a malformed line) and a clock that runs low after 257 checks, so
    # each invocation handles 258 lines (the check follows each line, so every invocation makes progress)
    ids = aws.put_predictions(PREFIX, objects=3, per_object=700)
    aws.put_text(
        f"{PREFIX}part-001.csv.out",
        aws.s3.get_object(Bucket=aws.bucket, Key=f"{PREFIX}part-001.csv.out")["Body"].read() + b"broken line\n",
    )
    use_env(monkeypatch, aws.fanout_env(SAFETY_MARGIN_MS="5000"))
    gets = count_calls(clients.s3(), "GetObject")
    # WHEN the Step Functions loop runs the fan-out until done
    outputs = run_loop(handler, first_input(aws), lambda: lambda_context(countdown(257)))
    # THEN it took several invocations, each handing over the cursor of the next unsent line
    assert len(outputs) == 9  # ceil(2101 lines / 258 per invocation)
    assert [o["done"] for o in outputs] == [False] * 8 + [True]
    assert outputs[0]["cursor"] == {"key": f"{PREFIX}part-000.csv.out", "line": 258, "offset": 258 * 22}
    # AND resumed objects were read from the cursor's byte offset, never from the start again
    assert [g.get("Range") for g in gets if g["Key"].endswith(".out")][:2] == [None, f"bytes={258 * 22}-"]
    # AND every prediction arrived exactly once, and the stats carried across invocations
    delivered = entity_ids(aws.drain())
    assert len(delivered) == len(set(delivered)) == 2100
    assert sorted(delivered) == ids
    final = outputs[-1]["stats"]
    assert (final["lines"], final["sent"], final["quarantined"], final["objects"], final["invocations"]) == (
        2101,
        2100,
        1,
        3,
        9,
    )
    assert aws.get_json(state.summary_key(RUN_ID))["stats"] == final


def test_invocations_hand_over_after_max_invocation_time(aws: AwsResources) -> None:
    # GIVEN a maximum invocation time of zero (every invocation hands over after one line), and ample Lambda time
    ids = aws.put_predictions(PREFIX, objects=2, per_object=3)
    settings_ = FanoutSettings.from_env(aws.fanout_env(MAX_INVOCATION_MS="0"))
    # WHEN the loop runs THEN each invocation handles one line, and everything arrives once
    outputs = run_loop(
        lambda e, _: fan_out(e, settings_, aws.s3, aws.sqs, lambda: 900_000), first_input(aws), lambda_context
    )
    assert len(outputs) == 7  # 6 hand-overs, then one that finds the cursor at the end and writes the summary
    assert [o["cursor"]["line"] for o in outputs[:6]] == [1, 2, 3, 1, 2, 3]
    assert sorted(entity_ids(aws.drain())) == ids


def test_cursor_at_the_end_of_an_object_moves_on(aws: AwsResources) -> None:
    # GIVEN a cursor pointing past the last byte of the first object
    aws.put_predictions(PREFIX, objects=2, per_object=5)
    size = aws.s3.head_object(Bucket=aws.bucket, Key=f"{PREFIX}part-000.csv.out")["ContentLength"]
    event = first_input(aws) | {"cursor": {"key": f"{PREFIX}part-000.csv.out", "line": 5, "offset": size}}
    # WHEN the fan-out resumes THEN only the second object is sent
    out = fan_out(event, FanoutSettings.from_env(aws.fanout_env()), aws.s3, aws.sqs, lambda: 900_000)
    assert sorted(entity_ids(aws.drain())) == [f"cust-{i:07d}" for i in range(5, 10)]
    assert out["stats"]["objects"] == 2


def test_empty_output_completes_with_a_summary(aws: AwsResources) -> None:
    # GIVEN no output objects WHEN the fan-out runs THEN it is done at once and the summary says zero
    out = fan_out(first_input(aws), FanoutSettings.from_env(aws.fanout_env()), aws.s3, aws.sqs, lambda: 900_000)
    assert out["done"] is True
    assert aws.get_json(state.summary_key(RUN_ID))["stats"]["lines"] == 0


def test_cursor_round_trips() -> None:
    # GIVEN a cursor as the state machine stores it WHEN read back THEN it is the same
    cursor = Cursor("k", 3, 99)
    assert Cursor.from_dict({"key": "k", "line": 3, "offset": 99}) == cursor
