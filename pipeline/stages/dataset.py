"""Stage dataset: the latest version of each key from the curated lake, a held-out slice kept aside."""

from __future__ import annotations

import json

from pipeline import model
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError


def run(ctx: RunContext) -> None:
    spec = json.loads(ctx.options.spec.read_text())
    ctx.key = str(spec["primary_key"])
    ctx.target = str(need(ctx.manifest, "extraction manifest")["label_column"])
    fraction = ctx.options.holdout_fraction
    with ctx.progress.stage("dataset", "latest version per key from curated/, hold out a slice") as st:
        data = model.load_dataset(
            need(ctx.curated, "curated lake"), ctx.key, str(spec["watermark"]["column"]), fraction
        )
        if data.rows != len(data.train) + len(data.held_out):
            raise StageFailedError("the data set does not reconcile")
        ctx.data = data
        ctx.report["dataset"] = {
            "rows": data.rows,
            "row_versions_in_curated": data.versions_read,
            "trained_on": len(data.train),
            "held_out": len(data.held_out),
            "holdout_fraction": fraction,
        }
        st.summary = f"{data.rows} rows ({data.versions_read} versions): train {len(data.train)}, "
        st.summary += f"held out {len(data.held_out)}"
