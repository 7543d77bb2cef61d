"""Store a batch of predictions once each: the prediction and its idempotency record in one DynamoDB transaction.

Each message becomes two ``Put`` actions of one ``TransactWriteItems`` call (a round holds up to 50 messages,
DynamoDB's limit being 100 actions per transaction, and no two actions on one item):

* the idempotency record, Powertools-compatible (``id`` = ``<prefix>#md5([run_id, entity_id])``, ``status``
  COMPLETED, ``expiration``, ``data``), on Powertools' own condition: no record yet, an expired one, or an
  expired INPROGRESS one. A replay (even with a new SQS message id) fails this condition and writes nothing;
* the prediction, on the run-order condition: the entity has no prediction, or one from an older run.

DynamoDB evaluates all conditions atomically, so a prediction is never stored without its idempotency record nor
the other way round. A cancelled transaction says, per action, why (``CancellationReasons``): a COMPLETED
idempotency record means a replay (acknowledged, nothing written); a newer stored prediction means the message
is acknowledged with only its idempotency record written (``written: False``); any other reason fails that
message alone. The others are retried in a smaller transaction. A call that fails as a whole (throttling after
botocore's retries, a network error) is retried one message at a time, so only the messages that really fail are
reported. A failure also fails the later messages of its FIFO message group, unwritten (their order holds).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from common.runs import run_sort_key
from esteira_contracts.batch import IDEMPOTENCY_TABLE_KEY, IDEMPOTENCY_TTL_ATTRIBUTE, ConsumerSettings

logger = Logger(child=True)

IDEMPOTENCY_KEY_PREFIX = "esteira-batch-prediction"
# Powertools' DynamoDB persistence layer's attribute names and statuses (so either can read the other's records).
STATUS_ATTRIBUTE = "status"
DATA_ATTRIBUTE = "data"
IN_PROGRESS_EXPIRY_ATTRIBUTE = "in_progress_expiration"
STATUS_COMPLETED = "COMPLETED"
STATUS_IN_PROGRESS = "INPROGRESS"
# TransactWriteItems: at most 100 actions per call; two per message.
MAX_MESSAGES_PER_TRANSACTION = 50

IDEMPOTENCY_CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now OR "
    "(#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
)
PREDICTION_CONDITION = "attribute_not_exists(entity_id) OR run_key < :run_key"


class StoreError(RuntimeError):
    """A message that could not be stored; it is reported as a batch item failure and comes back."""


class GroupSkippedError(StoreError):
    """A message not attempted because an earlier message of its FIFO message group failed."""


@dataclass(frozen=True)
class Pending:
    """A validated message waiting to be stored: its record's id, FIFO group and the prediction."""

    message_id: str
    group: str
    message: dict[str, Any]

    @property
    def entity_id(self) -> str:
        return str(self.message["entity_id"])


def idempotency_key(message: dict[str, Any]) -> str:
    """Powertools' key for ``[run_id, entity_id]`` with our prefix: md5 of the JSON-encoded list."""
    data = json.dumps([message["run_id"], message["entity_id"]], sort_keys=True).encode()
    return f"{IDEMPOTENCY_KEY_PREFIX}#{hashlib.md5(data, usedforsecurity=False).hexdigest()}"


def rounds(pending: Iterable[Pending]) -> list[list[Pending]]:
    """Consecutive slices with one message per entity (a transaction may touch an item once), in order."""
    out: list[list[Pending]] = []
    current: list[Pending] = []
    entities: set[str] = set()
    for item in pending:
        if item.entity_id in entities or len(current) >= MAX_MESSAGES_PER_TRANSACTION:
            out.append(current)
            current, entities = [], set()
        current.append(item)
        entities.add(item.entity_id)
    if current:
        out.append(current)
    return out


