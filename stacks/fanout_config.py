"""``batch.fanout`` in `config/<env>.yaml`: the fan-out's timeout, handover margin and task retries.

Its own module (``stacks.config`` imports it) so that the rule tying it to SQS FIFO's deduplication window sits
next to the values it checks.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from esteira_contracts.fanout import FIFO_DEDUPLICATION_WINDOW_SECONDS


class FanoutConfig(BaseModel):
    """The fan-out Lambda's timeout and handover margin, and how its state machine task retries a failed invocation.

    A retry re-sends the lines after the failed invocation's last saved cursor; SQS FIFO drops them only within
    5 minutes of their first send. So the timeout, plus the handover margin, plus the longest delay before a retry
    must stay under that window (checked here, at synth).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_seconds: Annotated[int, Field(ge=30, le=900)] = 180
    handover_margin_seconds: Annotated[int, Field(ge=5)] = 30
    retry_interval_seconds: Annotated[int, Field(ge=1)] = 2
    retry_backoff_rate: Annotated[float, Field(ge=1.0, le=10.0)] = 2.0
    retry_max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    retry_max_delay_seconds: Annotated[int, Field(ge=1)] = 60

    def longest_retry_delay_seconds(self) -> float:
        """The largest wait before any retry (Step Functions' full jitter waits a random part of it)."""
        growth = self.retry_interval_seconds * self.retry_backoff_rate ** (self.retry_max_attempts - 1)
        return float(min(self.retry_max_delay_seconds, growth))

    @model_validator(mode="after")
    def _resends_inside_the_deduplication_window(self) -> Self:
        if self.handover_margin_seconds >= self.timeout_seconds:
            raise ValueError(
                f"batch.fanout.handover_margin_seconds ({self.handover_margin_seconds}) must be less than "
                f"batch.fanout.timeout_seconds ({self.timeout_seconds})"
            )
        longest = self.longest_retry_delay_seconds()
        total = self.timeout_seconds + self.handover_margin_seconds + longest
        if total >= FIFO_DEDUPLICATION_WINDOW_SECONDS:
            raise ValueError(
                f"batch.fanout.timeout_seconds ({self.timeout_seconds}) + batch.fanout.handover_margin_seconds "
                f"({self.handover_margin_seconds}) + the longest retry delay ({longest:g} s, from "
                "batch.fanout.retry_interval_seconds, retry_backoff_rate, retry_max_attempts and "
                f"retry_max_delay_seconds) = {total:g} s must stay under SQS FIFO's "
                f"{FIFO_DEDUPLICATION_WINDOW_SECONDS} s deduplication window, or a retry's re-sends are delivered twice"
            )
        return self
