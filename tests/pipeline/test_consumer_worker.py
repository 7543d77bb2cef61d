"""The local event source mapping: a consumer started before the fan-out keeps polling until the producer is done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline import aws, delivery, settings
from pipeline.options import REPO
from tests.servers import module_server

RUN_ID = "esteira-local-20261206-120000"


def message(entity: str) -> dict[str, str]:
    body = {"run_id": RUN_ID, "entity_id": entity, "predicted_label": "1", "score": 0.75}
    return {
        "Id": entity,
        "MessageBody": json.dumps(body),
        "MessageGroupId": entity,
        "MessageDeduplicationId": f"{RUN_ID}-{entity}",
    }


LocalAws = Callable[[int], tuple[Any, aws.Resources]]


@pytest.fixture
def local_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """A fresh local moto server; the factory points this process at it and creates the run's resources with the
    given maxReceiveCount, returning (session, resources)."""
    with module_server("pipeline.moto_server") as endpoint:

        def resources(max_receive_count: int) -> tuple[Any, aws.Resources]:
            env = {**aws.local_aws_environment(endpoint), **settings.consumer_settings().to_env()}
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
            session = boto3.session.Session()
            return session, aws.create_resources(session, max_receive_count=max_receive_count)

        yield resources


def test_a_batch_whose_invocation_fails_goes_to_the_dlq_and_the_consumer_carries_on(
    tmp_path: Path, local_aws: LocalAws
) -> None:
    session, resources = local_aws(1)
    sqs = session.client("sqs")
    # GIVEN a batch in which every message is invalid (the handler's invocation fails, as Powertools makes it)
    poison = [{**message(f"p{n}"), "MessageBody": json.dumps({"run_id": "not a run"})} for n in range(3)]
    sqs.send_message_batch(QueueUrl=resources.queue_url, Entries=poison)
    stats_path = tmp_path / "consumer.json"
    # WHEN a consumer drains the queue
    argv = [sys.executable, "-m", "pipeline.consumer_worker", resources.queue_url, str(stats_path)]
    code = subprocess.run(argv, cwd=REPO, env=dict(os.environ), timeout=60, check=False).returncode
    # THEN it deleted nothing, the messages went to the DLQ after their receives, and the consumer ended well
    stats = json.loads(stats_path.read_text())
    assert code == 0
    assert stats["failed_invocations"] >= 1
    assert delivery.queue_depth(sqs, resources.dlq_url) == 3
    assert delivery.count_stored(session.client("dynamodb"), aws.PREDICTIONS_TABLE, RUN_ID) == 0


def test_a_consumer_waits_for_the_producer_then_drains_the_queue(tmp_path: Path, local_aws: LocalAws) -> None:
    session, resources = local_aws(3)
    sqs = session.client("sqs")
    stats_path, done = tmp_path / "consumer.json", tmp_path / "fanout.done"
    # GIVEN a consumer polling an empty queue while the producer has not said it is done
    argv = [sys.executable, "-m", "pipeline.consumer_worker", resources.queue_url, str(stats_path), str(done)]
    consumer = subprocess.Popen(argv, cwd=REPO, env=dict(os.environ))
    try:
        time.sleep(1.5)
        still_polling = consumer.poll() is None
        # WHEN the producer sends 12 messages, then says it is done
        sqs.send_message_batch(QueueUrl=resources.queue_url, Entries=[message(f"e{n:02d}") for n in range(10)])
        sqs.send_message_batch(QueueUrl=resources.queue_url, Entries=[message(f"e{n:02d}") for n in (10, 11)])
        done.touch()
        code = consumer.wait(timeout=60)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    # THEN the consumer did not stop on the empty queue, and it stored every message once, leaving none queued
    assert still_polling
    assert code == 0
    stats = json.loads(stats_path.read_text())
    assert (stats["received"], len(stats["delivered_ids"])) == (12, 12)
    assert stats["first_received_at"] <= stats["finished_at"]
    assert delivery.count_stored(session.client("dynamodb"), aws.PREDICTIONS_TABLE, RUN_ID) == 12
    assert delivery.queue_depth(sqs, resources.queue_url) == 0


def test_a_consumer_waiting_on_another_ones_last_batch_polls_again_soon_then_every_half_second(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, resources = local_aws(3)
    sqs = session.client("sqs")
    # GIVEN a producer that is done and a queue whose only message another consumer has received (in flight)
    sqs.send_message_batch(QueueUrl=resources.queue_url, Entries=[message("e1")])
    (taken,) = sqs.receive_message(QueueUrl=resources.queue_url, MaxNumberOfMessages=1, VisibilityTimeout=60)[
        "Messages"
    ]
    waits: list[float] = []
    real_sleep, consumer_thread = time.sleep, threading.current_thread()

    def sleep(seconds: float) -> None:
        if threading.current_thread() is not consumer_thread:
            # Another thread of this test process (a session fixture's server, Spark's gateway) sleeping meanwhile:
            # not the consumer's wait (a CI run once recorded such a thread's 1 s sleep among the consumer's).
            real_sleep(seconds)
            return
        waits.append(seconds)
        if len(waits) == 6:  # the other consumer ends its batch
            sqs.delete_message(QueueUrl=resources.queue_url, ReceiptHandle=taken["ReceiptHandle"])

    monkeypatch.setattr(time, "sleep", sleep)  # the consumer loop's waits (this thread only)
    # WHEN this consumer polls
    stats = delivery.run_consumer(sqs, resources.queue_url, aws.REGION, producer_done=lambda: True)
    # THEN it waited 50 ms, doubling up to 0.5 s, and ended once nothing was in flight, having received nothing
    assert waits == [0.05, 0.1, 0.2, 0.4, 0.5, 0.5]
    assert stats.received == 0 and stats.finished_at is not None
