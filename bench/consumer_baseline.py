"""Baseline for ``bench/consumer.py``: the consumer's logic as it was at main a478caf (one message at a time).

Per message: Powertools idempotency's conditional PutItem (INPROGRESS), the prediction's conditional PutItem, and
the idempotency record's UpdateItem (COMPLETED): three DynamoDB calls. Kept here, unchanged apart from this
docstring, only so that the benchmark can measure the old path against the new one in the same run.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from common.runs import run_sort_key
from esteira_contracts.batch import IDEMPOTENCY_TABLE_KEY, IDEMPOTENCY_TTL_ATTRIBUTE, ConsumerSettings

logger = Logger(child=True)
processor = SqsFifoPartialProcessor(skip_group_on_error=True)

IDEMPOTENCY_KEY_JMESPATH = "[run_id, entity_id]"
IDEMPOTENCY_KEY_PREFIX = "esteira-batch-prediction"

Writer = Callable[..., dict[str, Any]]


class InvalidMessageError(ValueError):
    """A message body that is not a prediction; it fails, and the queue's redrive policy dead-letters it."""


@dataclass(frozen=True)
class PredictionMessage:
    run_id: str
    entity_id: str
    predicted_label: str
    score: Decimal

    @classmethod
    def from_body(cls, body: str) -> dict[str, Any]:
        """Validate a body and return it as the plain dict the idempotency layer hashes."""
        try:
            raw = json.loads(body)
            message = cls(
                run_id=str(raw["run_id"]),
                entity_id=str(raw["entity_id"]),
                predicted_label=str(raw["predicted_label"]),
                score=Decimal(str(raw["score"])),
            )
            run_sort_key(message.run_id)
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise InvalidMessageError(f"not a prediction message: {exc!r}") from exc
        if not message.entity_id or not message.score.is_finite():
            raise InvalidMessageError("prediction message needs an entity_id and a finite score")
        return {
            "run_id": message.run_id,
            "entity_id": message.entity_id,
            "predicted_label": message.predicted_label,
            "score": str(message.score),
        }


def write_prediction(dynamodb: Any, table: str, message: dict[str, Any]) -> dict[str, Any]:
    """Put the prediction unless the table holds one from the same or a newer run."""
    run_key = run_sort_key(message["run_id"])
    outcome = {"entity_id": message["entity_id"], "run_id": message["run_id"], "written": True}
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "entity_id": {"S": message["entity_id"]},
                "run_id": {"S": message["run_id"]},
                "run_key": {"S": run_key},
                "predicted_label": {"S": message["predicted_label"]},
                "score": {"N": message["score"]},
                "updated_at": {"S": datetime.now(UTC).isoformat()},
            },
            ConditionExpression="attribute_not_exists(entity_id) OR run_key < :run_key",
            ExpressionAttributeValues={":run_key": {"S": run_key}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        logger.info("prediction not newer than the stored one; skipped", extra=outcome)
        outcome["written"] = False
    return outcome


@functools.cache
def idempotent_writer(settings: ConsumerSettings, dynamodb: Any) -> tuple[Writer, IdempotencyConfig]:
    """The idempotent write function for these settings (built on first use, reused while warm)."""
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY_JMESPATH,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table,
        key_attr=IDEMPOTENCY_TABLE_KEY,
        expiry_attr=IDEMPOTENCY_TTL_ATTRIBUTE,
        boto3_client=dynamodb,
    )

    def write(message: dict[str, Any]) -> dict[str, Any]:
        return write_prediction(dynamodb, settings.predictions_table, message)

    writer: Writer = idempotent_function(
        write,
        data_keyword_argument="message",
        persistence_store=persistence,
        config=config,
        key_prefix=IDEMPOTENCY_KEY_PREFIX,
    )
    return writer, config


def handle_record(record: SQSRecord, writer: Writer) -> dict[str, Any]:
    return writer(message=PredictionMessage.from_body(record.body))


def consume(event: dict[str, Any], context: LambdaContext, settings: ConsumerSettings, dynamodb: Any) -> dict[str, Any]:
    writer, config = idempotent_writer(settings, dynamodb)
    config.register_lambda_context(context)
    response = process_partial_response(
        event=event,
        record_handler=functools.partial(handle_record, writer=writer),
        processor=processor,
        context=context,
    )
    return dict(response)
