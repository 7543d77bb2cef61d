"""Stage register: a model package in the local registry (moto's SageMaker, replayed from registry.json)."""

from __future__ import annotations

import shutil

from pipeline import aws
from pipeline.context import TRAINING_IMAGE, RunContext, need
from pipeline.report import StageFailedError


def run(ctx: RunContext) -> None:
    model_report = ctx.report["model"]
    registry = need(ctx.registry, "registry")
    evaluation = need(ctx.evaluation, "evaluation")
    with ctx.progress.stage("register", "a model package in the local registry") as st:
        if evaluation["passed"]:
            approval = ctx.config.training.approval
            job = model_report["training_job_name"]
            arn = aws.create_package(
                ctx.session.client("sagemaker"),
                TRAINING_IMAGE,
                ctx.model_data_url,
                evaluation["customer_metadata"],
                approval,
                ctx.drift_check_baselines,
                ctx.model_metrics,
            )
            keep = ctx.out / "models" / job
            if keep.exists():
                shutil.rmtree(keep)
            shutil.copytree(ctx.layout.model_dir, keep / "model")
            registry.add(
                {
                    "arn": arn,
                    "approval": approval,
                    "created_at": aws.utc_now(),
                    "training_job_name": job,
                    "extraction_run_id": ctx.run_id,
                    "image": TRAINING_IMAGE,
                    "model_data_url": ctx.model_data_url,
                    "model_dir": str(keep / "model"),
                    "metrics": evaluation["metrics"],
                    "customer_metadata": evaluation["customer_metadata"],
                    "drift_check_baselines": ctx.drift_check_baselines,
                }
            )
            model_report["registered_package_arn"] = arn
            st.summary = f"{arn} ({approval})"
        else:
            model_report["registered_package_arn"] = None
            st.summary = "nothing registered: the gate rejected the candidate"
        champion = registry.champion()
        if champion is None:
            raise StageFailedError(
                "no approved model package to serve"
                + ("" if ctx.config.training.approval == "Approved" else " (training.approval needs a manual approval)")
            )
        ctx.champion = champion
        model_report["served_package_arn"] = champion["arn"]
