"""Served-state recorder: ``delivery.promote.served_handler.handler`` (a CloudFormation custom resource).

Create and Update record (:mod:`delivery.promote.served`); Delete does nothing: the served state outlives the
stack, so that a redeployed stack serves what was promoted. The answer goes to CloudFormation's pre-signed URL.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from common import clients
from delivery.promote.served import record, variants_from_properties
from esteira_contracts.served import RecorderSettings

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    respond(event, context.log_stream_name, handle(event))


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The answer to one custom-resource event: SUCCESS with the recorded state, or FAILED naming the problem."""
    try:
        data: dict[str, str] = {}
        if event.get("RequestType") != "Delete":
            data = record(
                RecorderSettings.from_env(),
                variants_from_properties(event.get("ResourceProperties", {})),
                ssm=clients.ssm(),
                sagemaker=clients.sagemaker(),
                ecr=clients.ecr(),
            )
        return {"Status": "SUCCESS", "Data": data}
    except Exception as exc:
        logger.exception("served state not recorded")
        return {"Status": "FAILED", "Reason": f"{type(exc).__name__}: {exc}"[:1000], "Data": {}}


def respond(event: dict[str, Any], log_stream: str, answer: dict[str, Any]) -> None:
    body = json.dumps(
        {
            **answer,
            "PhysicalResourceId": event.get("PhysicalResourceId") or f"served-state-{event.get('LogicalResourceId')}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Reason": answer.get("Reason", f"see CloudWatch Logs stream {log_stream}"),
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        logger.info("answered CloudFormation", extra={"status": answer["Status"], "http_status": response.status})
