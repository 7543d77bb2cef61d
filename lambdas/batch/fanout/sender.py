"""SendMessageBatch, 10 entries per call, with the fan-out's one retry layer.

The SQS client the fan-out uses makes one attempt per call (``common.clients.sqs``: botocore retries off, connect
2 s, read 5 s), so this sender is the only layer that retries: whole-call errors (throttling, 5xx, a lost
connection) and entries reported in ``Failed`` alike, with full-jitter exponential backoff. With the contract's
defaults (8 attempts, 100 ms base, 5 s cap) one batch costs at most 8 calls and 11.3 s of backoff (the sum of
the caps 0.1+0.2+0.4+0.8+1.6+3.2+5.0; half that on average), plus 8 calls of at most 7 s each: ~67 s. It gives up
earlier when the invocation is about to run out of time, so that the invocation saves its cursor instead of being
killed. Then :class:`SendFailedError` goes up to the state machine, which retries the invocation.

Resending is safe: the MessageDeduplicationId is a hash of run id + record id, so SQS FIFO accepts and drops a
re-sent message within 5 minutes of the first accepted send.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from batch.fanout.errors import QueueRejectedError, SendFailedError, location
from batch.fanout.quarantine import Quarantine
from batch.fanout.records import Prediction, Reason
from batch.fanout.request import Stats
from esteira_contracts.fanout import FanoutSettings

logger = Logger(child=True)

MESSAGE_ATTRIBUTE = "recomendado-para-voce"
SQS_BATCH_SIZE = 10
_RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestThrottled",
        "RequestThrottledException",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)
_TRANSIENT_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectTimeoutError)


def pause(seconds: float) -> None:
    """Back off. A module function, so that a test can record the delays instead of sleeping them."""
    time.sleep(seconds)


def deduplication_id(run_id: str, entity_id: str) -> str:
    return hashlib.sha256(f"{run_id}\n{entity_id}".encode()).hexdigest()


def message_entry(entry_id: str, run_id: str, prediction: Prediction, settings: FanoutSettings) -> dict[str, Any]:
    body = {
        "run_id": run_id,
        "entity_id": prediction.entity_id,
        "predicted_label": prediction.predicted_label,
        "score": prediction.score,
    }
    group = prediction.entity_id if settings.group_strategy == "entity" else settings.single_group_id
    return {
        "Id": entry_id,
        "MessageBody": json.dumps(body, separators=(",", ":")),
        "MessageGroupId": group,
        "MessageDeduplicationId": deduplication_id(run_id, prediction.entity_id),
        "MessageAttributes": {MESSAGE_ATTRIBUTE: {"DataType": "String", "StringValue": prediction.predicted_label}},
    }


def backoff_cap_ms(settings: FanoutSettings, attempt: int) -> float:
    """The largest delay after failed attempt ``attempt`` (1-based); the delay is uniform in [0, cap]."""
    return float(min(settings.send_max_delay_ms, settings.send_base_delay_ms * 2 ** (attempt - 1)))


def retryable(exc: Exception) -> bool:
    if isinstance(exc, _TRANSIENT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return error.get("Code") in _RETRYABLE_CODES or status >= 500
    return False


@dataclass(frozen=True)
class _Pending:
    entry: dict[str, Any]
    key: str
    line: int


class BatchSender:
    """Buffers entries and sends them 10 per ``SendMessageBatch``, retrying what fails (see the module)."""

    def __init__(
        self,
        sqs: Any,
        settings: FanoutSettings,
        bucket: str,
        stats: Stats,
        quarantine: Quarantine,
        remaining_ms: Callable[[], int],
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self._settings = settings
        self._bucket = bucket
        self._stats = stats
        self._quarantine = quarantine
        self._remaining_ms = remaining_ms
        self._sleep = sleep
        self._batch: list[_Pending] = []

    @property
    def idle(self) -> bool:
        """Nothing buffered: every line handled so far is sent or quarantined."""
        return not self._batch

    def add(self, run_id: str, prediction: Prediction, key: str, line: int) -> None:
        entry = message_entry(str(len(self._batch)), run_id, prediction, self._settings)
        self._batch.append(_Pending(entry, key, line))
        if len(self._batch) == SQS_BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._send(batch)

    def _where(self, pending: dict[str, _Pending]) -> str:
        items = list(pending.values())
        first, last = items[0], items[-1]
        if first.key != last.key:
            return f"{location(self._bucket, first.key, first.line)} to {location(self._bucket, last.key, last.line)}"
        return location(self._bucket, first.key, first.line, last.line)

    def _back_off_or_give_up(self, attempt: int, pending: dict[str, _Pending], what: str) -> None:
        out_of_attempts = attempt >= self._settings.send_max_attempts
        out_of_time = self._remaining_ms() < self._settings.safety_margin_ms / 2
        if out_of_attempts or out_of_time:
            why = f"after {attempt} SendMessageBatch calls" if out_of_attempts else "with the invocation's time low"
            raise SendFailedError(f"{self._where(pending)}: {len(pending)} entries still failing {why}: {what}")
        delay_ms = random.uniform(0, backoff_cap_ms(self._settings, attempt))  # full jitter
        (self._sleep or pause)(delay_ms / 1000)

    def _send(self, batch: list[_Pending]) -> None:
        pending = {item.entry["Id"]: item for item in batch}
        attempt = 0
        while pending:
            attempt += 1
            self._stats.send_calls += 1
            try:
                response = self._sqs.send_message_batch(
                    QueueUrl=self._settings.queue_url, Entries=[item.entry for item in pending.values()]
                )
            except (ClientError, *_TRANSIENT_ERRORS) as exc:
                if not retryable(exc):
                    raise QueueRejectedError(f"{self._where(pending)}: SendMessageBatch refused: {exc}") from exc
                self._stats.throttled_calls += 1
                logger.warning("SendMessageBatch call failed", extra={"attempt": attempt, "error": str(exc)})
                self._back_off_or_give_up(attempt, pending, str(exc))
                continue
            for ok in response.get("Successful", []):
                if pending.pop(ok["Id"], None) is not None:
                    self._stats.sent += 1
            for failed in response.get("Failed", []):
                if failed.get("SenderFault") and failed["Id"] in pending:
                    item = pending.pop(failed["Id"])
                    detail = f"{failed.get('Code')}: {failed.get('Message', '')}"
                    self._quarantine.add(item.key, item.line, Reason.SQS_REJECTED, detail, item.entry["MessageBody"])
            if pending:
                self._stats.retried_entries += len(pending)
                logger.info("retrying failed entries", extra={"attempt": attempt, "entries": len(pending)})
                self._back_off_or_give_up(attempt, pending, "entries reported as Failed")
