"""The run manifest: what one successful run read and wrote.

Written to ``<curated_uri>/_manifests/dt=YYYY-MM-DD/<run_id>.json`` and copied to
``<curated_uri>/_manifests/latest.json`` (what the training pipeline reads). A manifest exists
only for committed runs, so it is the authoritative list of good output folders.
"""

from __future__ import annotations

from typing import Any

from esteira_extract.spec import Spec
from esteira_extract.storage import join_uri, write_json
from esteira_extract.watermark import Watermark

MANIFEST_VERSION = 1
MANIFESTS_DIR = "_manifests"


def manifest_uri(curated_uri: str, run_date: str, run_id: str) -> str:
    return join_uri(curated_uri, MANIFESTS_DIR, f"dt={run_date}", f"{run_id}.json")


def latest_manifest_uri(curated_uri: str) -> str:
    return join_uri(curated_uri, MANIFESTS_DIR, "latest.json")


def build_manifest(
    *,
    spec: Spec,
    run_id: str,
    run_date: str,
    started_at: str,
    finished_at: str,
    watermark_from: Watermark | None,
    watermark_to: Watermark | None,
    rows_read: int,
    rows_written: int,
    quarantined_by_reason: dict[str, int],
    outputs: dict[str, str | None],
    source_partitions: int,
) -> dict[str, Any]:
    bound = watermark_to or watermark_from
    return {
        "version": MANIFEST_VERSION,
        "spec_name": spec.name,
        "run_id": run_id,
        "run_date": run_date,
        "started_at": started_at,
        "finished_at": finished_at,
        "watermark": {
            "column": spec.watermark_column,
            "from": watermark_from.value if watermark_from else None,
            "to": watermark_to.value if watermark_to else None,
            "type": bound.kind if bound else None,
        },
        "rows_read": rows_read,
        "rows_written": rows_written,
        "rows_quarantined": sum(quarantined_by_reason.values()),
        "rows_quarantined_by_reason": dict(sorted(quarantined_by_reason.items())),
        "primary_key": spec.primary_key,
        "label_column": spec.label.column if spec.label else None,
        "partition_key": "dt",
        "output_schema": [{"name": c.name, "type": c.type} for c in spec.output_columns],
        "outputs": outputs,
        "source_partitions": source_partitions,
    }


def write_manifest(curated_uri: str, manifest: dict[str, Any]) -> tuple[str, str]:
    """Write the dated manifest, then latest.json. Returns both URIs."""
    dated = manifest_uri(curated_uri, manifest["run_date"], manifest["run_id"])
    latest = latest_manifest_uri(curated_uri)
    write_json(dated, manifest)
    write_json(latest, manifest)
    return dated, latest
