"""The run's state object ``_fanout/<run>/state.json``: where a retried invocation finds its cursor.

Step Functions retries a failed task with the same input, the cursor of the last handover. So every invocation
reads the state object first and resumes from whichever cursor is further on. The state object is written at
every handover, at least every ``CHECKPOINT_INTERVAL_MS`` while sending, when an invocation fails (with the
cursor of the last line whose batch was accepted), and once more when the run is done. A killed invocation (a
timeout) writes nothing: its retry resumes from its last checkpoint.

A run that is done stays done: a retried last invocation, a redrive or a second execution for the same run (an
EventBridge event delivered twice) finds ``done`` and returns the saved stats without sending anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from batch.fanout.quarantine import SUMMARY_PREFIX, Quarantine, put_object
from batch.fanout.request import Cursor, FanoutRequest, Stats
from esteira_contracts.fanout import FanoutSettings

logger = Logger(child=True)


def summary_key(run_id: str) -> str:
    return f"{SUMMARY_PREFIX}{run_id}.json"


def state_key(run_id: str) -> str:
    return f"{SUMMARY_PREFIX}{run_id}/state.json"


@dataclass(frozen=True)
class Progress:
    """Where a run stands: every line before ``cursor`` is sent or quarantined (None: nothing yet, or done)."""

    cursor: Cursor | None
    stats: Stats
    done: bool = False


class RunState:
    def __init__(self, s3: Any, request: FanoutRequest, settings: FanoutSettings) -> None:
        self._s3 = s3
        self._request = request
        self._settings = settings

    def load(self) -> Progress | None:
        try:
            body = self._s3.get_object(Bucket=self._request.bucket, Key=state_key(self._request.run_id))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        try:
            raw = json.loads(body.read())
            cursor = Cursor.from_dict(raw["cursor"]) if raw.get("cursor") else None
            return Progress(cursor, Stats.from_dict(raw.get("stats")), bool(raw.get("done")))
        except (ValueError, KeyError, TypeError) as exc:
            # The input's cursor is still a safe place to resume from: at worst, lines are sent again.
            logger.warning("ignoring an unreadable state object", extra={"error": str(exc)})
            return None

    def resume(self) -> Progress:
        """The further on of the input's cursor and the saved one."""
        request = self._request
        given = Progress(request.cursor, request.stats)
        saved = self.load()
        if saved is None:
            return given
        if saved.done:
            return saved
        ahead = saved.cursor is not None and (
            request.cursor is None or saved.cursor.position() >= request.cursor.position()
        )
        if ahead or request.cursor is None:
            if saved.cursor != request.cursor:
                logger.info("resuming from the saved cursor", extra={"cursor": _cursor(saved.cursor)})
            return saved
        return given

    def save(self, progress: Progress) -> None:
        state = {
            "run_id": self._request.run_id,
            "done": progress.done,
            "cursor": _cursor(progress.cursor),
            "stats": progress.stats.as_dict(),
            "saved_at": datetime.now(UTC).isoformat(),
        }
        key = state_key(self._request.run_id)
        put_object(self._s3, self._request.bucket, key, json.dumps(state), self._settings, "application/json")

    def write_summary(self, stats: Stats) -> None:
        request = self._request
        summary = {
            "run_id": request.run_id,
            "bucket": request.bucket,
            "prefix": request.prefix,
            "completed_at": datetime.now(UTC).isoformat(),
            "quarantine_prefix": Quarantine.prefix_for(request.run_id),
            "stats": stats.as_dict(),
        }
        body = json.dumps(summary, indent=2)
        put_object(self._s3, request.bucket, summary_key(request.run_id), body, self._settings, "application/json")


def _cursor(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else asdict(cursor)
