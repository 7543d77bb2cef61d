"""Servers the tests start as processes of their own: `python -m <module> <port>` on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def module_server(module: str, start_timeout: float = 60.0) -> Iterator[str]:
    """Yields the server's base URL once it accepts connections; stops it on exit."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", module, str(port)], cwd=REPO_ROOT, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=1)):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not start on port {port}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
