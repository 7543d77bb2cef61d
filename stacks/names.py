"""One source of truth for names shared by stacks and tests.

Runtime code never imports this module: the stacks hand these values to it through job arguments and environment
variables (rendered by the contracts in ``esteira_contracts``). The data layout (bucket prefixes) and the names
runtime code also needs are declared in ``esteira_contracts`` and re-exported here.
"""

from typing import Final

from esteira_contracts.batch import IDEMPOTENCY_TABLE_KEY as IDEMPOTENCY_TABLE_KEY
from esteira_contracts.batch import IDEMPOTENCY_TTL_ATTRIBUTE as IDEMPOTENCY_TTL_ATTRIBUTE
from esteira_contracts.batch import PREDICTION_MESSAGE_ATTRIBUTE as PREDICTION_MESSAGE_ATTRIBUTE
from esteira_contracts.batch import PREDICTIONS_TABLE_KEY as PREDICTIONS_TABLE_KEY
from esteira_contracts.delivery import MODEL_PACKAGE_STATE_CHANGE as MODEL_PACKAGE_STATE_CHANGE
from esteira_contracts.delivery import PROMOTED_PACKAGE_PARAMETER as PROMOTED_PACKAGE_PARAMETER
from esteira_contracts.delivery import PROMOTION_DECISIONS as PROMOTION_DECISIONS
from esteira_contracts.delivery import PROMOTION_HISTORY_PARAMETER as PROMOTION_HISTORY_PARAMETER
from esteira_contracts.layout import ATHENA_RESULTS_PREFIX as ATHENA_RESULTS_PREFIX
from esteira_contracts.layout import BASELINE_DATASET_DIR as BASELINE_DATASET_DIR
from esteira_contracts.layout import BATCH_INPUT_PREFIX as BATCH_INPUT_PREFIX
from esteira_contracts.layout import BATCH_OUTPUT_PREFIX as BATCH_OUTPUT_PREFIX
from esteira_contracts.layout import CANDIDATE_IMAGE_TAG_PREFIX as CANDIDATE_IMAGE_TAG_PREFIX
from esteira_contracts.layout import CHECKPOINTS_PREFIX as CHECKPOINTS_PREFIX
from esteira_contracts.layout import CLARIFY_PREFIX as CLARIFY_PREFIX
from esteira_contracts.layout import CURATED_EXTRACTION_PREFIX as CURATED_EXTRACTION_PREFIX
from esteira_contracts.layout import CURRENT_MODEL_PACKAGE as CURRENT_MODEL_PACKAGE
from esteira_contracts.layout import DATA_CAPTURE_PREFIX as DATA_CAPTURE_PREFIX
from esteira_contracts.layout import DATASETS_PREFIX as DATASETS_PREFIX
from esteira_contracts.layout import EXTRACTION_PARTITION_KEY as EXTRACTION_PARTITION_KEY
from esteira_contracts.layout import EXTRACTION_STATE_PREFIX as EXTRACTION_STATE_PREFIX
from esteira_contracts.layout import FANOUT_SUMMARY_PREFIX as FANOUT_SUMMARY_PREFIX
from esteira_contracts.layout import GLUE_TEMP_PREFIX as GLUE_TEMP_PREFIX
from esteira_contracts.layout import MODEL_ARTIFACTS_PREFIX as MODEL_ARTIFACTS_PREFIX
from esteira_contracts.layout import MONITORING_BASELINES_PREFIX as MONITORING_BASELINES_PREFIX
from esteira_contracts.layout import MONITORING_REPORTS_PREFIX as MONITORING_REPORTS_PREFIX
from esteira_contracts.layout import NO_MODEL_PACKAGE as NO_MODEL_PACKAGE
from esteira_contracts.layout import PROJECT as PROJECT
from esteira_contracts.layout import PROMOTED_IMAGE_TAG_PREFIX as PROMOTED_IMAGE_TAG_PREFIX
from esteira_contracts.layout import QUARANTINE_PREFIX as QUARANTINE_PREFIX
from esteira_contracts.layout import RAW_EXTRACTION_PREFIX as RAW_EXTRACTION_PREFIX
from esteira_contracts.layout import RUN_PARTITION_KEY as RUN_PARTITION_KEY
from esteira_contracts.layout import SPARK_UI_PREFIX as SPARK_UI_PREFIX
from esteira_contracts.layout import curated_extraction_prefix as curated_extraction_prefix

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

# The batch launcher's function name after "<project>-<env>-": the training state machine invokes it by name (dev).
BATCH_LAUNCHER_FUNCTION: Final = "batch-launcher"
