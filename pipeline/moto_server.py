"""``python -m pipeline.moto_server PORT [PORT ...]``: the local AWS APIs (moto server mode) on 127.0.0.1, one
server per port, each in a process of its own.

Separate processes, so that the Lambda handlers (in the pipeline's process) and the API servers use separate cores,
with :mod:`pipeline.moto_speedups` applied. The local run starts one with two ports (:func:`pipeline.aws.start_moto`:
DynamoDB on the second); the tests' and the benches' servers are this one too. State is in memory only.

Importing moto takes ~0.75 s of CPU (boto3, flask, werkzeug, moto's core; ~1.5 s before Python has written its
bytecode), once per process: so the process imports it once and then forks one server for each further port, before
any thread starts. Every server stops on SIGTERM/SIGINT (the caller signals the whole process group); the first port's
process also stops the others when it stops, and stops with an error when one of them ends first (a port already
taken, say).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from pipeline import moto_speedups
from pipeline.moto_http import MotoHTTPServer

USAGE = "usage: python -m pipeline.moto_server PORT [PORT ...]"
# How often the first server looks at the ones it forked, and how long they get to stop once told to.
WATCH_SECONDS = 0.2
STOP_GRACE_SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or not all(arg.isdigit() for arg in args):
        print(USAGE, file=sys.stderr)
        return 2
    ports = [int(arg) for arg in args]
    moto_speedups.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    forked: list[int] = []
    for port in ports[1:]:
        sys.stdout.flush()  # nothing buffered before the fork is written twice
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _exit(serve(port, []))
        forked.append(pid)
    return serve(ports[0], forked)


def serve(port: int, forked: list[int]) -> int:
    """Serve ``port`` until SIGTERM/SIGINT, or until one of the ``forked`` servers ends; then stop those."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server = MotoHTTPServer(port)
    except (OSError, SystemExit) as exc:  # werkzeug says why and exits (SystemExit) when the port is taken
        reason = f": {exc}" if isinstance(exc, OSError) else ""
        print(f"moto server: cannot listen on 127.0.0.1:{port}{reason}", file=sys.stderr, flush=True)
        _stop(forked)
        return 1
    server.start()
    print(f"moto server on 127.0.0.1:{port}", flush=True)
    code = 0
    try:
        while not stop.wait(WATCH_SECONDS if forked else None):
            ended = [pid for pid in forked if os.waitpid(pid, os.WNOHANG)[0] == pid]
            if ended:
                print(f"moto server: the server in process {ended[0]} ended; stopping", file=sys.stderr, flush=True)
                forked = [pid for pid in forked if pid not in ended]
                code = 1
                break
    finally:
        server.stop()
        _stop(forked)
    return code


def _stop(forked: list[int]) -> None:
    """SIGTERM each forked server, wait for it (SIGKILL after the grace period), and reap it."""
    for pid in forked:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for pid in forked:
        while os.waitpid(pid, os.WNOHANG)[0] != pid:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                break
            time.sleep(0.02)


def _exit(code: int) -> None:
    # The state is in memory only, so there is nothing to tear down: tearing down a run's worth of moto objects
    # (thousands of messages and items) took ~0.7 s at exit, at the end of every local run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
