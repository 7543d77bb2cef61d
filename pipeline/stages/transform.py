"""Stage transform: the batch launcher's own ``launch()`` on the local SageMaker and S3, then the transform job's
equivalent through `/invocations` (MultiRecord, the same filters) on the job's input and output, then the batch's
drift against the served package's data-quality baseline (:mod:`pipeline.drift`).

The local S3 lives one run: the run's predictions (the ``.out`` files and the launcher's scoring record) are kept in
the lake on disk, in the predictions bucket's layout (``<out>/lake/batch-output/<run>/``), for the next run's dataset
job to join with the labels that have become final since (``--fresh`` deletes them with the lake).

The launcher chooses the run to score from the package's lineage and refuses a run whose manifest, spec or feature
schema is not the package's, exactly as on AWS. The event is the one AWS would send: the training state machine's
ScoreBatch (this run, the package just registered) when the package was registered Approved; otherwise the batch
schedule's (no event: the newest Approved package, with its own run). What the dataset job writes to S3 on AWS, the
local run keeps in the lake on disk: the runs the launcher may choose (this one, the served package's) have their
manifest and batch input uploaded first, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from batch.launcher.dataset_run import BatchInputMismatchError, NoBatchInputError, PackageLineageError
from batch.launcher.logic import (
    InvalidLaunchRequestError,
    ModelPackageNotApprovedError,
    ModelPackageNotFoundError,
    NoApprovedModelPackageError,
    launch,
)
from esteira_contracts import layout
from esteira_contracts.batch import LauncherSettings
from pipeline import baseline, drift, retraining, serving, settings
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError
from pipeline.stages.serve import local_dataset_dir

# What the launcher Lambda raises when it must not score (on AWS the asynchronous launch fails, to its DLQ).
LAUNCH_REFUSED = (
    PackageLineageError,
    BatchInputMismatchError,
    NoApprovedModelPackageError,
    ModelPackageNotApprovedError,
    ModelPackageNotFoundError,
    InvalidLaunchRequestError,
)


def run(ctx: RunContext) -> None:
    serve = need(ctx.serve, "model server")
    launcher = settings.launcher_settings(ctx.config)
    with ctx.progress.stage(
        "transform", "the batch launcher's launch(), then the transform through /invocations"
    ) as st:
        batch: dict[str, Any] = {"max_payload_mb": launcher.max_payload_mb}
        ctx.report["batch"] = batch
        # The runs the launcher may choose: this run's (ScoreBatch names it), the served package's (the schedule's).
        runs = [
            need(ctx.dataset_dir, "dataset run"),
            local_dataset_dir(need(ctx.champion, "champion"), ctx.out / "lake"),
        ]
        try:
            launched = launch_locally(ctx.session, launcher, launch_event(ctx), runs)
            s3 = ctx.session.client("s3")
            batch_lines = _transform(ctx, s3, launched, launcher, batch)
            batch["kept"] = keep_predictions(s3, launcher.bucket, ctx.output_prefix, ctx.out / "lake")
            st.summary = f"{batch['input_rule']} run {batch['input_run_id']}: {batch['predicted']} predictions in "
            st.summary += f"{batch['objects']} object(s), {batch['mini_batches']} mini-batch(es)"
        except NoBatchInputError as exc:  # no rows to score: on AWS a refused launch (its error event), no transform
            batch.update({"refused": str(exc), "input_rows": 0, "predicted": 0, "objects": 0, "mini_batches": 0})
            st.summary = f"nothing scored: {exc}"
        finally:
            ctx.client.close()
            ctx.children.stop(serve)
            ctx.serve = None
        if batch["input_rows"] != batch["predicted"]:
            raise StageFailedError(f"the transform scored {batch['predicted']} of {batch['input_rows']} input rows")
        if "refused" not in batch:
            ctx.charts.batch_scores = _served_scores(s3, launcher.bucket, ctx.output_prefix)
            ctx.report["drift"] = _drift(ctx, s3, batch_lines)
            st.summary += f"; drift: {drift.sentence(ctx.report['drift'])}"
        # What the retrain trigger would decide on this run's drift (the report's `retraining`).
        retraining.record(ctx)


def launch_locally(session: Any, launcher: LauncherSettings, event: dict[str, str], runs: list[Path]) -> dict[str, Any]:
    """The launcher's ``launch()`` on moto once the runs it may choose are where the dataset job puts them on AWS:
    CreateModel and CreateTransformJob, or the launcher's refusal (a mismatch) as a failed stage. A run with no rows
    to score raises :class:`NoBatchInputError`, for the stage to report."""
    s3 = session.client("s3")
    for run_dir in dict.fromkeys(runs):
        stage_dataset_run(s3, run_dir, launcher)
    try:
        return launch(event, launcher, session.client("sagemaker"), s3)
    except LAUNCH_REFUSED as exc:  # a mismatch fails here as the launcher Lambda fails on AWS
        raise StageFailedError(f"the batch launcher refused the launch: {type(exc).__name__}: {exc}") from exc


def launch_event(ctx: RunContext) -> dict[str, str]:
    """The state machine's ScoreBatch payload when this run registered an Approved package; else the schedule's."""
    registered = ctx.report["model"].get("registered_package_arn")
    if registered and ctx.config.training.approval == "Approved":
        return {
            "input_run_id": str(need(ctx.prepared, "Prepare result")["dataset_run_id"]),
            "model_package_arn": registered,
        }
    return {}


def stage_dataset_run(s3: Any, run_dir: Path, launcher: LauncherSettings) -> None:
    """Where the dataset job puts a run on AWS: its manifest in the artifacts bucket, its batch input (CSV parts)
    in the predictions bucket. A run missing on disk (an expired one) is left missing, for the launcher to refuse."""
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        return
    run_id = run_dir.name.removeprefix(f"{layout.RUN_PARTITION_KEY}=")
    manifest = json.loads(manifest_path.read_text())
    s3.upload_file(
        str(manifest_path),
        launcher.artifacts_bucket,
        layout.run_prefix(launcher.datasets_prefix, run_id) + manifest_path.name,
    )
    batch_input = Path(str((manifest.get("outputs") or {}).get("batch_input", "")))
    input_prefix = layout.run_prefix(launcher.input_prefix, run_id)
    for part in sorted(batch_input.glob("*.csv")) if batch_input.is_dir() else []:
        s3.upload_file(str(part), launcher.bucket, f"{input_prefix}{part.name}")


def _transform(
    ctx: RunContext, s3: Any, launched: dict[str, Any], launcher: LauncherSettings, batch: dict[str, Any]
) -> list[str]:
    """The transform job the launcher created, run locally: its input prefix through `/invocations`, to its output.
    Returns the input's lines (record id and features), for the drift check."""
    input_prefix = _key(launched["input_uri"], launcher.bucket)
    ctx.output_prefix = _key(launched["output_uri"], launcher.bucket)
    ctx.transform_run_id = str(launched["run_id"])
    batch_lines = [
        line
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=launcher.bucket, Prefix=input_prefix)
        for obj in page.get("Contents", [])
        for line in s3.get_object(Bucket=launcher.bucket, Key=obj["Key"])["Body"].read().decode().splitlines()
        if line.strip()
    ]
    input_rows = len(batch_lines)
    stats = serving.transform(s3, ctx.client, launcher.bucket, input_prefix, ctx.output_prefix, launcher.max_payload_mb)
    batch.update(
        {
            "transform_run_id": launched["run_id"],
            "transform_job_name": launched["transform_job_name"],
            "input_rule": launched["input_rule"],
            "input_run_id": launched["input_run_id"],
            "package_run_id": launched["package_run_id"],
            "model_package_arn": launched["model_package_arn"],
            "package_source": launched["source"],
            "input_rows": input_rows,
            "input_uri": launched["input_uri"],
            "output_uri": launched["output_uri"],
            "predicted": stats.records,
            "objects": stats.objects,
            "mini_batches": stats.mini_batches,
        }
    )
    return batch_lines


