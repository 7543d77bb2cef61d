"""Run ids: ``<prefix>-YYYYMMDD-HHMMSS`` (UTC), also the transform job's name.

The timestamp makes runs orderable, which the consumer uses so that a late message from an older run never
overwrites a newer prediction. The format fits SageMaker job names: ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MAX_RUN_ID_LENGTH = 63
_TIMESTAMP = "%Y%m%d-%H%M%S"
_RUN_ID = re.compile(r"^(?P<prefix>[a-zA-Z0-9](?:-*[a-zA-Z0-9])*)-(?P<ts>\d{8}-\d{6})$")


class InvalidRunIdError(ValueError):
    """A run id that does not follow ``<prefix>-YYYYMMDD-HHMMSS``."""


def new_run_id(prefix: str, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return validate_run_id(f"{prefix}-{moment.strftime(_TIMESTAMP)}")


def validate_run_id(run_id: str) -> str:
    match = _RUN_ID.match(run_id)
    if match is None or len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidRunIdError(
            f"run id {run_id!r} must be '<prefix>-YYYYMMDD-HHMMSS' (letters, digits, hyphens; at most "
            f"{MAX_RUN_ID_LENGTH} characters)"
        )
    try:
        datetime.strptime(match["ts"], _TIMESTAMP)
    except ValueError as exc:
        raise InvalidRunIdError(f"run id {run_id!r} carries an impossible timestamp {match['ts']!r}") from exc
    return run_id


def run_sort_key(run_id: str) -> str:
    """A string that sorts runs by time (ties broken by the whole id): ``YYYYMMDD-HHMMSS#<run id>``."""
    validate_run_id(run_id)
    return f"{run_id[-15:]}#{run_id}"
