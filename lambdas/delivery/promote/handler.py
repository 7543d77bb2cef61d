"""Promotion Lambda: ``delivery.promote.handler.handler`` (EventBridge: a model package approved or rejected in the
registry)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from delivery.promote.logic import promote
from esteira_contracts.delivery import PromoterSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return promote(event, PromoterSettings.from_env(), codepipeline=clients.codepipeline, ssm=clients.ssm)
