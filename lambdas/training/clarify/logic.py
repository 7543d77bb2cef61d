"""The Clarify analysis configs of one training run, and the names of its temporary model and processing jobs.

Invoked after the quality gate passes, with the run's training job, dataset run and holdout. Writes
``<clarify prefix>run_id=<run>/{bias,explainability}/analysis_config.json`` and returns a
:class:`~esteira_contracts.bias.ClarifyResult`. Both configs read the holdout as Parquet with the spec's columns
(``headers``), name the label, keep every non-feature column from the model (``excluded_columns``), and point
``predictor`` at the run's temporary model served by Clarify's shadow endpoint: our container takes CSV features
in schema order and answers ``label,score`` per line (``esteira_model.codecs``), so ``probability`` is column 1 and
Clarify cuts it at ``probability_threshold`` (binary classification).

- bias: ``pre_training_bias`` and ``post_training_bias`` with every metric (``"all"``: DI among them), facets and
  the positive label value;
- explainability: Kernel ``shap``; no baseline, so Clarify clusters the holdout for one (``num_clusters``).

Names: the model is named like the training job (another namespace); the jobs ``<prefix>-b<stamp>`` and
``<prefix>-e<stamp>``, where ``<stamp>`` is the training job's suffix without dashes: as long as the training job's
name (63 characters at most), unique per run, and under the prefix the state machine's role may use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from esteira_contracts.bias import (
    ANALYSIS_CONFIG_FILENAME,
    ANALYSIS_FILENAME,
    BIAS_DIR,
    EXPLAINABILITY_DIR,
    PARQUET,
    ClarifyResult,
    ClarifySettings,
    clarify_run_prefix,
)
from esteira_contracts.dataset import RUN_ID_PATTERN
from training.errors import InvalidRequest
from training.s3uri import S3Uri

CSV = "text/csv"
# The container's CSV answer is "label,score": the score (the positive class's probability) is column 1.
SCORE_COLUMN = 1
ANALYSIS_VERSION = "1.0"


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"the event needs {key} (a non-empty string)")
    return value.strip()


def job_names(settings: ClarifySettings, training_job_name: str) -> tuple[str, str]:
    """The bias and explainability jobs' names, derived from the run's training job name."""
    prefix = f"{settings.job_name_prefix}-"
    if not training_job_name.startswith(prefix) or len(training_job_name) == len(prefix):
        raise InvalidRequest(f"training_job_name {training_job_name!r} is not named under {prefix!r}")
    stamp = training_job_name[len(prefix) :].replace("-", "")
    return f"{prefix}b{stamp}", f"{prefix}e{stamp}"


def _common(settings: ClarifySettings, model_name: str) -> dict[str, Any]:
    labels = [_number_or_text(value) for value in settings.label_values]
    return {
        "version": ANALYSIS_VERSION,
        "dataset_type": PARQUET,
        "headers": list(settings.headers),
        "label": settings.label,
        "excluded_columns": list(settings.excluded_columns),
        "label_values_or_threshold": labels,
        "probability_threshold": settings.probability_threshold,
        "predictor": {
            "model_name": model_name,
            "instance_type": settings.predictor_instance_type,
            "initial_instance_count": settings.predictor_instance_count,
            "content_type": CSV,
            "accept_type": CSV,
            "probability": SCORE_COLUMN,
            "endpoint_name_prefix": settings.endpoint_name_prefix,
        },
    }


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def bias_config(settings: ClarifySettings, model_name: str) -> dict[str, Any]:
    """The bias job's analysis_config.json: pre- and post-training metrics of the configured facets."""
    return _common(settings, model_name) | {
        "facet": settings.facet_config(),
        "methods": {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}},
    }


def explainability_config(settings: ClarifySettings, model_name: str) -> dict[str, Any]:
    """The explainability job's analysis_config.json: Kernel SHAP over the holdout's features."""
    shap: dict[str, Any] = {
        "num_samples": settings.shap_num_samples,
        "agg_method": settings.shap_agg_method,
        "seed": settings.shap_seed,
        "use_logit": settings.shap_use_logit,
        "save_local_shap_values": False,
    }
    if settings.shap_num_clusters is not None:
        shap["num_clusters"] = settings.shap_num_clusters
    return _common(settings, model_name) | {"methods": {"shap": shap}}


def write_configs(event: Mapping[str, Any], settings: ClarifySettings, s3: Any) -> dict[str, Any]:
    """Writes both configs for the run in ``event`` and returns the ClarifyResult payload."""
    training_job_name = _text(event, "training_job_name")
    run_id = _text(event, "run_id")
    if not re.fullmatch(RUN_ID_PATTERN, run_id):
        raise InvalidRequest(f"run_id {run_id!r} is not a dataset run id")
    try:
        dataset = S3Uri.parse(_text(event, "dataset_uri")).as_prefix()
    except ValueError as error:
        raise InvalidRequest(f"dataset_uri: {error}") from None
    bias_job, explainability_job = job_names(settings, training_job_name)
    root = S3Uri(settings.artifacts_bucket, clarify_run_prefix(run_id, settings.clarify_prefix))
    folders = {kind: root.join(kind).as_prefix() for kind in (BIAS_DIR, EXPLAINABILITY_DIR)}
    documents = {
        BIAS_DIR: bias_config(settings, training_job_name),
        EXPLAINABILITY_DIR: explainability_config(settings, training_job_name),
    }
    for kind, document in documents.items():
        target = folders[kind].join(ANALYSIS_CONFIG_FILENAME)
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        s3.put_object(Bucket=target.bucket, Key=target.key, Body=body, ContentType="application/json")
    return ClarifyResult(
        model_name=training_job_name,
        bias_job_name=bias_job,
        explainability_job_name=explainability_job,
        dataset_uri=str(dataset),
        bias_config_uri=str(folders[BIAS_DIR].join(ANALYSIS_CONFIG_FILENAME)),
        explainability_config_uri=str(folders[EXPLAINABILITY_DIR].join(ANALYSIS_CONFIG_FILENAME)),
        bias_output_uri=str(folders[BIAS_DIR]),
        explainability_output_uri=str(folders[EXPLAINABILITY_DIR]),
        bias_analysis_uri=str(folders[BIAS_DIR].join(ANALYSIS_FILENAME)),
        explainability_analysis_uri=str(folders[EXPLAINABILITY_DIR].join(ANALYSIS_FILENAME)),
    ).to_payload()
