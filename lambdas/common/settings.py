"""The fan-out Lambda's environment variables and settings, and the reader the training settings share.

The launcher, consumer and promoter read theirs through their contracts (``esteira_contracts.batch`` and
``esteira_contracts.delivery``); the fan-out's move there with its contract. Handlers call ``from_env()`` per
invocation (never at import). A missing or ill-typed variable raises the contracts' :class:`SettingsError`,
naming every offending variable at once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from esteira_contracts import SettingsError as SettingsError

# --- fan-out --------------------------------------------------------------------------------------------------
QUEUE_URL = "QUEUE_URL"
MESSAGE_GROUP_STRATEGY = "MESSAGE_GROUP_STRATEGY"
SINGLE_MESSAGE_GROUP_ID = "SINGLE_MESSAGE_GROUP_ID"
SAFETY_MARGIN_MS = "SAFETY_MARGIN_MS"
MAX_INVOCATION_MS = "MAX_INVOCATION_MS"
SEND_MAX_ATTEMPTS = "SEND_MAX_ATTEMPTS"
SEND_BASE_DELAY_MS = "SEND_BASE_DELAY_MS"
SEND_MAX_DELAY_MS = "SEND_MAX_DELAY_MS"
OUTPUT_SUFFIX = "OUTPUT_SUFFIX"
QUARANTINE_FLUSH_RECORDS = "QUARANTINE_FLUSH_RECORDS"
KMS_KEY_ID = "KMS_KEY_ID"

GroupStrategy = Literal["entity", "single"]
T = TypeVar("T")


class EnvReader:
    """Reads settings from an environment mapping, collecting every problem; `done` raises them at once."""

    error_class: type[Exception] = SettingsError

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.errors: list[str] = []

    def text(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if default is None:
            self.errors.append(f"{name} is required")
            return ""
        return default

    def optional(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        return self._parse(name, default, int, minimum, maximum)

    def optional_integer(self, name: str, minimum: int = 0) -> int | None:
        return None if self.optional(name) is None else self.integer(name, 0, minimum)

    def csv(self, name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in self._environ.get(name, "").split(",") if part.strip())

    def _parse(self, name: str, default: T, parse: Callable[[str], T], minimum: int, maximum: int | None) -> T:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = parse(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not an integer")
            return default
        if isinstance(value, int) and (value < minimum or (maximum is not None and value > maximum)):
            upper = "" if maximum is None else f" and <= {maximum}"
            self.errors.append(f"{name}={value} must be >= {minimum}{upper}")
        return value

    def number(self, name: str, default: float | None = None, minimum: float | None = None) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            if default is None:
                self.errors.append(f"{name} is required")
                return 0.0
            return default
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(f"{name}={raw!r} is not a number")
            return 0.0
        if not math.isfinite(value):
            self.errors.append(f"{name}={raw!r} must be finite")
        elif minimum is not None and value < minimum:
            self.errors.append(f"{name}={raw!r} must be >= {minimum:g}")
        return value

    def done(self, what: str) -> None:
        if self.errors:
            raise self.error_class(f"{what} settings: " + "; ".join(self.errors))


@dataclass(frozen=True)
class FanoutSettings:
    queue_url: str
    group_strategy: GroupStrategy
    single_group_id: str
    safety_margin_ms: int
    max_invocation_ms: int
    send_max_attempts: int
    send_base_delay_ms: int
    send_max_delay_ms: int
    output_suffix: str
    quarantine_flush_records: int
    kms_key_id: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FanoutSettings:
        env = EnvReader(os.environ if environ is None else environ)
        strategy = env.text(MESSAGE_GROUP_STRATEGY, "entity")
        if strategy not in ("entity", "single"):
            env.errors.append(f"{MESSAGE_GROUP_STRATEGY}={strategy!r} must be 'entity' or 'single'")
            strategy = "entity"
        settings = cls(
            queue_url=env.text(QUEUE_URL),
            group_strategy="single" if strategy == "single" else "entity",
            single_group_id=env.text(SINGLE_MESSAGE_GROUP_ID, "predictions"),
            safety_margin_ms=env.integer(SAFETY_MARGIN_MS, 30_000, minimum=0),
            # Checkpoint at least every 3 minutes: a retried invocation re-sends only lines sent since its input
            # cursor, and those must still be inside SQS FIFO's 5-minute deduplication window.
            max_invocation_ms=env.integer(MAX_INVOCATION_MS, 180_000, minimum=0),
            send_max_attempts=env.integer(SEND_MAX_ATTEMPTS, 8, minimum=1),
            send_base_delay_ms=env.integer(SEND_BASE_DELAY_MS, 100, minimum=0),
            send_max_delay_ms=env.integer(SEND_MAX_DELAY_MS, 5_000, minimum=0),
            output_suffix=env.text(OUTPUT_SUFFIX, ".out"),
            quarantine_flush_records=env.integer(QUARANTINE_FLUSH_RECORDS, 1_000, minimum=1),
            kms_key_id=env.optional(KMS_KEY_ID),
        )
        env.done("fan-out")
        return settings
