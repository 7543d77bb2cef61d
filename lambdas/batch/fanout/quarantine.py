"""Quarantine records (JSON lines with the reason) under ``_fanout/<run>/quarantine/``, in parts of bounded size.

A part's key is derived from its first record (object and line). Parts are written only at durable points (every
line before is sent or quarantined), and the cursor saved there resumes after them, so an invocation replayed from
a saved cursor writes the same parts again instead of adding copies.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from batch.fanout.records import Reason
from batch.fanout.request import FanoutRequest, Stats
from esteira_contracts.fanout import FanoutSettings

logger = Logger(child=True)

QUARANTINE_RAW_CHARS = 1024
SUMMARY_PREFIX = "_fanout/"


def put_object(s3: Any, bucket: str, key: str, body: str, settings: FanoutSettings, content_type: str) -> None:
    extra: dict[str, str] = {}
    if settings.kms_key_id:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.kms_key_id}
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type, **extra)


class Quarantine:
    def __init__(self, s3: Any, request: FanoutRequest, settings: FanoutSettings, stats: Stats) -> None:
        self._s3 = s3
        self._request = request
        self._settings = settings
        self._stats = stats
        self._records: list[tuple[str, int, str]] = []  # (key, line, JSON record)

    @staticmethod
    def prefix_for(run_id: str) -> str:
        return f"{SUMMARY_PREFIX}{run_id}/quarantine/"

    @property
    def pending(self) -> int:
        return len(self._records)

    @property
    def full(self) -> bool:
        return len(self._records) >= self._settings.quarantine_flush_records

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
        self._records.append((key, line, json.dumps(record, ensure_ascii=False)))

    def flush(self, upto: int | None = None) -> None:
        """Write the buffered records (only the first ``upto``: those before a durable point) as one part."""
        records = self._records if upto is None else self._records[:upto]
        self._records = []
        if not records:
            return
        source, line, _ = records[0]
        relative = source.removeprefix(self._request.prefix).replace("/", "_")
        key = f"{self.prefix_for(self._request.run_id)}{relative}@{line:010d}.jsonl"
        body = "\n".join(record for _, _, record in records) + "\n"
        put_object(self._s3, self._request.bucket, key, body, self._settings, "application/x-ndjson")
        logger.warning("lines quarantined", extra={"count": len(records), "quarantine_key": key})
