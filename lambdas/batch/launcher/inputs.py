"""The batch input of dataset runs: ``<input prefix>run_id=<run>/`` folders, their run ids and their contents.

The dataset job writes each training run's rows to score under ``batch-input/run_id=<run>/`` (see
``esteira_contracts.dataset``); ``dataset_run.py`` chooses which run a launch scores. Run ids are Prepare's job names,
``<prefix>-YYYYMMDD-HHMMSS-<hex>``, so the newest run sorts last. Nothing outside the input prefix can be named: a
run id is one path segment.
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
    run_id: str
    prefix: str  # <input prefix>run_id=<run>/
    objects: int  # non-empty objects under it
    bytes: int

    @property
    def empty(self) -> bool:
        return self.objects == 0


def validate_input_run_id(value: object) -> str:
    if not isinstance(value, str) or not _INPUT_RUN_ID.match(value) or value in (".", ".."):
        raise InvalidInputRunError(
            f"input_run_id {value!r} must be a dataset run id ({RUN_ID_PATTERN}, not '.' or '..'): the launcher "
            "scores only <input prefix>run_id=<run>/"
        )
    return value


def input_runs(s3: Any, bucket: str, input_prefix: str) -> list[str]:
    """The run ids of the ``<input_prefix>run_id=<run>/`` folders (other keys under the prefix are ignored)."""
    runs: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=input_prefix, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            match = _RUN_FOLDER.fullmatch(common["Prefix"].removeprefix(input_prefix))
            if match:
                runs.append(match["run"])
    return runs


def resolve_input(s3: Any, bucket: str, input_prefix: str, run_id: str) -> BatchInput:
    """The run's folder, with the count and size of its non-empty objects."""
    prefix = layout.run_prefix(input_prefix, run_id)
    objects = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj.get("Size", 0) > 0:
                objects += 1
                size += int(obj["Size"])
    return BatchInput(run_id=run_id, prefix=prefix, objects=objects, bytes=size)
