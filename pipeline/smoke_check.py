"""The smoke test of a served model: one implementation, for the local run's serve stage and the CD pipeline's step.

Given held-out rows (features and true labels), the package's own model loaded in-process (its
:class:`esteira_model.predictor.Predictor`), something that sends CSV to the served model (a :class:`CsvInvoker`)
and the gate (metric and threshold, from the config's ``training.gate``), it checks two things:

1. **The endpoint serves this package.** Every row's served label and score equal the package's offline prediction
   on the same row (labels exactly, scores within :data:`SCORE_RTOL` / :data:`SCORE_ATOL`: the server answers
   float32 scores as their shortest round-trip text).
2. **Quality holds on held-out rows.** The gate's metric, computed by the model code's own metrics
   (:func:`esteira_model.metrics.task_metrics`, what ``train`` writes to evaluation.json and Evaluate gates on) on
   the offline predictions, clears the gate's threshold in the metric's direction (``rmse``, ``mae``, ... must be
   at most the threshold; ``auc``, ``accuracy``, ``r2``, ... at least).

Optionally, for classification, the share of rows whose served label equals the true one (``match_rate``) must
reach ``min_match_rate``; it does not apply to a regression (a predicted value never equals the true one).

The held-out rows are the dataset run's ``holdout/`` split (Parquet), read by :func:`read_holdout` from S3 (the CD
step) or from the same layout on local disk (the local run). Bad input raises :class:`SmokeInputError`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from esteira_contracts.training import LOWER_IS_BETTER, normalize_metric_name
from esteira_model.channels import HOLDOUT_CHANNEL
from esteira_model.errors import TrainingError
from esteira_model.hyperparameters import BINARY, MULTICLASS, REGRESSION
from esteira_model.metrics import task_metrics
from esteira_model.predictor import Predictor
from esteira_model.prepare import labels as label_values
from esteira_model.prepare import matrix, unseen_labels
from pipeline.serving import CsvInvoker

# The package's customer metadata naming its dataset run (s3://<artifacts>/datasets/run_id=<run>/): the training
# state machine's Evaluate step gets it as lineage.dataset (stacks/constructs/training_definition.py), Register
# records it; the local run's evaluate stage passes the same.
LINEAGE_DATASET = "lineage.dataset"
# Served scores are XGBoost's float32, written as the shortest text that reads back as the same float32.
SCORE_RTOL = 1e-5
SCORE_ATOL = 1e-6
# The gate's comparison tolerates float rounding as Evaluate's does (lambdas/training/evaluate/gate.py).
GATE_TOLERANCE = 1e-12
# The dataset job's split with the rows no model of the run trained on (also the training job's channel name).
HOLDOUT_SPLIT = HOLDOUT_CHANNEL

Direction = Literal["maximize", "minimize"]


class SmokeInputError(ValueError):
    """The smoke test cannot run on this input (no rows, columns missing, a metric the task lacks...)."""


@dataclass(frozen=True)
class Gate:
    """The config's ``training.gate`` metric and threshold, with the metric's direction as Evaluate derives it."""

    metric: str
    threshold: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", normalize_metric_name(self.metric))

    @property
    def direction(self) -> Direction:
        return "minimize" if self.metric in LOWER_IS_BETTER else "maximize"

    def clears(self, value: float) -> bool:
        if math.isclose(value, self.threshold, rel_tol=GATE_TOLERANCE, abs_tol=GATE_TOLERANCE):
            return True
        return value > self.threshold if self.direction == "maximize" else value < self.threshold


@dataclass(frozen=True)
class SmokeResult:
    task: str
    rows: int
    requests: int
    # 1. the endpoint serves this package
    mismatched_rows: int  # rows whose served label or score differs from the package's offline prediction
    max_score_difference: float
    first_mismatch: str | None
    # 2. quality on the held-out rows
    metric: str
    value: float
    threshold: float
    direction: Direction
    metric_passed: bool
    # classification only: served label == true label
    match_rate: float | None
    min_match_rate: float | None
    # The package's offline predictions and the labels they were scored on (class indices for a classifier; the
    # booster's raw output: probabilities, or values for a regression), for the local run's charts; not in to_json.
    truth: np.ndarray | None = field(default=None, compare=False, repr=False)
    predictions: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def serves_package(self) -> bool:
        return self.mismatched_rows == 0

    @property
    def match_rate_passed(self) -> bool:
        if self.min_match_rate is None or self.match_rate is None:
            return True
        return self.match_rate >= self.min_match_rate

    @property
    def passed(self) -> bool:
        return self.serves_package and self.metric_passed and self.match_rate_passed

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "requests": self.requests,
            "serves_package": self.serves_package,
            "mismatched_rows": self.mismatched_rows,
            "max_score_difference": self.max_score_difference,
            "metric": self.metric,
            "value": round(self.value, 6),
            "threshold": self.threshold,
            "direction": self.direction,
            "metric_passed": self.metric_passed,
            "match_rate": None if self.match_rate is None else round(self.match_rate, 6),
            "min_match_rate": self.min_match_rate,
            "passed": self.passed,
        }

    def sentence(self) -> str:
        """One line for people: the verdict and each check's numbers."""
        verdict = "passed" if self.passed else "FAILED"
        served = (
            "the endpoint serves this package (every prediction equals the package's own)"
            if self.serves_package
            else f"the endpoint does NOT serve this package: {self.mismatched_rows} of {self.rows} predictions "
            f"differ from the package's own (first: {self.first_mismatch})"
        )
        bound = ">=" if self.direction == "maximize" else "<="
        held = "clears" if self.metric_passed else "MISSES"
        quality = f"{self.metric} {self.value:.4f} {held} the gate's {bound} {self.threshold:g}"
        text = f"smoke test {verdict} on {self.rows} held-out {self.task} rows: {served}; {quality}"
        if self.min_match_rate is not None:
            if self.match_rate is None:
                text += f"; the match rate (min {self.min_match_rate:g}) does not apply to a regression"
            else:
                comparison = ">=" if self.match_rate_passed else "<"
                text += f"; match rate {self.match_rate:.4f} {comparison} {self.min_match_rate:g}"
        return text


