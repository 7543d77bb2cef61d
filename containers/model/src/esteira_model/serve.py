"""`serve`: SageMaker's inference entry point. One worker process per core.

The default server is uvicorn (httptools parser, uvloop event loop) running the ASGI face of the
service, each worker with a 2-thread pool for batch bodies (app.ASGIApp) that it uses only while a core is
free, as the workers' shared core board shows (core_board); gunicorn with gthread
workers running the WSGI face is the alternative (ESTEIRA_SERVER=gunicorn). bench/serving.py
measures both: on the quiet 2-core machine (2026-12-06) uvicorn gave 467-477k batch rows/s in every
round against gunicorn's 414-460k, about 0.15 ms less CPU per 1,000-row request, 1.5-2.4x the
single-row requests/s and half the single-row p99. Its pool lets a worker handed more than its
share of the connections still use a second core (XGBoost's call releases the GIL), which is why
gunicorn won under uneven load before the pool existed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esteira_model.app import cpu_count, create_wsgi_app
from esteira_model.core_board import BOARD_ENV, create_board_file

DEFAULT_PORT = 8080
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
SERVER_ENV = "ESTEIRA_SERVER"
SERVERS = ("uvicorn", "gunicorn")


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def bind() -> tuple[str, int]:
    host = os.environ.get("ESTEIRA_BIND_HOST", "0.0.0.0")  # all interfaces: it runs in a container
    return host, _int_env(PORT_ENV, DEFAULT_PORT)


def workers() -> int:
    return _int_env("ESTEIRA_SERVER_WORKERS", 0) or cpu_count()


def log_level() -> str:
    return os.environ.get("ESTEIRA_SERVER_LOG_LEVEL", "info")


def keepalive_seconds() -> int:
    # SageMaker reuses connections between requests; outlive its idle timeout.
    return _int_env("ESTEIRA_SERVER_KEEPALIVE", 75)


def gunicorn_options() -> dict[str, Any]:
    host, port = bind()
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers(),
        "worker_class": "gthread",
        "threads": _int_env("ESTEIRA_SERVER_THREADS", 4),
        "timeout": _int_env("MODEL_SERVER_TIMEOUT", 60),
        "graceful_timeout": 20,
        "keepalive": keepalive_seconds(),
        "backlog": 2048,
        "errorlog": "-",
        "loglevel": log_level(),
        "accesslog": "-" if os.environ.get("ESTEIRA_SERVER_ACCESS_LOG") == "1" else None,
        "preload_app": False,  # each worker loads the model itself: no OpenMP state crosses a fork
        "proc_name": "esteira-model",
        "control_socket_disable": True,
    }
    if Path("/dev/shm").is_dir():
        options["worker_tmp_dir"] = "/dev/shm"
    return options


def run_gunicorn() -> None:
    from gunicorn.app.base import BaseApplication

    class ModelServer(BaseApplication):
        def __init__(self, options: dict[str, Any]) -> None:
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Callable[..., Any]:
            return create_wsgi_app()

    ModelServer(gunicorn_options()).run()


def run_uvicorn() -> None:
    host, port = bind()
    # Workers share a board of who is busy (core_board): a worker runs a batch body on its event loop when every
    # other core is taken. ESTEIRA_SHARE_CORES=0 leaves it out: every batch body then goes to the pool. A lone
    # worker needs none (it has no one to share with), and uvicorn ends it by raising the SIGTERM it caught, which
    # would skip the clean-up below.
    sharing = workers() > 1 and os.environ.get("ESTEIRA_SHARE_CORES", "1") != "0"
    os.environ.pop(BOARD_ENV, None)  # only a board made here: a worker writes into the file it names
    board: Path | None = None
    if sharing:
        try:
            board = create_board_file(workers())
        except OSError as err:  # a speed-up, never a reason not to serve
            print(f"No core board ({err}): every batch body goes to the thread pool", file=sys.stderr, flush=True)
    if board is not None:
        os.environ[BOARD_ENV] = str(board)  # the spawned workers inherit it
    try:
        _run_uvicorn(host, port)
    finally:
        if board is not None:
            board.unlink(missing_ok=True)


def _run_uvicorn(host: str, port: int) -> None:
    import uvicorn

    # Each worker is a fresh (spawned) interpreter that imports the factory and loads the model.
    uvicorn.run(
        "esteira_model.app:create_asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers(),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=os.environ.get("ESTEIRA_SERVER_ACCESS_LOG") == "1",
        log_level=log_level(),
        timeout_keep_alive=keepalive_seconds(),
        timeout_graceful_shutdown=20,
        backlog=2048,
        server_header=False,
    )


def main() -> int:
    server = os.environ.get(SERVER_ENV, SERVERS[0]).strip().lower()
    if server not in SERVERS:
        print(f"{SERVER_ENV} must be one of {SERVERS}, not {server!r}", file=sys.stderr)
        return 2
    host, port = bind()
    print(f"Starting {server} on {host}:{port} with {workers()} worker process(es)", file=sys.stderr, flush=True)
    if server == "uvicorn":
        run_uvicorn()
    else:
        run_gunicorn()
    return 0
