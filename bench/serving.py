"""Serving benchmark: bin/serve against in-process predict and MLflow's `mlflow models serve`.

Run from the repository root with the project venv:  .venv/bin/python bench/serving.py
The workload is issue 18's (bench/serving_setup.py): bin/train fits exactly 200 trees of depth 6 on
generated data (20 numeric features); 4 clients on keep-alive connections send headerless CSV bodies
of 1,000 rows. Each server is started, driven from a separate load-generator process, and measured in
interleaved rounds against in-process predict on the same, already parsed, rows. It prints tables with
the ratios, round by round with the machine's load, and records them, dated, in bench/README.md.
MLflow lives in its own venv (.venv-bench), created from bench/requirements-serving.txt when missing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "containers" / "model" / "src"),
]

from bench.serving_load import group_cpu_seconds  # noqa: E402
from bench.serving_report import README, build_report, inprocess_best, median_of, record  # noqa: E402
from bench.serving_setup import (  # noqa: E402
    BATCH_CLIENTS,
    BATCH_ROWS,
    BENCH_VENV,
    DEPTH,
    N_FEATURES,
    REPO,
    SINGLE_CLIENTS,
    TREES,
    ServerProcess,
    csv_text,
    dataframe_split,
    ensure_bench_venv,
    free_port,
    log,
    make_data,
    run_load,
    train_model,
    wait_ready,
)
from esteira_model.predictor import Predictor  # noqa: E402
from esteira_model.serve import gunicorn_options  # noqa: E402

# ---------------------------------------------------------------------------------------------
# In-process references


def inprocess_batch(predictor: Predictor, batches: list[np.ndarray], duration: float) -> dict[str, float]:
    """One thread calling XGBoost's inplace_predict on 1,000-row float64 batches, as a user would."""
    booster = predictor.booster
    for batch in batches[:3]:
        booster.inplace_predict(batch)
    count = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    while time.perf_counter() - started < duration:
        booster.inplace_predict(batches[count % len(batches)])
        count += 1
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"rows_per_s": count * BATCH_ROWS / elapsed, "cpu_ms": cpu * 1000 / count}


def _predict_process(model_dir: Path, duration: float, ready: Any, results: Any) -> None:
    """One of `inprocess_per_core`'s processes: load the model, wait for the others, predict."""
    predictor = Predictor.load(model_dir, nthread=1)
    pool = np.round(make_data(20 * BATCH_ROWS, seed=3)[[f"f{i}" for i in range(N_FEATURES)]].to_numpy(), 6)
    batches = [np.ascontiguousarray(pool[i * BATCH_ROWS : (i + 1) * BATCH_ROWS]) for i in range(20)]
    ready.wait()
    results.put(inprocess_batch(predictor, batches, duration))


def inprocess_per_core(model_dir: Path, processes: int, duration: float) -> dict[str, float]:
    """One process per core, each predicting with one thread: all the machine can predict, with no
    OpenMP barrier to stall on when another program takes a core."""
    context = multiprocessing.get_context("spawn")  # no OpenMP state crosses a fork
    ready = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(target=_predict_process, args=(model_dir, duration, ready, results)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=duration + 300) for _ in children]
    for child in children:
        child.join(timeout=60)
    return {
        "rows_per_s": sum(o["rows_per_s"] for o in outcomes),
        "cpu_ms": statistics.mean(o["cpu_ms"] for o in outcomes),
    }


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


# ---------------------------------------------------------------------------------------------
# Servers

Modes = dict[str, dict[str, Any]]


def csv_modes(batches: list[np.ndarray], singles: list[np.ndarray], header: bool, full_precision: bool) -> Modes:
    return {
        "batch": {"bodies": [csv_text(b, header, full_precision) for b in batches], "content_type": "text/csv"},
        "single": {"bodies": [csv_text(s, header, full_precision) for s in singles], "content_type": "text/csv"},
    }


