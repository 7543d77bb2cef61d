"""Stage evaluate: the Evaluate Lambda's gate (the config's metric and threshold, and no worse than the champion)."""

from __future__ import annotations

import json
import os

from esteira_contracts.batch import LINEAGE_DATASET, LINEAGE_FEATURE_SCHEMA, LINEAGE_SPEC, feature_schema_digest
from esteira_contracts.training import OUTCOME_GATE_REJECTED, OUTCOME_REGISTERED
from pipeline import settings
from pipeline.context import TRAINING_IMAGE, RunContext, git_commit, need
from pipeline.lambda_context import new_context
from pipeline.report import StageFailedError, metrics_text


def run(ctx: RunContext) -> None:
    from training.evaluate.handler import handler

    gate = ctx.config.training.gate
    threshold = gate.threshold if ctx.options.gate_threshold is None else ctx.options.gate_threshold
    with ctx.progress.stage("evaluate", f"the Evaluate Lambda: gate {gate.metric} >= {threshold:g} and the champion"):
        os.environ.update(settings.evaluate_settings(ctx.config, threshold).to_env())
        prepared = need(ctx.prepared, "Prepare result")
        model_report = ctx.report["model"]
        manifest = json.loads((need(ctx.dataset_dir, "dataset run") / "manifest.json").read_text())
        event = {
            "training_job_name": model_report["training_job_name"],
            "model_artifacts": ctx.model_data_url,
            "training_image": TRAINING_IMAGE,
            "train_uri": prepared["train_uri"],
            "manifest_uri": prepared["manifest_uri"],
            "champion_package_arn": prepared["champion_package_arn"],
            # As the state machine's Evaluate payload: the dataset run is what the smoke test reads its rows from; the
            # spec and the digest of the manifest's features (its States.Hash of States.JsonToString) are what the
            # batch launcher checks a run's rows against before it scores them with the package.
            "lineage": {
                "git_commit": git_commit(),
                "execution": f"local:{ctx.run_id}",
                LINEAGE_DATASET: prepared["dataset_uri"],
                LINEAGE_SPEC: str(manifest["spec_name"]),
                LINEAGE_FEATURE_SCHEMA: feature_schema_digest(manifest["features"]),
            },
        }
        evaluation = handler(event, new_context("esteira-local-evaluate", 60))
        ctx.evaluation = evaluation
        model_report["metrics"] = evaluation["metrics"]
        champion = evaluation["champion"]
        passed = bool(evaluation["passed"])
        decision = "approved" if passed else ("rejected, champion kept" if champion else "rejected")
        model_report["gate"] = {
            "metric": gate.metric,
            "threshold": threshold,
            "min_improvement": gate.min_improvement,
            "value": evaluation["metric_value"],
            "passed": passed,
            # As the training state machine ends: a rejection is an outcome (GateRejected), not a failure.
            "outcome": OUTCOME_REGISTERED if passed else OUTCOME_GATE_REJECTED,
            "decision": decision,
            "reason": evaluation["reason"],
            "champion": champion,
        }
        ctx.progress.stages[
            "evaluate"
        ].summary = f"{decision}: {evaluation['reason']} ({metrics_text(ctx.task, evaluation['metrics'])})"
        if not passed and champion is None:
            raise StageFailedError(
                f"the gate rejected the model ({evaluation['reason']}) and no approved model exists to "
                "serve; see --gate-threshold"
            )
