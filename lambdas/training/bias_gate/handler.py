"""Bias gate Lambda: ``training.bias_gate.handler.handler`` (after the Clarify jobs, before Baseline)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.bias import BiasGateSettings
from training.bias_gate.logic import handle

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, BiasGateSettings.from_env(), clients.s3())
