"""Stage consume: the consumer Lambda handler in worker processes, as many as the config's concurrency.

As Lambda's SQS event source mapping does, the consumers poll from before the first message is sent: the fanout
stage starts them (:func:`start`) and marks its end with a file; they stop once it is done and the queue is drained.
This stage waits for them and reconciles what was predicted, delivered and stored.
"""

from __future__ import annotations

import json
import os
import sys
import time

from pipeline import aws, delivery, settings
from pipeline.context import ConsumerWorker, RunContext
from pipeline.options import REPO
from pipeline.processes import ChildFailedError, tail
from pipeline.report import StageFailedError

PROGRESS_EVERY_SECONDS = 10


def start(ctx: RunContext) -> None:
    """Start the consumers (once): they poll until ``ctx.producer_done_path`` exists and the queue is empty."""
    if ctx.consumers:
        return
    resources = ctx.aws_resources()
    os.environ.update(settings.consumer_settings().to_env())
    for index in range(ctx.config.batch.consumer_max_concurrency):
        stats_path = ctx.run_dir / f"consumer-{index}.json"
        argv = [
            sys.executable,
            "-m",
            "pipeline.consumer_worker",
            resources.queue_url,
            str(stats_path),
            str(ctx.producer_done_path),
        ]
        child = ctx.children.start(
            f"consumer-{index}", argv, dict(os.environ), ctx.logs / f"consumer-{index}.log", REPO
        )
        ctx.consumers.append(ConsumerWorker(child, stats_path))


def run(ctx: RunContext) -> None:
    concurrency = ctx.config.batch.consumer_max_concurrency
    resources = ctx.aws_resources()
    what = f"the consumer Lambda on the queued messages (DynamoDB), {concurrency} concurrent"
    with ctx.progress.stage("consume", what) as st:
        sqs = ctx.session.client("sqs")
        expected = ctx.report["batch"]["fanout"]["sent"]
        if expected:
            ctx.producer_done_path.touch()  # a fan-out that sent messages has marked its end already
            start(ctx)  # no-op unless the fanout stage did not start them
        workers = ctx.consumers
        try:
            last = time.monotonic()
            while any(worker.child.process.poll() is None for worker in workers):
                time.sleep(0.1)
                if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
                    last = time.monotonic()
                    left = delivery.queue_depth(sqs, resources.queue_url)
                    ctx.progress.say(f"    consume: {expected - left}/{expected} messages handled ...")
        finally:
            for worker in workers:
                ctx.children.stop(worker.child)
        delivered: set[str] = set()
        counts = {"invocations": 0, "failed_invocations": 0, "received": 0, "failures_reported": 0}
        first_received: list[float] = []
        finished: list[float] = []
        for worker in workers:
            child = worker.child
            if child.process.returncode != 0 or not worker.stats_path.exists():
                raise ChildFailedError(
                    f"{child.name} exited with {child.process.returncode}:\n{tail(child.log_path, 15)}"
                )
            worker_stats = json.loads(worker.stats_path.read_text())
            delivered.update(worker_stats.pop("delivered_ids"))
            for name in counts:
                counts[name] += int(worker_stats[name])
            if worker_stats.get("first_received_at") is not None:
                first_received.append(float(worker_stats["first_received_at"]))
            finished.append(float(worker_stats["finished_at"]))
        # From the first message received to the queue drained, across the consumers (they start with the fan-out).
        drain_seconds = max(finished) - min(first_received) if first_received else 0.0
        stored = delivery.count_stored(ctx.session.client("dynamodb"), aws.PREDICTIONS_TABLE, ctx.transform_run_id)
        dead = delivery.queue_depth(sqs, resources.dlq_url)
        report = ctx.report["batch"]
        report["delivered"] = len(delivered)
        report["stored"] = stored
        report["lost"] = report["predicted"] - stored
        report["dead_lettered"] = dead
        rate = round(len(delivered) / drain_seconds, 1) if delivered and drain_seconds > 0 else 0.0
        report["consumer"] = {
            "concurrency": len(workers),
            **counts,
            "seconds": round(drain_seconds, 2),
            "messages_per_second": rate,
        }
        st.summary = f"delivered {len(delivered)}, stored {stored}, lost {report['lost']}, dead-lettered {dead}"
        st.summary += f"; {rate:,.0f} messages/s from the first message received"
        if report["lost"] != 0 or len(delivered) != report["predicted"]:
            raise StageFailedError(
                f"predictions do not reconcile: predicted {report['predicted']}, delivered {len(delivered)}, "
                f"stored {stored}"
            )
