"""Stage train: the Prepare Lambda names the job, then the container's `train` runs in a SageMaker layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline import aws, model
from pipeline.context import RunContext, need
from pipeline.options import REPO
from pipeline.processes import ChildFailedError
from pipeline.report import StageFailedError, metrics_text

# The dataset's splits, as the training state machine gives them to SageMaker.
CHANNELS = ("train", "validation", "holdout")


def run(ctx: RunContext) -> None:
    dataset_dir = need(ctx.dataset_dir, "dataset run")
    champion = need(ctx.registry, "registry").champion()
    with ctx.progress.stage("train", "the container's train on the dataset's channels, champion scored alike") as st:
        s3 = ctx.session.client("s3")
        prepared = need(ctx.prepared, "Prepare result")
        job = str(prepared["training_job_name"])
        params = {str(k): str(v) for k, v in ctx.config.training.hyperparameters.items()}
        params["id_column"] = ctx.key
        channels = {name: dataset_dir / name for name in CHANNELS}
        champion_dir = Path(champion["model_dir"]) if champion else None
        layout = model.write_train_layout(ctx.run_dir / "ml", channels, params, champion_dir)
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
            "channels": sorted([*channels, *([model.CHAMPION_CHANNEL] if champion_dir else [])]),
            "features": model.feature_names(layout.model_dir),
            "rows": evaluation.get("rows"),
            "best_iteration": evaluation.get("best_iteration"),
            "holdout": evaluation.get("holdout"),
            "champion_holdout": evaluation.get("champion_holdout"),
            "model_data_url": ctx.model_data_url,
            "curated_objects_uploaded": prepared["curated_objects_uploaded"],
        }
        split = "holdout" if evaluation.get("holdout") else "validation"
        scored = evaluation.get(split) or {}
        st.summary = f"job {job} ({ctx.task}): {split} {metrics_text(ctx.task, scored)}"
        if evaluation.get("champion_holdout"):
            st.summary += f" (champion {metrics_text(ctx.task, evaluation['champion_holdout'])})"
        st.summary += f", {len(ctx.report['model']['features'])} features"