# ------------------------------------------------------------------------------------------------ the test


def split_rows(frame: pd.DataFrame, predictor: Predictor) -> tuple[pd.DataFrame, np.ndarray]:
    """Held-out rows as the package's features (in its order) and its label column's values."""
    schema = predictor.schema
    missing = [name for name in (*schema.names, schema.target) if name not in frame.columns]
    if missing:
        raise SmokeInputError(
            f"the held-out rows lack the package's columns {missing[:20]} (label {schema.target!r}): "
            "they are not the data set this package was trained on"
        )
    try:
        values = label_values(frame, schema.target, HOLDOUT_CHANNEL)
    except TrainingError as err:
        raise SmokeInputError(str(err)) from None
    return frame[list(schema.names)], values


def csv_records(features: np.ndarray) -> list[str]:
    """Headerless CSV as ``serve`` reads it: a missing value is an empty field; values round-trip exactly."""
    return [",".join("" if math.isnan(value) else repr(value) for value in row) for row in features.tolist()]


def smoke_test(
    features: pd.DataFrame,
    labels: Sequence[float] | np.ndarray,
    predictor: Predictor,
    invoker: CsvInvoker,
    gate: Gate,
    *,
    rows_per_request: int = 500,
    min_match_rate: float | None = None,
) -> SmokeResult:
    """Send the rows to the served model, compare with the package's offline predictions, score them on the gate."""
    schema = predictor.schema
    truth = np.asarray(labels, dtype=np.float64)
    if len(features) == 0:
        raise SmokeInputError("no held-out rows: nothing to smoke-test with")
    if len(truth) != len(features):
        raise SmokeInputError(f"{len(features)} feature rows but {len(truth)} labels")
    try:
        x = matrix(features, list(schema.names), HOLDOUT_CHANNEL)
    except (TrainingError, KeyError, ValueError) as err:
        raise SmokeInputError(f"the held-out features cannot be read as the model's: {err}") from None
    classification = schema.task in (BINARY, MULTICLASS)
    y = truth
    if classification:
        classes = np.array(schema.classes)
        unseen = unseen_labels(truth, classes)
        if unseen:
            raise SmokeInputError(f"the held-out rows have label values {unseen} that the package never learned")
        y = np.searchsorted(classes, truth).astype(np.float64)
    raw = np.asarray(predictor.booster.inplace_predict(x, validate_features=False))
    metrics = task_metrics(schema.task, y, raw, schema.threshold)
    if gate.metric not in metrics or not isinstance(metrics[gate.metric], float):
        known = [name for name, value in metrics.items() if isinstance(value, float)]
        raise SmokeInputError(
            f"training.gate.metric {gate.metric!r} is not a metric of a {schema.task} model (it has {known})"
        )
    value = float(metrics[gate.metric])
    if math.isnan(value):
        raise SmokeInputError(f"{gate.metric} is undefined on these {len(truth)} held-out rows (a single class?)")

    offline = predictor.predict(x)
    offline_labels = (
        offline.scores.astype(np.float64)
        if offline.label_index is None
        else np.array(predictor.class_labels, dtype=np.float64)[offline.label_index]
    )
    served_labels, served_scores = _invoke(invoker, csv_records(x), rows_per_request)
    offline_scores = offline.scores.astype(np.float64)
    score_ok = np.isclose(served_scores, offline_scores, rtol=SCORE_RTOL, atol=SCORE_ATOL)
    label_ok = (
        np.isclose(served_labels, offline_labels, rtol=SCORE_RTOL, atol=SCORE_ATOL)
        if schema.task == REGRESSION
        else served_labels == offline_labels
    )
    bad = np.flatnonzero(~(score_ok & label_ok))
    first = None
    if len(bad):
        row = int(bad[0])
        first = (
            f"row {row + 1}: served {served_labels[row]:g},{served_scores[row]!r}, "
            f"the package {offline_labels[row]:g},{float(offline_scores[row])!r}"
        )
    difference = np.abs(served_scores - offline_scores)
    return SmokeResult(
        task=schema.task,
        rows=len(truth),
        requests=invoker.requests,
        mismatched_rows=len(bad),
        max_score_difference=float(np.nanmax(difference)) if len(difference) else 0.0,
        first_mismatch=first,
        metric=gate.metric,
        value=value,
        threshold=gate.threshold,
        direction=gate.direction,
        metric_passed=gate.clears(value),
        match_rate=float(np.mean(served_labels == truth)) if classification else None,
        min_match_rate=min_match_rate,
        truth=y,
        predictions=raw,
    )


