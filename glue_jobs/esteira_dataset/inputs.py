"""The curated extractions the dataset job reads: exactly the runs that committed a manifest.

The extraction job writes ``<curated_uri>/dt=D/run_id=R/`` and, only once the run succeeded,
``<curated_uri>/_manifests/dt=D/R.json``. A folder without a manifest is a killed run's orphan, so the
manifests, not the folders, say what to read.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_dataset.spec import DatasetSpec
from esteira_extract.manifest import MANIFESTS_DIR
from esteira_extract.storage import is_s3, join_uri, local_path, read_text, spark_path, split_s3
from esteira_extract.transforms import output_schema

log = logging.getLogger("esteira_dataset")

PARTITION_COLUMNS = ("dt", "run_id")
RUN_ORDER = "_run_order"


class InputError(RuntimeError):
    """The curated prefix holds something the job cannot read as this spec's extractions."""


@dataclass(frozen=True)
class InputRun:
    dt: str
    run_id: str
    rows: int
    started_at: str

    def to_json(self) -> dict[str, Any]:
        return {"dt": self.dt, "run_id": self.run_id, "rows": self.rows}


def list_objects(prefix_uri: str, suffix: str) -> list[str]:
    """URIs of every object under ``prefix_uri`` ending with ``suffix`` (S3 or a local folder), sorted."""
    if is_s3(prefix_uri):
        bucket, prefix = split_s3(prefix_uri)
        client = importlib.import_module("boto3").client("s3")
        found = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.rstrip("/") + "/"):
            found += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []) if o["Key"].endswith(suffix)]
        return sorted(found)
    root = local_path(prefix_uri)
    return sorted(str(p) for p in root.rglob(f"*{suffix}") if p.is_file()) if root.is_dir() else []


def committed_runs(curated_uri: str, spec: DatasetSpec) -> list[InputRun]:
    """Every run with a dated manifest for this spec, oldest first (dt, then start time, then run id)."""
    runs = []
    types = {c.name: c.type for c in spec.extraction.output_columns}
    for uri in list_objects(join_uri(curated_uri, MANIFESTS_DIR), ".json"):
        if uri.rstrip("/").endswith("/latest.json"):
            continue  # a copy of the newest dated manifest
        text = read_text(uri)
        try:
            manifest = json.loads(text or "")
            run = InputRun(
                dt=str(manifest["run_date"]),
                run_id=str(manifest["run_id"]),
                rows=int(manifest["rows_written"]),
                started_at=str(manifest.get("started_at") or ""),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"manifest {uri} is not an extraction manifest: {error!r}") from error
        if manifest.get("spec_name") != spec.extraction.name:
            raise InputError(
                f"manifest {uri} is for spec {manifest.get('spec_name')!r}, not {spec.extraction.name!r}: "
                "curated_uri must hold this spec's extractions only"
            )
        changed = [
            f"{c.get('name')} ({c.get('type')} there, {types[c['name']]} in the spec)"
            for c in manifest.get("output_schema") or []
            if c.get("name") in types and c.get("type") != types[c["name"]]
        ]
        if changed:
            raise InputError(f"run {run.run_id} ({uri}) wrote columns with other types: {', '.join(changed)}")
        runs.append(run)
    return sorted(runs, key=lambda r: (r.dt, r.started_at, r.run_id))


def read_runs(spark: SparkSession, curated_uri: str, spec: DatasetSpec, runs: Sequence[InputRun]) -> DataFrame:
    """Every row version of ``runs`` with the spec's output columns plus ``dt``, ``run_id`` and ``_run_order``
    (the run's position, oldest 0: the tie-breaker after ``dt`` between versions with equal watermarks)."""
    schema = output_schema(spec.extraction)
    with_partitions = st.StructType([*schema.fields, *(st.StructField(c, st.StringType()) for c in PARTITION_COLUMNS)])
    non_empty = [r for r in runs if r.rows > 0]
    if not non_empty:
        return spark.createDataFrame([], with_partitions).withColumn(RUN_ORDER, sf.lit(0))
    paths = [spark_path(join_uri(curated_uri, f"dt={r.dt}", f"run_id={r.run_id}")) for r in non_empty]
    rows = (
        spark.read.schema(with_partitions)
        .option("basePath", spark_path(curated_uri))
        .parquet(*paths)
        .select(*schema.fieldNames(), *PARTITION_COLUMNS)
    )
    order = sf.create_map(*[sf.lit(x) for i, r in enumerate(runs) for x in (f"{r.dt}/{r.run_id}", i)])
    return rows.withColumn(RUN_ORDER, order[sf.concat_ws("/", "dt", "run_id")])
