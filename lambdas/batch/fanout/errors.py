"""What a fan-out invocation raises, split by what the state machine does with it.

Retryable: :class:`SendFailedError`, :class:`OutputStreamError` and any other error (a timeout, a crash, a
throttled S3 call). The state machine retries the invocation with backoff; the retry resumes from the cursor in
the run's state object (see ``state.py``), so only what was sent since that cursor is sent again.

Not retryable: the classes whose names are in ``esteira_contracts.fanout.NON_RETRYABLE_ERRORS``. The state machine
catches them into a notification and fails; their message names the object and the line.
"""

from __future__ import annotations


class InvalidFanoutRequestError(ValueError):
    """The loop input or transform event cannot drive a fan-out."""


class OutputObjectError(RuntimeError):
    """An output object that is gone, unreadable or replaced while being read: retrying cannot help."""


class QueueRejectedError(RuntimeError):
    """SendMessageBatch refused the call itself (access denied, no such queue, invalid request)."""


class SendFailedError(RuntimeError):
    """Entries still failing after the sender's attempts; the state machine retries the invocation from its cursor."""


class OutputStreamError(RuntimeError):
    """An output object's body kept breaking mid-stream after every ranged re-open."""


def location(bucket: str, key: str, first_line: int, last_line: int | None = None) -> str:
    """``s3://bucket/key line N`` or ``lines N-M``: where an error happened, for its message."""
    if last_line is None or last_line == first_line:
        return f"s3://{bucket}/{key} line {first_line}"
    return f"s3://{bucket}/{key} lines {first_line}-{last_line}"
