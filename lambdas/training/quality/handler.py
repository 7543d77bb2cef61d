"""Quality publisher Lambda: ``training.quality.handler.handler`` (the training state machine's
PublishModelQuality step, after the dataset run)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.model_quality import QualityPublisherSettings
from training.quality.logic import publish

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return publish(event, QualityPublisherSettings.from_env(), clients.s3(), clients.client("cloudwatch"))
