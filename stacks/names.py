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

# Glue job arguments, shared by the stack that sets them and the tests that read them back.
JOB_ARG_SPEC_URI: Final = "--spec_uri"
JOB_ARG_SECRET_ID: Final = "--secret_id"
JOB_ARG_JDBC_URL: Final = "--jdbc_url"
JOB_ARG_RAW_URI: Final = "--raw_uri"
JOB_ARG_CURATED_URI: Final = "--curated_uri"
JOB_ARG_QUARANTINE_URI: Final = "--quarantine_uri"
JOB_ARG_STATE_URI: Final = "--state_uri"
