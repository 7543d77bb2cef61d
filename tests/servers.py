"""Servers the tests start as processes of their own: ``<module>.main([port])`` on a free loopback port, as
``python -m <module> <port>`` runs it.

Each is forked from the worker's multiprocessing fork server, which has imported the modules below once: a moto
server started with ``python -m`` spent ~0.75 s of CPU importing moto (with bytecode; ~1.5 s without) and ~0.7 s
more on its first calls to the services the tests use; forked, each starts with that done (six modules that start
servers: 26.0 and 24.0 -> 24.0 and 19.9 s of CPU, interleaved).
``tests/pipeline/test_moto_server.py`` runs the module itself, as the local run starts it.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
# What the fork server imports before it forks any server: the servers' modules, and the moto services the tests call
# (moto imports a service's backend, responses and URL map on its first request for it).
PRELOADED = (
    "tests.servers",
    "pipeline.moto_server",
    *(
        f"moto.{service}.urls"
        for service in ("s3", "sqs", "dynamodb", "sagemaker", "secretsmanager", "sts", "cloudwatch", "stepfunctions")
    ),
)
STOP_GRACE_SECONDS = 10.0


def _forkserver() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))  # read when the fork server starts: on the first server
    return context


def _serve(module: str, port: int, environment: dict[str, str]) -> None:
    """In the forked process: what ``python -m <module> <port>`` does, in a session of its own, with the caller's
    environment (not the fork server's, which is the one it was started with), output discarded."""
    os.setsid()
    os.environ.clear()
    os.environ.update(environment)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.chdir(REPO_ROOT)
    code = importlib.import_module(module).main([str(port)])
    sys.stderr.flush()
    os._exit(code)  # as the module's __main__ does: nothing of the server's in-memory state to tear down


@contextlib.contextmanager
def module_server(module: str, start_timeout: float = 60.0) -> Iterator[str]:
    """Yields the server's base URL once it accepts connections; stops it on exit."""
    port = free_port()
    server = _forkserver().Process(target=_serve, args=(module, port, dict(os.environ)), name=f"{module}:{port}")
    server.start()
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with contextlib.closing(socket.create_connection(("127.0.0.1", port), timeout=1)):
                    break
            except OSError:
                if not server.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not start on port {port}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.join(STOP_GRACE_SECONDS)
        if server.is_alive():
            server.kill()
            server.join()
