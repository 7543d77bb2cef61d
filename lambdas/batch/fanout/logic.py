"""Fan a transform job's output out to an SQS FIFO queue, 10 messages per call, resumable, with quarantine.

Contract with the Step Functions loop (the output has the input's shape, so the loop feeds it straight back)::

    in:  {"run_id", "bucket", "prefix", "cursor": null | {"key", "line", "offset"}, "stats": null | {...}}
         (or the raw EventBridge "SageMaker Transform Job State Change" event, for the first iteration)
    out: {"run_id", "bucket", "prefix", "done": bool, "cursor": null | {...}, "stats": {...}}

Objects under ``prefix`` ending in the output suffix are read in key order (S3 lists keys in ascending order),
each streamed in chunks, never whole. ``cursor`` names the object, the number of its lines already handled and
the byte offset after them (the next invocation resumes with a ranged GET). An invocation hands over when its
remaining time falls below ``SAFETY_MARGIN_MS`` or after ``MAX_INVOCATION_MS`` (default 3 minutes).
Message deduplication ids are a hash of run id + record id, so re-sending lines after a crash or a retried
batch never delivers twice within the queue's 5-minute deduplication window.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from common.runs import validate_run_id
from common.settings import FanoutSettings

logger = Logger(child=True)

MESSAGE_ATTRIBUTE = "recomendado-para-voce"
SQS_BATCH_SIZE = 10
READ_CHUNK_BYTES = 256 * 1024
MAX_LINE_BYTES = 64 * 1024
MAX_LABEL_CHARS = 256
QUARANTINE_RAW_CHARS = 1024
SUMMARY_PREFIX = "_fanout/"
# A record id is also the FIFO MessageGroupId: 1-128 printable ASCII characters without spaces.
_RECORD_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
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
_TRANSIENT_ERRORS = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)


class Reason(StrEnum):
    """Why a line was quarantined (a closed set, so stats stay bounded)."""

    NOT_UTF8 = "not_utf8"
    LINE_TOO_LONG = "line_too_long"
    BAD_CSV = "bad_csv"
    FIELD_COUNT = "field_count"
    INVALID_RECORD_ID = "invalid_record_id"
    INVALID_LABEL = "invalid_label"
    INVALID_SCORE = "invalid_score"
    SQS_REJECTED = "sqs_rejected"


class MalformedLineError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SendFailedError(RuntimeError):
    """Entries still failing after every retry; the state machine retries the invocation from its cursor."""


class InvalidFanoutRequestError(ValueError):
    """The loop input or transform event cannot drive a fan-out."""


@dataclass(frozen=True)
class Cursor:
    key: str
    line: int  # lines of ``key`` already handled (the next is line + 1, 1-based)
    offset: int  # byte offset right after them

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Cursor:
        return cls(key=str(raw["key"]), line=int(raw.get("line", 0)), offset=int(raw.get("offset", 0)))


@dataclass
class Stats:
    objects: int = 0
    lines: int = 0
    sent: int = 0
    blank: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    send_calls: int = 0
    retried_entries: int = 0
    throttled_calls: int = 0
    invocations: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Stats:
        raw = raw or {}
        known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        stats = cls(**known)
        stats.reasons = {str(k): int(v) for k, v in stats.reasons.items()}
        return stats

    def count(self, reason: Reason) -> None:
        self.quarantined += 1
        self.reasons[reason.value] = self.reasons.get(reason.value, 0) + 1


@dataclass(frozen=True)
class FanoutRequest:
    run_id: str
    bucket: str
    prefix: str
    cursor: Cursor | None
    stats: Stats

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> FanoutRequest:
        if "detail-type" in event:
            event = input_from_transform_event(event.get("detail") or {})
        try:
            run_id = validate_run_id(str(event["run_id"]))
            bucket, prefix = str(event["bucket"]), str(event["prefix"])
        except (KeyError, ValueError) as exc:
            raise InvalidFanoutRequestError(f"fan-out input needs run_id, bucket, prefix: {exc}") from exc
        cursor = Cursor.from_dict(event["cursor"]) if event.get("cursor") else None
        return cls(run_id, bucket, prefix, cursor, Stats.from_dict(event.get("stats")))


@dataclass(frozen=True)
class Prediction:
    entity_id: str
    predicted_label: str
    score: float


@dataclass(frozen=True)
class _Pending:
    entry: dict[str, Any]
    key: str
    line: int


def input_from_transform_event(detail: dict[str, Any]) -> dict[str, Any]:
    """Map a "SageMaker Transform Job State Change" detail (status Completed) to the fan-out's first input."""
    status = detail.get("TransformJobStatus")
    if status != "Completed":
        raise InvalidFanoutRequestError(f"transform job {detail.get('TransformJobName')!r} is {status}, not Completed")
    output_path = str((detail.get("TransformOutput") or {}).get("S3OutputPath", ""))
    match = re.match(r"^s3://([^/]+)/(.*)$", output_path)
    if match is None:
        raise InvalidFanoutRequestError(f"TransformOutput.S3OutputPath {output_path!r} is not an s3:// URI")
    bucket, prefix = match.group(1), match.group(2)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return {"run_id": detail["TransformJobName"], "bucket": bucket, "prefix": prefix, "cursor": None, "stats": None}


