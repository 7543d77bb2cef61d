"""The dataset job's arguments: curated extractions in, one training run's data sets out.

The training state machine's Dataset step renders these with ``to_args()``; the job (``glue_jobs/dataset_job.py``)
and the local run parse them with ``from_args()``. Output layout (``R`` = ``run_id``)::

    <datasets_uri>/run_id=R/{train,validation,holdout}/   Parquet, the spec's output columns (key and label included)
    <datasets_uri>/run_id=R/baseline/                     headerless CSV of the features, in feature-schema order
    <batch_input_uri>/run_id=R/                           headerless CSV ``record_id,f1,...,fn``
    <datasets_uri>/run_id=R/manifest.json                 counts, split rule, input runs; ``status`` ok|no_new_data

Without ``batch_input_uri`` the batch input goes to ``<datasets_uri>/run_id=R/batch-input/run_id=R/``.

With ``predictions_uri`` (the predictions bucket's ``batch-output/``), the quality step joins the scored records
with the labels final as of ``as_of_date`` and writes (see ``esteira_contracts.quality``)::

    <quality_uri>run_id=R/report.json                     per model version: AUC, precision/recall/F1, Brier, bins
    <ground_truth_uri>yyyy/mm/dd/hh/R.jsonl               the final labels in SageMaker's ground-truth format
"""

from __future__ import annotations

import dataclasses
import math
from datetime import date
from typing import ClassVar

from esteira_contracts._base import ArgsContract, setting

RUN_ID_PATTERN = r"[A-Za-z0-9_.-]{1,128}"
COLUMN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
SPLIT_BUCKETS = 10_000  # a fraction is a whole number of 1/10,000 hash buckets
FRACTION_NAMES = ("train_fraction", "validation_fraction", "holdout_fraction")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetJobArgs(ArgsContract):
    """Where the curated extractions are, where the data sets go, and how keys are split."""

    component: ClassVar[str] = "dataset job"

    spec_uri: str = setting("spec_uri")
    curated_uri: str = setting("curated_uri")
    datasets_uri: str = setting("datasets_uri")
    run_id: str = setting("run_id", pattern=RUN_ID_PATTERN, pattern_help="1-128 letters, digits, '_', '.' or '-'")
    # The training hyperparameter of the same name: what the container does not train on, so the baseline and the
    # batch input carry exactly the features the model sees, in its order.
    drop_columns: tuple[str, ...] = setting("drop_columns", default=(), pattern=COLUMN_PATTERN)
    train_fraction: float = setting("train_fraction", default=0.7, minimum=1 / SPLIT_BUCKETS, maximum=1)
    validation_fraction: float = setting("validation_fraction", default=0.15, minimum=1 / SPLIT_BUCKETS, maximum=1)
    holdout_fraction: float = setting("holdout_fraction", default=0.15, minimum=1 / SPLIT_BUCKETS, maximum=1)
    batch_input_uri: str | None = setting("batch_input_uri", default=None)
    # The day label finality is judged on (the spec's rules see it as the column ``as_of_date``); default: today, UTC.
    as_of_date: str | None = setting("as_of_date", default=None, pattern=DATE_PATTERN, pattern_help="a YYYY-MM-DD date")
    # Ground-truth model quality: where the transform runs' outputs and scoring records are ("batch-output/"), where
    # the report goes ("monitoring/model-quality/") and where the endpoint monitor's ground truth goes
    # ("monitoring/ground-truth/"). Without predictions_uri the job computes no quality; without ground_truth_uri
    # it writes the report only.
    predictions_uri: str | None = setting("predictions_uri", default=None)
    quality_uri: str | None = setting("quality_uri", default=None)
    ground_truth_uri: str | None = setting("ground_truth_uri", default=None)

    def problems(self) -> list[str]:
        found = []
        total = self.train_fraction + self.validation_fraction + self.holdout_fraction
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            found.append(f"{' + '.join(FRACTION_NAMES)} must be 1, got {total:g}")
        if self.as_of_date is not None:
            try:
                date.fromisoformat(self.as_of_date)
            except ValueError:
                found.append(f"as_of_date={self.as_of_date!r} is not a calendar date")
        if self.datasets_uri.rstrip("/") == self.curated_uri.rstrip("/"):
            found.append("datasets_uri must differ from curated_uri")
        if self.predictions_uri is not None and self.quality_uri is None:
            found.append("predictions_uri needs quality_uri (where the model-quality report goes)")
        if self.predictions_uri is None and (self.quality_uri is not None or self.ground_truth_uri is not None):
            found.append("quality_uri and ground_truth_uri need predictions_uri (the scored records to judge)")
        return found

    @property
    def split_cuts(self) -> tuple[int, int]:
        """Bucket bounds: ``bucket < cuts[0]`` is train, ``< cuts[1]`` validation, the rest holdout."""
        train = round(self.train_fraction * SPLIT_BUCKETS)
        return train, round((self.train_fraction + self.validation_fraction) * SPLIT_BUCKETS)
