"""Fan-out benchmark (``make bench-fanout``): ours vs the seed's loop against the same local SQS (moto server).

Prints, per 1,000 predictions, SQS API calls and wall time, and the peak RSS of a fresh process per size.
Sizes: 1k and 10k for both; 1M for ours only (the seed's one-call-per-prediction loop would need ~1M HTTP calls).
Run from the repository root with ``PYTHONPATH=.:lambdas``. Options: ``--sizes 1000,10000,1000000``,
``--seed-max 10000``, ``--repeats 3``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
LINES_PER_OBJECT = 100_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])
    return os.environ | {
        "PYTHONPATH": path,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }


def put_ours(s3: Any, bucket: str, prefix: str, size: int) -> None:
    for start in range(0, size, LINES_PER_OBJECT):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for i in range(start, min(size, start + LINES_PER_OBJECT)):
            writer.writerow([f"cust-{i:08d}", i % 2, f"{(i % 1000) / 1000:.3f}"])
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}part-{start // LINES_PER_OBJECT:05d}.csv.out", Body=buffer.getvalue()
        )


def put_seed(s3: Any, bucket: str, key: str, size: int) -> None:
    rows = [{"id": f"cust-{i:08d}", "label": i % 2, "score": (i % 1000) / 1000} for i in range(size)]
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(rows))


def run_worker(impl: str, endpoint: str, bucket: str, target: str, queue_url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout_worker.py"), impl, endpoint, bucket, target, queue_url],
        env=env(),
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,1000000")
    parser.add_argument("--seed-max", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per (impl, size) up to 10k; 1 above")
    args = parser.parse_args()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "pipeline.moto_server", str(port)], env=env())
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update({k: v for k, v in env().items() if k.startswith("AWS_")})
        session = boto3.session.Session()
        s3, sqs = session.client("s3", endpoint_url=endpoint), session.client("sqs", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        rows: list[dict[str, Any]] = []
        for size in (int(s) for s in args.sizes.split(",")):
            for impl in ("ours", "seed"):
                if impl == "seed" and size > args.seed_max:
                    continue
                runs = []
                for repeat in range(args.repeats if size <= 10_000 else 1):
                    name = f"{impl}-{size}-{repeat}"
                    attributes = {"FifoQueue": "true"}
                    if impl == "seed":
                        attributes["ContentBasedDeduplication"] = "true"
                    queue_url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"]
                    target = f"{impl}/{size}/" if impl == "ours" else f"seed/{size}.json"
                    if repeat == 0:
                        (put_ours if impl == "ours" else put_seed)(s3, "bench", target, size)
                    stop = threading.Event()
                    purger = threading.Thread(target=purge_while, args=(sqs, queue_url, stop), daemon=True)
                    purger.start()  # keeps the server's memory bounded; not counted in the worker's calls
                    try:
                        runs.append(run_worker(impl, endpoint, "bench", target, queue_url))
                    finally:
                        stop.set()
                        purger.join()
                    print(f"  {name}: {runs[-1]}", file=sys.stderr, flush=True)
                rows.append(summarise(impl, size, runs))
        print_table(rows)
    finally:
        server.terminate()
        server.wait(10)


def purge_while(sqs: Any, queue_url: str, stop: threading.Event) -> None:
    """Purge the queue every 61 s (SQS allows one purge a minute) so the server's memory stays bounded."""
    while not stop.wait(61):
        try:
            sqs.purge_queue(QueueUrl=queue_url)
        except Exception as exc:  # a benchmark aid only; never let it abort the measurement
            print(f"  purge failed: {exc}", file=sys.stderr)


def summarise(impl: str, size: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    assert all(run["predictions"] == size for run in runs), runs
    return {
        "impl": impl,
        "size": size,
        "runs": len(runs),
        "calls_per_1k": statistics.median(run["sqs_calls"] for run in runs) * 1000 / size,
        "wall_per_1k_s": statistics.median(run["wall_s"] for run in runs) * 1000 / size,
        "wall_s": statistics.median(run["wall_s"] for run in runs),
        "peak_rss_mb": statistics.median(run["peak_rss_mb"] for run in runs),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\nfan-out benchmark, {time.strftime('%Y-%m-%d')}, moto server on 127.0.0.1, medians\n")
    print("| impl | predictions | runs | SQS calls / 1k | wall / 1k (s) | wall total (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['impl']} | {r['size']:,} | {r['runs']} | {r['calls_per_1k']:.0f} | {r['wall_per_1k_s']:.3f} "
            f"| {r['wall_s']:.1f} | {r['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
