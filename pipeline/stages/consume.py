"""Stage consume: the consumer Lambda handler in worker processes, as many as the config's concurrency."""

from __future__ import annotations

import json
import os
import sys
import time

from pipeline import aws, delivery, settings
from pipeline.context import RunContext
from pipeline.options import REPO
from pipeline.processes import ChildFailedError, tail
from pipeline.report import StageFailedError

PROGRESS_EVERY_SECONDS = 10


def run(ctx: RunContext) -> None:
    concurrency = ctx.config.batch.consumer_max_concurrency
    resources = ctx.aws_resources()
    what = f"the consumer Lambda on the queued messages (DynamoDB), {concurrency} concurrent"
    with ctx.progress.stage("consume", what) as st:
        os.environ.update(settings.consumer_settings().to_env())
        sqs = ctx.session.client("sqs")
        expected = ctx.report["batch"]["fanout"]["sent"]
        workers = []
        started = time.monotonic()
        if not expected:
            concurrency = 0  # nothing queued: no consumer to start

        for index in range(concurrency):
            stats_path = ctx.run_dir / f"consumer-{index}.json"
            argv = [sys.executable, "-m", "pipeline.consumer_worker", resources.queue_url, str(stats_path)]
            log_path = ctx.logs / f"consumer-{index}.log"
            child = ctx.children.start(f"consumer-{index}", argv, dict(os.environ), log_path, REPO)
            workers.append((child, stats_path))
        try:
            last = time.monotonic()
            while any(child.process.poll() is None for child, _ in workers):
                time.sleep(0.5)
                if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
                    last = time.monotonic()
                    left = delivery.queue_depth(sqs, resources.queue_url)
                    ctx.progress.say(f"    consume: {expected - left}/{expected} messages handled ...")
        finally:
            for child, _ in workers:
                ctx.children.stop(child)
        delivered: set[str] = set()
        counts = {"invocations": 0, "received": 0, "failures_reported": 0}
        for child, stats_path in workers:
            if child.process.returncode != 0 or not stats_path.exists():
                raise ChildFailedError(
                    f"{child.name} exited with {child.process.returncode}:\n{tail(child.log_path, 15)}"
                )
            worker_stats = json.loads(stats_path.read_text())
            delivered.update(worker_stats.pop("delivered_ids"))
            for name in counts:
                counts[name] += int(worker_stats[name])
        drain_seconds = time.monotonic() - started  # worker start-up included, as in the stage's time
        stored = delivery.count_stored(ctx.session.client("dynamodb"), aws.PREDICTIONS_TABLE, ctx.transform_run_id)
        dead = delivery.queue_depth(sqs, resources.dlq_url)
        report = ctx.report["batch"]
        report["delivered"] = len(delivered)
        report["stored"] = stored
        report["lost"] = report["predicted"] - stored
        report["dead_lettered"] = dead
        rate = round(len(delivered) / drain_seconds, 1) if delivered and drain_seconds > 0 else 0.0
        report["consumer"] = {
            "concurrency": concurrency,
            **counts,
            "seconds": round(drain_seconds, 2),
            "messages_per_second": rate,
        }
        st.summary = f"delivered {len(delivered)}, stored {stored}, lost {report['lost']}, dead-lettered {dead}"
        st.summary += f"; {rate:,.0f} messages/s"
        if report["lost"] != 0 or len(delivered) != report["predicted"]:
            raise StageFailedError(
                f"predictions do not reconcile: predicted {report['predicted']}, delivered {len(delivered)}, "
                f"stored {stored}"
            )
