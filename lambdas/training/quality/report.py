"""The dataset job's model-quality report (report.json), read into what the publisher needs.

The report's field names are the quality step's contract, ``esteira_contracts.quality``; this module reads them
under the names the publisher uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from esteira_contracts import quality
from esteira_contracts.model_quality import (
    MAX_DIMENSION_VALUE_LENGTH,
    MAX_METRIC_VALUE,
    METRIC_AUC,
    METRIC_BRIER_SCORE,
    METRIC_F1,
    METRIC_PRECISION,
    METRIC_RECALL,
)
from training.errors import InvalidQualityReport

# The report's names are the quality step's contract (esteira_contracts.quality); the version it writes.
SUPPORTED_REPORT_VERSION: Final = quality.REPORT_VERSION
REPORT_VERSION: Final = quality.REPORT_VERSION_KEY
DATASET_RUN_ID: Final = quality.DATASET_RUN_ID
AS_OF_DATE: Final = quality.AS_OF_DATE
TASK: Final = quality.TASK
LATEST_MODEL_VERSION: Final = quality.LATEST_MODEL_VERSION
REASON: Final = quality.REASON
MODELS: Final = quality.MODELS
MODEL_VERSION: Final = quality.MODEL_VERSION
LABELLED_PREDICTIONS: Final = quality.LABELLED_PREDICTIONS
# A model's figures -> the CloudWatch metric each becomes (LabelledPredictions is the count, above).
FIGURES: Final[dict[str, str]] = {
    quality.AUC: METRIC_AUC,
    quality.PRECISION: METRIC_PRECISION,
    quality.RECALL: METRIC_RECALL,
    quality.F1: METRIC_F1,
    quality.BRIER_SCORE: METRIC_BRIER_SCORE,
}


@dataclass(frozen=True)
class ModelQuality:
    """One model version's figures; a figure the report leaves null (or not finite) is absent from ``figures``."""

    model_version: str
    labelled_predictions: int | None
    figures: dict[str, float]  # CloudWatch metric name -> value
    skipped: tuple[str, ...]  # report fields that were null or not a finite number


@dataclass(frozen=True)
class QualityReport:
    dataset_run_id: str | None
    as_of_date: str | None
    task: str | None
    latest_model_version: str | None
    reason: str | None
    models: tuple[ModelQuality, ...]

    def latest(self) -> ModelQuality | None:
        """The latest model version's figures, when the report has them."""
        return next((m for m in self.models if m.model_version == self.latest_model_version), None)


def parse_report(document: Any) -> QualityReport:
    """The report, checked: every problem is named (field and model) in one :class:`InvalidQualityReport`."""
    if not isinstance(document, dict):
        raise InvalidQualityReport(f"the report must be a JSON object, got {type(document).__name__}")
    problems: list[str] = []
    version = document.get(REPORT_VERSION)
    if version != SUPPORTED_REPORT_VERSION or isinstance(version, bool):
        problems.append(f"{REPORT_VERSION}={version!r} is not {SUPPORTED_REPORT_VERSION} (the version this reads)")
    raw_models = document.get(MODELS, [])
    if not isinstance(raw_models, list):
        problems.append(f"{MODELS} must be a list, got {type(raw_models).__name__}")
        raw_models = []
    models: list[ModelQuality] = []
    for index, raw in enumerate(raw_models):
        model, model_problems = _model(raw, f"{MODELS}[{index}]")
        problems.extend(model_problems)
        if model is not None:
            models.append(model)
    versions = [m.model_version for m in models]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        problems.append(f"{MODELS} lists model version(s) {', '.join(duplicates)} more than once")
    latest = document.get(LATEST_MODEL_VERSION)
    if latest is not None:
        latest, problem = _dimension_value(latest, LATEST_MODEL_VERSION)
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidQualityReport("invalid model-quality report: " + "; ".join(problems))
    return QualityReport(
        dataset_run_id=_optional_text(document.get(DATASET_RUN_ID)),
        as_of_date=_optional_text(document.get(AS_OF_DATE)),
        task=_optional_text(document.get(TASK)),
        latest_model_version=latest,
        reason=_optional_text(document.get(REASON)),
        models=tuple(models),
    )


def _model(raw: Any, where: str) -> tuple[ModelQuality | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{where} must be an object"]
    problems: list[str] = []
    version, problem = _dimension_value(raw.get(MODEL_VERSION), f"{where}.{MODEL_VERSION}")
    if problem:
        problems.append(problem)
    count = raw.get(LABELLED_PREDICTIONS)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        problems.append(f"{where}.{LABELLED_PREDICTIONS}={count!r} is not a count (an integer >= 0)")
        count = None
    figures: dict[str, float] = {}
    skipped: list[str] = []
    for field, metric in FIGURES.items():
        value = raw.get(field)
        if value is None:
            skipped.append(field)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}.{field}={value!r} is not a number")
        elif not math.isfinite(value):
            skipped.append(field)  # NaN: undefined (e.g. AUC over one class); CloudWatch takes no special values
        elif abs(value) > MAX_METRIC_VALUE:
            problems.append(f"{where}.{field}={value!r} is outside CloudWatch's range (+-2^360)")
        else:
            figures[metric] = float(value)
    if problems:
        return None, problems
    return ModelQuality(version, count, figures, tuple(skipped)), []


def _dimension_value(value: Any, where: str) -> tuple[str, str | None]:
    """A model version as a CloudWatch dimension value: 1-1024 ASCII characters, not blank, no control characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return "", f"{where}={value!r} is not a model version (a string)"
    if not value.strip() or len(value) > MAX_DIMENSION_VALUE_LENGTH:
        return "", f"{where}={value[:40]!r} must have 1-{MAX_DIMENSION_VALUE_LENGTH} characters, not all blank"
    if any(not (0x20 <= ord(char) <= 0x7E) for char in value):
        return "", f"{where}={value[:40]!r} must be printable ASCII (a CloudWatch dimension value)"
    return value, None


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)
