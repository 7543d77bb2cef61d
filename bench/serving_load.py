"""Load generator for bench/serving.py, run in its own process so it never shares a GIL with a server.

Reads one JSON job from stdin, prints one JSON result. Clients are threads on persistent HTTP/1.1
connections that send pre-built request bytes and parse only the status line and Content-Length,
so the client costs as little CPU as Python allows. Over the measured window it also reads the CPU
time it used itself and, when the job names the server's process group, the CPU time of every
process in that group (from /proc), so the result gives CPU per request, which a busy machine
distorts far less than throughput.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _request_bytes(host: str, port: int, body: bytes, content_type: str, accept: str) -> bytes:
    head = (
        f"POST /invocations HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Accept: {accept}\r\nContent-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        self.buffer = rest
        if chunked:
            return status, self._read_chunked()
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body

    def _read_chunked(self) -> bytes:
        out = []
        while True:
            while b"\r\n" not in self.buffer:
                self._fill()
            size_line, _, self.buffer = self.buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                self._fill()
            out.append(self.buffer[:size])
            self.buffer = self.buffer[size + 2 :]
            if size == 0:
                return b"".join(out)

    def close(self) -> None:
        self.sock.close()


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU seconds of every live process in a process group; None without /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    try:
        stats = [entry / "stat" for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return None
    for stat in stats:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[2]) == pgid:  # fields[2] is the process group; [11], [12] are utime, stime
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def run(job: dict[str, Any]) -> dict[str, Any]:
    host, port = job["host"], job["port"]
    bodies = [b.encode("latin-1") for b in job["bodies"]]
    requests = [_request_bytes(host, port, b, job["content_type"], job["accept"]) for b in bodies]
    clients, duration, warmup = job["clients"], job["duration"], job["warmup"]
    rows_per_request = job["rows_per_request"]
    expected_lines = job.get("expected_lines")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start_barrier = threading.Barrier(clients + 1)
    state = {"measure_from": 0.0, "stop_at": 0.0}

    def client(index: int) -> None:
        conn = Connection(host, port)
        mine = latencies[index]
        n = len(requests)
        i = index
        try:
            start_barrier.wait()
            while True:
                t0 = time.perf_counter()
                if t0 >= state["stop_at"]:
                    break
                status, body = conn.roundtrip(requests[i % n])
                t1 = time.perf_counter()
                if status != 200:
                    errors.append(f"status {status}: {body[:200]!r}")
                    break
                if expected_lines is not None and i < index + n and body.count(b"\n") != expected_lines:
                    got = body.count(b"\n")
                    errors.append(f"expected {expected_lines} lines, got {got}")
                    break
                if t0 >= state["measure_from"]:
                    mine.append(t1 - t0)
                i += clients
        except Exception as err:  # a load generator reports, never hides, a broken connection
            errors.append(repr(err))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    state["measure_from"] = now + warmup
    state["stop_at"] = now + warmup + duration
    start_barrier.wait()
    server_pgid = job.get("server_pgid")
    # CPU over the measured window only: requests that start inside it are the ones counted.
    time.sleep(max(0.0, state["measure_from"] - time.perf_counter()))
    own_before, server_before = time.process_time(), group_cpu_seconds(server_pgid) if server_pgid else None
    time.sleep(max(0.0, state["stop_at"] - time.perf_counter()))
    own_after, server_after = time.process_time(), group_cpu_seconds(server_pgid) if server_pgid else None
    for thread in threads:
        thread.join(timeout=warmup + duration + 120)
    all_latencies = sorted(x for per in latencies for x in per)
    count = len(all_latencies)

    def pct(q: float) -> float:
        return all_latencies[min(count - 1, int(q * count))] * 1000 if count else float("nan")

    per_request = 1000 / count if count else float("nan")
    server_cpu = (
        (server_after - server_before) * per_request
        if server_after is not None and server_before is not None
        else float("nan")
    )
    return {
        "requests": count,
        "client_cpu_ms": (own_after - own_before) * per_request,
        "server_cpu_ms": server_cpu,
        "requests_per_s": count / duration,
        "rows_per_s": count * rows_per_request / duration,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors[:5],
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.stdin.read()))))
