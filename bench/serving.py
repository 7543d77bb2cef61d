"""Serving benchmark: bin/serve against in-process predict and MLflow's `mlflow models serve`.

Run from the repository root with the project venv:  .venv/bin/python bench/serving.py
It trains the default model with bin/train on generated data (20 numeric features), starts each
server, drives /invocations from a separate load-generator process, prints a table with ratios and
records it, dated, in bench/README.md. MLflow lives in its own venv (.venv-bench), created from
bench/requirements-serving.txt when missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "containers" / "model" / "src"))

from esteira_model.predictor import Predictor  # noqa: E402

BENCH_VENV = REPO / ".venv-bench"
BENCH_REQUIREMENTS = REPO / "bench" / "requirements-serving.txt"
LOAD = REPO / "bench" / "serving_load.py"
README = REPO / "bench" / "README.md"
N_FEATURES = 20
BATCH_ROWS = 1000
BATCH_CLIENTS = 4
SINGLE_CLIENTS = 8
BEGIN, END = "<!-- serving:begin -->", "<!-- serving:end -->"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Setup


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
    channel = root / "input" / "data" / "train" / "dt=2026-01-01"
    channel.mkdir(parents=True)
    make_data(rows, seed=1).to_parquet(channel / "part-00000.snappy.parquet", index=False)
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps({"target": "label"}))
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
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, workdir: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as sink:
            self.process = subprocess.Popen(
                argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


# ---------------------------------------------------------------------------------------------
# Measurements


def csv_text(rows: np.ndarray, header: bool) -> str:
    lines = [",".join(f"{v:.6f}" for v in row) for row in rows]
    if header:
        lines.insert(0, ",".join(f"f{i}" for i in range(N_FEATURES)))
    return "\n".join(lines) + "\n"


def dataframe_split(rows: np.ndarray) -> str:
    rounded = np.round(rows, 6).tolist()
    return json.dumps({"dataframe_split": {"columns": [f"f{i}" for i in range(N_FEATURES)], "data": rounded}})


def run_load(job: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(LOAD)], input=json.dumps(job), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"load generator failed:\n{result.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(result.stdout)
    if out["errors"]:
        raise SystemExit(f"load errors against port {job['port']}: {out['errors']}")
    return out


def inprocess_batch(predictor: Predictor, batches: list[np.ndarray], duration: float) -> dict[str, float]:
    """One thread calling predict on 1,000-row batches, the booster using every core."""
    for batch in batches[:3]:
        predictor.predict(batch)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration:
        predictor.predict(batches[count % len(batches)])
        count += 1
    elapsed = time.perf_counter() - started
    return {"rows_per_s": count * BATCH_ROWS / elapsed}


def inprocess_single(predictor: Predictor, singles: list[np.ndarray], duration: float) -> dict[str, float]:
    """8 threads each predicting one row at a time, as 8 single-row clients would."""
    latencies: list[list[float]] = [[] for _ in range(SINGLE_CLIENTS)]
    stop_at = time.perf_counter() + duration

    def worker(index: int) -> None:
        mine = latencies[index]
        i = index
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            predictor.predict(singles[i % len(singles)])
            mine.append(time.perf_counter() - t0)
            i += SINGLE_CLIENTS

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(SINGLE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = sorted(x for per in latencies for x in per)
    return {
        "requests_per_s": len(flat) / duration,
        "p50_ms": flat[len(flat) // 2] * 1000,
        "p99_ms": flat[int(0.99 * len(flat))] * 1000,
    }


def median_of(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in rounds[0].items() if isinstance(v, (int, float))]
    return {k: statistics.median(r[k] for r in rounds) for k in keys}


# ---------------------------------------------------------------------------------------------
# Report


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _row(label: str, batch: dict[str, float] | None, single: dict[str, float] | None) -> str:
    cells = [fmt(batch["rows_per_s"]) if batch else ""]
    if single:
        cells += [fmt(single["requests_per_s"]), fmt(single["p50_ms"], 2), fmt(single["p99_ms"], 2)]
    else:
        cells += ["", "", ""]
    return f"| {label} | " + " | ".join(cells) + " |"


def build_report(results: dict[str, dict[str, float]], meta: dict[str, Any]) -> str:
    default = meta["default_server"]
    ours_b, ours_s = results[f"esteira {default} batch"], results[f"esteira {default} single"]
    inproc_all, inproc_one = results["in-process batch"], results["in-process batch 1t"]
    inproc_s, inproc_fast = results["in-process single"], results["in-process single fast"]
    limit = max(inproc_all["rows_per_s"], inproc_one["rows_per_s"])
    mlflow_modes = [m for m in ("mlflow csv", "mlflow json") if f"{m} batch" in results]
    lines = [
        f"Measured {meta['date']} on {meta['machine']}, {meta['cores']} cores, shared machine "
        f"(load average {meta['load_before']:.1f} before, {meta['load_after']:.1f} after); "
        f"median of {meta['rounds']} interleaved rounds of {meta['duration']:g} s each. "
        f"Model: default hyperparameters, {meta['trees']} trees after early stopping, {N_FEATURES} features, "
        f"trained on {meta['train_rows']:,} generated rows. Servers use {meta['workers']} worker processes; "
        f"MLflow {meta['mlflow_version']} is `mlflow models serve --env-manager local -w {meta['workers']}`. "
        "Clients run in a separate process on persistent connections.",
        "",
        f"| what | batch rows/s ({BATCH_CLIENTS} clients x {BATCH_ROWS:,}-row CSV) "
        f"| single-row req/s ({SINGLE_CLIENTS} clients) | single p50 ms | single p99 ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        _row("in-process `inplace_predict`, all cores / 8 threads", inproc_all, inproc_s),
        _row("in-process `inplace_predict`, 1 thread", inproc_one, None),
        _row("in-process lean C call (what `serve` uses), 8 threads", None, inproc_fast),
    ]
    for kind in meta["servers"]:
        label = f"esteira `serve`, {kind}" + (" (default)" if kind == default else "")
        lines.append(_row(label, results[f"esteira {kind} batch"], results[f"esteira {kind} single"]))
    for mode in mlflow_modes:
        label = "MLflow, CSV with header" if mode == "mlflow csv" else "MLflow, JSON dataframe_split"
        lines.append(_row(label, results[f"{mode} batch"], results[f"{mode} single"]))
    lines += ["", "| ratio (default server) | measured | target | met |", "| --- | ---: | --- | --- |"]

    def check(name: str, value: float, target: str, met: bool | None, unit: str = "x") -> None:
        verdict = "" if met is None else ("yes" if met else "**no**")
        shown = f"{value:.2f}x" if unit == "x" else f"{value:+.2f} ms"
        lines.append(f"| {name} | {shown} | {target} | {verdict} |")

    ratio = ours_b["rows_per_s"] / limit
    check("batch rows/s vs in-process (best of all cores, 1 thread)", ratio, ">= 0.8x", ratio >= 0.8)
    if mlflow_modes:
        best_b = max(results[f"{m} batch"]["rows_per_s"] for m in mlflow_modes)
        best_s = max(results[f"{m} single"]["requests_per_s"] for m in mlflow_modes)
        check(
            "batch rows/s vs MLflow's best mode",
            ours_b["rows_per_s"] / best_b,
            ">= 2x",
            ours_b["rows_per_s"] >= 2 * best_b,
        )
        check(
            "single-row req/s vs MLflow's best mode",
            ours_s["requests_per_s"] / best_s,
            ">= 10x",
            ours_s["requests_per_s"] >= 10 * best_s,
        )
    gap = ours_s["p99_ms"] - inproc_s["p99_ms"]
    check("single-row p99 minus in-process 8-thread p99", gap, "<= +5 ms", gap <= 5, unit="ms")
    ratio_s = ours_s["requests_per_s"] / inproc_fast["requests_per_s"]
    check("single-row req/s vs in-process lean call, 8 threads", ratio_s, "(reference)", None)
    return "\n".join(lines) + "\n"


def record(report: str) -> None:
    section = f"## Serving (`make bench-serving`)\n\n{BEGIN}\n{report}{END}\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + BEGIN + "\n" + report + END + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--servers", default="gunicorn,uvicorn", help="ESTEIRA_SERVER values to measure; the first is the default"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/README.md alone")
    args = parser.parse_args()

    bench_python = None if args.skip_mlflow else ensure_bench_venv()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="esteira-bench-serving-"))
    root = workdir / "ml"
    log(f"Training the default model on {args.train_rows:,} generated rows in {root}")
    evaluation = train_model(root, args.train_rows)
    model_dir = root / "model"
    predictor_all = Predictor.load(model_dir, nthread=0)
    predictor_one = Predictor.load(model_dir, nthread=1)
    predictor_fast = Predictor.load(model_dir, nthread=1)
    if not predictor_fast.enable_fast_path():
        log("The lean predict path is disabled for this XGBoost; the fast in-process row equals the other")
    trees = predictor_all.booster.num_boosted_rounds()
    log(f"Model: {trees} trees, validation auc {evaluation['validation']['auc']:.4f}")

    rng = np.random.default_rng(2)
    pool = make_data(20 * BATCH_ROWS, seed=3)[[f"f{i}" for i in range(N_FEATURES)]].to_numpy()
    pool = np.round(pool, 6)  # what the CSV bodies carry
    batches = [pool[i * BATCH_ROWS : (i + 1) * BATCH_ROWS] for i in range(20)]
    singles = [pool[i : i + 1] for i in rng.integers(0, len(pool), 500)]

    workers = len(os.sched_getaffinity(0))
    servers: list[ServerProcess] = []
    targets: dict[str, tuple[int, dict[str, dict[str, Any]]]] = {}
    try:
        for server_kind in args.servers.split(","):
            port = free_port()
            env = {
                **os.environ,
                "ESTEIRA_ML_ROOT": str(root),
                "SAGEMAKER_BIND_TO_PORT": str(port),
                "ESTEIRA_BIND_HOST": "127.0.0.1",
                "ESTEIRA_SERVER_LOG_LEVEL": "warning",
                "ESTEIRA_SERVER": server_kind,
                "OPENBLAS_NUM_THREADS": "1",  # as containers/model/Dockerfile sets it
            }
            ours = ServerProcess(
                f"esteira-{server_kind}",
                [sys.executable, str(REPO / "containers" / "model" / "bin" / "serve")],
                env,
                port,
                workdir,
            )
            servers.append(ours)
            wait_ready(f"http://127.0.0.1:{port}/ping", ours.process, ours.log_path)
            targets[f"esteira {server_kind}"] = (
                port,
                {
                    "batch": {"bodies": [csv_text(b, False) for b in batches], "content_type": "text/csv"},
                    "single": {"bodies": [csv_text(s, False) for s in singles], "content_type": "text/csv"},
                },
            )
        mlflow_version = "not run"
        if bench_python is not None:
            mlflow_dir = workdir / "mlflow-model"
            subprocess.run(
                [
                    str(bench_python),
                    str(REPO / "bench" / "serving_mlflow_model.py"),
                    str(model_dir / "xgboost-model.ubj"),
                    str(mlflow_dir),
                    str(N_FEATURES),
                ],
                check=True,
                capture_output=True,
            )
            mlflow_version = subprocess.run(
                [str(bench_python), "-c", "import mlflow; print(mlflow.__version__)"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            mport = free_port()
            mlflow_bin = str(BENCH_VENV / "bin" / "mlflow")
            menv = {
                **os.environ,
                "PATH": f"{BENCH_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                "MLFLOW_TRACKING_URI": f"file://{workdir / 'mlruns'}",
                "OPENBLAS_NUM_THREADS": "1",
            }
            mserver = ServerProcess(
                "mlflow",
                [
                    mlflow_bin,
                    "models",
                    "serve",
                    "-m",
                    str(mlflow_dir),
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(mport),
                    "-w",
                    str(workers),
                ],
                menv,
                mport,
                workdir,
            )
            servers.append(mserver)
            wait_ready(f"http://127.0.0.1:{mport}/ping", mserver.process, mserver.log_path)
            targets["mlflow csv"] = (
                mport,
                {
                    "batch": {"bodies": [csv_text(b, True) for b in batches], "content_type": "text/csv"},
                    "single": {"bodies": [csv_text(s, True) for s in singles], "content_type": "text/csv"},
                },
            )
            targets["mlflow json"] = (
                mport,
                {
                    "batch": {"bodies": [dataframe_split(b) for b in batches], "content_type": "application/json"},
                    "single": {"bodies": [dataframe_split(s) for s in singles], "content_type": "application/json"},
                },
            )

        rounds: dict[str, list[dict[str, Any]]] = {}
        for round_index in range(args.rounds):
            log(f"Round {round_index + 1}/{args.rounds}")
            measure: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("in-process batch", lambda: inprocess_batch(predictor_all, batches, args.duration)),
                ("in-process batch 1t", lambda: inprocess_batch(predictor_one, batches, args.duration)),
                ("in-process single", lambda: inprocess_single(predictor_one, singles, args.duration)),
                ("in-process single fast", lambda: inprocess_single(predictor_fast, singles, args.duration)),
            ]
            for name, (target_port, modes) in targets.items():
                for kind, clients, rows_per_request in (
                    ("batch", BATCH_CLIENTS, BATCH_ROWS),
                    ("single", SINGLE_CLIENTS, 1),
                ):
                    job = {
                        "host": "127.0.0.1",
                        "port": target_port,
                        "accept": "text/csv" if name.startswith("esteira") else "application/json",
                        "clients": clients,
                        "duration": args.duration,
                        "warmup": args.warmup,
                        "rows_per_request": rows_per_request,
                        "expected_lines": BATCH_ROWS if (name.startswith("esteira") and kind == "batch") else None,
                        **modes[kind],
                    }
                    measure.append((f"{name} {kind}", functools.partial(run_load, job)))
            for label, fn in measure:
                result = fn()
                rounds.setdefault(label, []).append(result)
                log(f"  {label}: " + ", ".join(f"{k}={v:,.3f}" for k, v in result.items() if isinstance(v, float)))
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    results = {label: median_of(values) for label, values in rounds.items()}
    meta = {
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "default_server": args.servers.split(",")[0],
        "servers": args.servers.split(","),
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "cores": workers,
        "rounds": args.rounds,
        "duration": args.duration,
        "trees": trees,
        "train_rows": args.train_rows,
        "workers": workers,
        "mlflow_version": mlflow_version,
    }
    report = build_report(results, meta)
    print(report)
    if not args.no_record:
        record(report)
        log(f"Recorded in {README.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