def keep_predictions(s3: Any, bucket: str, output_prefix: str, lake: Path) -> dict[str, Any]:
    """The transform run's ``.out`` files and scoring record, from the local S3 to the lake on disk under the same
    keys (``batch-output/<run>/...``), where the next run's dataset job reads predictions as it reads the bucket."""
    folder = lake / output_prefix
    objects = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=output_prefix):
        for obj in page.get("Contents", []):
            key = str(obj["Key"])
            name = key.removeprefix(output_prefix)
            if "/" in name or not (name.endswith(".out") or name == layout.SCORING_RECORD_FILENAME):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(folder / name))
            objects += 1
    return {"folder": str(folder), "objects": objects}


def _key(uri: str, bucket: str) -> str:
    prefix = f"s3://{bucket}/"
    if not uri.startswith(prefix):
        raise StageFailedError(f"the transform job's {uri} is not in the local bucket {bucket}")
    return uri.removeprefix(prefix)


def _served_scores(s3: Any, bucket: str, output_prefix: str) -> list[float]:
    """The score field of every output record (``id,label,score``), for the report's score distribution; only the
    ``.out`` objects (the launcher's scoring record lies beside them)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=output_prefix)
    scores: list[float] = []
    for obj in (obj for page in pages for obj in page.get("Contents", []) if obj["Key"].endswith(".out")):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
        scores.extend(float(line.rsplit(",", 1)[-1]) for line in body.splitlines() if line)
    return scores


def _drift(ctx: RunContext, s3: Any, batch_lines: list[str]) -> dict[str, Any]:
    """The batch against the statistics.json the served package names as its DriftCheckBaselines, as a monitoring
    schedule on its endpoint would use. The local S3 lives one run: for a champion registered by an earlier run,
    the same statistics are recomputed from its dataset run's baseline CSV in the local lake."""
    champion = need(ctx.champion, "champion")
    quality = (champion.get("drift_check_baselines") or {}).get("ModelDataQuality") or {}
    uri = str((quality.get("Statistics") or {}).get("S3Uri", ""))
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        stats = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) if uri else None
    except s3.exceptions.NoSuchKey:
        stats = None
    source = uri
    if stats is None:
        folder = local_dataset_dir(champion, ctx.out / "lake") / "baseline"
        files = sorted(folder.glob("*.csv"))
        if not files:
            return {"skipped": f"the served package's baseline is neither in S3 ({uri}) nor in {folder}", "flagged": []}
        stats, source = baseline.statistics(baseline.read_csv_rows(files)), f"recomputed from {folder}"
    try:
        result = drift.drift_of_batch(stats, batch_lines, ctx.features)
    except drift.DriftInputError as err:
        raise StageFailedError(f"drift: {err} (baseline {source})") from None
    return {"baseline_statistics_uri": uri, "baseline_source": source, "model_package_arn": champion["arn"], **result}
