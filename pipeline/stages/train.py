"""Stage train: the Prepare Lambda names the job, then the container's `train` runs in a SageMaker layout."""

from __future__ import annotations

import json
import os
from typing import Any

from esteira_contracts.training import PrepareSettings
from pipeline import aws, model
from pipeline.context import RUN_ID_PREFIX, RunContext, need
from pipeline.lambda_context import new_context
from pipeline.options import REPO
from pipeline.processes import ChildFailedError
from pipeline.report import StageFailedError


def run(ctx: RunContext) -> None:
    with ctx.progress.stage("train", "the container's train in a SageMaker directory layout") as st:
        s3 = ctx.session.client("s3")
        uploaded = aws.upload_tree(s3, need(ctx.curated, "curated lake"), aws.CURATED_BUCKET, aws.CURATED_PREFIX)
        ctx.prepared = _invoke_prepare(ctx)
        job = str(ctx.prepared["training_job_name"])
        params, unusable = _hyperparameters(ctx)
        layout = model.write_train_layout(ctx.run_dir / "ml", ctx.data.train, params)
        if unusable:
            ctx.progress.say(f"    train: also dropping non-numeric columns train cannot use: {unusable}")
        env = {**os.environ, "ESTEIRA_ML_ROOT": str(layout.root)}
        try:
            ctx.run_child("train", model.train_argv(REPO), env, ctx.logs / "train.log")
        except ChildFailedError:
            if layout.failure_file.exists():
                raise StageFailedError("train failed: " + layout.failure_file.read_text().strip()) from None
            raise
        job_prefix = f"{aws.MODEL_PREFIX}{job}/output/"
        tarballs = ctx.run_dir / "artifacts"
        model.make_tarball(layout.model_dir, tarballs / "model.tar.gz")
        model.make_tarball(layout.output_data_dir, tarballs / "output.tar.gz")
        for name in ("model.tar.gz", "output.tar.gz"):
            s3.upload_file(str(tarballs / name), aws.ARTIFACTS_BUCKET, job_prefix + name)
        evaluation = json.loads((layout.output_data_dir / "evaluation.json").read_text())
        ctx.layout = layout
        ctx.model_data_url = f"s3://{aws.ARTIFACTS_BUCKET}/{job_prefix}model.tar.gz"
        ctx.report["model"] = {
            "training_job_name": job,
            "hyperparameters": params,
            "dropped_non_numeric": unusable,
            "features": model.feature_names(layout.model_dir),
            "rows": evaluation.get("rows"),
            "best_iteration": evaluation.get("best_iteration"),
            "model_data_url": ctx.model_data_url,
            "curated_objects_uploaded": uploaded,
        }
        val = evaluation.get("validation", {})
        st.summary = f"job {job}: validation auc {val.get('auc', float('nan')):.4f}, "
        st.summary += f"{len(ctx.report['model']['features'])} features"


def _hyperparameters(ctx: RunContext) -> tuple[dict[str, str], list[str]]:
    params = {str(k): str(v) for k, v in ctx.config.training.hyperparameters.items()}
    params.setdefault("target", ctx.target)
    dropped = [c.strip() for c in params.get("drop_columns", "").split(",") if c.strip()]
    unusable = model.unusable_columns(ctx.data.train, params["target"], dropped)
    params["drop_columns"] = ",".join(dropped + unusable)
    return params, unusable


def _invoke_prepare(ctx: RunContext) -> dict[str, Any]:
    from training.prepare.handler import handler

    os.environ.update(
        PrepareSettings(
            curated_uri=f"s3://{aws.CURATED_BUCKET}/{aws.CURATED_PREFIX}",
            artifacts_bucket=aws.ARTIFACTS_BUCKET,
            job_name_prefix=RUN_ID_PREFIX,
        ).to_env()
    )
    result: dict[str, Any] = handler({"run_id": ctx.run_id}, new_context("esteira-local-prepare", 60))
    return result
