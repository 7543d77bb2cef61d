"""Child processes the pipeline starts: each in its own session (process group), tracked, always stopped.

Every child gets ``ESTEIRA_PIPELINE_MARKER`` in its environment, which its own children (Spark's JVM, gunicorn's
workers) inherit, so "is anything we started still running?" has an exact answer: :func:`processes_with_marker`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

MARKER_ENV = "ESTEIRA_PIPELINE_MARKER"
STOP_GRACE_SECONDS = 5.0


class ChildFailedError(RuntimeError):
    """A child process exited non-zero or did not become ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_handle: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid


class Children:
    """Starts children in new sessions and stops them (SIGTERM to the group, then SIGKILL)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self._children: list[Child] = []
        self.started: list[dict[str, object]] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path,
        stdin: int = subprocess.DEVNULL,
    ) -> Child:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = log_path.open("ab")
        process = subprocess.Popen(
            list(argv),
            env={**env, MARKER_ENV: self.marker},
            cwd=cwd,
            stdin=stdin,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log_path, handle)
        self._children.append(child)
        self.started.append({"name": name, "pid": process.pid, "log": str(log_path)})
        return child

    def run(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path) -> None:
        """Start a child and wait for it; a non-zero exit raises with the log's tail."""
        child = self.start(name, argv, env, log_path, cwd)
        try:
            code = child.process.wait()
        finally:
            self.stop(child)
        if code != 0:
            raise ChildFailedError(f"{name} exited with {code}; last lines of {log_path}:\n{tail(log_path)}")

    def stop(self, child: Child) -> None:
        if child in self._children:
            self._stop([child])

    def stop_all(self) -> None:
        self._stop(list(reversed(self._children)))

    def _stop(self, children: list[Child]) -> None:
        # All groups are signalled together, then awaited together: stopping is as slow as the slowest child.
        _stop_groups([child.process for child in children])
        for child in children:
            child.log_handle.close()
            self._children.remove(child)
            for record in self.started:
                if record["pid"] == child.pid:
                    record["exit_code"] = child.process.returncode


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a reused id owned by someone else
        return False
    return True


def _running(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None or _group_alive(process.pid)  # start_new_session: the child leads its group


def _stop_groups(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each child's whole process group, wait, then SIGKILL whatever is left; reap the children."""
    for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, STOP_GRACE_SECONDS)):
        alive = [process for process in processes if _running(process)]
        if not alive:
            break
        for process in alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_running(process) for process in alive):
            time.sleep(0.05)
    for process in processes:
        process.poll()


def wait_for_http(
    url: str, child: Child, timeout: float, ok: Callable[[int], bool] = lambda status: status == 200
) -> None:
    """Poll ``url`` until it answers, failing early if the child dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise ChildFailedError(
                f"{child.name} exited with {child.process.returncode} before answering {url}:\n{tail(child.log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if ok(response.status):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise ChildFailedError(f"{child.name} did not answer {url} within {timeout:.0f} s:\n{tail(child.log_path)}")


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes (not zombies) whose environment carries ``MARKER_ENV=marker``."""
    wanted = f"{MARKER_ENV}={marker}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if wanted in environ.split(b"\0") and "State:\tZ" not in status:
            found.append(int(entry.name))
    return sorted(found)
