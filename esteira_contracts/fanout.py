"""The fan-out Lambda's contract: its environment, and the names of the errors its state machine must not retry.

The construct builds :class:`FanoutSettings` from config and renders it with ``to_env()``; the handler (and the
local run, through the handler) parses it back with ``from_env()``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol, Self

from esteira_contracts._base import EnvContract, setting

# Errors the fan-out raises when retrying cannot help (a malformed request, a missing or replaced output object, a
# queue that refuses the call itself). The state machine retries every other error and catches these into a
# notification; the runtime classes carry exactly these names (a test holds them together).
NON_RETRYABLE_ERRORS: tuple[str, ...] = ("InvalidFanoutRequestError", "OutputObjectError", "QueueRejectedError")

# SQS FIFO remembers a MessageDeduplicationId for 5 minutes after the message was accepted.
FIFO_DEDUPLICATION_WINDOW_SECONDS = 300

# A MessageGroupId: 1-128 printable ASCII characters without spaces (SendMessageBatch's constraint).
_GROUP_ID = r"[\x21-\x7e]{1,128}"


class FanoutTimingLike(Protocol):
    """The config's `batch.fanout` (stacks.fanout_config.FanoutConfig), as far as the function needs it."""

    @property
    def handover_margin_seconds(self) -> int: ...


class BatchLike(Protocol):
    """The config's `batch` (stacks.config.BatchConfig), as far as the fan-out needs it."""

    @property
    def message_group_strategy(self) -> Literal["entity", "single"]: ...
    @property
    def fanout(self) -> FanoutTimingLike: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class FanoutSettings(EnvContract):
    """What one fan-out invocation needs; every duration is in milliseconds."""

    component = "fan-out"

    queue_url: str = setting("QUEUE_URL")
    group_strategy: Literal["entity", "single"] = setting("MESSAGE_GROUP_STRATEGY", default="entity")
    single_group_id: str = setting(
        "SINGLE_MESSAGE_GROUP_ID", default="predictions", pattern=_GROUP_ID, pattern_help="a FIFO message group id"
    )
    # Hand over (return the cursor) when less than this is left of the invocation.
    safety_margin_ms: int = setting("SAFETY_MARGIN_MS", default=30_000, minimum=0)
    # Hand over after this long in any case, so that a handover happens at least this often.
    max_invocation_ms: int = setting("MAX_INVOCATION_MS", default=180_000, minimum=0)
    # The sender is the one retry layer for SendMessageBatch: whole-call errors and failed entries alike.
    send_max_attempts: int = setting("SEND_MAX_ATTEMPTS", default=8, minimum=1)
    send_base_delay_ms: int = setting("SEND_BASE_DELAY_MS", default=100, minimum=0)
    send_max_delay_ms: int = setting("SEND_MAX_DELAY_MS", default=5_000, minimum=0)
    output_suffix: str = setting("OUTPUT_SUFFIX", default=".out")
    quarantine_flush_records: int = setting("QUARANTINE_FLUSH_RECORDS", default=1_000, minimum=1)
    # Save the cursor in the run's state object at least this often, so a killed invocation's retry re-sends
    # only what was sent since.
    checkpoint_interval_ms: int = setting("CHECKPOINT_INTERVAL_MS", default=15_000, minimum=1_000)
    kms_key_id: str | None = setting("KMS_KEY_ID", default=None)

    @classmethod
    def for_batch(cls, batch: BatchLike, *, queue_url: str, kms_key_id: str | None) -> Self:
        """From the config's `batch`: the construct and the local run build it alike."""
        return cls(
            queue_url=queue_url,
            group_strategy=batch.message_group_strategy,
            safety_margin_ms=batch.fanout.handover_margin_seconds * 1000,
            kms_key_id=kms_key_id,
        )

    def problems(self) -> list[str]:
        if self.send_max_delay_ms < self.send_base_delay_ms:
            return [
                f"SEND_MAX_DELAY_MS={self.send_max_delay_ms} must be >= SEND_BASE_DELAY_MS={self.send_base_delay_ms}"
            ]
        return []