def parse_line(raw: bytes) -> Prediction | None:
    """``record_id,predicted_label,score`` -> Prediction; None for a blank line; MalformedLineError otherwise."""
    try:
        text = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise MalformedLineError(Reason.NOT_UTF8, str(exc)) from exc
    if not text.strip():
        return None
    if '"' in text:
        try:
            fields = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            raise MalformedLineError(Reason.BAD_CSV, str(exc)) from exc
    else:
        fields = text.split(",")
    if len(fields) != 3:
        raise MalformedLineError(Reason.FIELD_COUNT, f"expected 3 fields (record_id,label,score), got {len(fields)}")
    record_id, label, score_text = (part.strip() for part in fields)
    if not _RECORD_ID.match(record_id):
        raise MalformedLineError(
            Reason.INVALID_RECORD_ID, "record id must be 1-128 printable ASCII characters without spaces"
        )
    if not label or len(label) > MAX_LABEL_CHARS:
        raise MalformedLineError(Reason.INVALID_LABEL, f"label must have 1-{MAX_LABEL_CHARS} characters")
    try:
        score = float(score_text)
    except ValueError as exc:
        raise MalformedLineError(Reason.INVALID_SCORE, f"score {score_text[:40]!r} is not a number") from exc
    if not math.isfinite(score):
        raise MalformedLineError(Reason.INVALID_SCORE, f"score {score_text[:40]!r} is not finite")
    return Prediction(record_id, label, score)


def iter_lines(
    chunks: Iterable[bytes], offset: int = 0, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[bytes | None, int]]:
    """Split a byte stream into lines without the newline, with the offset after each line's newline.

    Memory is bounded by ``max_line``: a longer line is yielded as None (and skipped to its end).
    """
    pending = bytearray()
    pending_len = 0
    too_long = False
    for chunk in chunks:
        pos = 0
        size = len(chunk)
        while pos < size:
            newline = chunk.find(b"\n", pos)
            end = size if newline < 0 else newline
            if not too_long:
                if len(pending) + end - pos > max_line:
                    too_long = True
                    pending.clear()
                else:
                    pending += chunk[pos:end]
            pending_len += end - pos
            if newline < 0:
                break
            offset += pending_len + 1
            yield (None if too_long else bytes(pending)), offset
            pending.clear()
            pending_len = 0
            too_long = False
            pos = newline + 1
    if pending_len:
        yield (None if too_long else bytes(pending)), offset + pending_len


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


