"""Consumer benchmark (``make bench-consumer``): the batched consumer vs the per-message baseline, same local AWS.

For each mode, fresh patched moto servers (``pipeline.moto_server``, as the local run starts them: DynamoDB on a
server of its own, every other service on the main one) get the local run's queue and tables
(``pipeline.aws.create_resources``), N prediction messages (one FIFO group per entity, as the fan-out sends them),
then W consumer processes poll it as the local run's consume stage does
(``pipeline.delivery.run_consumer``: receive 10, invoke the handler, DeleteMessageBatch all but the reported
failures). Messages/s = N / the slowest worker's drain time. Every prediction must be stored exactly once.

Modes: ``per-message`` is ``bench/consumer_baseline.py`` (the logic at main a478caf, three DynamoDB calls per
message); ``batched`` is ``batch.consumer`` today (one TransactWriteItems per batch). Run from the repository root:
``.venv/bin/python bench/consumer.py`` (options: ``--messages 3000``, ``--workers 2``, ``--repeats 3``,
``--modes per-message,batched``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

import boto3  # noqa: E402

from pipeline import aws, settings  # noqa: E402

RUN_ID = "esteira-local-20261206-000000"
WORKER = (
    "import json, sys, time\n"
    "mode, queue_url = sys.argv[1], sys.argv[2]\n"
    "import boto3\n"
    "import batch.consumer.handler as handler\n"
    "if mode == 'per-message':\n"
    "    sys.path.insert(0, 'bench')\n"
    "    import consumer_baseline\n"
    "    handler.consume = consumer_baseline.consume\n"
    "from pipeline import delivery\n"
    "from pipeline.aws import REGION\n"
    "sqs = boto3.session.Session().client('sqs')\n"
    "import resource\n"
    "def cpu():\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    return usage.ru_utime + usage.ru_stime\n"
    "cpu_before = cpu()\n"
    "started = time.monotonic()\n"
    "stats = delivery.run_consumer(sqs, queue_url, REGION)\n"
    "print(json.dumps({'seconds': time.monotonic() - started, 'received': stats.received,"
    " 'invocations': stats.invocations, 'failures': stats.failures_reported,"
    " 'cpu': cpu() - cpu_before}))\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(endpoints: aws.Endpoints) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(aws.local_aws_environment(endpoints.main, endpoints.dynamodb))
    env.update(settings.consumer_settings().to_env())
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "lambdas")])
    env["POWERTOOLS_SERVICE_NAME"] = "esteira-bench"
    env["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    return env


def wait_for(endpoint: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process and its descendants (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def seed(sqs: Any, queue_url: str, messages: int) -> None:
    for start in range(0, messages, 10):
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(
                    {"run_id": RUN_ID, "entity_id": f"e{n:07d}", "predicted_label": "1", "score": 0.25}
                ),
                "MessageGroupId": f"e{n:07d}",
                "MessageDeduplicationId": f"{RUN_ID}-e{n:07d}",
            }
            for i, n in enumerate(range(start, min(start + 10, messages)))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def measure(mode: str, messages: int, workers: int) -> dict[str, Any]:
    # The local run's topology (pipeline.aws.start_moto): DynamoDB on a server of its own.
    endpoints = aws.Endpoints(main=f"http://127.0.0.1:{free_port()}", dynamodb=f"http://127.0.0.1:{free_port()}")
    env = child_env(endpoints)
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.moto_server", endpoint.rsplit(":", 1)[1]],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for endpoint in (endpoints.main, endpoints.dynamodb)
    ]
    try:
        wait_for(endpoints.main)
        wait_for(endpoints.dynamodb)
        session = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=aws.REGION
        )
        clients = {
            "sqs": session.client("sqs", endpoint_url=endpoints.main),
            "dynamodb": session.client("dynamodb", endpoint_url=endpoints.dynamodb),
        }
        os.environ.update(aws.local_aws_environment(endpoints.main, endpoints.dynamodb))
        resources = aws.create_resources(session, max_receive_count=5)
        seed(clients["sqs"], resources.queue_url, messages)
        load = os.getloadavg()[0]
        server_cpu = sum(cpu_seconds(server.pid) for server in servers)
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, mode, resources.queue_url],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        results = [json.loads(p.communicate(timeout=3600)[0].strip().splitlines()[-1]) for p in procs]
        server_cpu = sum(cpu_seconds(server.pid) for server in servers) - server_cpu
        stored = clients["dynamodb"].scan(TableName=aws.PREDICTIONS_TABLE, Select="COUNT")
        count = int(stored["Count"])
        while "LastEvaluatedKey" in stored:
            stored = clients["dynamodb"].scan(
                TableName=aws.PREDICTIONS_TABLE, Select="COUNT", ExclusiveStartKey=stored["LastEvaluatedKey"]
            )
            count += int(stored["Count"])
        seconds = max(r["seconds"] for r in results)
        return {
            "mode": mode,
            "messages": messages,
            "workers": workers,
            "seconds": round(seconds, 2),
            "per_second": round(messages / seconds, 1),
            "received": sum(r["received"] for r in results),
            "invocations": sum(r["invocations"] for r in results),
            "stored": count,
            # CPU per 1,000 messages while draining: steadier than wall time on a shared machine.
            "server_cpu_ms_per_1k": round(1e6 * server_cpu / messages),
            "workers_cpu_ms_per_1k": round(1e6 * sum(r["cpu"] for r in results) / messages),
            "load": round(load, 1),
        }
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="per-message,batched")
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for mode in args.modes.split(","):  # interleaved, so load changes hit both modes alike
            result = measure(mode, args.messages, args.workers)
            print(json.dumps({"repeat": repeat + 1, **result}), flush=True)
            runs.append(result)
            if result["stored"] != args.messages:
                print(f"error: {mode} stored {result['stored']} of {args.messages}", file=sys.stderr)
                return 1
    print(
        "\n| mode | messages | workers | msg/s (median) | runs (msg/s) | server CPU ms / 1k msgs | "
        "workers CPU ms / 1k msgs | CPU-bound msg/s on 2 idle cores | invocations | load (1 min) |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for mode in args.modes.split(","):
        mine = [r for r in runs if r["mode"] == mode]
        rates = [r["per_second"] for r in mine]
        print(
            f"| {mode} | {args.messages} | {args.workers} | {statistics.median(rates):,.0f} | "
            f"{', '.join(f'{x:,.0f}' for x in rates)} | "
            f"{statistics.median(r['server_cpu_ms_per_1k'] for r in mine):,.0f} | "
            f"{statistics.median(r['workers_cpu_ms_per_1k'] for r in mine):,.0f} | "
            f"{statistics.median(2e6 / (r['server_cpu_ms_per_1k'] + r['workers_cpu_ms_per_1k']) for r in mine):,.0f} | "
            f"{mine[-1]['invocations']} | "
            f"{', '.join(str(r['load']) for r in mine)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
