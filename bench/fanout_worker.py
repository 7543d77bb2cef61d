"""One benchmark measurement in a fresh process: run ours or the seed over prepared data; print JSON.

Usage: fanout_worker.py ours|seed ENDPOINT BUCKET KEY_OR_PREFIX QUEUE_URL
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

import boto3

from batch.fanout.logic import fan_out
from bench.fanout_seed import seed_fanout
from esteira_contracts.fanout import FanoutSettings


def main() -> None:
    impl, endpoint, bucket, target, queue_url = sys.argv[1:6]
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    session = boto3.session.Session()
    s3, sqs = session.client("s3"), session.client("sqs")
    calls = {"n": 0}

    def count(**_: Any) -> None:
        calls["n"] += 1  # every HTTP request to SQS, retries included

    sqs.meta.events.register("before-send.sqs", count)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if impl == "ours":
        settings = FanoutSettings.from_env({"QUEUE_URL": queue_url})
        state: dict[str, Any] = {"run_id": "bench-20250101-000000", "bucket": bucket, "prefix": target, "cursor": None}
        while True:  # the Step Functions loop: feed the output back until done
            state = fan_out(state, settings, s3, sqs, lambda: 900_000)
            if state["done"]:
                break
        out = state
        predictions = int(out["stats"]["sent"])
    else:
        predictions = seed_fanout(s3, sqs, bucket, target, queue_url)
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "impl": impl,
                "predictions": predictions,
                "sqs_calls": calls["n"],
                "wall_s": round(wall, 3),
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "rss_before_mb": round(rss_before / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