class Quarantine:
    """Quarantine records (JSON lines with the reason), written in parts of bounded size.

    A part's key is derived from its first record (object and line), so an invocation replayed from the same
    cursor overwrites the same parts instead of adding copies.
    """

    def __init__(self, s3: Any, request: FanoutRequest, settings: FanoutSettings, stats: Stats) -> None:
        self._s3 = s3
        self._request = request
        self._settings = settings
        self._stats = stats
        self._records: list[str] = []
        self._first: tuple[str, int] | None = None

    @staticmethod
    def prefix_for(run_id: str) -> str:
        return f"{SUMMARY_PREFIX}{run_id}/quarantine/"

    def add(self, key: str, line: int, reason: Reason, detail: str, raw: bytes | str | None) -> None:
        self._stats.count(reason)
        if isinstance(raw, bytes):
            raw = raw[:QUARANTINE_RAW_CHARS].decode("utf-8", errors="replace")
        record = {
            "run_id": self._request.run_id,
            "bucket": self._request.bucket,
            "key": key,
            "line": line,
            "reason": reason.value,
            "detail": detail,
            "raw": None if raw is None else raw[:QUARANTINE_RAW_CHARS],
        }
        if self._first is None:
            self._first = (key, line)
        self._records.append(json.dumps(record, ensure_ascii=False))
        if len(self._records) >= self._settings.quarantine_flush_records:
            self.flush()

    def flush(self) -> None:
        if not self._records or self._first is None:
            return
        source, line = self._first
        relative = source.removeprefix(self._request.prefix).replace("/", "_")
        key = f"{self.prefix_for(self._request.run_id)}{relative}@{line:010d}.jsonl"
        _put(
            self._s3, self._request.bucket, key, "\n".join(self._records) + "\n", self._settings, "application/x-ndjson"
        )
        logger.warning("lines quarantined", extra={"count": len(self._records), "quarantine_key": key})
        self._records = []
        self._first = None


class BatchSender:
    """Buffers entries and sends them 10 per ``SendMessageBatch``; failed entries are retried with backoff."""

    def __init__(
        self,
        sqs: Any,
        settings: FanoutSettings,
        stats: Stats,
        quarantine: Quarantine,
        sleep: Callable[[float], None],
    ) -> None:
        self._sqs = sqs
        self._settings = settings
        self._stats = stats
        self._quarantine = quarantine
        self._sleep = sleep
        self._batch: list[_Pending] = []

    def add(self, run_id: str, prediction: Prediction, key: str, line: int) -> None:
        entry = message_entry(str(len(self._batch)), run_id, prediction, self._settings)
        self._batch.append(_Pending(entry, key, line))
        if len(self._batch) == SQS_BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._send(batch)

    def _backoff(self, attempt: int) -> None:
        cap = min(self._settings.send_max_delay_ms, self._settings.send_base_delay_ms * 2 ** (attempt - 1))
        self._sleep(random.uniform(0, cap) / 1000)  # full jitter

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
                if not _retryable(exc) or attempt >= self._settings.send_max_attempts:
                    raise SendFailedError(
                        f"SendMessageBatch failed after {attempt} attempts with {len(pending)} entries pending: {exc}"
                    ) from exc
                self._stats.throttled_calls += 1
                logger.warning(
                    "SendMessageBatch call failed; backing off", extra={"attempt": attempt, "error": str(exc)}
                )
                self._backoff(attempt)
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
                if attempt >= self._settings.send_max_attempts:
                    raise SendFailedError(
                        f"{len(pending)} entries still failing after {attempt} SendMessageBatch calls"
                    )
                self._stats.retried_entries += len(pending)
                logger.info("retrying failed entries", extra={"attempt": attempt, "entries": len(pending)})
                self._backoff(attempt)


