"""Stage transform: the batch transform's equivalent through `/invocations` (MultiRecord, the same filters)."""

from __future__ import annotations

from pipeline import aws, model, serving
from pipeline.context import RunContext, need

ROWS_PER_INPUT_OBJECT = 50_000


def run(ctx: RunContext) -> None:
    serve = need(ctx.serve, "model server")
    max_payload = ctx.config.batch.max_payload_mb
    with ctx.progress.stage("transform", "batch transform equivalent through /invocations (MultiRecord)") as st:
        s3 = ctx.session.client("s3")
        input_prefix = f"{aws.INPUT_PREFIX}{ctx.run_id}/"
        ctx.output_prefix = f"{aws.OUTPUT_PREFIX}{ctx.run_id}/"
        held = ctx.data.held_out
        lines = model.csv_lines(held.assign(_record_id=held[ctx.key]), ["_record_id", *ctx.features])
        for index, start in enumerate(range(0, len(lines), ROWS_PER_INPUT_OBJECT)):
            body = "\n".join(lines[start : start + ROWS_PER_INPUT_OBJECT]) + "\n"
            s3.put_object(Bucket=aws.PREDICTIONS_BUCKET, Key=f"{input_prefix}part-{index:05d}.csv", Body=body.encode())
        stats = serving.transform(s3, ctx.client, aws.PREDICTIONS_BUCKET, input_prefix, ctx.output_prefix, max_payload)
        ctx.client.close()
        ctx.children.stop(serve)
        ctx.serve = None
        ctx.report["batch"] = {
            "transform_run_id": ctx.run_id,
            "input_rows": len(lines),
            "input_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{input_prefix}",
            "output_uri": f"s3://{aws.PREDICTIONS_BUCKET}/{ctx.output_prefix}",
            "predicted": stats.records,
            "objects": stats.objects,
            "mini_batches": stats.mini_batches,
            "max_payload_mb": max_payload,
        }
        st.summary = f"{stats.records} predictions in {stats.objects} object(s), {stats.mini_batches} mini-batch(es)"
