"""One source of truth for names shared by stacks and tests.

Runtime code never imports this module: the stacks hand these values to it through
job arguments and environment variables.
"""

from typing import Final

PROJECT: Final = "esteira"

# Key prefixes inside the buckets. Every prefix ends with "/".
RAW_EXTRACTION_PREFIX: Final = "extractions/"
CURATED_EXTRACTION_PREFIX: Final = "extractions/"
QUARANTINE_PREFIX: Final = "quarantine/"
EXTRACTION_STATE_PREFIX: Final = "state/"
ATHENA_RESULTS_PREFIX: Final = "athena-results/"
GLUE_TEMP_PREFIX: Final = "glue-temp/"
SPARK_UI_PREFIX: Final = "spark-ui/"
MODEL_ARTIFACTS_PREFIX: Final = "models/"
CHECKPOINTS_PREFIX: Final = "checkpoints/"
DATA_CAPTURE_PREFIX: Final = "data-capture/"
MONITORING_BASELINE_PREFIX: Final = "monitoring/baseline/"
MONITORING_REPORTS_PREFIX: Final = "monitoring/reports/"
BATCH_INPUT_PREFIX: Final = "batch-input/"
BATCH_OUTPUT_PREFIX: Final = "batch-output/"

# Partition column written by the extraction job (dt=YYYY-MM-DD).
EXTRACTION_PARTITION_KEY: Final = "dt"

# ECR repositories, one per image under containers/.
MODEL_IMAGE_REPOSITORY: Final = "model"

# What the model container's `train` prints as `<name>=<value>` lines (containers/model/README.md).
# tests/stacks/test_training_stack.py checks these against the container's own list and real train output.
TRAINING_METRIC_NAMES: Final = (
    "train:rows",
    "validation:rows",
    "best_iteration",
    "validation:auc",
    "validation:f1",
    "validation:accuracy",
    "validation:precision",
    "validation:recall",
    "validation:rmse",
    "validation:mae",
    "validation:r2",
)
_METRIC_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
TRAINING_METRIC_DEFINITIONS: Final = tuple(
    {"Name": name, "Regex": f"{name}={_METRIC_NUMBER}"} for name in TRAINING_METRIC_NAMES
)

# Model registry: one Model Package Group per environment.
MODEL_PACKAGE_GROUP_SUFFIX: Final = "model"
# Content types the model container accepts and answers (containers/model/README.md).
MODEL_REQUEST_CONTENT_TYPES: Final = ("text/csv", "application/json", "application/jsonlines")
MODEL_RESPONSE_CONTENT_TYPES: Final = ("text/csv", "application/json")

# Batch predictions: the FIFO queue, its dead-letter queue, and the tables the consumer writes.
PREDICTIONS_QUEUE: Final = "predictions"
PREDICTIONS_TABLE: Final = "predictions"
IDEMPOTENCY_TABLE: Final = "predictions-idempotency"
PREDICTIONS_TABLE_KEY: Final = "entity_id"
IDEMPOTENCY_TABLE_KEY: Final = "id"
IDEMPOTENCY_TTL_ATTRIBUTE: Final = "expiration"
# The seed's message attribute, which downstream consumers filter on.
PREDICTION_MESSAGE_ATTRIBUTE: Final = "recomendado-para-voce"
FANOUT_SUMMARY_PREFIX: Final = "_fanout/"

# Delivery (the CD pipeline in the toolchain account).
# The role the pipeline's smoke-test step assumes in the smoke-test environment: `esteira-<env>-smoke-test`.
SMOKE_TEST_ROLE_SUFFIX: Final = "smoke-test"
# The smoke-test step's own role in the toolchain account, `<pipeline_name>-smoke-test-step`: the only principal the
# smoke-test role trusts (IAM role names are at most 64 characters).
SMOKE_TEST_STEP_ROLE_SUFFIX: Final = "smoke-test-step"
IAM_ROLE_NAME_MAX_LENGTH: Final = 64
# The registry env's role that forwards its decisions to the toolchain's bus, `esteira-<env>-forward-decisions`: the
# only principal the toolchain's bus policy admits.
DECISION_FORWARDER_ROLE_SUFFIX: Final = "forward-decisions"
# What the pipeline last promoted (an ARN, or NO_MODEL_PACKAGE), and the promotions before it, newest first.
PROMOTED_PACKAGE_PARAMETER: Final = f"/{PROJECT}/delivery/promoted-model-package"
PROMOTION_HISTORY_PARAMETER: Final = f"/{PROJECT}/delivery/promotion-history"
# The pipeline variable's default: deploy what was last promoted (a code change, not a model change).
CURRENT_MODEL_PACKAGE: Final = "current"
NO_MODEL_PACKAGE: Final = "none"
# The registry's event, and the decisions that move a model in or out of service.
MODEL_PACKAGE_STATE_CHANGE: Final = "SageMaker Model Package State Change"
PROMOTION_DECISIONS: Final = ("Approved", "Rejected")
