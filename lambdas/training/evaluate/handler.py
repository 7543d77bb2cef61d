"""Evaluate Lambda: ``training.evaluate.handler.handler`` (after the training job, before Register)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.training import EvaluateSettings
from training.evaluate.logic import evaluate

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = EvaluateSettings.from_env()
    return evaluate(event, settings, clients.s3(), clients.sagemaker(), clients.ecr).to_payload()
