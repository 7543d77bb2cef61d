"""Stage dataset: the dataset job's own main() on local Spark, as the training state machine's Dataset step runs it.

It keeps each key's latest version from the curated lake, splits the keys whose label is final into train /
validation / holdout by a stable hash of the key, and writes the rows to score as batch input. The report shows,
per split, the rows and distinct keys the job counted from its written files, the keys shared between splits, and
the keys that moved split since the previous run (both must be 0).

The job also judges the predictions of the transform runs the lake holds (``<out>/lake/batch-output/``, each with
the launcher's scoring record, kept there by the transform stage; none on a first run) against the labels that
became final (its quality step), writing the report and the ground truth under ``<out>/lake/monitoring/``; the
report's content and path go to ``model_quality``, with what AWS does with it (``pipeline.model_quality``): the
quality publisher's summary (``published``) and the model-quality alarm's state (``alarm``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from esteira_contracts import layout, quality
from esteira_contracts.dataset import DatasetJobArgs
from pipeline import aws, model_quality, settings
from pipeline.context import RunContext, need
from pipeline.lambda_context import new_context
from pipeline.report import NoNewDataError, StageFailedError

SPLITS = ("train", "validation", "holdout")
STATUS_NO_NEW_DATA = "no_new_data"


def run(ctx: RunContext) -> None:
    lake = ctx.out / "lake"
    datasets = lake / layout.DATASETS_PREFIX.rstrip("/")
    batch_input = lake / layout.BATCH_INPUT_PREFIX.rstrip("/")
    predictions = lake / layout.BATCH_OUTPUT_PREFIX.rstrip("/")
    quality_dir = lake / layout.MODEL_QUALITY_PREFIX.rstrip("/")
    prepared = _prepare(ctx)
    dataset_run = str(prepared["dataset_run_id"])
    params = ctx.config.training.hyperparameters
    drop = tuple(c.strip() for c in str(params.get("drop_columns", "")).split(",") if c.strip())
    job_args = DatasetJobArgs(
        spec_uri=str(ctx.options.spec.resolve()),
        curated_uri=str(need(ctx.curated, "curated lake")),
        datasets_uri=str(datasets),
        run_id=dataset_run,
        drop_columns=drop,
        batch_input_uri=str(batch_input),
        # The demo database is a snapshot of its clock's today: labels are final, or not yet, as of that day.
        as_of_date=ctx.demo_today.isoformat() if ctx.demo_today else None,
        # Always judged, so a first run says that nothing it can judge is labelled yet (no batch-output folder).
        predictions_uri=str(predictions),
        quality_uri=str(quality_dir),
        ground_truth_uri=str(lake / layout.GROUND_TRUTH_PREFIX.rstrip("/")),
    )
    argv = [item for pair in job_args.to_args().items() for item in pair]
    env = {**os.environ, "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    with ctx.progress.stage("dataset", "the dataset job's main() on local Spark: latest version per key, splits") as st:
        ctx.run_glue_job("dataset", argv, env, ctx.logs / "dataset.log")
        run_dir = datasets / f"run_id={dataset_run}"
        manifest: dict[str, Any] = json.loads((run_dir / "manifest.json").read_text())
        counts = manifest["counts"]
        ctx.spec_name = str(manifest["spec_name"])
        ctx.key = str(manifest["primary_key"])
        ctx.target = str(manifest["label_column"])
        ctx.dataset_dir = run_dir
        ctx.batch_input_dir = Path(manifest["outputs"]["batch_input"])
        previous = _previous_run(datasets, dataset_run, ctx.spec_name)
        report: dict[str, Any] = {
            "run_id": dataset_run,
            "status": manifest["status"],
            "reason": manifest.get("reason"),
            "as_of_date": manifest.get("as_of_date"),
            "row_versions_read": counts.get("row_versions_read"),
            "keys_latest": counts.get("keys_latest"),
            "keys_label_final": counts.get("keys_label_final"),
            "keys_label_open": counts.get("keys_label_open"),
            "splits": counts.get("splits", {}),
            "keys_shared_between_splits": counts.get("keys_in_more_than_one_split", 0),
            "previous_run": previous.name.removeprefix("run_id=") if previous else None,
            "keys_moved_split": _keys_moved(previous, run_dir, ctx.key) if previous else 0,
            "batch_input_rows": (counts.get("batch_input") or {}).get("rows", 0),
            "manifest": str(run_dir / "manifest.json"),
        }
        ctx.report["dataset"] = report
        quality_section = ctx.report["model_quality"] = model_quality_section(manifest)
        # What the state machine's PublishModelQuality step and the model-quality alarm do with the report.
        model_quality.publish(quality_section, ctx.config, ctx.session.client("cloudwatch"))
        quality_section[model_quality.ALARM] = model_quality.alarm(
            quality_section, ctx.config, ctx.options.gate_threshold
        )
        if manifest["status"] == STATUS_NO_NEW_DATA:
            st.summary = f"no new data: {manifest.get('reason')}"
            raise NoNewDataError(f"the dataset job found no new data ({manifest.get('reason')})")
        sizes = ", ".join(f"{name} {report['splits'][name]['rows']}" for name in SPLITS)
        versions = ctx.report["model_quality"].get(quality.MODELS, [])
        labelled = ", ".join(f"v{m[quality.MODEL_VERSION]} {m[quality.LABELLED_PREDICTIONS]}" for m in versions)
        st.summary = f"{sizes}; to score {report['batch_input_rows']}; shared keys "
        st.summary += f"{report['keys_shared_between_splits']}, moved {report['keys_moved_split']}"
        st.summary += f"; labelled predictions: {labelled or 'none yet'}"
        if quality_section[model_quality.ALARM]["state"]:
            st.summary += f"; quality alarm {quality_section[model_quality.ALARM]['state']}"
        if report["keys_shared_between_splits"] or report["keys_moved_split"]:
            raise StageFailedError(
                f"the splits leak: {report['keys_shared_between_splits']} key(s) in more than one split, "
                f"{report['keys_moved_split']} moved split since the previous run"
            )


def model_quality_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The quality report the job wrote (``esteira_contracts.quality``), its path, and the labelled predictions of
    its latest model version (0 without one)."""
    path = Path(str((manifest.get("model_quality") or {}).get("report", "")))
    if not path.is_file():
        written = manifest.get("model_quality")
        raise StageFailedError(f"the dataset job wrote no model-quality report (manifest: {written})")
    content: dict[str, Any] = json.loads(path.read_text())
    latest = [m for m in content[quality.MODELS] if m[quality.MODEL_VERSION] == content[quality.LATEST_MODEL_VERSION]]
    labelled = int(latest[0][quality.LABELLED_PREDICTIONS]) if latest else 0
    return content | {"path": str(path), quality.LABELLED_PREDICTIONS: labelled}


