"""Stage transform: the batch transform's equivalent through `/invocations` (MultiRecord, the same filters)."""

from __future__ import annotations

from pipeline import aws, serving
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError


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
        input_rows = sum(1 for part in parts for line in part.read_text().splitlines() if line)
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
