"""One warm local Glue runner per test session, which the local runs the tests start reach with ``--glue-runner``.

It is ``pipeline.glue_runner``'s own socket server (``serve_connections``: the requests, their checks, one job at a
time, each job in exactly its run's environment and in a fresh session), hosted on a thread of the test worker, over
the session's SparkContext (tests/spark_session.py). So the local runs' jobs share the JVM the Spark tests have
already warmed, instead of starting one of their own (``python -m pipeline.glue_runner --listen``, as ``make
glue-runner`` does, which tests/pipeline/test_glue_runner.py runs). tests/conftest.py keeps the Spark tests and the
local runs in one group, on one worker: the worker's tests run one at a time, so a job never runs beside a Spark test,
and while a job swaps the process's environment the test that asked for it only waits for its run.

The Ctrl-C test keeps a runner of the run's own: it checks that the run stops every process it started.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.glue_runner import listen_on, serve_connections

STOP_SECONDS = 60.0


class RunnerFailedError(RuntimeError):
    """The runner failed, or did not stop cleanly."""


@dataclass
class HostedGlueRunner:
    socket_path: Path
    thread: threading.Thread
    stopping: threading.Event
    errors: list[BaseException] = field(default_factory=list)

    @classmethod
    def start(cls, spark: Any, folder: Path) -> HostedGlueRunner:
        socket_path = folder / "glue.sock"
        listener = listen_on(socket_path)  # listening before start() returns: a run may connect at once
        stopping = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                serve_connections(spark, listener, socket_path, stopping)
            except BaseException as error:  # reported by stop(), in the test session's teardown
                errors.append(error)

        thread = threading.Thread(target=serve, name="local-glue-runner", daemon=True)
        thread.start()
        return cls(socket_path, thread, stopping, errors)

    def stop(self) -> None:
        """The runner finishes the job it runs, stops listening and removes its socket, or this raises."""
        self.stopping.set()
        self.thread.join(timeout=STOP_SECONDS)
        if self.thread.is_alive() or self.errors or self.socket_path.exists():
            raise RunnerFailedError(
                f"the hosted Glue runner did not stop cleanly: running {self.thread.is_alive()}, "
                f"socket left {self.socket_path.exists()}, errors {self.errors!r}"
            )