def fan_out(
    event: dict[str, Any],
    settings: FanoutSettings,
    s3: Any,
    sqs: Any,
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    request = FanoutRequest.from_event(event)
    deadline = time.monotonic() + settings.max_invocation_ms / 1000
    stats = request.stats
    stats.invocations += 1
    quarantine = Quarantine(s3, request, settings, stats)
    sender = BatchSender(sqs, settings, stats, quarantine, sleep)
    logger.info("fan-out invocation", extra={"run_id": request.run_id, "cursor": _cursor_dict(request.cursor)})
    for key, size in _output_objects(s3, request, settings.output_suffix):
        start = request.cursor if request.cursor and request.cursor.key == key else Cursor(key, 0, 0)
        if start.offset >= size:
            stats.objects += 1
            continue
        extra = {"Range": f"bytes={start.offset}-"} if start.offset else {}
        body = s3.get_object(Bucket=request.bucket, Key=key, **extra)["Body"]
        line = start.line
        try:
            for raw, end in iter_lines(body.iter_chunks(READ_CHUNK_BYTES), start.offset):
                line += 1
                stats.lines += 1
                _handle_line(raw, key, line, request.run_id, sender, quarantine, stats)
                if remaining_ms() < settings.safety_margin_ms or time.monotonic() >= deadline:
                    sender.flush()
                    quarantine.flush()
                    cursor = Cursor(key, line, end)
                    logger.info("time running low; handing over", extra={"cursor": _cursor_dict(cursor)})
                    return _result(request, done=False, cursor=cursor, stats=stats)
        finally:
            body.close()
        stats.objects += 1
        quarantine.flush()
    sender.flush()
    quarantine.flush()
    _write_summary(s3, request, settings, stats)
    logger.info("fan-out done", extra={"run_id": request.run_id, "stats": asdict(stats)})
    return _result(request, done=True, cursor=None, stats=stats)


def summary_key(run_id: str) -> str:
    return f"{SUMMARY_PREFIX}{run_id}.json"


def _handle_line(
    raw: bytes | None, key: str, line: int, run_id: str, sender: BatchSender, quarantine: Quarantine, stats: Stats
) -> None:
    if raw is None:
        quarantine.add(key, line, Reason.LINE_TOO_LONG, f"line longer than {MAX_LINE_BYTES} bytes", None)
        return
    try:
        prediction = parse_line(raw)
    except MalformedLineError as exc:
        quarantine.add(key, line, exc.reason, exc.detail, raw)
        return
    if prediction is None:
        stats.blank += 1
    else:
        sender.add(run_id, prediction, key, line)


def _output_objects(s3: Any, request: FanoutRequest, suffix: str) -> Iterator[tuple[str, int]]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=request.bucket, Prefix=request.prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(suffix) or (request.cursor is not None and key < request.cursor.key):
                continue
            yield key, int(obj["Size"])


def _write_summary(s3: Any, request: FanoutRequest, settings: FanoutSettings, stats: Stats) -> None:
    summary = {
        "run_id": request.run_id,
        "bucket": request.bucket,
        "prefix": request.prefix,
        "completed_at": datetime.now(UTC).isoformat(),
        "quarantine_prefix": Quarantine.prefix_for(request.run_id),
        "stats": asdict(stats),
    }
    _put(s3, request.bucket, summary_key(request.run_id), json.dumps(summary, indent=2), settings, "application/json")


def _put(s3: Any, bucket: str, key: str, body: str, settings: FanoutSettings, content_type: str) -> None:
    extra: dict[str, str] = {}
    if settings.kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.kms_key_id}
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type, **extra)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, _TRANSIENT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return error.get("Code") in _RETRYABLE_CODES or status >= 500
    return False


def _cursor_dict(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else asdict(cursor)


def _result(request: FanoutRequest, *, done: bool, cursor: Cursor | None, stats: Stats) -> dict[str, Any]:
    return {
        "run_id": request.run_id,
        "bucket": request.bucket,
        "prefix": request.prefix,
        "done": done,
        "cursor": _cursor_dict(cursor),
        "stats": asdict(stats),
    }