def _invoke(invoker: CsvInvoker, records: list[str], rows_per_request: int) -> tuple[np.ndarray, np.ndarray]:
    """Each record's served ``label,score``, in order."""
    served: list[tuple[float, float]] = []
    for start in range(0, len(records), rows_per_request):
        chunk = records[start : start + rows_per_request]
        for number, line in enumerate(invoker.invoke_csv(chunk), start=start + 1):
            label, _, score = line.partition(",")
            try:
                served.append((float(label), float(score)))
            except ValueError:
                raise SmokeInputError(f"the served model answered {line!r} for row {number}: not label,score") from None
    pairs = np.array(served, dtype=np.float64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


# ------------------------------------------------------------------------------------------------ the rows


def holdout_location(dataset_uri: str) -> str:
    """The dataset run's ``holdout/`` folder (``<dataset run>/holdout/``), an S3 URI or a local path."""
    return f"{dataset_uri.rstrip('/')}/{HOLDOUT_SPLIT}/"


def read_holdout(dataset_uri: str, s3: Any = None) -> pd.DataFrame:
    """The dataset run's held-out rows: its ``holdout/`` Parquet part files (Spark's other files skipped)."""
    location = holdout_location(dataset_uri)
    if location.startswith("s3://"):
        tables = _s3_tables(location, s3)
    else:
        folder = Path(location)
        if not folder.is_dir():
            raise SmokeInputError(f"the dataset run has no holdout: {folder} does not exist (missing dataset run?)")
        tables = [_table(path.read_bytes(), str(path)) for path in sorted(folder.glob("*.parquet"))]
    if not tables:
        raise SmokeInputError(f"no held-out rows: {location} holds no Parquet files (missing dataset run?)")
    frame: pd.DataFrame = pa.concat_tables(tables, promote_options="default").to_pandas()
    if frame.empty:
        raise SmokeInputError(f"no held-out rows: the Parquet files under {location} hold no rows")
    return frame


def _s3_tables(location: str, s3: Any) -> list[pa.Table]:
    if s3 is None:
        raise SmokeInputError(f"{location} is on S3, and no S3 client was given")
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = sorted(
        obj["Key"]
        for page in pages
        for obj in page.get("Contents", [])
        if obj["Key"].endswith(".parquet") and not obj["Key"].rsplit("/", 1)[-1].startswith((".", "_"))
    )
    tables = []
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        tables.append(_table(body, f"s3://{bucket}/{key}"))
    return tables


def _table(body: bytes, where: str) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(body))
    except (pa.ArrowException, OSError) as err:
        raise SmokeInputError(f"{where} is not a readable Parquet file: {err}") from None
