"""``python -m pipeline.moto_server PORT``: the local AWS APIs (moto server mode) on 127.0.0.1:PORT.

Runs in its own process so the Lambda handlers (in the pipeline's process) and the API server use separate cores,
with :mod:`pipeline.moto_speedups` applied. The local run starts two (:func:`pipeline.aws.start_moto`); the tests'
and the benches' servers are this one too. Stops on SIGTERM/SIGINT. State is in memory only.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from pipeline import moto_speedups
from pipeline.moto_http import MotoHTTPServer


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m pipeline.moto_server PORT", file=sys.stderr)
        return 2
    moto_speedups.apply()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = MotoHTTPServer(int(args[0]))
    server.start()
    print(f"moto server on 127.0.0.1:{args[0]}", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    code = main()
    # The state is in memory only, so there is nothing to tear down: tearing down a run's worth of moto objects
    # (thousands of messages and items) took ~0.7 s at exit, at the end of every local run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
