"""The endpoint's model quality as SageMaker Model Monitor computes it: from data capture plus ground truth.

One place for what the stacks render into the model-quality job definition and what the local run
(``pipeline.endpoint_quality``) writes and reads:

* **Capture** (SageMaker's data-capture format, one JSON line per request): ``captureData.endpointInput`` and
  ``.endpointOutput`` (``observedContentType``, ``mode``, ``data``, ``encoding``), ``eventMetadata`` (``eventId``,
  the caller's ``inferenceId``, ``inferenceTime``) and ``eventVersion``, under
  ``data-capture/<endpoint>/<variant>/yyyy/mm/dd/hh/``.
* **Ground truth** (written by the dataset job): ``groundTruthData`` (``data``: the label, ``encoding``: CSV),
  ``eventMetadata.eventId`` = the record id the caller passed as ``InferenceId``, ``eventVersion``, under
  ``monitoring/ground-truth/yyyy/mm/dd/hh/``.
* The container answers ``text/csv`` with ``label,score`` per record, so Model Monitor finds the predicted label at
  CSV index ``0`` (``InferenceAttribute``) and the positive class's probability at index ``1``
  (``ProbabilityAttribute``), and scores at the served threshold (``ProbabilityThresholdAttribute``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from esteira_contracts import layout

PROBLEM_TYPE: Final = "BinaryClassification"
INFERENCE_ATTRIBUTE: Final = "0"
PROBABILITY_ATTRIBUTE: Final = "1"
# The container's `threshold` hyperparameter (esteira_model.hyperparameters.Hyperparameters.threshold) and its
# default: a binary model labels a record positive when its score is at least the threshold.
THRESHOLD_HYPERPARAMETER: Final = "threshold"
DEFAULT_THRESHOLD: Final = 0.5
SCHEDULE_SUFFIX: Final = "model-quality"

# The capture and ground-truth formats' fixed values.
EVENT_VERSION: Final = "0"
CSV_ENCODING: Final = "CSV"
CSV_CONTENT_TYPE: Final = "text/csv"
INPUT_MODE: Final = "INPUT"
OUTPUT_MODE: Final = "OUTPUT"
# Captures and ground truth are kept in hourly folders: "<prefix>yyyy/mm/dd/hh/".
HOUR_FOLDER_FORMAT: Final = "%Y/%m/%d/%H/"
# InvokeEndpoint's InferenceId (header X-Amzn-SageMaker-Inference-Id): 1-64 printable ASCII characters, the first
# not a space (the SageMaker Runtime API's pattern \A\S[\p{Print}]*\z).
INFERENCE_ID: Final = re.compile(r"\A[\x21-\x7e][\x20-\x7e]{0,63}\Z")


class EndpointQualityError(ValueError):
    """Settings or records the model-quality monitor cannot use."""


def check_inference_id(value: str) -> str:
    """``value`` if SageMaker accepts it as an InferenceId (the record id a caller passes); else a clear error."""
    if not INFERENCE_ID.match(value):
        raise EndpointQualityError(
            f"{value[:80]!r} is no InferenceId: SageMaker takes 1-64 printable ASCII characters, the first not a space"
        )
    return value


def served_threshold(hyperparameters: Mapping[str, object]) -> float:
    """The threshold the served model labels with, from the training hyperparameters (``threshold``, 0.5 unset)."""
    raw = hyperparameters.get(THRESHOLD_HYPERPARAMETER, DEFAULT_THRESHOLD)
    try:
        value = float(str(raw))
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise EndpointQualityError(
            f"training.hyperparameters.{THRESHOLD_HYPERPARAMETER}: {raw!r} is not a probability between 0 and 1 "
            "(the container labels a record positive at or above it, and the model-quality monitor scores there)"
        )
    return value


def hours_offset(hours: int) -> str:
    """A monitoring job's time offset: an ISO 8601 duration back in time, ``-PT<hours>H``."""
    if hours < 1:
        raise EndpointQualityError(f"a time offset is at least one hour back, not {hours}")
    return f"-PT{hours}H"


def analysis_window(delay_hours: int, period_hours: int) -> tuple[str, str]:
    """``(StartTimeOffset, EndTimeOffset)``: each run reads the schedule period of capture that ended
    ``delay_hours`` before it, so every captured hour is analysed once, after its labels had time to arrive."""
    return hours_offset(delay_hours + period_hours), hours_offset(delay_hours)


def schedule_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-{SCHEDULE_SUFFIX}"


def reports_prefix(endpoint_name: str) -> str:
    """Where the model-quality schedule writes its reports: one folder per schedule under monitoring/reports/."""
    return f"{layout.MONITORING_REPORTS_PREFIX}{schedule_name(endpoint_name)}/"


def capture_prefix(endpoint_name: str) -> str:
    """The endpoint's data capture: ``data-capture/<endpoint>/`` (then ``<variant>/yyyy/mm/dd/hh/``)."""
    return f"{layout.DATA_CAPTURE_PREFIX}{endpoint_name}/"
