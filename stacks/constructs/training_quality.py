"""The training state machine's PublishModelQuality step: the dataset run's ground-truth quality report becomes
CloudWatch metrics (``lambdas/training/quality``), which the model-quality alarm watches.

    DatasetStatus? --ok--> PublishModelQuality -> Champion? ...
                                \\--any error--> NotifyQualityNotPublished -> Champion? ...

Publishing is about the models already serving; this run trains the next one. So its failure (no report, a bad
report, CloudWatch refusing) must not lose the training run: the error is caught into a notification to the alerts
topic, and the execution continues to training. The alarm meanwhile sees no new point, and missing data is not
breaching. The report is ``<artifacts>/monitoring/model-quality/run_id=<dataset run>/report.json``, the bucket taken
from Prepare's result (the dataset manifest's bucket is the artifacts bucket).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from esteira_contracts.layout import MODEL_QUALITY_PREFIX, MODEL_QUALITY_REPORT_FILENAME, RUN_PARTITION_KEY
from esteira_contracts.training import PrepareResult
from stacks.constructs.training_paths import ModelQualityResult, path, result_path, selector

PUBLISH_STATE = "PublishModelQuality"
NOTIFY_STATE = "NotifyQualityNotPublished"
# Where a caught publishing error goes: not $.error, which the failure path reads, so a later failure is reported
# as itself and a successful run's output says what went wrong with publishing.
QUALITY_ERROR_PATH = "$.quality_error"
NOTICE_ERROR_PATH = "$.quality_notice_error"
# The publisher's named error for a request CloudWatch refused after botocore's own retries: try once more later.
METRICS_NOT_PUBLISHED = "MetricsNotPublished"


@dataclass(frozen=True)
class QualityStepInputs:
    publisher: lambda_.IFunction
    env_name: str
    # Makes the notification task (the definition's SNS publish to the alerts topic): (id, subject, message).
    notify: Callable[[str, str, dict[str, Any]], tasks.SnsPublish]


def report_uri_format() -> str:
    """States.Format's template for the report's URI: the bucket, then the dataset run id."""
    template = f"s3://{{}}/{MODEL_QUALITY_PREFIX}{RUN_PARTITION_KEY}={{}}/{MODEL_QUALITY_REPORT_FILENAME}"
    if any(char in template.replace("{}", "") for char in "{}\\'"):
        raise ValueError(f"{template!r}: the layout's names must not hold characters States.Format escapes")
    return template


def quality_step(scope: Construct, inputs: QualityStepInputs) -> Callable[[sfn.IChainable], sfn.IChainable]:
    """A function that chains PublishModelQuality (and its caught notification) before ``then``."""

    def before(then: sfn.IChainable) -> sfn.IChainable:
        uri = sfn.JsonPath.format(
            report_uri_format(),
            sfn.JsonPath.string_at(path(PrepareResult, "dataset_manifest_bucket")),
            sfn.JsonPath.string_at(path(PrepareResult, "dataset_run_id")),
        )
        publish = tasks.LambdaInvoke(
            scope,
            PUBLISH_STATE,
            comment="The dataset run's ground-truth quality report -> CloudWatch metrics (the model-quality alarm's)",
            lambda_function=inputs.publisher,
            payload=sfn.TaskInput.from_object({"report_uri": uri}),
            payload_response_only=True,
            result_selector=selector(
                ModelQualityResult,
                {
                    "report_uri": "$.report_uri",
                    "published_metrics": "$.published_metrics",
                    "latest_model_version": "$.latest_model_version",
                    "enough_labels_for_alarm": "$.enough_labels_for_alarm",
                },
            ),
            result_path=result_path(ModelQualityResult),
            retry_on_service_exceptions=True,
        )
        publish.add_retry(errors=[METRICS_NOT_PUBLISHED], interval=Duration.minutes(1), backoff_rate=2, max_attempts=2)
        notify = inputs.notify(
            NOTIFY_STATE,
            "model quality not published (training continues)",
            {
                "outcome": "model_quality_not_published",
                "environment": inputs.env_name,
                "report_uri": uri,
                "error": sfn.JsonPath.string_at(f"{QUALITY_ERROR_PATH}.Error"),
                "cause": sfn.JsonPath.string_at(f"{QUALITY_ERROR_PATH}.Cause"),
                "execution": sfn.JsonPath.execution_id,
            },
        )
        # Neither step's failure ends the run: a notice that cannot be sent is recorded in the state and skipped.
        notify.add_catch(then, errors=["States.ALL"], result_path=NOTICE_ERROR_PATH)
        publish.add_catch(notify, errors=["States.ALL"], result_path=QUALITY_ERROR_PATH)
        publish.next(then)
        notify.next(then)
        return publish

    return before
