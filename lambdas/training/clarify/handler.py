"""Clarify config Lambda: ``training.clarify.handler.handler`` (after the quality gate, before the Clarify jobs)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.bias import ClarifySettings
from training.clarify.logic import write_configs

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return write_configs(event, ClarifySettings.from_env(), clients.s3())
