"""Log lines for the job's console (CloudWatch): flushed at once, so an abrupt exit loses none."""

from __future__ import annotations


def log(message: str) -> None:
    print(message, flush=True)
