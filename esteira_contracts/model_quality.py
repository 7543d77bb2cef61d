"""Ground-truth model quality in CloudWatch: the publisher Lambda's contract and the metric names the alarm reads.

The dataset job's quality step writes one report per dataset run (``layout.MODEL_QUALITY_PREFIX``
``run_id=<run>/`` ``layout.MODEL_QUALITY_REPORT_FILENAME``); the publisher (``training.quality``) turns it into
metrics in :func:`metrics_namespace`: per model version (dimension :data:`VERSION_DIMENSION`) and, for the report's
latest model version, once more under the fixed dimension :data:`SCOPE_DIMENSION` = :data:`SCOPE_LATEST`, which
the model-quality alarm (``stacks/constructs/quality_alarm.py``) names. The construct builds
:class:`QualityPublisherSettings` and renders ``to_env()``; the handler and the local run parse it back.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Final

from esteira_contracts import layout
from esteira_contracts._base import EnvContract, setting
from esteira_contracts.training import BUCKET_PATTERN

# --- metrics -----------------------------------------------------------------------------------------------------
# CloudWatch metric name per report field of a model's figures. Null figures are not published.
METRIC_AUC: Final = "AUC"
METRIC_PRECISION: Final = "Precision"
METRIC_RECALL: Final = "Recall"
METRIC_F1: Final = "F1"
METRIC_BRIER_SCORE: Final = "BrierScore"
METRIC_LABELLED_PREDICTIONS: Final = "LabelledPredictions"
# The gate metric (training.gate.metric) -> the published metric an alarm can compare with the gate's threshold.
GATE_METRICS: Final[dict[str, str]] = {
    "auc": METRIC_AUC,
    "precision": METRIC_PRECISION,
    "recall": METRIC_RECALL,
    "f1": METRIC_F1,
}
VERSION_DIMENSION: Final = "ModelVersion"
SCOPE_DIMENSION: Final = "Scope"
SCOPE_LATEST: Final = "latest"

# PutMetricData's documented limits (API_PutMetricData, API_Dimension): at most 1000 metrics and 1 MB per request;
# a dimension value is 1-1024 ASCII characters, not all whitespace, with no control characters; a value is finite
# and within +-2^360. The namespace is 1-255 ASCII characters, not starting with ':' (nor "AWS/", reserved).
MAX_METRICS_PER_REQUEST: Final = 1000
MAX_REQUEST_BYTES: Final = 1024 * 1024
MAX_DIMENSION_VALUE_LENGTH: Final = 1024
MAX_METRIC_VALUE: Final = 2.0**360
NAMESPACE_PATTERN: Final = r"(?!AWS/)(?!:)[\x20-\x7e]{1,255}"


def metrics_namespace(env_name: str) -> str:
    """``Esteira/<env>/ModelQuality``: one namespace per environment."""
    return f"Esteira/{env_name}/ModelQuality"


@dataclasses.dataclass(frozen=True, kw_only=True)
class QualityPublisherSettings(EnvContract):
    """Where the reports are and where their metrics go."""

    component: ClassVar[str] = "quality publisher"

    env_name: str = setting("ENV_NAME", pattern=r"[a-z0-9-]{1,32}", pattern_help="the environment's name")
    namespace: str = setting(
        "METRICS_NAMESPACE", pattern=NAMESPACE_PATTERN, pattern_help="a CloudWatch namespace (ASCII, not AWS/)"
    )
    # Reports are read only from here: the artifacts bucket's model-quality prefix (what the Lambda may read).
    artifacts_bucket: str = setting("ARTIFACTS_BUCKET", pattern=BUCKET_PATTERN, pattern_help="an S3 bucket name")
    report_prefix: str = setting("REPORT_PREFIX", default=layout.MODEL_QUALITY_PREFIX, prefix=True)
    # The alarm watches the latest version only with at least this many labelled predictions; the summary says
    # whether the report's latest version has them (training.quality.min_labelled_predictions).
    min_labelled_predictions: int = setting("MIN_LABELLED_PREDICTIONS", default=200, minimum=1)

    def problems(self) -> list[str]:
        if not self.report_prefix:
            return [f"{self.name_of('report_prefix')} must not be empty: reports are read from one prefix only"]
        return []

    @classmethod
    def for_env(cls, env_name: str, artifacts_bucket: str, min_labelled_predictions: int) -> QualityPublisherSettings:
        return cls(
            env_name=env_name,
            namespace=metrics_namespace(env_name),
            artifacts_bucket=artifacts_bucket,
            min_labelled_predictions=min_labelled_predictions,
        )


# --- the model-quality alarm's rule ------------------------------------------------------------------------------
# The alarm (stacks/constructs/quality_alarm.py) watches IF(labelled >= min, figure, threshold) < threshold on the
# Scope=latest metrics; :func:`quality_alarm_state` is that rule on one report, for the local run's decision.
ALARM_STATE_ALARM: Final = "ALARM"
ALARM_STATE_OK: Final = "OK"
ALARM_STATE_INSUFFICIENT_DATA: Final = "INSUFFICIENT_DATA"


def quality_alarm_state(
    latest_figure: float | None, labelled_predictions: int | None, *, threshold: float, min_labelled_predictions: int
) -> tuple[str, str]:
    """(state, reason) of the alarm on the latest model version's gate figure and its labelled predictions.

    ALARM: the figure is below ``training.gate.threshold`` over at least ``training.quality.min_labelled_predictions``
    labels. OK: it is not below. INSUFFICIENT_DATA: no figure, or too few labels: the alarm's expression then yields
    the threshold itself (or no point, missing data not breaching), so it never fires on them."""
    if latest_figure is None or labelled_predictions is None:
        return ALARM_STATE_INSUFFICIENT_DATA, "the latest model version has no published figure: nothing to judge"
    if labelled_predictions < min_labelled_predictions:
        return (
            ALARM_STATE_INSUFFICIENT_DATA,
            f"{labelled_predictions} labelled prediction(s), fewer than the {min_labelled_predictions} the alarm "
            "judges over",
        )
    if latest_figure < threshold:
        return (
            ALARM_STATE_ALARM,
            f"{latest_figure:.4g} is below the gate's {threshold:g} over {labelled_predictions} labelled predictions",
        )
    return (
        ALARM_STATE_OK,
        f"{latest_figure:.4g} is not below the gate's {threshold:g} ({labelled_predictions} labelled)",
    )
