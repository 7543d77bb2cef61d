"""Which dataset run a launch scores, given the package it scores with, and the checks that run must pass.

A registered package records its data in CustomerMetadataProperties (``esteira_contracts.batch``): ``lineage.dataset``
(``s3://<artifacts bucket>/<datasets prefix>run_id=R/``), ``lineage.spec`` and ``lineage.feature_schema`` (the
digest of the features the model takes, in order). The rule:

1. A run named by the event (the training state machine after Register in dev, or an operator): that run.
2. A package trained in this environment (its dataset run is in this environment's artifacts bucket: dev, and the
   registry environment, staging): its own run, ``<input prefix>run_id=R/``, the rows its training run chose.
3. A package trained elsewhere (prod serves what staging registered): its run's batch input lies in the registry
   account's predictions bucket, out of reach and, above all, another environment's population. Prod must score its
   own current population, so the run is the newest complete one (its manifest is written last) of this
   environment's own dataset job, which runs on every extraction here too.

Whatever the rule chose, the run's manifest (in this environment's artifacts bucket) must be complete (``status: ok``)
and name the package's spec and feature schema, and its input must hold rows; otherwise the launch is refused with an
error (an asynchronous launch then lands in the launch dead-letter queue, its event intact). There is no fallback to an
older run: scoring a stale population without a word is worse than an alarm.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from batch.launcher.inputs import BatchInput, input_runs, resolve_input
from esteira_contracts import layout
from esteira_contracts.batch import (
    LINEAGE_DATASET,
    LINEAGE_FEATURE_SCHEMA,
    LINEAGE_METADATA_PREFIX,
    LINEAGE_SPEC,
    LauncherSettings,
    feature_schema_digest,
)
from esteira_contracts.dataset import RUN_ID_PATTERN

RunRule = Literal["named", "package-run", "newest-own-run"]
MANIFEST_FILENAME = "manifest.json"
_MANIFEST_OK = "ok"
_DATASET_URI = re.compile(
    rf"^s3://(?P<bucket>[^/]+)/(?P<prefix>(?:[^/]+/)*){layout.RUN_PARTITION_KEY}=(?P<run>{RUN_ID_PATTERN})/?$"
)


class PackageLineageError(RuntimeError):
    """The package does not record the dataset run, spec and feature schema it was trained on."""


class NoBatchInputError(RuntimeError):
    """The chosen run has no complete manifest, or no rows to score."""


class BatchInputMismatchError(RuntimeError):
    """The chosen run's rows were made for another spec or feature schema than the package's."""


@dataclass(frozen=True)
class PackageData:
    """What a package's metadata says about the data it was trained on."""

    package_arn: str
    bucket: str  # the artifacts bucket of the environment that trained it
    run_id: str
    spec: str
    feature_schema: str


@dataclass(frozen=True)
class ChosenInput:
    run_id: str
    rule: RunRule
    batch_input: BatchInput
    features: int  # columns the model takes (each input line holds the record id too)


def package_data(described: dict[str, Any], package_arn: str) -> PackageData:
    """The package's ``lineage.*`` metadata, or :class:`PackageLineageError` naming what is missing."""
    metadata = described.get("CustomerMetadataProperties") or {}
    names = (LINEAGE_DATASET, LINEAGE_SPEC, LINEAGE_FEATURE_SCHEMA)
    keys = {name: f"{LINEAGE_METADATA_PREFIX}{name}" for name in names}
    missing = [key for key in keys.values() if not metadata.get(key)]
    if missing:
        raise PackageLineageError(
            f"model package {package_arn} records no {', '.join(missing)} in its CustomerMetadataProperties, so the "
            "launcher cannot tell which rows it may score; register it again with the training state machine, "
            "which records them"
        )
    dataset = _DATASET_URI.match(metadata[keys[LINEAGE_DATASET]])
    if dataset is None:
        raise PackageLineageError(
            f"model package {package_arn}: {keys[LINEAGE_DATASET]}={metadata[keys[LINEAGE_DATASET]]!r} is not a "
            f"dataset run folder (s3://<bucket>/<prefix>{layout.RUN_PARTITION_KEY}=<run>/)"
        )
    return PackageData(
        package_arn=package_arn,
        bucket=dataset["bucket"],
        run_id=dataset["run"],
        spec=metadata[keys[LINEAGE_SPEC]],
        feature_schema=metadata[keys[LINEAGE_FEATURE_SCHEMA]],
    )


