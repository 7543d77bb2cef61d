"""Prepare Lambda: ``training.prepare.handler.handler`` (first step of the training state machine)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from esteira_contracts.training import PrepareSettings
from training.prepare.logic import prepare

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return prepare(event, PrepareSettings.from_env(), clients.s3(), sagemaker=clients.sagemaker()).to_payload()
