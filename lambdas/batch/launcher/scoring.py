"""The transform run's scoring record: ``<OUTPUT_PREFIX><run>/_scoring.json``, written before the job starts.

With the job's ``.out`` files beside it, it is the store of predictions by model version and record id that the
dataset job's quality step joins with outcomes (``esteira_contracts.quality`` documents the fields).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from esteira_contracts import layout
from esteira_contracts import quality as q


def scoring_record(
    run_id: str, package_arn: str, described: dict[str, Any], input_run_id: str, now: datetime | None = None
) -> dict[str, Any]:
    """The record of one transform run (pure)."""
    metadata = {str(k): str(v) for k, v in (described.get("CustomerMetadataProperties") or {}).items()}
    threshold, threshold_source = q.served_threshold(metadata)
    task, task_source = q.served_task(metadata)
    return {
        q.RECORD_VERSION: q.SCORING_RECORD_VERSION,
        q.RUN_ID: run_id,
        q.MODEL_PACKAGE_ARN: package_arn,
        q.MODEL_VERSION: q.model_version_of(package_arn),
        q.INPUT_RUN_ID: input_run_id,
        q.SCORED_AT: (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        q.THRESHOLD: threshold,
        q.THRESHOLD_SOURCE: threshold_source,
        q.TASK: task,
        q.TASK_SOURCE: task_source,
    }


def scoring_record_key(output_prefix: str, run_id: str) -> str:
    return f"{output_prefix}{run_id}/{layout.SCORING_RECORD_FILENAME}"


def write_scoring_record(s3: Any, bucket: str, key: str, record: dict[str, Any], kms_key_id: str | None) -> None:
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    body = json.dumps(record, indent=2).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra)
