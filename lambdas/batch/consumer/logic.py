"""Consume prediction messages from the FIFO queue into the DynamoDB "predictions" table.

* Powertools ``SqsFifoPartialProcessor(skip_group_on_error=True)`` with ``ReportBatchItemFailures``: a failing
  record is reported together with the later records *of its message group* (so order per group holds), while
  other groups in the batch proceed. With ``MESSAGE_GROUP_STRATEGY=entity`` every entity is its own group, so
  exactly the failing records come back; with ``single`` everything after the first failure does.
* Idempotency on DynamoDB keyed by the body's ``[run_id, entity_id]`` (Powertools' record format): a replayed
  message (even with a new SQS message id) returns the stored result and writes nothing.
* The put is conditional on run order: an item is written only if the entity has no prediction or one from an
  older run (``run_key`` = run timestamp + run id). A late message from an older run is acknowledged and dropped.
* A batch is stored in one ``TransactWriteItems`` (prediction and idempotency record together, both conditional,
  see :mod:`batch.consumer.store`) instead of three calls per message.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from batch.consumer.store import BatchStore, Pending, StoreError
from common.runs import run_sort_key
from esteira_contracts.batch import ConsumerSettings

processor = SqsFifoPartialProcessor(skip_group_on_error=True)


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
        """Validate a body and return it as the plain dict that is stored (its keys hashed for idempotency)."""
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


def consume(event: dict[str, Any], context: LambdaContext, settings: ConsumerSettings, dynamodb: Any) -> dict[str, Any]:
    """Validate the batch, store it in as few transactions as it allows, then report per record through the FIFO
    batch processor (which fails a failed record's later group members itself, as :mod:`store` left them)."""
    store = BatchStore(dynamodb, settings)
    pending: list[Pending] = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        group = record.attributes.message_group_id or ""
        if group in store.failed_groups:
            continue  # the processor short-circuits it, unwritten
        try:
            pending.append(Pending(record.message_id, group, PredictionMessage.from_body(record.body)))
        except InvalidMessageError as exc:
            store.fail(record.message_id, group, exc)
    store.store(pending)
    response = process_partial_response(
        event=event,
        record_handler=functools.partial(stored_result, results=store.results),
        processor=processor,
        context=context,
    )
    return dict(response)


def stored_result(record: SQSRecord, results: dict[str, dict[str, Any] | Exception]) -> dict[str, Any]:
    result = results.get(record.message_id)
    if result is None:
        raise StoreError(f"message {record.message_id} was not handled")
    if isinstance(result, Exception):
        raise result
    return result
