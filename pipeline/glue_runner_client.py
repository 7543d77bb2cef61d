"""The pipeline's side of the local Glue runner (:mod:`pipeline.glue_runner`): a runner of the run's own (a tracked
child, requests on its stdin), or one that listens on a socket for many runs (``--glue-runner``, ``make glue-runner``).
Both run one job at a time and raise :class:`ChildFailedError` with the job's last log lines when it fails."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.processes import ChildFailedError, tail

# How often a waiting stage says that its job is still running.
WAIT_REPORT_SECONDS = 15.0
OnWait = Callable[[float], None]


def _failed(job: str, outcome: dict[str, Any], log_path: Path) -> Exception | None:
    if outcome.get("ok"):
        return None
    return ChildFailedError(f"{job} failed: {outcome.get('error')}; last lines of {log_path}:\n{tail(log_path, 15)}")


class GlueRunner:
    """The pipeline's side: the runner process (a tracked child) and one job at a time through it."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, requests: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.requests = requests
        self._stdin: IO[bytes] | None = process.stdin
        self.jobs = 0

    def run(self, job: str, argv: list[str], env: dict[str, str], log_path: Path, on_wait: OnWait) -> None:
        """Run one job and wait for it; a failure raises with the job's and the runner's last log lines."""
        if self._stdin is None or self.process.poll() is not None:
            raise ChildFailedError(f"the local Glue runner is not running:\n{tail(self.log_path, 15)}")
        self.jobs += 1
        result = self.requests / f"{self.jobs:02d}-{job}.result.json"
        result.unlink(missing_ok=True)
        request = {"job": job, "argv": argv, "env": env, "log": str(log_path), "result": str(result)}
        self._stdin.write(json.dumps(request).encode() + b"\n")
        self._stdin.flush()
        started = last = time.monotonic()
        while not result.exists():
            if self.process.poll() is not None:
                raise ChildFailedError(
                    f"the local Glue runner exited with {self.process.returncode} during {job}; "
                    f"last lines of {log_path}:\n{tail(log_path, 15)}\n{self.log_path}:\n{tail(self.log_path, 15)}"
                )
            time.sleep(0.1)
            if time.monotonic() - last >= WAIT_REPORT_SECONDS:
                last = time.monotonic()
                on_wait(time.monotonic() - started)
        failure = _failed(job, json.loads(result.read_text()), log_path)
        if failure is not None:
            raise failure

    def finish(self) -> None:
        """End of input: the runner stops Spark and exits."""
        if self._stdin is not None:
            with contextlib.suppress(OSError):  # a runner that already died closed its end
                self._stdin.close()
            self._stdin = None


@dataclass(frozen=True)
class AttachedGlueRunner:
    """The pipeline's side of a runner that listens (``--glue-runner``): one connection per job. The runner is not
    the run's process: the run neither starts nor stops it."""

    socket_path: Path

    def run(self, job: str, argv: list[str], env: dict[str, str], log_path: Path, on_wait: OnWait) -> None:
        request = {"job": job, "argv": argv, "env": env, "log": str(log_path)}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            try:
                connection.connect(str(self.socket_path))
            except OSError as exc:
                raise ChildFailedError(
                    f"no local Glue runner answers at {self.socket_path} ({exc}): start one with `make glue-runner`"
                ) from exc
            connection.sendall(json.dumps(request).encode() + b"\n")
            connection.settimeout(WAIT_REPORT_SECONDS)
            answer, started = b"", time.monotonic()
            while not answer.endswith(b"\n"):
                try:
                    chunk = connection.recv(1 << 16)
                except TimeoutError:
                    on_wait(time.monotonic() - started)
                    continue
                if not chunk:
                    raise ChildFailedError(
                        f"the local Glue runner at {self.socket_path} closed the connection during {job} without an "
                        "answer: see its own output"
                    )
                answer += chunk
        failure = _failed(job, json.loads(answer), log_path)
        if failure is not None:
            raise failure

    def finish(self) -> None:
        """Nothing to stop: the runner serves the next run."""
