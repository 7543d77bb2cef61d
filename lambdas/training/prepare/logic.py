"""Resolve the manifest of an extraction run and derive everything the training job needs.

The extraction job writes ``<curated_uri>_manifests/dt=YYYY-MM-DD/<run_id>.json`` (and a copy at
``_manifests/latest.json``) only for committed runs, so a manifest is proof of a successful run. Training reads the
whole curated prefix (every ``dt=/run_id=`` folder) through the dataset job, which keeps the latest version of each
key; the manifest says which run triggered it and what the label is. The result also names the dataset run
(``dataset.py``): its output folders, the training job's channels and the champion scored on the same holdout.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from esteira_contracts import layout
from esteira_contracts.training import (
    MAX_TUNING_JOB_NAME_LENGTH,
    MAX_TUNING_JOB_NAME_PREFIX_LENGTH,
    PrepareResult,
    PrepareSettings,
)
from training.errors import InvalidManifest, InvalidRequest, ManifestNotFound, NoTrainingData
from training.prepare.dataset import (
    HOLDOUT_SPLIT,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
    dataset_run,
    find_champion_model,
)
from training.s3uri import S3Uri

logger = Logger(child=True)

LATEST = "latest"
MANIFESTS_DIR = "_manifests"
LATEST_FILENAME = "latest.json"
# The extraction job's run id rule (glue_jobs/esteira_extract/job.py: RUN_ID).
RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
MAX_MANIFEST_BYTES = 1024 * 1024
_DATED_KEY = re.compile(r"/dt=(?P<date>\d{4}-\d{2}-\d{2})/(?P<run_id>[^/]+)\.json$")


@dataclass(frozen=True)
class PrepareRequest:
    run_id: str
    curated_uri: S3Uri  # a folder: its key ends with '/'

    @classmethod
    def from_event(cls, event: Any, settings: PrepareSettings) -> PrepareRequest:
        if not isinstance(event, dict):
            raise InvalidRequest(f"the prepare input must be a JSON object, got {type(event).__name__}")
        if "detail-type" in event and isinstance(event.get("detail"), dict):
            # The raw Glue "Job State Change" event, when a rule targets the state machine without a transformer.
            detail = event["detail"]
            if detail.get("state") not in (None, "SUCCEEDED"):
                raise InvalidRequest(
                    f"Glue job run {detail.get('jobRunId')!r} ended {detail.get('state')}, not SUCCEEDED"
                )
            event = {"run_id": detail.get("jobRunId")}
        run_id = event.get("run_id")
        if not isinstance(run_id, str) or not (run_id == LATEST or RUN_ID.match(run_id)):
            raise InvalidRequest(
                f"run_id {run_id!r} must be an extraction run id ({RUN_ID.pattern}) or {LATEST!r} for the latest run"
            )
        override = event.get("curated_uri")
        if override is None:
            curated = S3Uri.parse(settings.curated_uri)
        else:
            try:
                curated = S3Uri.parse(override).as_prefix()
            except ValueError as exc:
                raise InvalidRequest(f"curated_uri: {exc}") from exc
        return cls(run_id=run_id, curated_uri=curated)


@dataclass(frozen=True)
class Manifest:
    uri: S3Uri
    run_id: str
    run_date: str
    rows_written: int
    label_column: str | None
    spec_name: str | None

    @classmethod
    def parse(cls, raw: bytes, uri: S3Uri) -> Manifest:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidManifest(f"{uri} is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidManifest(f"{uri} must hold a JSON object, not {type(body).__name__}")
        problems: list[str] = []
        fields: dict[str, Any] = body
        run_id, run_date, rows = fields.get("run_id"), fields.get("run_date"), fields.get("rows_written")
        schema, label, spec_name = fields.get("output_schema"), fields.get("label_column"), fields.get("spec_name")
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            problems.append(f"run_id {run_id!r} is missing or invalid")
        if not isinstance(run_date, str) or not _is_date(run_date):
            problems.append(f"run_date {run_date!r} is missing or not YYYY-MM-DD")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            problems.append(f"rows_written {rows!r} is missing or not a non-negative integer")
        columns: list[str] = []
        if not isinstance(schema, list) or not all(
            isinstance(c, dict) and isinstance(c.get("name"), str) for c in schema
        ):
            problems.append("output_schema is missing or not a list of {name, type} objects")
        else:
            columns = [c["name"] for c in schema]
        if label is not None and not isinstance(label, str):
            problems.append(f"label_column {label!r} is not a string")
        elif label and columns and label not in columns:
            problems.append(f"label_column {label!r} is not among the output_schema columns {columns[:50]}")
        if spec_name is not None and not isinstance(spec_name, str):
            problems.append(f"spec_name {spec_name!r} is not a string")
        if problems:
            raise InvalidManifest(f"{uri}: " + "; ".join(problems))
        return cls(
            uri=uri,
            run_id=str(run_id),
            run_date=str(run_date),
            rows_written=fields["rows_written"],
            label_column=label or None,
            spec_name=spec_name,
        )


def _is_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def read_object(s3: Any, uri: S3Uri, max_bytes: int = MAX_MANIFEST_BYTES) -> bytes | None:
    """The object's bytes, or None when it does not exist. Larger than ``max_bytes`` is an invalid manifest."""
    try:
        response = s3.get_object(Bucket=uri.bucket, Key=uri.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    body = response["Body"]
    try:
        data: bytes = body.read(max_bytes + 1)
    finally:
        body.close()
    if len(data) > max_bytes:
        raise InvalidManifest(f"{uri} is larger than {max_bytes} bytes; it is not a manifest")
    return data


def dated_manifests(s3: Any, curated: S3Uri) -> Iterator[tuple[S3Uri, str, str]]:
    """(uri, run date, run id) of every dated manifest under ``curated``, in key order (oldest date first)."""
    prefix = curated.join(MANIFESTS_DIR).key + "/dt="
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=curated.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            match = _DATED_KEY.search(obj["Key"])
            if match:
                yield S3Uri(curated.bucket, obj["Key"]), match["date"], match["run_id"]


def find_manifest(s3: Any, curated: S3Uri, run_id: str) -> Manifest:
    """The manifest of ``run_id`` (``latest``: of the last committed run), or :class:`ManifestNotFound`."""
    if run_id == LATEST:
        latest_uri = curated.join(MANIFESTS_DIR, LATEST_FILENAME)
        raw = read_object(s3, latest_uri)
        if raw is None:
            raise ManifestNotFound(f"{latest_uri} does not exist: no extraction run has committed under {curated}")
        latest = Manifest.parse(raw, latest_uri)
        # Report the dated manifest: latest.json is overwritten by the next run, the dated one is permanent.
        dated = curated.join(MANIFESTS_DIR, f"dt={latest.run_date}", f"{latest.run_id}.json")
        return Manifest(
            dated, latest.run_id, latest.run_date, latest.rows_written, latest.label_column, latest.spec_name
        )
    matches = sorted(str(uri) for uri, _, found in dated_manifests(s3, curated) if found == run_id)
    if not matches:
        raise ManifestNotFound(
            f"no manifest for extraction run {run_id!r} under {curated.join(MANIFESTS_DIR)}/: the run did not "
            "commit (failed or rolled back), or it wrote to another curated_uri"
        )
    if len(matches) > 1:
        logger.warning("run id has manifests on several dates; using the newest", extra={"manifests": matches})
    uri = S3Uri.parse(matches[-1])
    raw = read_object(s3, uri)
    if raw is None:  # deleted between the listing and the read
        raise ManifestNotFound(f"{uri} disappeared while it was being read")
    manifest = Manifest.parse(raw, uri)
    if manifest.run_id != run_id:
        raise InvalidManifest(f"{uri} is named for run {run_id!r} but holds run_id {manifest.run_id!r}")
    return manifest


def any_rows_before(s3: Any, curated: S3Uri, skip: S3Uri) -> S3Uri | None:
    """The newest other committed manifest that wrote rows, or None. Unreadable manifests are skipped (logged)."""
    for uri, _, _ in sorted(dated_manifests(s3, curated), key=lambda item: item[0].key, reverse=True):
        if uri == skip:
            continue
        try:
            raw = read_object(s3, uri)
            manifest = Manifest.parse(raw, uri) if raw is not None else None
        except InvalidManifest as exc:
            logger.warning(
                "skipping an invalid manifest in the history", extra={"manifest": str(uri), "error": str(exc)}
            )
            continue
        if manifest is not None and manifest.rows_written > 0:
            return uri
    return None


def new_job_name(prefix: str, now: datetime | None = None, token: str | None = None) -> str:
    """``<prefix>-YYYYMMDD-HHMMSS-<6 hex>`` (UTC): sortable by time, unique across concurrent starts."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{prefix}-{moment:%Y%m%d-%H%M%S}-{token or secrets.token_hex(3)}"


def tuning_job_name(prefix: str, now: datetime, token: str) -> str | None:
    """``<prefix>-YYMMDDHHMM-<4 hex>`` for a tuning job (SageMaker allows 32 characters there), sharing the
    training job name's time and first hex digits; None when the prefix is too long for it (logged)."""
    name = f"{prefix}-{now.astimezone(UTC):%y%m%d%H%M}-{token[:4]}"
    if len(name) > MAX_TUNING_JOB_NAME_LENGTH:
        logger.warning(
            "JOB_NAME_PREFIX is too long for a tuning job name; tuning_job_name is null",
            extra={"prefix": prefix, "max_prefix_length": MAX_TUNING_JOB_NAME_PREFIX_LENGTH},
        )
        return None
    return name


def prepare(
    event: Any, settings: PrepareSettings, s3: Any, now: datetime | None = None, sagemaker: Any | None = None
) -> PrepareResult:
    """``sagemaker`` finds the champion in ``settings.model_package_group``; without it there is no champion."""
    request = PrepareRequest.from_event(event, settings)
    manifest = find_manifest(s3, request.curated_uri, request.run_id)
    if manifest.rows_written == 0:
        earlier = any_rows_before(s3, request.curated_uri, manifest.uri)
        if earlier is None:
            raise NoTrainingData(
                f"extraction run {manifest.run_id!r} wrote 0 rows and no earlier committed run under "
                f"{request.curated_uri} wrote any: there is nothing to train on"
            )
        logger.info(
            "this run wrote no rows; training on the earlier data",
            extra={"run_id": manifest.run_id, "earlier_manifest": str(earlier)},
        )
    moment, token = (now or datetime.now(UTC)), secrets.token_hex(3)
    job_name = new_job_name(settings.job_name_prefix, moment, token)
    artifacts = S3Uri(settings.artifacts_bucket, "")
    dataset = dataset_run(settings, job_name)
    champion = find_champion_model(sagemaker, settings.model_package_group, settings.artifacts_bucket)
    result = PrepareResult(
        training_job_name=job_name,
        tuning_job_name=tuning_job_name(settings.job_name_prefix, moment, token),
        train_uri=str(request.curated_uri),
        manifest_uri=str(manifest.uri),
        output_uri=str(artifacts.join(settings.model_prefix).as_prefix()),
        checkpoint_uri=str(artifacts.join(settings.checkpoint_prefix, job_name).as_prefix()),
        rows=manifest.rows_written,
        target=manifest.label_column,
        run_id=manifest.run_id,
        dataset_run_id=dataset.run_id,
        datasets_uri=str(dataset.datasets_uri),
        batch_input_uri=str(dataset.batch_input_uri),
        dataset_uri=str(dataset.dataset_uri),
        dataset_manifest_bucket=dataset.manifest.bucket,
        dataset_manifest_key=dataset.manifest.key,
        train_channel_uri=dataset.split(TRAIN_SPLIT),
        validation_channel_uri=dataset.split(VALIDATION_SPLIT),
        holdout_channel_uri=dataset.split(HOLDOUT_SPLIT),
        batch_run_input_uri=str(dataset.batch_run_input_uri),
        baseline_input_uri=dataset.split(layout.BASELINE_DATASET_DIR),
        baseline_uri=str(dataset.baseline_uri),
        baseline_constraints_uri=str(dataset.baseline_uri.join(layout.BASELINE_CONSTRAINTS_FILENAME)),
        baseline_statistics_uri=str(dataset.baseline_uri.join(layout.BASELINE_STATISTICS_FILENAME)),
        champion_package_arn=champion.package_arn if champion else None,
        champion_model_uri=champion.model_uri if champion else None,
    )
    logger.info("prepared training job", extra=result.to_payload())
    return result
