"""bench/serving.py's report: the tables, and their dated record in bench/README.md."""

from __future__ import annotations

import statistics
from typing import Any

from bench.serving_setup import BATCH_CLIENTS, BATCH_ROWS, N_FEATURES, REPO, SINGLE_CLIENTS

README = REPO / "bench" / "README.md"
BEGIN, END = "<!-- serving:begin -->", "<!-- serving:end -->"

Results = dict[str, dict[str, float]]


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if value == value else "n/a"  # NaN: not measured


def median_of(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in rounds[0].items() if isinstance(v, (int, float))]
    return {k: statistics.median(r[k] for r in rounds) for k in keys}


# The throughput ratio is judged only when other programs used at most this share of the machine's CPU.
OTHER_CPU_LIMIT = 0.05
INPROCESS_BATCH = ("in-process batch", "in-process batch 1t", "in-process batch per core")


def inprocess_best(results: Results) -> float:
    """The in-process reference: the best of one call using every core, one thread, one process per core."""
    return max(results[name]["rows_per_s"] for name in INPROCESS_BATCH)


def batch_cpu_ms(batch: dict[str, float]) -> float:
    """CPU ms per 1,000 rows: in-process, the predict call's; served, the server's plus the client's."""
    if "cpu_ms" in batch:
        return batch["cpu_ms"]
    return batch.get("server_cpu_ms", float("nan")) + batch.get("client_cpu_ms", float("nan"))


def _row(label: str, batch: dict[str, float] | None, single: dict[str, float] | None) -> str:
    cells = [fmt(batch["rows_per_s"]) if batch else "", fmt(batch_cpu_ms(batch), 2) if batch else ""]
    if single:
        cells += [fmt(single["requests_per_s"]), fmt(single["p50_ms"], 2), fmt(single["p99_ms"], 2)]
    else:
        cells += ["", "", ""]
    return f"| {label} | " + " | ".join(cells) + " |"


