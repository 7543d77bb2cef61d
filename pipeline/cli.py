"""``python -m pipeline``: parse the options, stop children on signals, run the stages, print the report."""

from __future__ import annotations

import os
import signal
from types import FrameType

from pipeline.options import parse_args
from pipeline.runner import Pipeline


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    os.environ.pop("SOURCE_URL", None)  # it may hold a password: children (Spark, servers) never see it
    # Ctrl-C raises KeyboardInterrupt even when the parent left SIGINT ignored (Python keeps an inherited SIG_IGN):
    # the run must always be stoppable, and stop its children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)
    return Pipeline(options).run()
