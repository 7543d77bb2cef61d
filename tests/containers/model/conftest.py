from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.containers.model.helpers import SERVE_BIN, TRAIN_BIN, MLRoot, make_frame, run_bin


@pytest.fixture
def ml_root(tmp_path: Path) -> MLRoot:
    return MLRoot(tmp_path / "ml")


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory) -> MLRoot:
    """One binary model trained by bin/train, shared by the serving tests."""
    root = MLRoot(tmp_path_factory.mktemp("trained") / "ml")
    root.write_parquet_tree("train", make_frame(1200, seed=7))
    root.write_hyperparameters({"target": "label", "drop_columns": "customer_id", "num_round": "40"})
    result = run_bin(TRAIN_BIN, root.root)
    assert result.returncode == 0, result.stderr
    return root


@dataclass(frozen=True)
class TrainedTask:
    root: MLRoot
    stdout: str


@pytest.fixture(scope="session")
def trained_task(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], TrainedTask]:
    """bin/train once per task on make_frame(600, seed=3, task), the objective given as a string hyperparameter;
    shared by the tests that read such a model (tests only read its files)."""
    objectives = {"multiclass": "multi:softprob", "regression": "reg:squarederror"}
    cache: dict[str, TrainedTask] = {}

    def get(task: str) -> TrainedTask:
        if task not in cache:
            root = MLRoot(tmp_path_factory.mktemp(f"trained-{task}") / "ml")
            root.write_parquet_tree("train", make_frame(600, seed=3, task=task))
            root.write_hyperparameters(
                {"objective": objectives[task], "drop_columns": "customer_id", "num_round": "15"}
            )
            result = run_bin(TRAIN_BIN, root.root)
            assert result.returncode == 0, result.stderr
            cache[task] = TrainedTask(root, result.stdout)
        return cache[task]

    return get


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(root: MLRoot, log: Path, extra_env: dict[str, str] | None = None) -> Server:
    port = _free_port()
    workers = int((extra_env or {}).get("ESTEIRA_SERVER_WORKERS", "2"))
    env = {
        **os.environ,
        "ESTEIRA_ML_ROOT": str(root.root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "ESTEIRA_BIND_HOST": "127.0.0.1",
        "ESTEIRA_SERVER_WORKERS": str(workers),
        **(extra_env or {}),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, str(SERVE_BIN)], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server("127.0.0.1", port, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{server.log_text()}")
        try:
            with urllib.request.urlopen(server.url("/ping"), timeout=1) as response:
                # Healthy, and every worker has loaded the model (so worker counts are stable).
                if response.status == 200 and server.log_text().count("Model loaded") >= workers:
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise AssertionError(f"serve did not answer /ping within 30 s:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    """Kill the whole process group: the gunicorn arbiter and its workers."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session", params=["gunicorn", "uvicorn"])
def server(
    request: pytest.FixtureRequest, trained_root: MLRoot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """bin/serve with each supported server (ESTEIRA_SERVER); uvicorn is the default."""
    log = tmp_path_factory.mktemp(f"serve-{request.param}") / "serve.log"
    running = start_server(trained_root, log, {"ESTEIRA_SERVER": request.param})
    try:
        yield running
    finally:
        stop_server(running)
