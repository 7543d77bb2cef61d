"""The data layout: key prefixes inside the buckets and the names that runtime code and stacks both use.

Declared once here; ``stacks/names.py`` re-exports them for the constructs, and the Lambdas, the Glue job and the
local run (``python -m pipeline``) import them from here, so AWS and the local run write the same keys.
Every prefix ends with "/". Changing one moves data a deployed stack reads: treat these as stable.
"""

from __future__ import annotations

from typing import Final

PROJECT: Final = "esteira"

# --- the data platform's buckets (raw and curated) ---------------------------------------------------------------
# Each extraction spec writes under "<prefix><spec name>/" in the raw and in the curated bucket.
RAW_EXTRACTION_PREFIX: Final = "extractions/"
CURATED_EXTRACTION_PREFIX: Final = "extractions/"
QUARANTINE_PREFIX: Final = "quarantine/"
EXTRACTION_STATE_PREFIX: Final = "state/"
ATHENA_RESULTS_PREFIX: Final = "athena-results/"
GLUE_TEMP_PREFIX: Final = "glue-temp/"
SPARK_UI_PREFIX: Final = "spark-ui/"
# Partition column written by the extraction job (dt=YYYY-MM-DD).
EXTRACTION_PARTITION_KEY: Final = "dt"

# --- the artifacts bucket ----------------------------------------------------------------------------------------
MODEL_ARTIFACTS_PREFIX: Final = "models/"
# The dataset job's output: "datasets/run_id=<run>/{train,validation,holdout,baseline}/" and its manifest.json.
DATASETS_PREFIX: Final = "datasets/"
CHECKPOINTS_PREFIX: Final = "checkpoints/"
# What Evaluate publishes in models/<training job>/ (and the only file its role may write there).
EVALUATION_FILENAME: Final = "evaluation.json"
DATA_CAPTURE_PREFIX: Final = "data-capture/"
# The baselining job's output, one folder per training run: "monitoring/baselines/run_id=<run>/" holds the Model
# Monitor analyzer's constraints.json and statistics.json for the dataset run's baseline/ CSV, which the registered
# package's DriftCheckBaselines name (and the local run writes the same files there). The served champion's
# folder is what the endpoint's data-quality monitor compares with.
MONITORING_BASELINES_PREFIX: Final = "monitoring/baselines/"
# The dataset run's folder of the headerless feature CSV the baseline is computed from.
BASELINE_DATASET_DIR: Final = "baseline"
BASELINE_CONSTRAINTS_FILENAME: Final = "constraints.json"
BASELINE_STATISTICS_FILENAME: Final = "statistics.json"
MONITORING_REPORTS_PREFIX: Final = "monitoring/reports/"

# Ground-truth model quality (the dataset job's quality step): one report per dataset run,
# "monitoring/model-quality/run_id=<run>/report.json" (per model version: labelled predictions, AUC, precision,
# recall and F1 at the served threshold, Brier score, calibration bins), which the quality publisher turns into
# CloudWatch metrics. Beside it, the same run's labels as ground truth for the endpoint's model-quality monitor, in
# SageMaker's format (one JSON line per record: groundTruthData, eventMetadata.eventId = the record id as the
# caller's InferenceId): "monitoring/ground-truth/yyyy/mm/dd/hh/<run>.jsonl".
MODEL_QUALITY_PREFIX: Final = "monitoring/model-quality/"
MODEL_QUALITY_REPORT_FILENAME: Final = "report.json"
GROUND_TRUTH_PREFIX: Final = "monitoring/ground-truth/"
# SageMaker Clarify's outputs per training run: "monitoring/clarify/run_id=<run>/{bias,explainability}/analysis.json"
# (and its analysis config, "analysis_config.json", beside them); the package's ModelMetrics.Bias and
# .Explainability name them.
CLARIFY_PREFIX: Final = "monitoring/clarify/"

# --- the predictions bucket --------------------------------------------------------------------------------------
# The dataset job writes each training run's rows to score under "batch-input/run_id=<run>/".
BATCH_INPUT_PREFIX: Final = "batch-input/"
RUN_PARTITION_KEY: Final = "run_id"
BATCH_OUTPUT_PREFIX: Final = "batch-output/"
# Each transform run's scoring record, written by the launcher beside the job's outputs before the job starts:
# "batch-output/<run>/_scoring.json" (the run, the model package ARN and version, the dataset run scored, the served
# threshold). With the ".out" files ("record_id,label,score" lines) it is the store of predictions by model version
# that the quality step joins with outcomes. The fan-out reads only ".out" objects.
SCORING_RECORD_FILENAME: Final = "_scoring.json"
# The fan-out's run summaries (`_fanout/<run>.json`) and quarantined lines (`_fanout/<run>/quarantine/`).
FANOUT_SUMMARY_PREFIX: Final = "_fanout/"

# --- delivery ----------------------------------------------------------------------------------------------------
# What the promoted-package parameter holds when nothing is promoted (also the pipeline variable deploying no model),
# and the pipeline variable's default: deploy what was last promoted (a code change, not a model change).
NO_MODEL_PACKAGE: Final = "none"
CURRENT_MODEL_PACKAGE: Final = "current"

# --- the model image repository ---------------------------------------------------------------------------------
# The only tagged images the ECR lifecycle may expire: scratch builds pushed as "candidate-<anything>". A training
# config never names such a tag (stacks/config.py), so no registered package uses one.
CANDIDATE_IMAGE_TAG_PREFIX: Final = "candidate-"
# The tag promotion adds to a promoted package's image ("promoted-<package version>"): what serves, made visible.
PROMOTED_IMAGE_TAG_PREFIX: Final = "promoted-"


def curated_extraction_prefix(spec_name: str) -> str:
    """Where the extraction of ``spec_name`` lands in the curated bucket, and what training reads."""
    return f"{CURATED_EXTRACTION_PREFIX}{spec_name}/"


def raw_extraction_prefix(spec_name: str) -> str:
    return f"{RAW_EXTRACTION_PREFIX}{spec_name}/"


def run_prefix(prefix: str, run_id: str) -> str:
    """``<prefix>run_id=<run>/``: one run's folder under a ``datasets/`` or ``batch-input/`` prefix."""
    return f"{prefix}{RUN_PARTITION_KEY}={run_id}/"
