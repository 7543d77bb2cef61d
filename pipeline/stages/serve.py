"""Stage serve: the container's `serve` with the champion, smoke-tested on held-out rows (the CD pipeline's gate)."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline import model, serving
from pipeline.context import RunContext, need
from pipeline.options import REPO
from pipeline.processes import free_port, wait_for_http
from pipeline.report import StageFailedError


def run(ctx: RunContext) -> None:
    champion = need(ctx.champion, "champion")
    min_match_rate = ctx.options.min_match_rate
    with ctx.progress.stage("serve", "the container's serve, smoke test on the dataset's holdout rows") as st:
        model_dir = Path(champion["model_dir"])
        port = free_port()
        env = {
            **os.environ,
            "ESTEIRA_ML_ROOT": str(model_dir.parent),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "ESTEIRA_BIND_HOST": "127.0.0.1",
            "ESTEIRA_SERVER_WORKERS": os.environ.get("ESTEIRA_SERVER_WORKERS", "1"),
        }
        ctx.serve = ctx.children.start("serve", model.serve_argv(REPO), env, ctx.logs / "serve.log", REPO)
        wait_for_http(f"http://127.0.0.1:{port}/ping", ctx.serve, timeout=90)
        ctx.features = model.feature_names(model_dir)
        ctx.client = serving.ServeClient(port)
        held_out = model.read_parquet_dir(need(ctx.dataset_dir, "dataset run") / "holdout")
        lines = model.csv_lines(held_out, ctx.features)
        result = serving.smoke_test(
            ctx.client, lines, held_out[ctx.target].astype(float).tolist(), rows_per_request=1000
        )
        ctx.report["smoke_test"] = {
            "rows": result.rows,
            "matches": result.matches,
            "match_rate": round(result.match_rate, 6),
            "min_match_rate": min_match_rate,
            "requests": result.requests,
            "passed": result.match_rate >= min_match_rate,
            "model_package_arn": champion["arn"],
        }
        st.summary = f"match rate {result.match_rate:.4f} on {result.rows} held-out rows (min {min_match_rate:g})"
        if result.match_rate < min_match_rate:
            raise StageFailedError(
                f"smoke test: match rate {result.match_rate:.4f} < {min_match_rate:g} on {result.rows} held-out rows"
            )
