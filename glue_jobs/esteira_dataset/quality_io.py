"""The quality step's edges: read the scoring runs under ``predictions_uri``, write the report and ground truth.

Reads ``<predictions_uri><run>/_scoring.json`` and the ``.out`` files beside it; a run folder without a scoring
record (an older launch, or a run the launcher never recorded) is not read. Writes
``<quality_uri>run_id=R/report.json`` and, when given ``ground_truth_uri``, the labelled records as
``<ground_truth_uri>yyyy/mm/dd/hh/R.jsonl`` (the hour the job ran, UTC: the path scheme of SageMaker's captured
data, which the endpoint's model-quality monitor requires of ground truth). ``esteira_contracts.quality``
documents the report.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as sf

from esteira_contracts import layout
from esteira_contracts import quality as q
from esteira_dataset.inputs import list_objects
from esteira_dataset.quality import (
    BIN,
    NEWEST_RUN,
    NON_BINARY_LABELS,
    PREDICTION_SCHEMA,
    SCORING_RUN,
    SCORING_SCHEMA,
    calibration,
    ground_truth_lines,
    labelled_predictions,
    newest_predictions,
    version_metrics,
)
from esteira_dataset.spec import DatasetSpec
from esteira_extract.storage import join_uri, read_json, spark_path, write_json, write_text

log = logging.getLogger("esteira_dataset")

OUT_SUFFIX = ".out"


class QualityInputError(RuntimeError):
    """A scoring record under predictions_uri cannot be read as one (the message names the object)."""


@dataclass(frozen=True)
class ScoringRuns:
    """The run folders under ``predictions_uri`` that hold a scoring record, and their ``.out`` files."""

    records: dict[str, str]  # run id -> its scoring record's URI
    outputs: list[str]  # the .out files of those runs


def find_scoring_runs(predictions_uri: str) -> ScoringRuns:
    base = join_uri(predictions_uri, "")
    records: dict[str, str] = {}
    for uri in list_objects(base, layout.SCORING_RECORD_FILENAME):
        run, _, name = uri.removeprefix(base).partition("/")
        if name == layout.SCORING_RECORD_FILENAME:
            records[run] = uri
    outputs = []
    for uri in list_objects(base, OUT_SUFFIX):
        run, _, name = uri.removeprefix(base).partition("/")
        if run in records and name and "/" not in name:
            outputs.append(uri)
    return ScoringRuns(records, outputs)


def _run_folder() -> Any:
    # The run id is the folder a file is in (".../batch-output/<run>/<file>").
    return sf.element_at(sf.split(sf.input_file_name(), "/"), -2)


def _record_row(run: str, uri: str) -> tuple[Any, ...]:
    """One scoring record as a row of SCORING_SCHEMA; the run is its folder, whatever the file says."""
    try:
        data = read_json(uri) or {}
        missing = [name for name in (q.MODEL_PACKAGE_ARN, q.MODEL_VERSION) if not data.get(name)]
        if missing:
            raise KeyError(", ".join(missing))
        threshold = data.get(q.THRESHOLD)
        values = {
            q.RUN_ID: run,
            q.MODEL_PACKAGE_ARN: str(data[q.MODEL_PACKAGE_ARN]),
            q.MODEL_VERSION: str(data[q.MODEL_VERSION]),
            q.INPUT_RUN_ID: data.get(q.INPUT_RUN_ID),
            q.SCORED_AT: data.get(q.SCORED_AT),
            q.THRESHOLD: float(threshold) if threshold is not None else None,
            q.TASK: data.get(q.TASK),
        }
    except (ValueError, KeyError, TypeError) as error:
        raise QualityInputError(f"scoring record {uri} is not a scoring record: {error!r}") from error
    return tuple(values[field.name] for field in SCORING_SCHEMA.fields)


def read_scoring(spark: SparkSession, runs: ScoringRuns) -> tuple[DataFrame, DataFrame]:
    """(scoring records, prediction lines with their run): the run comes from the folder, not the file's text.

    The records (one small object per run) are read here: Spark's file sources skip names starting with "_"."""
    rows = [_record_row(run, uri) for run, uri in sorted(runs.records.items())]
    records = spark.createDataFrame(rows, SCORING_SCHEMA)
    predictions = (
        spark.read.schema(PREDICTION_SCHEMA)
        .option("header", "false")
        .csv([spark_path(u) for u in runs.outputs])
        .withColumn(SCORING_RUN, _run_folder())
    )
    return records, predictions


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def _model_entry(row: Row, bins: dict[int, Row]) -> dict[str, Any]:
    task = row[q.TASK] if row[q.TASK] in q.TASKS else q.DEFAULT_TASK
    kept = set(q.METRICS_BY_TASK[task])
    skipped = None
    if task == q.BINARY and row[NON_BINARY_LABELS]:
        kept, skipped = set(), f"{row[NON_BINARY_LABELS]} labels are not 0 or 1: a binary model's figures need 0/1"
    entry: dict[str, Any] = {
        q.MODEL_PACKAGE_ARN: row[q.MODEL_PACKAGE_ARN],
        q.MODEL_VERSION: row[q.MODEL_VERSION],
        q.THRESHOLD: float(row[q.THRESHOLD]),
        q.TASK: task,
        q.SCORING_RUNS: list(row[q.SCORING_RUNS]),
        q.LABELLED_PREDICTIONS: int(row[q.LABELLED_PREDICTIONS]),
        q.POSITIVES: int(row[q.POSITIVES] or 0) if task == q.BINARY else None,
        **{name: _number(row[name]) if name in kept else None for name in q.ALL_METRICS},
        q.SKIPPED: skipped,
        q.CALIBRATION: [],
    }
    if task == q.BINARY and not skipped:
        width = 1.0 / q.CALIBRATION_BINS
        for index in range(q.CALIBRATION_BINS):
            found = bins.get(index)
            entry[q.CALIBRATION].append(
                {
                    q.BIN_LOWER: round(index * width, 10),
                    q.BIN_UPPER: round((index + 1) * width, 10),
                    q.COUNT: int(found[q.COUNT]) if found else 0,
                    q.MEAN_SCORE: _number(found[q.MEAN_SCORE]) if found else None,
                    q.POSITIVE_RATE: _number(found[q.POSITIVE_RATE]) if found else None,
                }
            )
    return entry


