"""``python -m pipeline.consumer_worker QUEUE_URL STATS_PATH [DONE_PATH]``: one concurrent consumer environment.

Lambda's SQS event source mapping runs up to ``consumer_max_concurrency`` consumers at once; the pipeline starts
that many of these processes (the handler's batch processor is module-global, so concurrency needs processes, as
in Lambda). Each polls until the producer is done (the file DONE_PATH exists; without it, from the start) and the
queue is empty with nothing in flight, then writes its counts as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline import delivery
from pipeline.aws import REGION


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m pipeline.consumer_worker QUEUE_URL STATS_PATH [DONE_PATH]", file=sys.stderr)
        return 2
    queue_url, stats_path = args[:2]
    done = Path(args[2]) if len(args) == 3 else None
    import boto3

    sqs = boto3.session.Session().client("sqs")
    stats = delivery.run_consumer(sqs, queue_url, REGION, producer_done=(lambda: True) if done is None else done.exists)
    Path(stats_path).write_text(
        json.dumps(
            {
                "invocations": stats.invocations,
                "failed_invocations": stats.failed_invocations,
                "received": stats.received,
                "failures_reported": stats.failures_reported,
                "delivered_ids": sorted(stats.delivered_ids),
                "first_received_at": stats.first_received_at,
                "finished_at": stats.finished_at,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
