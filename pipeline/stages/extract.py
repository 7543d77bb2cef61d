"""Stage extract: the extraction job's own main() on local Spark, JDBC -> raw / curated / quarantine Parquet."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from esteira_contracts.extraction import ExtractionJobArgs
from pipeline import source as demo
from pipeline.context import RunContext
from pipeline.options import REPO
from pipeline.report import StageFailedError

EXTRACT_SCRIPT = REPO / "glue_jobs" / "extract_job.py"
EMPTY_WINDOW_NOTE = "spec read with 1 JDBC partition (esteira_extract.jdbc.read_bounds fails on an empty SQLite window)"


def run(ctx: RunContext) -> None:
    lake = ctx.out / "lake"
    curated = lake / "curated"
    state_path = lake / "state" / "employees.json"
    spec_path = ctx.options.spec.resolve()
    workaround = _empty_sqlite_window_spec(ctx, state_path)
    job_args = ExtractionJobArgs(
        spec_uri=str(workaround or spec_path),
        secret_id=ctx.secret_id or None,
        jdbc_url=ctx.jdbc_url,
        raw_uri=str(lake / "raw"),
        curated_uri=str(curated),
        quarantine_uri=str(lake / "quarantine"),
        state_uri=str(state_path),
        run_id=ctx.run_id,
    )
    args = [sys.executable, str(EXTRACT_SCRIPT), *(item for pair in job_args.to_args().items() for item in pair)]
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    with ctx.progress.stage("extract", "the extraction job's main() on local Spark (JDBC -> Parquet)") as st:
        ctx.run_child("extract", args, env, ctx.logs / "extract.log")
        manifest_path = next((curated / "_manifests").glob(f"dt=*/{ctx.run_id}.json"), None)
        if manifest_path is None:
            raise StageFailedError(f"the extraction left no manifest for run {ctx.run_id}")
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        watermark = manifest.get("watermark") or {}
        ctx.curated = curated
        ctx.manifest = manifest
        ctx.report["extraction"] = {
            "run_id": manifest["run_id"],
            "source_rows": ctx.report["source"]["rows"],
            "source_changed": ctx.report["source"]["changed"],
            "incremental": watermark.get("from") is not None,
            "watermark_from": watermark.get("from"),
            "watermark_to": watermark.get("to"),
            "rows_read": manifest["rows_read"],
            "rows_extracted": manifest["rows_written"],
            "rows_quarantined": manifest["rows_quarantined"],
            "quarantined_by_reason": manifest["rows_quarantined_by_reason"],
            "manifest": str(manifest_path),
        }
        if workaround is not None:
            ctx.report["extraction"]["workaround"] = EMPTY_WINDOW_NOTE
        kind = "incremental" if watermark.get("from") is not None else "full"
        st.summary = (
            f"{kind}: read {manifest['rows_read']}, extracted {manifest['rows_written']}, "
            f"quarantined {manifest['rows_quarantined']}"
        )


def _empty_sqlite_window_spec(ctx: RunContext, state_path: Path) -> Path | None:
    """A copy of the spec with one JDBC partition when a SQLite source has no rows past the watermark.

    Works around ``esteira_extract.jdbc.read_bounds`` on SQLite: MIN/MAX over an empty window fails in
    sqlite-jdbc ("column -1 out of bounds"), so a second run with nothing changed would fail. With one
    partition the job skips the bounds query; everything else is the same spec.
    """
    from esteira_extract.spec import load_spec

    if ctx.options.source_url or not state_path.exists():
        return None
    state = json.loads(state_path.read_text())
    value = (state.get("watermark") or {}).get("value")
    spec = load_spec(str(ctx.options.spec.resolve()))
    if value is None or spec.num_partitions <= 1:
        return None
    db = ctx.out / "source" / "hr.db"
    if demo.sqlite_rows_after(db, spec.source.select_sql(), spec.watermark_column, str(value)) > 0:
        return None
    raw = json.loads(ctx.options.spec.read_text())
    raw["partitioning"]["num_partitions"] = 1
    copy = ctx.run_dir / "spec-one-partition.json"
    copy.write_text(json.dumps(raw, indent=2) + "\n")
    ctx.progress.say(f"    extract: no source rows past the watermark; {EMPTY_WINDOW_NOTE}")
    return copy
