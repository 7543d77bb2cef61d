"""Evaluate Lambda: ``training.evaluate.handler.handler`` (after the training job, before Register)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from training.evaluate.logic import evaluate
from training.settings import EvaluateSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return evaluate(event, EvaluateSettings.from_env(), clients.s3(), clients.sagemaker(), clients.ecr)
