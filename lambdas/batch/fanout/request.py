"""The loop's contract with Step Functions: the request an invocation reads, its cursor and its running stats.

    in:  {"run_id", "bucket", "prefix", "cursor": null | {"key", "line", "offset"}, "stats": null | {...}}
         (or the raw EventBridge "SageMaker Transform Job State Change" event, for the first iteration)
    out: {"run_id", "bucket", "prefix", "done": bool, "cursor": null | {...}, "stats": {...}}

The output has the input's shape, so the loop feeds it straight back.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from batch.fanout.errors import InvalidFanoutRequestError
from batch.fanout.records import Reason
from common.runs import validate_run_id


@dataclass(frozen=True)
class Cursor:
    key: str
    line: int  # lines of ``key`` already handled (the next is line + 1, 1-based)
    offset: int  # byte offset right after them

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Cursor:
        return cls(key=str(raw["key"]), line=int(raw.get("line", 0)), offset=int(raw.get("offset", 0)))

    def position(self) -> tuple[str, int]:
        """Cursors order by object key (objects are read in key order), then by line."""
        return self.key, self.line


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
    stream_reopens: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Stats:
        raw = raw or {}
        known = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        stats = cls(**known)
        stats.reasons = {str(k): int(v) for k, v in stats.reasons.items()}
        return stats

    def copy(self) -> Stats:
        return Stats(**{**vars(self), "reasons": dict(self.reasons)})

    def count(self, reason: Reason) -> None:
        self.quarantined += 1
        self.reasons[reason.value] = self.reasons.get(reason.value, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        try:
            cursor = Cursor.from_dict(event["cursor"]) if event.get("cursor") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidFanoutRequestError(f"fan-out cursor {event.get('cursor')!r} is not a cursor: {exc}") from exc
        return cls(run_id, bucket, prefix, cursor, Stats.from_dict(event.get("stats")))

    def output(self, *, done: bool, cursor: Cursor | None, stats: Stats) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "done": done,
            "cursor": None if cursor is None else asdict(cursor),
            "stats": stats.as_dict(),
        }


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