def start_esteira(kind: str, root: Path, workdir: Path) -> ServerProcess:
    """``kind`` is an ESTEIRA_SERVER value, optionally with settings: ``uvicorn:ESTEIRA_SERVER_THREADS=0``."""
    server_name, *overrides = kind.split(":")
    port = free_port()
    env = {
        **os.environ,
        "ESTEIRA_ML_ROOT": str(root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "ESTEIRA_BIND_HOST": "127.0.0.1",
        "ESTEIRA_SERVER_LOG_LEVEL": "warning",
        "ESTEIRA_SERVER": server_name,
        "OPENBLAS_NUM_THREADS": "1",  # as containers/model/Dockerfile sets it
        **dict(item.split("=", 1) for item in overrides),
    }
    server = ServerProcess(
        f"esteira-{kind}", [sys.executable, str(REPO / "containers" / "model" / "bin" / "serve")], env, port, workdir
    )
    wait_ready(f"http://127.0.0.1:{port}/ping", server.process, server.log_path)
    return server


def start_mlflow(bench_python: Path, model_dir: Path, workdir: Path, workers: int) -> tuple[ServerProcess, str]:
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
    version = subprocess.run(
        [str(bench_python), "-c", "import mlflow; print(mlflow.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BENCH_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"file://{workdir / 'mlruns'}",
        "OPENBLAS_NUM_THREADS": "1",
    }
    argv = [str(BENCH_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(mlflow_dir), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    server = ServerProcess("mlflow", argv, env, port, workdir)
    wait_ready(f"http://127.0.0.1:{port}/ping", server.process, server.log_path)
    return server, f"{version}, `mlflow models serve --env-manager local -w {workers}`"


# ---------------------------------------------------------------------------------------------


def machine_cpu_seconds() -> float:
    """CPU seconds every program on the machine has used since boot, all cores together (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def bench_cpu_seconds(servers: list[ServerProcess]) -> float:
    """CPU seconds of this process, its finished children (load generators, in-process predictors) and the servers."""
    own = os.times()
    finished_and_self = own.user + own.system + own.children_user + own.children_system
    return finished_and_self + sum(group_cpu_seconds(server.pgid) or 0.0 for server in servers)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--servers",
        default="uvicorn,gunicorn",
        help="ESTEIRA_SERVER values to measure, the first being the default; a value may carry settings "
        "(uvicorn:ESTEIRA_SERVER_THREADS=0)",
    )
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument(
        "--full-precision",
        action="store_true",
        help="CSV values as repr() writes them (up to 17 digits, as pandas does) instead of six decimals",
    )
    args = parser.parse_args()
    kinds = args.servers.split(",")

    bench_python = None if args.skip_mlflow else ensure_bench_venv()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="esteira-bench-serving-"))
    root = workdir / "ml"
    log(f"Training {TREES} trees of depth {DEPTH} on {args.train_rows:,} generated rows in {root}")
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
    if not args.full_precision:
        pool = np.round(pool, 6)  # what the CSV bodies carry
    batches = [np.ascontiguousarray(pool[i * BATCH_ROWS : (i + 1) * BATCH_ROWS]) for i in range(20)]
    singles = [pool[i : i + 1] for i in rng.integers(0, len(pool), 500)]

    workers = len(os.sched_getaffinity(0))
    servers: list[ServerProcess] = []
    targets: dict[str, tuple[ServerProcess, Modes]] = {}
    mlflow_version = "not run"
    rounds: dict[str, list[dict[str, Any]]] = {}
    per_round: list[dict[str, float]] = []
    try:
        for kind in kinds:
            server = start_esteira(kind, root, workdir)
            servers.append(server)
            targets[f"esteira {kind}"] = (server, csv_modes(batches, singles, False, args.full_precision))
        if bench_python is not None:
            mserver, mlflow_version = start_mlflow(bench_python, model_dir, workdir, workers)
            servers.append(mserver)
            targets["mlflow csv"] = (mserver, csv_modes(batches, singles, True, args.full_precision))
            targets["mlflow json"] = (
                mserver,
                {
                    "batch": {"bodies": [dataframe_split(b) for b in batches], "content_type": "application/json"},
                    "single": {"bodies": [dataframe_split(s) for s in singles], "content_type": "application/json"},
                },
            )

        machine_at_start, bench_at_start, started = machine_cpu_seconds(), bench_cpu_seconds(servers), time.monotonic()
        for round_index in range(args.rounds):
            round_load = os.getloadavg()[0]
            log(f"Round {round_index + 1}/{args.rounds} (load average {round_load:.1f})")
            measure: list[tuple[str, Callable[[], dict[str, Any]]]] = [
                ("in-process batch", functools.partial(inprocess_batch, predictor_all, batches, args.duration)),
                ("in-process batch 1t", functools.partial(inprocess_batch, predictor_one, batches, args.duration)),
                ("in-process batch per core", functools.partial(inprocess_per_core, model_dir, workers, args.duration)),
                ("in-process single", functools.partial(inprocess_single, predictor_one, singles, args.duration)),
                ("in-process single fast", functools.partial(inprocess_single, predictor_fast, singles, args.duration)),
            ]
            for name, (server, modes) in targets.items():
                ours = name.startswith("esteira")
                for kind, clients, rows_per_request in (
                    ("batch", BATCH_CLIENTS, BATCH_ROWS),
                    ("single", SINGLE_CLIENTS, 1),
                ):
                    job = {
                        "host": "127.0.0.1",
                        "port": server.port,
                        "server_pgid": server.pgid,
                        "accept": "text/csv" if ours else "application/json",
                        "clients": clients,
                        "duration": args.duration,
                        "warmup": args.warmup,
                        "rows_per_request": rows_per_request,
                        "expected_lines": BATCH_ROWS if (ours and kind == "batch") else None,
                        **modes[kind],
                    }
                    measure.append((f"{name} {kind}", functools.partial(run_load, job)))
            this_round: dict[str, dict[str, Any]] = {}
            for label, fn in measure:
                result = fn()
                this_round[label] = result
                rounds.setdefault(label, []).append(result)
                log(f"  {label}: " + ", ".join(f"{k}={v:,.3f}" for k, v in result.items() if isinstance(v, float)))
            per_round.append(
                {
                    "load": round_load,
                    "inprocess": inprocess_best(this_round),
                    "served": this_round[f"esteira {kinds[0]} batch"]["rows_per_s"],
                }
            )
        others = (machine_cpu_seconds() - machine_at_start) - (bench_cpu_seconds(servers) - bench_at_start)
        other_share = max(0.0, others) / ((time.monotonic() - started) * workers)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    results = {label: median_of(values) for label, values in rounds.items()}
    meta = {
        "load_before": load_before,
        "other_cpu_share": other_share,
        "load_after": os.getloadavg()[0],
        "default_server": kinds[0],
        "servers": kinds,
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "cores": workers,
        "rounds": args.rounds,
        "duration": args.duration,
        "trees": trees,
        "depth": DEPTH,
        "train_rows": args.train_rows,
        "workers": workers,
        "threads": gunicorn_options()["threads"],
        "mlflow_version": mlflow_version,
        "csv_values": "full precision (repr)" if args.full_precision else "six decimals (`%.6f`)",
    }
    report = build_report(results, per_round, meta)
    print(report)
    if not args.no_record:
        record(report)
        log(f"Recorded in {README.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
