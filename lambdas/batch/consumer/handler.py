"""Consumer Lambda: ``batch.consumer.handler.handler`` on the FIFO queue (ReportBatchItemFailures on)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch.consumer.logic import consume
from common import clients
from esteira_contracts.batch import ConsumerSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return consume(event, context, ConsumerSettings.from_env(), clients.dynamodb())
