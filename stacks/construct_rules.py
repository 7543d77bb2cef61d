"""AWS's documented rules for single constructs, checked when the construct is built (stacks/aws_rules.py checks the
config's rules across keys before any construct exists). docs/aws-rules.md lists both. A broken rule raises
``<what>: <what is wrong> [<rule id>: <documentation URL>]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

SQS_LAMBDA_DOCS: Final = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-lambda-function-trigger.html"
METRIC_DATA_QUERY_DOCS: Final = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html"
)
# A metric math alarm (PutMetricAlarm) holds at most 10 metrics and 10 expressions, each with an Id of letters,
# digits and '_' starting lowercase.
MAX_ALARM_METRICS: Final = 10
MAX_ALARM_EXPRESSIONS: Final = 10
_METRIC_QUERY_ID: Final = re.compile(r"^[a-z][A-Za-z0-9_]{0,254}$")


def minimum_visibility_timeout_seconds(function_timeout_seconds: float) -> float:
    """The SQS queue behind a Lambda event source: at least six times the function's timeout."""
    return 6 * function_timeout_seconds


def check_visibility_timeout(queue: str, visibility_timeout_seconds: float, function_timeout_seconds: float) -> None:
    """Construct-level: refuse a queue whose visibility timeout is under six times its consumer's timeout."""
    needed = minimum_visibility_timeout_seconds(function_timeout_seconds)
    if visibility_timeout_seconds < needed:
        raise ValueError(
            f"{queue}: visibility timeout {visibility_timeout_seconds:g} s is under six times the consumer's "
            f"{function_timeout_seconds:g} s timeout ({needed:g} s) "
            f"[sqs-visibility-six-times-timeout: {SQS_LAMBDA_DOCS}]"
        )


def check_metric_math_alarm(alarm: str, metric_ids: Sequence[str], expression_ids: Sequence[str]) -> None:
    """Construct-level: refuse a metric math alarm PutMetricAlarm would (ids, and how many metrics and expressions)."""
    problems = [
        f"metric id {i!r} must be letters, digits and '_', starting lowercase"
        for i in metric_ids
        if not _METRIC_QUERY_ID.match(i)
    ]
    problems += [
        f"expression id {i!r} must be letters, digits and '_', starting lowercase"
        for i in expression_ids
        if not _METRIC_QUERY_ID.match(i)
    ]
    if len(metric_ids) > MAX_ALARM_METRICS or len(expression_ids) > MAX_ALARM_EXPRESSIONS:
        problems.append(
            f"{len(metric_ids)} metrics and {len(expression_ids)} expressions: at most {MAX_ALARM_METRICS} of each"
        )
    if len(set(metric_ids) | set(expression_ids)) != len(metric_ids) + len(expression_ids):
        problems.append("ids must be unique")
    if problems:
        raise ValueError(f"{alarm}: " + "; ".join(problems) + f" [alarm-metric-math: {METRIC_DATA_QUERY_DOCS}]")
