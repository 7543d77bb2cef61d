"""Stage extract: the extraction job's own main() on local Spark, JDBC -> raw / curated / quarantine Parquet."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from esteira_contracts.extraction import ExtractionJobArgs
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError


def lake_paths(lake: Path, spec_name: str) -> dict[str, Path]:
    """Each spec's own raw / curated / quarantine folders and watermark file, as the stacks lay them out per spec:
    two specs in one --out never share state."""
    return {
        "raw": lake / "raw" / spec_name,
        "curated": lake / "curated" / spec_name,
        "quarantine": lake / "quarantine" / spec_name,
        "state": lake / "state" / f"{spec_name}.json",
    }


def run(ctx: RunContext) -> None:
    paths = lake_paths(ctx.out / "lake", need(ctx.spec, "loaded spec").extraction.name)
    curated, state_path = paths["curated"], paths["state"]
    spec_path = ctx.options.spec.resolve()
    ca_bundle = ctx.options.source_ca_bundle
    job_args = ExtractionJobArgs(
        spec_uri=str(spec_path),
        secret_id=ctx.secret_id or None,
        jdbc_url=ctx.jdbc_url,
        raw_uri=str(paths["raw"]),
        curated_uri=str(curated),
        quarantine_uri=str(paths["quarantine"]),
        state_uri=str(state_path),
        run_id=ctx.run_id,
        tls_ca_bundle=str(ca_bundle) if ca_bundle else None,
    )
    args = [item for pair in job_args.to_args().items() for item in pair]
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    with ctx.progress.stage("extract", "the extraction job's main() on the local Glue runner (JDBC -> Parquet)") as st:
        ctx.run_glue_job("extract", args, env, ctx.logs / "extract.log")
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
        kind = "incremental" if watermark.get("from") is not None else "full"
        st.summary = (
            f"{kind}: read {manifest['rows_read']}, extracted {manifest['rows_written']}, "
            f"quarantined {manifest['rows_quarantined']}"
        )
