"""Fan-out Lambda: ``batch.fanout.handler.handler``, one iteration of the Step Functions loop."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch.fanout.logic import fan_out
from common import clients
from esteira_contracts.fanout import FanoutSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return fan_out(event, FanoutSettings.from_env(), clients.s3(), clients.sqs(), context.get_remaining_time_in_millis)
