"""Launcher Lambda: ``batch.launcher.handler.handler`` (schedule, on demand, or the training state machine in dev)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch.launcher.logic import launch
from common import clients
from esteira_contracts.batch import LauncherSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return launch(event, LauncherSettings.from_env(), clients.sagemaker(), clients.s3())
