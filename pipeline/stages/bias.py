"""Stage bias: Clarify's bias metrics and SHAP values of the candidate on the holdout, and the bias gate.

Where the training state machine runs SageMaker Clarify's processing jobs on the dataset run's holdout and its bias
gate Lambda reads the bias ``analysis.json``, the local run computes the same documents (:mod:`pipeline.bias`, with
Clarify's metric definitions; :mod:`pipeline.explain`, XGBoost's own SHAP values), writes them where Clarify writes
them (``<out>/lake/monitoring/clarify/run_id=<run>/{bias,explainability}/analysis.json``, the artifacts bucket's
layout) and calls the gate Lambda's own logic (``training.bias_gate.logic.check_bias``) with the settings its
construct builds from ``training.bias.gate``. The candidate's predictions are its model's, loaded by the container's
loader; a row's predicted label is positive when its probability is above the served threshold (Clarify's
``probability_threshold``).

A failing bias gate rejects the candidate as the quality gate does: it is not registered; an approved champion
keeps serving, and with none the run fails. A candidate the quality gate already rejected is analysed for the
report, and the bias gate's decision is reported without being applied.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from esteira_contracts.bias import (
    ANALYSIS_FILENAME,
    BIAS_DIR,
    EXPLAINABILITY_DIR,
    BiasGateResult,
    clarify_run_prefix,
)
from esteira_contracts.training import OUTCOME_GATE_REJECTED
from esteira_model.predictor import Predictor
from pipeline import aws, bias, clarify_report, explain, settings
from pipeline.context import RunContext, need
from pipeline.report import StageFailedError
from pipeline.smoke_check import SmokeInputError, read_holdout

JSON = "application/json"


def _write(ctx: RunContext, key: str, document: dict[str, Any]) -> Path:
    """Into the local lake and the local S3's artifacts bucket, at the key Clarify's job writes; Register names the
    S3 object in the package's ModelMetrics."""
    body = json.dumps(document, indent=2) + "\n"
    path = ctx.out / "lake" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    ctx.session.client("s3").put_object(Bucket=aws.ARTIFACTS_BUCKET, Key=key, Body=body.encode(), ContentType=JSON)
    return path


def _report(key: str) -> dict[str, Any]:
    return {"Report": {"ContentType": JSON, "S3Uri": f"s3://{aws.ARTIFACTS_BUCKET}/{key}"}}


def run(ctx: RunContext) -> None:
    evaluation = need(ctx.evaluation, "evaluation")
    config = ctx.config.training.bias
    with ctx.progress.stage("bias", "Clarify's bias metrics and SHAP on the holdout; the bias gate") as st:
        if not config.enabled:
            reason = "training.bias.enabled is false: no Clarify analysis (as on AWS)"
            ctx.report["bias"] = ctx.report["explainability"] = {"skipped": reason}
            st.summary = reason
            return
        dataset_dir = need(ctx.dataset_dir, "dataset run")
        run_id = str(need(ctx.prepared, "Prepare result")["dataset_run_id"])
        prefix = clarify_run_prefix(run_id)
        predictor = Predictor.load(ctx.layout.model_dir, nthread=0)
        try:
            # pandas' default reading of the Parquet, as Clarify reads it (an integer column with nulls is float):
            # Clarify reads a facet column's type from it.
            frame = read_holdout(str(dataset_dir))
        except SmokeInputError as err:
            raise StageFailedError(f"bias: {err}") from None
        features = explain.features_matrix(predictor, frame)

        found = explain.contributions(predictor, explain.sample(features, config.shap.seed))
        shap_key = f"{prefix}{EXPLAINABILITY_DIR}/{ANALYSIS_FILENAME}"
        shap_path = _write(ctx, shap_key, explain.analysis(found))
        ctx.report["explainability"] = explain.report_section(found, ctx.task, str(shap_path), len(features))

        # Clarify's predicted label: the candidate's probability above training.bias.probability_threshold.
        threshold = config.probability_threshold
        probabilities = np.asarray(predictor.booster.inplace_predict(features, validate_features=False))
        try:
            document = bias.analysis(
                frame,
                predictor.schema.target,
                (probabilities > threshold).astype(np.int64),
                settings.bias_facets(config),
                positive_labels=settings.bias_label_values(config),
            )
        except bias.BiasInputError as err:
            raise StageFailedError(f"bias: {err} (training.bias.facets)") from None
        bias_key = f"{prefix}{BIAS_DIR}/{ANALYSIS_FILENAME}"
        bias_path = _write(ctx, bias_key, document)
        ctx.model_metrics = {"Bias": _report(bias_key), "Explainability": _report(shap_key)}

        from training.bias_gate.logic import check_bias

        gate_settings = settings.bias_gate_settings(config)
        # The rows Clarify analyses are the holdout's, as the state machine tells the gate from the manifest.
        result = check_bias(document, gate_settings, rows=len(frame))
        applied = bool(evaluation["passed"])
        names = {facet.column: facet.name or facet.column for facet in config.facets}
        section = clarify_report.bias_section(
            document, result, threshold, str(bias_path), applied, len(frame), names, gate_settings.enabled
        )
        section["served_threshold"] = predictor.schema.threshold  # what serve cuts at; Clarify cuts at the config's
        ctx.report["bias"] = section
        st.summary = f"{clarify_report.bias_sentence(section)}; SHAP: "
        st.summary += clarify_report.explainability_sentence(ctx.report["explainability"])
        if applied and not result.passed:
            _reject(ctx, evaluation, result)


def _reject(ctx: RunContext, evaluation: dict[str, Any], result: BiasGateResult) -> None:
    """The candidate is rejected as a failing quality gate rejects it: Register skips it."""
    ctx.evaluation = {**evaluation, "passed": False, "reason": result.reason}
    gate = ctx.report["model"]["gate"]
    champion = gate.get("champion")
    gate |= {
        "passed": False,
        "outcome": OUTCOME_GATE_REJECTED,
        "decision": "rejected, champion kept" if champion else "rejected",
        "reason": result.reason,
    }
    if champion is None:
        raise StageFailedError(f"the bias gate rejected the model ({result.reason}) and no approved model exists")