def _rounds_table(per_round: list[dict[str, float]]) -> list[str]:
    lines = [
        "| round | load average (1 min) at its start | in-process rows/s (best) | `serve` rows/s | ratio |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, entry in enumerate(per_round, start=1):
        lines.append(
            f"| {index} | {entry['load']:.1f} | {fmt(entry['inprocess'])} | {fmt(entry['served'])} "
            f"| {entry['served'] / entry['inprocess']:.2f}x |"
        )
    return lines


def build_report(results: Results, per_round: list[dict[str, float]], meta: dict[str, Any]) -> str:
    default = meta["default_server"]
    ours_b, ours_s = results[f"esteira {default} batch"], results[f"esteira {default} single"]
    inproc_all, inproc_one = results["in-process batch"], results["in-process batch 1t"]
    inproc_cores = results["in-process batch per core"]
    inproc_s, inproc_fast = results["in-process single"], results["in-process single fast"]
    mlflow_modes = [m for m in ("mlflow csv", "mlflow json") if f"{m} batch" in results]
    lines = [
        f"Measured {meta['date']} on {meta['machine']}, {meta['cores']} cores, load average "
        f"{meta['load_before']:.1f} before and {meta['load_after']:.1f} after (1 min; the bench's own processes "
        f"raise it to 2-5); other programs used {meta['other_cpu_share']:.1%} of the machine's CPU during the "
        f"rounds; {meta['rounds']} interleaved rounds of {meta['duration']:g} s per measurement. "
        f"Model: XGBoost, {meta['trees']} trees of depth {meta['depth']}, {N_FEATURES} features, trained by "
        f"`bin/train` on {meta['train_rows']:,} generated rows. Servers: {meta['workers']} worker processes "
        "(uvicorn: an event loop and a 2-thread pool for batch bodies each, the pool used only while the "
        f"workers' core board shows a free core; gunicorn: {meta['threads']} threads each), one XGBoost thread "
        "per worker. "
        f"MLflow: {meta['mlflow_version']}. CSV values: {meta['csv_values']}. "
        "Clients run in a separate process on persistent connections. "
        "In-process rows are parsed already; its CPU column is CPU ms per 1,000-row `predict`, the "
        "servers' is the server's processes plus the client's, per 1,000-row request.",
        "",
        f"| what | batch rows/s ({BATCH_CLIENTS} clients x {BATCH_ROWS:,}-row CSV) | batch CPU ms per request "
        f"| single-row req/s ({SINGLE_CLIENTS} clients) | single p50 ms | single p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _row("in-process `inplace_predict`, all cores / 8 threads", inproc_all, inproc_s),
        _row("in-process `inplace_predict`, 1 thread", inproc_one, None),
        _row(f"in-process `inplace_predict`, {meta['cores']} processes x 1 thread", inproc_cores, None),
        _row("in-process lean C call (what `serve` uses), 8 threads", None, inproc_fast),
    ]
    for kind in meta["servers"]:
        label = f"esteira `serve`, {kind}" + (" (default)" if kind == default else "")
        lines.append(_row(label, results[f"esteira {kind} batch"], results[f"esteira {kind} single"]))
    for mode in mlflow_modes:
        label = "MLflow, CSV with header" if mode == "mlflow csv" else "MLflow, JSON dataframe_split"
        lines.append(_row(label, results[f"{mode} batch"], results[f"{mode} single"]))
    lines += ["", f"Batch rows/s of the default server ({default}) against in-process, round by round:", ""]
    lines += _rounds_table(per_round)
    lines += ["", "| ratio (default server) | measured | target | met |", "| --- | ---: | --- | --- |"]

    def check(name: str, value: float, target: str, met: bool | None, unit: str = "x") -> None:
        verdict = "" if met is None else ("yes" if met else "**no**")
        shown = f"{value:.2f}x" if unit == "x" else f"{value:+.2f} ms"
        lines.append(f"| {name} | {shown} | {target} | {verdict} |")

    ratios = [entry["served"] / entry["inprocess"] for entry in per_round]
    ratio = statistics.median(ratios)
    # Other programs' CPU (the machine's busy time less the bench's own processes'): when they ran, the
    # server's several processes won CPU share from them that in-process predict did not, and the
    # throughput ratio is no verdict. The load average cannot tell: the bench's own processes raise it.
    busy = meta["other_cpu_share"] > OTHER_CPU_LIMIT
    check(
        f"batch rows/s vs in-process (best of its three rows), median of {len(ratios)} rounds "
        f"(range {min(ratios):.2f}-{max(ratios):.2f})",
        ratio,
        ">= 0.8x" + (f" (not judged: other programs used {meta['other_cpu_share']:.0%} of the CPU)" if busy else ""),
        None if busy else ratio >= 0.8,
    )
    cpu_ratio = inproc_one["cpu_ms"] / batch_cpu_ms(ours_b)
    check(
        "CPU cost: in-process 1-thread predict per 1,000 rows / server + client CPU per request",
        cpu_ratio,
        "(quiet-machine estimate)",
        None,
    )
    if mlflow_modes:
        best_b = max(results[f"{m} batch"]["rows_per_s"] for m in mlflow_modes)
        best_s = max(results[f"{m} single"]["requests_per_s"] for m in mlflow_modes)
        ours_rows, ours_requests = ours_b["rows_per_s"], ours_s["requests_per_s"]
        check("batch rows/s vs MLflow's best mode", ours_rows / best_b, ">= 2x", ours_rows >= 2 * best_b)
        check("single-row req/s vs MLflow's best mode", ours_requests / best_s, ">= 10x", ours_requests >= 10 * best_s)
    gap = ours_s["p99_ms"] - inproc_s["p99_ms"]
    check("single-row p99 minus in-process 8-thread p99", gap, "<= +5 ms", gap <= 5, unit="ms")
    ratio_s = ours_s["requests_per_s"] / inproc_fast["requests_per_s"]
    check("single-row req/s vs in-process lean call, 8 threads", ratio_s, "(reference)", None)
    return "\n".join(lines) + "\n"


def record(report: str) -> None:
    """Replace the table between the markers in bench/README.md; the prose around it stays."""
    section = f"## Serving (`make bench-serving`)\n\n{BEGIN}\n{report}{END}\n"
    text = README.read_text() if README.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + BEGIN + "\n" + report + END + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text)
