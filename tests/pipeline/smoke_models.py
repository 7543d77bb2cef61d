"""Small models of each task for the smoke test's tests: trained by the real ``bin/train`` on train, validation
and holdout channels, with the holdout written as a dataset run's ``holdout/`` split (Parquet part files and
Spark's marker files), and served by the real ``bin/serve``, behind :class:`RuntimeAdapter` (SageMaker Runtime's
InvokeEndpoint)."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pandas as pd

from esteira_model.schema import EVALUATION_FILENAME
from tests.containers.model.helpers import TRAIN_BIN, MLRoot, make_frame, run_bin

OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}
# Each task's gate metric, as a config's training.gate.metric would name it.
GATE_METRICS = {"binary": "auc", "multiclass": "accuracy", "regression": "r2"}
SPLITS = ("train", "validation", "holdout")
REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class TaskModel:
    task: str
    root: MLRoot
    holdout: pd.DataFrame  # the dataset run's holdout rows (key, features, label)
    dataset_dir: Path  # a local dataset run: <dataset_dir>/holdout/part-*.parquet

    @property
    def model_dir(self) -> Path:
        return self.root.model_dir

    @property
    def evaluation(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.model_dir / EVALUATION_FILENAME).read_text())
        return loaded

    def holdout_metric(self, metric: str) -> float:
        """What train measured on the holdout channel, with the same metric code."""
        return float(self.evaluation["holdout"][metric])


def write_split(folder: Path, frame: pd.DataFrame, parts: int = 2) -> None:
    """A dataset job split: Spark part files plus a _SUCCESS marker and a checksum file (both skipped)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(frame) // parts)
    for index in range(parts):
        chunk = frame.iloc[index * size : (index + 1) * size]
        chunk.to_parquet(folder / f"part-{index:05d}-abc.snappy.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000-abc.snappy.parquet.crc").write_bytes(b"crc")


def train_task_model(base: Path, task: str, num_round: int = 15) -> TaskModel:
    frames = {split: make_frame(400, seed=60 + offset, task=task) for offset, split in enumerate(SPLITS)}
    root = MLRoot(base / "ml")
    for split, frame in frames.items():
        root.write_parquet_tree(split, frame, parts=2)
    root.write_hyperparameters(
        {"objective": OBJECTIVES[task], "drop_columns": "customer_id", "num_round": str(num_round)}
    )
    result = run_bin(TRAIN_BIN, root.root)
    assert result.returncode == 0, result.stderr
    dataset_dir = base / "datasets" / f"run_id=smoke-{task}"
    write_split(dataset_dir / "holdout", frames["holdout"])
    return TaskModel(task, root, frames["holdout"], dataset_dir)


class RuntimeAdapter(ThreadingHTTPServer):
    """SageMaker Runtime's InvokeEndpoint in front of model servers: endpoint name -> server port."""

    daemon_threads = True

    def __init__(self, endpoints: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.endpoints = endpoints
        self.invocations = 0


class RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        adapter = cast(RuntimeAdapter, self.server)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        match = re.fullmatch(r"/endpoints/([^/]+)/invocations", self.path)
        name = match.group(1) if match else self.path
        port = adapter.endpoints.get(name)
        if port is None:
            message = f"Endpoint {name} of account {ACCOUNT} not found."
            self._answer(400, {"message": message}, error_type="ValidationError")
            return
        headers = {"Content-Type": self.headers["Content-Type"], "Accept": self.headers["Accept"]}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        adapter.invocations += 1
        if response.status == 200:
            self.send_response(200)
            self.send_header("Content-Type", response.getheader("Content-Type", "text/csv"))
            self.send_header("x-Amzn-Invoked-Production-Variant", "champion")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        text = payload.decode(errors="replace")
        self._answer(
            424,
            {
                "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
                "LogStreamArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
                "Message": f'Received client error ({response.status}) from primary with message "{text}".',
                "OriginalMessage": text,
                "OriginalStatusCode": response.status,
            },
            error_type="ModelError",
        )

    def _answer(self, status: int, document: dict[str, Any], error_type: str) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
