"""Retrain trigger Lambda: ``training.retrain.handler.handler`` (EventBridge: monitoring violations, quality alarm)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.retraining import RetrainSettings
from training.retrain.logic import Clients, handle

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    aws = Clients(dynamodb=clients.dynamodb(), stepfunctions=clients.client("stepfunctions"), sns=clients.client("sns"))
    return handle(event, RetrainSettings.from_env(), aws, datetime.now(UTC))
