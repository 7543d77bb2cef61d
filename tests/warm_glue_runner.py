"""One warm local Glue runner per test session (`python -m pipeline.glue_runner --listen`, as `make glue-runner`
starts it), which the local runs the tests start reach with ``--glue-runner``: Spark starts once for all of them instead
of once a run (those tests alone: 133 -> 92 s of CPU). tests/conftest.py keeps those tests in one group, on one worker.

The Ctrl-C test keeps a runner of the run's own: it checks that the run stops every process it started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.processes import tail

REPO = Path(__file__).resolve().parents[1]
READY_SECONDS = 180.0
STOP_SECONDS = 60.0


class RunnerFailedError(RuntimeError):
    """The runner did not start, or did not stop cleanly."""


@dataclass
class WarmGlueRunner:
    process: subprocess.Popen[bytes]
    socket_path: Path
    log_path: Path

    @classmethod
    def start(cls, folder: Path) -> WarmGlueRunner:
        socket_path, log_path = folder / "glue.sock", folder / "glue-runner.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pipeline.glue_runner", "--listen", str(socket_path)],
                cwd=REPO,
                env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        runner = cls(process, socket_path, log_path)
        deadline = time.monotonic() + READY_SECONDS
        while "listening on" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                runner.kill()
                raise RunnerFailedError(f"the local Glue runner did not start:\n{runner.log_tail()}")
            time.sleep(0.1)
        return runner

    def log_tail(self) -> str:
        return tail(self.log_path, 30)

    def stop(self) -> None:
        """End of input: the runner stops Spark, removes its socket and exits 0, or this raises."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            code = self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RunnerFailedError(
                f"the local Glue runner did not stop at the end of its input:\n{self.log_tail()}"
            ) from None
        if code != 0 or self.socket_path.exists():
            raise RunnerFailedError(
                f"the local Glue runner exited with {code}, socket left: {self.socket_path.exists()}\n{self.log_tail()}"
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
