"""`serve`: SageMaker's inference entry point. Gunicorn, one worker process per core."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from esteira_model.app import cpu_count, create_app

DEFAULT_PORT = 8080
PORT_ENV = "SAGEMAKER_BIND_TO_PORT"


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def server_options() -> dict[str, Any]:
    """Gunicorn settings; every knob has an environment variable (see containers/model/README.md)."""
    port = _int_env(PORT_ENV, DEFAULT_PORT)
    host = os.environ.get("ESTEIRA_BIND_HOST", "0.0.0.0")
    workers = _int_env("ESTEIRA_SERVER_WORKERS", 0) or cpu_count()
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": os.environ.get("ESTEIRA_SERVER_WORKER_CLASS", "gthread"),
        "threads": _int_env("ESTEIRA_SERVER_THREADS", 4),
        "timeout": _int_env("MODEL_SERVER_TIMEOUT", 60),
        "graceful_timeout": 20,
        # SageMaker keeps connections open between requests; outlive its idle timeout.
        "keepalive": _int_env("ESTEIRA_SERVER_KEEPALIVE", 75),
        "backlog": 2048,
        "errorlog": "-",
        "loglevel": os.environ.get("ESTEIRA_SERVER_LOG_LEVEL", "info"),
        "accesslog": "-" if os.environ.get("ESTEIRA_SERVER_ACCESS_LOG") == "1" else None,
        "preload_app": False,  # each worker loads the model itself: no OpenMP state crosses a fork
        "proc_name": "esteira-model",
        "control_socket_disable": True,
    }
    if Path("/dev/shm").is_dir():
        options["worker_tmp_dir"] = "/dev/shm"
    return options


class ModelServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[..., Any]:
        return create_app()


def main() -> int:
    options = server_options()
    print(
        f"Starting gunicorn on {options['bind']} with {options['workers']} {options['worker_class']} "
        f"worker(s) x {options['threads']} thread(s)",
        file=sys.stderr,
        flush=True,
    )
    ModelServer(options).run()
    return 0
