"""bench/serving.py's fixtures: the workload (model, payloads), the servers it starts and their load.

The workload is issue 18's: headerless CSV bodies of 1,000 rows of 20 numeric features, scored by an
XGBoost model of exactly 200 trees of depth 6, from 4 concurrent keep-alive clients.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
BENCH_VENV = REPO / ".venv-bench"
BENCH_REQUIREMENTS = REPO / "bench" / "requirements-serving.txt"
LOAD = REPO / "bench" / "serving_load.py"
N_FEATURES = 20
TREES = 200
DEPTH = 6
BATCH_ROWS = 1000
BATCH_CLIENTS = 4
SINGLE_CLIENTS = 8
# Exactly TREES trees of depth DEPTH: no early stopping.
HYPERPARAMETERS = {
    "target": "label",
    "num_round": str(TREES),
    "early_stopping_rounds": "0",
    "max_depth": str(DEPTH),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_bench_venv() -> Path:
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".requirements-serving.txt"
    wanted = BENCH_REQUIREMENTS.read_text()
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    log(f"Creating {BENCH_VENV} from {BENCH_REQUIREMENTS.name} (MLflow stays out of the project venv)")
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(BENCH_REQUIREMENTS)], check=True)
    marker.write_text(wanted)
    return python


def make_data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, N_FEATURES))
    signal_ = x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2 + 0.3 * x[:, 4:10].sum(axis=1)
    label = (signal_ + rng.normal(size=rows) > 0).astype(np.int64)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(N_FEATURES)])
    frame["label"] = label
    return frame


def train_model(root: Path, rows: int) -> dict[str, Any]:
    """bin/train on generated data, as a training job runs it."""
    channel = root / "input" / "data" / "train" / "dt=2026-01-01"
    channel.mkdir(parents=True)
    make_data(rows, seed=1).to_parquet(channel / "part-00000.snappy.parquet", index=False)
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    env = {**os.environ, "ESTEIRA_ML_ROOT": str(root)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "containers" / "model" / "bin" / "train")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"train failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    evaluation: dict[str, Any] = json.loads((root / "model" / "evaluation.json").read_text())
    evaluation["train_seconds"] = time.monotonic() - started
    return evaluation


def csv_text(rows: np.ndarray, header: bool, full_precision: bool = False) -> str:
    """Six decimals (`%.6f`), or with full_precision each value as repr() writes it (up to 17 digits, as pandas)."""
    lines = [",".join(repr(float(v)) if full_precision else f"{v:.6f}" for v in row) for row in rows]
    if header:
        lines.insert(0, ",".join(f"f{i}" for i in range(N_FEATURES)))
    return "\n".join(lines) + "\n"


def dataframe_split(rows: np.ndarray) -> str:
    rounded = np.round(rows, 6).tolist()
    return json.dumps({"dataframe_split": {"columns": [f"f{i}" for i in range(N_FEATURES)], "data": rounded}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")


class ServerProcess:
    """A server in its own session (process group), so its workers' CPU can be summed and all stopped."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as sink:
            self.process = subprocess.Popen(
                argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pgid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


def run_load(job: dict[str, Any]) -> dict[str, Any]:
    """bench/serving_load.py in its own process, so clients never share a GIL with a server."""
    result = subprocess.run(
        [sys.executable, str(LOAD)], input=json.dumps(job), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"load generator failed:\n{result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(result.stdout)
    if out["errors"]:
        raise SystemExit(f"load errors against port {job['port']}: {out['errors']}")
    return out