class BatchStore:
    """Stores one batch's messages; ``results`` maps each message id to its outcome or its exception."""

    def __init__(self, dynamodb: Any, settings: ConsumerSettings) -> None:
        self.dynamodb = dynamodb
        self.settings = settings
        self.results: dict[str, dict[str, Any] | Exception] = {}
        self.failed_groups: set[str] = set()

    def fail(self, message_id: str, group: str, error: Exception) -> None:
        self.results[message_id] = error
        self.failed_groups.add(group)

    def store(self, pending: list[Pending]) -> None:
        for batch in rounds(pending):
            self._store_round([p for p in batch if not self._skipped(p)])

    def _skipped(self, item: Pending) -> bool:
        if item.group in self.failed_groups:
            self.results[item.message_id] = GroupSkippedError(f"an earlier message of group {item.group} failed")
            return True
        return False

    def _store_round(self, todo: list[Pending]) -> None:
        with_prediction = {p.message_id: True for p in todo}
        # Every cancelled attempt settles at least one message or drops one prediction: this many always suffice.
        for _ in range(2 * len(todo) + 1):
            todo = [p for p in todo if not self._skipped(p)]
            if not todo:
                return
            try:
                self.dynamodb.transact_write_items(
                    TransactItems=[a for p in todo for a in self._actions(p, with_prediction[p.message_id])]
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    self._isolate(todo, exc)
                    return
                todo = self._settle_cancelled(todo, with_prediction, exc.response.get("CancellationReasons", []))
                continue
            for p in todo:
                self._done(p, written=with_prediction[p.message_id])
            return
        for p in todo:
            self.fail(p.message_id, p.group, StoreError("the transaction did not settle"))

    def _isolate(self, todo: list[Pending], exc: ClientError) -> None:
        """A whole-call failure: one message per transaction, so only the messages that fail are reported."""
        if len(todo) == 1:
            self.fail(todo[0].message_id, todo[0].group, exc)
            return
        for item in todo:
            if not self._skipped(item):
                self._store_round([item])

    def _settle_cancelled(
        self, todo: list[Pending], with_prediction: dict[str, bool], reasons: list[dict[str, Any]]
    ) -> list[Pending]:
        """Apply a cancelled transaction's per-action reasons; return the messages to try again."""
        again: list[Pending] = []
        position = 0
        for item in todo:
            width = 2 if with_prediction[item.message_id] else 1
            mine = reasons[position : position + width]
            position += width
            codes = [str(r.get("Code") or "None") for r in mine]
            if len(mine) != width:
                self.fail(item.message_id, item.group, StoreError(f"transaction cancelled without reasons: {codes}"))
            elif codes[0] == "ConditionalCheckFailed":
                stored = mine[0].get("Item") or {}
                status = stored.get(STATUS_ATTRIBUTE, {}).get("S")
                if status == STATUS_COMPLETED:
                    self._replayed(item, stored)
                else:  # another execution holds it (INPROGRESS): try again later, as Powertools does
                    self.fail(item.message_id, item.group, StoreError(f"idempotency record is {status or 'unknown'}"))
            elif width == 2 and codes[1] == "ConditionalCheckFailed":
                with_prediction[item.message_id] = False  # a newer (or this) run's prediction is stored: keep it
                again.append(item)
            elif any(code != "None" for code in codes):
                self.fail(item.message_id, item.group, StoreError(f"transaction cancelled for this message: {codes}"))
            else:
                again.append(item)
        return again

    def _done(self, item: Pending, written: bool) -> None:
        outcome = self._outcome(item, written)
        if not written:
            logger.info("prediction not newer than the stored one; skipped", extra=outcome)
        self.results[item.message_id] = outcome

    def _replayed(self, item: Pending, stored: dict[str, Any]) -> None:
        logger.info("message already processed; nothing written", extra={"entity_id": item.entity_id})
        try:
            self.results[item.message_id] = dict(json.loads(stored[DATA_ATTRIBUTE]["S"]))
        except (KeyError, TypeError, ValueError):
            self.results[item.message_id] = self._outcome(item, written=False)

    @staticmethod
    def _outcome(item: Pending, written: bool) -> dict[str, Any]:
        return {"entity_id": item.entity_id, "run_id": item.message["run_id"], "written": written}

    def _actions(self, item: Pending, with_prediction: bool) -> list[dict[str, Any]]:
        # Whole seconds, the milliseconds too: an INPROGRESS lock is then taken over at most 1 s later than
        # Powertools would (never earlier), and a batch's records share one set of condition values.
        now = int(time.time())
        message = item.message
        outcome = self._outcome(item, written=with_prediction)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.settings.idempotency_table,
                    "Item": {
                        IDEMPOTENCY_TABLE_KEY: {"S": idempotency_key(message)},
                        IDEMPOTENCY_TTL_ATTRIBUTE: {"N": str(now + self.settings.idempotency_ttl_seconds)},
                        STATUS_ATTRIBUTE: {"S": STATUS_COMPLETED},
                        DATA_ATTRIBUTE: {"S": json.dumps(outcome, sort_keys=True)},
                    },
                    "ConditionExpression": IDEMPOTENCY_CONDITION,
                    "ExpressionAttributeNames": {
                        "#id": IDEMPOTENCY_TABLE_KEY,
                        "#expiry": IDEMPOTENCY_TTL_ATTRIBUTE,
                        "#status": STATUS_ATTRIBUTE,
                        "#in_progress_expiry": IN_PROGRESS_EXPIRY_ATTRIBUTE,
                    },
                    "ExpressionAttributeValues": {
                        ":now": {"N": str(now)},
                        ":now_in_millis": {"N": str(now * 1000)},
                        ":inprogress": {"S": STATUS_IN_PROGRESS},
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        if with_prediction:
            run_key = run_sort_key(message["run_id"])
            actions.append(
                {
                    "Put": {
                        "TableName": self.settings.predictions_table,
                        "Item": {
                            "entity_id": {"S": message["entity_id"]},
                            "run_id": {"S": message["run_id"]},
                            "run_key": {"S": run_key},
                            "predicted_label": {"S": message["predicted_label"]},
                            "score": {"N": message["score"]},
                            "updated_at": {"S": datetime.now(UTC).isoformat()},
                        },
                        "ConditionExpression": PREDICTION_CONDITION,
                        "ExpressionAttributeValues": {":run_key": {"S": run_key}},
                    }
                }
            )
        return actions