def _prepare(ctx: RunContext) -> dict[str, Any]:
    """The Prepare Lambda on the curated lake (uploaded to the local S3 as the stacks lay it out): it names the
    training job and the dataset run, and finds the champion, as the state machine's first step does."""
    from training.prepare.handler import handler

    spec_name = str(json.loads(ctx.options.spec.read_text())["name"])
    s3 = ctx.session.client("s3")
    ctx.spec_name = spec_name
    uploaded = aws.upload_tree(
        s3, need(ctx.curated, "curated lake"), aws.CURATED_BUCKET, settings.curated_prefix(spec_name)
    )
    os.environ.update(settings.prepare_settings(spec_name).to_env())
    prepared: dict[str, Any] = handler({"run_id": ctx.run_id}, new_context("esteira-local-prepare", 60))
    prepared["curated_objects_uploaded"] = uploaded
    ctx.prepared = prepared
    return prepared


def _previous_run(datasets: Path, run_id: str, spec_name: str) -> Path | None:
    """The newest earlier dataset run of the same spec with a manifest (run ids sort by time)."""
    earlier = sorted(
        path
        for path in datasets.glob("run_id=*")
        if path.name < f"run_id={run_id}"
        and (path / "manifest.json").exists()
        and (path / "train").is_dir()
        and json.loads((path / "manifest.json").read_text()).get("spec_name") == spec_name
    )
    return earlier[-1] if earlier else None


def split_of_keys(run_dir: Path, key: str) -> dict[str, str]:
    """Key -> split, read from a dataset run's written Parquet files."""
    found: dict[str, str] = {}
    for split in SPLITS:
        files = sorted(str(p) for p in (run_dir / split).glob("*.parquet"))
        if not files:
            continue
        for value in pads.dataset(files, format="parquet").to_table(columns=[key]).column(key).to_pylist():
            found[str(value)] = split
    return found


def _keys_moved(previous: Path, current: Path, key: str) -> int:
    before, now = split_of_keys(previous, key), split_of_keys(current, key)
    return sum(1 for k, split in now.items() if k in before and before[k] != split)
