"""Stage transform: the batch transform's equivalent through `/invocations` (MultiRecord, the same filters), then
the batch's drift against the served package's data-quality baseline (:mod:`pipeline.drift`)."""

from __future__ import annotations

import json
from typing import Any

from pipeline import aws, baseline, drift, serving
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError
from pipeline.stages import serve


def run(ctx: RunContext) -> None:
    serve = need(ctx.serve, "model server")
    batch_input = need(ctx.batch_input_dir, "batch input")
    max_payload = ctx.config.batch.max_payload_mb
    with ctx.progress.stage("transform", "batch transform equivalent over the run's batch input (MultiRecord)") as st:
        s3 = ctx.session.client("s3")
        # The launcher's layout: one folder per training run under the batch input prefix.
        input_prefix = f"{aws.INPUT_PREFIX}run_id={need(ctx.prepared, 'Prepare result')['dataset_run_id']}/"
        ctx.output_prefix = f"{aws.OUTPUT_PREFIX}{ctx.run_id}/"
        parts = sorted(batch_input.glob("*.csv")) if batch_input.is_dir() else []
        for part in parts:
            s3.upload_file(str(part), aws.PREDICTIONS_BUCKET, f"{input_prefix}{part.name}")
        batch_lines = [line for part in parts for line in part.read_text().splitlines() if line]
        input_rows = len(batch_lines)
        if input_rows:
            stats = serving.transform(
                s3, ctx.client, aws.PREDICTIONS_BUCKET, input_prefix, ctx.output_prefix, max_payload
            )
            predicted, objects, mini_batches = stats.records, stats.objects, stats.mini_batches
        else:
            predicted = objects = mini_batches = 0
        ctx.client.close()
        ctx.children.stop(serve)
        ctx.serve = None
        ctx.report["batch"] = {
            "transform_run_id": ctx.run_id,
            "input_rows": input_rows,
            "input_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{input_prefix}",
            "output_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{ctx.output_prefix}",
            "predicted": predicted,
            "objects": objects,
            "mini_batches": mini_batches,
            "max_payload_mb": max_payload,
        }
        if input_rows != predicted:
            raise StageFailedError(f"the transform scored {predicted} of {input_rows} batch input rows")
        st.summary = f"{predicted} predictions in {objects} object(s), {mini_batches} mini-batch(es)"
        if not input_rows:
            st.summary = "no rows to score in this run's batch input"
        ctx.charts.batch_scores = _served_scores(s3, ctx.output_prefix)
        ctx.report["drift"] = _drift(ctx, s3, batch_lines)
        st.summary += f"; drift: {drift.sentence(ctx.report['drift'])}"


def _served_scores(s3: Any, output_prefix: str) -> list[float]:
    """The score field of every output record (``id,label,score``), for the report's score distribution."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=aws.PREDICTIONS_BUCKET, Prefix=output_prefix)
    scores: list[float] = []
    for obj in (obj for page in pages for obj in page.get("Contents", [])):
        body = s3.get_object(Bucket=aws.PREDICTIONS_BUCKET, Key=obj["Key"])["Body"].read().decode()
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
        folder = serve.local_dataset_dir(champion, ctx.out / "lake") / "baseline"
        files = sorted(folder.glob("*.csv"))
        if not files:
            return {"skipped": f"the served package's baseline is neither in S3 ({uri}) nor in {folder}", "flagged": []}
        stats, source = baseline.statistics(baseline.read_csv_rows(files)), f"recomputed from {folder}"
    try:
        result = drift.drift_of_batch(stats, batch_lines, ctx.features)
    except drift.DriftInputError as err:
        raise StageFailedError(f"drift: {err} (baseline {source})") from None
    return {"baseline_statistics_uri": uri, "baseline_source": source, "model_package_arn": champion["arn"], **result}