def quality_report(
    labelled: DataFrame | None, dataset_run_id: str, as_of: date, spec: DatasetSpec, reason: str | None = None
) -> dict[str, Any]:
    """The report (``esteira_contracts.quality``): the aggregations run in Spark, one row per version returns."""
    report: dict[str, Any] = {
        q.REPORT_VERSION_KEY: q.REPORT_VERSION,
        q.DATASET_RUN_ID: dataset_run_id,
        q.AS_OF_DATE: as_of.isoformat(),
        q.SPEC_NAME: spec.extraction.name,
        q.LABEL_COLUMN: spec.label,
        q.TASK: None,
        q.LATEST_MODEL_VERSION: None,
        q.REASON: reason,
        q.MODELS: [],
    }
    if labelled is None:
        return report
    cached_here = not labelled.is_cached  # both aggregations read it: join and window once
    if cached_here:
        labelled.persist()
    try:
        rows = version_metrics(labelled).collect()
        found_bins = calibration(labelled).collect() if rows else []
    finally:
        if cached_here:
            labelled.unpersist()
    if not rows:
        return report | {q.REASON: reason or q.REASON_NO_LABELLED_PREDICTIONS}
    bins: dict[str, dict[int, Row]] = {}
    for found in found_bins:
        bins.setdefault(found[q.MODEL_VERSION], {})[int(found[BIN])] = found
    rows.sort(key=lambda r: (len(r[q.MODEL_VERSION]), r[q.MODEL_VERSION]))  # version numbers, in number order
    latest = max(rows, key=lambda r: (r[NEWEST_RUN][0] or "", r[NEWEST_RUN][1]))
    models = [_model_entry(r, bins.get(r[q.MODEL_VERSION], {})) for r in rows]
    task = next(m[q.TASK] for m in models if m[q.MODEL_VERSION] == latest[q.MODEL_VERSION])
    return report | {q.TASK: task, q.LATEST_MODEL_VERSION: latest[q.MODEL_VERSION], q.REASON: None, q.MODELS: models}


def model_quality(
    spark: SparkSession, marked: DataFrame | None, spec: DatasetSpec, predictions_uri: str
) -> tuple[DataFrame | None, str | None]:
    """(labelled predictions, None), or (None, why there are none) when no run or no row can give any."""
    runs = find_scoring_runs(predictions_uri)
    if not runs.records:
        return None, q.REASON_NO_SCORING_RECORDS
    if not runs.outputs:
        return None, "no scoring run under predictions_uri has predictions (.out files) yet"
    if marked is None:
        return None, "the curated extractions hold no rows to take labels from"
    records, predictions = read_scoring(spark, runs)
    newest = newest_predictions(predictions, records)
    return labelled_predictions(newest, marked, spec.key, spec.label), None


def report_uri(quality_uri: str, dataset_run_id: str) -> str:
    return join_uri(layout.run_prefix(join_uri(quality_uri, ""), dataset_run_id), layout.MODEL_QUALITY_REPORT_FILENAME)


def ground_truth_uri_for(ground_truth_uri: str, dataset_run_id: str, now: datetime) -> str:
    return join_uri(ground_truth_uri, now.astimezone(UTC).strftime("%Y/%m/%d/%H"), f"{dataset_run_id}.jsonl")


def write_ground_truth(labelled: DataFrame, uri: str) -> int:
    """One JSON line per labelled record in one object (the monitor reads objects, not Spark's part folders);
    streamed to the driver partition by partition."""
    lines = [row["value"] for row in ground_truth_lines(labelled).toLocalIterator()]
    if lines:
        write_text(uri, "\n".join(lines) + "\n", content_type="application/jsonl")
    return len(lines)


def run_quality(
    spark: SparkSession,
    marked: DataFrame | None,
    spec: DatasetSpec,
    *,
    dataset_run_id: str,
    as_of: date,
    predictions_uri: str,
    quality_uri: str,
    ground_truth_uri: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write the report (and the ground truth); return what the dataset manifest records of them."""
    labelled, reason = model_quality(spark, marked, spec, predictions_uri)
    labelled = labelled.persist() if labelled is not None else None
    try:
        report = quality_report(labelled, dataset_run_id, as_of, spec, reason)
        written_uri, lines = None, 0
        if ground_truth_uri is not None and labelled is not None and report[q.MODELS]:
            written_uri = ground_truth_uri_for(ground_truth_uri, dataset_run_id, now or datetime.now(UTC))
            lines = write_ground_truth(labelled, written_uri)
    finally:
        if labelled is not None:
            labelled.unpersist()
    uri = report_uri(quality_uri, dataset_run_id)
    write_json(uri, report)
    log.info("model quality: %d model versions, report %s (%s)", len(report[q.MODELS]), uri, report[q.REASON])
    return {
        "report": uri,
        "ground_truth": written_uri if lines else None,
        "ground_truth_records": lines,
        q.LATEST_MODEL_VERSION: report[q.LATEST_MODEL_VERSION],
        "model_versions": [m[q.MODEL_VERSION] for m in report[q.MODELS]],
        q.REASON: report[q.REASON],
    }
