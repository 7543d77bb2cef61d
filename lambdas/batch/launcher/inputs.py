"""Which batch input a launch scores: exactly one dataset run's ``<input prefix>run_id=<run>/``.

The dataset job writes each training run's rows to score under ``batch-input/run_id=<run>/`` (see
``esteira_contracts.dataset``). An event names the run (the training state machine does, in dev, after Register);
the schedule names none and scores the newest run. Run ids are Prepare's job names, ``<prefix>-YYYYMMDD-HHMMSS-<hex>``,
so the newest run sorts last. Nothing outside the input prefix can be named: a run id is one path segment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from esteira_contracts import layout
from esteira_contracts.dataset import RUN_ID_PATTERN

_INPUT_RUN_ID = re.compile(rf"^{RUN_ID_PATTERN}$")
_RUN_FOLDER = re.compile(rf"{layout.RUN_PARTITION_KEY}=(?P<run>{RUN_ID_PATTERN})/$")


class InvalidInputRunError(ValueError):
    """The named input run is not a run id (a path, a traversal, an empty string)."""


@dataclass(frozen=True)
class BatchInput:
    run_id: str | None  # None: no run exists under the prefix
    prefix: str  # <input prefix>run_id=<run>/ (or the bare input prefix when there is no run)
    objects: int  # non-empty objects under it
    bytes: int

    @property
    def empty(self) -> bool:
        return self.run_id is None or self.objects == 0


def validate_input_run_id(value: object) -> str:
    if not isinstance(value, str) or not _INPUT_RUN_ID.match(value) or value in (".", ".."):
        raise InvalidInputRunError(
            f"input_run_id {value!r} must be a dataset run id ({RUN_ID_PATTERN}, not '.' or '..'): the launcher "
            "scores only <input prefix>run_id=<run>/"
        )
    return value


def newest_run(s3: Any, bucket: str, input_prefix: str) -> str | None:
    """The last run id (in sort order) among ``<input_prefix>run_id=<run>/`` folders, or None."""
    runs: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=input_prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            match = _RUN_FOLDER.fullmatch(common["Prefix"].removeprefix(input_prefix))
            if match:
                runs.append(match["run"])
    return max(runs) if runs else None


def resolve_input(s3: Any, bucket: str, input_prefix: str, run_id: str | None) -> BatchInput:
    """The named run's folder (else the newest), with the count and size of its non-empty objects."""
    run = run_id if run_id is not None else newest_run(s3, bucket, input_prefix)
    if run is None:
        return BatchInput(run_id=None, prefix=input_prefix, objects=0, bytes=0)
    prefix = layout.run_prefix(input_prefix, run)
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj.get("Size", 0) > 0:
                objects += 1
                size += int(obj["Size"])
    return BatchInput(run_id=run, prefix=prefix, objects=objects, bytes=size)
