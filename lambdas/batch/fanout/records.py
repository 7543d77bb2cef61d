"""Transform output lines: split a byte stream into lines with exact offsets, and parse each into a prediction."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

MAX_LINE_BYTES = 64 * 1024
MAX_LABEL_CHARS = 256
# A record id is also the FIFO MessageGroupId: 1-128 printable ASCII characters without spaces.
_RECORD_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


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


@dataclass(frozen=True)
class Prediction:
    entity_id: str
    predicted_label: str
    score: float


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