def manifest_key(settings: LauncherSettings, run_id: str) -> str:
    return f"{layout.run_prefix(settings.datasets_prefix, run_id)}{MANIFEST_FILENAME}"


def read_manifest(s3: Any, settings: LauncherSettings, run_id: str) -> dict[str, Any] | None:
    """This environment's manifest of ``run_id``, or None when there is none (a run writing, failed or expired)."""
    try:
        body = s3.get_object(Bucket=settings.artifacts_bucket, Key=manifest_key(settings, run_id))["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    manifest = json.loads(body)
    if not isinstance(manifest, dict):
        raise NoBatchInputError(f"the manifest of dataset run {run_id} is not a JSON object")
    return manifest


def newest_complete_run(s3: Any, settings: LauncherSettings) -> str | None:
    """The newest ``<input prefix>run_id=R/`` whose dataset run has a manifest (the job writes it last)."""
    for run in sorted(input_runs(s3, settings.bucket, settings.input_prefix), reverse=True):
        if read_manifest(s3, settings, run) is not None:
            return run
    return None


def choose_run(s3: Any, settings: LauncherSettings, package: PackageData, named: str | None) -> tuple[str, RunRule]:
    if named is not None:
        return named, "named"
    if package.bucket == settings.artifacts_bucket:
        return package.run_id, "package-run"
    newest = newest_complete_run(s3, settings)
    if newest is None:
        raise NoBatchInputError(
            f"no complete dataset run under s3://{settings.bucket}/{settings.input_prefix} to score with "
            f"{package.package_arn} (trained in another environment, from s3://{package.bucket}/): this "
            "environment's dataset job has not written batch input yet, or it expired"
        )
    return newest, "newest-own-run"


def check_run(manifest: dict[str, Any] | None, run_id: str, package: PackageData, where: str) -> int:
    """The number of features of a complete run made for the package's spec and feature schema; an error otherwise."""
    if manifest is None:
        raise NoBatchInputError(f"dataset run {run_id} has no manifest at {where}: it is incomplete, failed or expired")
    if manifest.get("status") != _MANIFEST_OK:
        raise NoBatchInputError(
            f"dataset run {run_id} ended with status {manifest.get('status')!r} ({manifest.get('reason', '')}): "
            "it wrote no rows to score"
        )
    features = manifest.get("features")
    if not isinstance(features, list) or not all(isinstance(name, str) for name in features):
        raise BatchInputMismatchError(f"the manifest at {where} lists no features")
    problems = []
    if manifest.get("spec_name") != package.spec:
        problems.append(f"spec {manifest.get('spec_name')!r}, the package's is {package.spec!r}")
    digest = feature_schema_digest(features)
    if digest != package.feature_schema:
        problems.append(
            f"feature schema {digest} ({len(features)} features: {', '.join(features)}), "
            f"the package's is {package.feature_schema}"
        )
    if problems:
        raise BatchInputMismatchError(
            f"dataset run {run_id} cannot be scored with {package.package_arn}: its rows have " + "; ".join(problems)
        )
    return len(features)


def choose_input(s3: Any, settings: LauncherSettings, package: PackageData, named: str | None) -> ChosenInput:
    """The run to score under the rule above, checked against the package; an error when it must not be scored."""
    run_id, rule = choose_run(s3, settings, package, named)
    where = f"s3://{settings.artifacts_bucket}/{manifest_key(settings, run_id)}"
    features = check_run(read_manifest(s3, settings, run_id), run_id, package, where)
    batch_input = resolve_input(s3, settings.bucket, settings.input_prefix, run_id)
    if batch_input.empty:
        raise NoBatchInputError(
            f"s3://{settings.bucket}/{batch_input.prefix} (dataset run {run_id}, chosen as {rule}) holds no rows "
            "to score: missing, expired or empty"
        )
    return ChosenInput(run_id=run_id, rule=rule, batch_input=batch_input, features=features)
