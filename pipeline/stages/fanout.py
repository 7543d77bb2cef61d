"""Stage fanout: the fan-out Lambda handler (S3 transform output -> SQS FIFO), invoked until it says done."""

from __future__ import annotations

import os

from pipeline import aws, delivery, settings
from pipeline.context import RunContext
from pipeline.stages import consume


def run(ctx: RunContext) -> None:
    with ctx.progress.stage("fanout", "the fan-out Lambda (S3 output -> SQS FIFO), looped until done") as st:
        if not ctx.report["batch"]["predicted"]:
            ctx.report["batch"]["fanout"] = {"sent": 0, "invocations": 0, "quarantined": 0}
            st.summary = "nothing to send: no predictions in this run"
            return
        os.environ.update(settings.fanout_settings(ctx.config, ctx.aws_resources().queue_url).to_env())
        if ctx.options.stop_after != "fanout":  # else the messages stay queued, as with the mapping disabled
            consume.start(ctx)  # the event source mapping polls while the fan-out sends
        try:
            result = delivery.run_fanout(
                {
                    "run_id": ctx.transform_run_id,
                    "bucket": aws.PREDICTIONS_BUCKET,
                    "prefix": ctx.output_prefix,
                    "cursor": None,
                    "stats": None,
                },
                timeout_seconds=ctx.config.batch.fanout.timeout_seconds,
            )
        finally:
            ctx.producer_done_path.touch()
        fan = result["stats"]
        ctx.report["batch"]["fanout"] = fan
        st.summary = f"sent {fan['sent']} messages in {fan['invocations']} invocation(s), "
        st.summary += f"quarantined {fan['quarantined']}"
