"""``python -m pipeline.consumer_worker QUEUE_URL STATS_PATH``: one concurrent consumer execution environment.

Lambda's SQS event source mapping runs up to ``consumer_max_concurrency`` consumers at once; the pipeline starts
that many of these processes (the handler's batch processor is module-global, so concurrency needs processes, as
in Lambda). Each polls until the queue is empty and nothing is in flight, then writes its counts as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline import delivery
from pipeline.aws import REGION


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m pipeline.consumer_worker QUEUE_URL STATS_PATH", file=sys.stderr)
        return 2
    queue_url, stats_path = args
    import boto3

    sqs = boto3.session.Session().client("sqs")
    stats = delivery.run_consumer(sqs, queue_url, REGION)
    Path(stats_path).write_text(
        json.dumps(
            {
                "invocations": stats.invocations,
                "received": stats.received,
                "failures_reported": stats.failures_reported,
                "delivered_ids": sorted(stats.delivered_ids),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
