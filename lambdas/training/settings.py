"""Every environment variable the training Lambdas read, and the settings dataclasses built from them.

This is the only module that touches ``os.environ``; handlers call ``<X>Settings.from_env()`` per invocation (never
at import) and logic modules receive the dataclass. A missing or ill-typed variable raises
:class:`esteira_contracts.SettingsError` naming every offending variable at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from common.settings import EnvReader
from esteira_contracts import SettingsError, layout, normalize_prefix
from training.s3uri import S3Uri

# --- prepare ---------------------------------------------------------------------------------------------------
CURATED_URI = "CURATED_URI"
ARTIFACTS_BUCKET = "ARTIFACTS_BUCKET"  # also read by evaluate
MODEL_PREFIX = "MODEL_PREFIX"  # also read by evaluate
CHECKPOINT_PREFIX = "CHECKPOINT_PREFIX"
JOB_NAME_PREFIX = "JOB_NAME_PREFIX"

# --- evaluate --------------------------------------------------------------------------------------------------
MODEL_PACKAGE_GROUP = "MODEL_PACKAGE_GROUP"
GATE_METRIC = "GATE_METRIC"
GATE_THRESHOLD = "GATE_THRESHOLD"
MIN_IMPROVEMENT = "MIN_IMPROVEMENT"
GATE_DIRECTION = "GATE_DIRECTION"

PREPARE_VARIABLES = (CURATED_URI, ARTIFACTS_BUCKET, MODEL_PREFIX, CHECKPOINT_PREFIX, JOB_NAME_PREFIX)
EVALUATE_VARIABLES = (
    MODEL_PACKAGE_GROUP,
    GATE_METRIC,
    GATE_THRESHOLD,
    MIN_IMPROVEMENT,
    GATE_DIRECTION,
    ARTIFACTS_BUCKET,
    MODEL_PREFIX,
)

# A training job name is "<prefix>-YYYYMMDD-HHMMSS-<6 hex>": 23 characters after the prefix, 63 in all.
MAX_JOB_NAME_LENGTH = 63
JOB_NAME_SUFFIX_LENGTH = len("-20250101-020000-abcdef")
MAX_JOB_NAME_PREFIX_LENGTH = MAX_JOB_NAME_LENGTH - JOB_NAME_SUFFIX_LENGTH
_JOB_NAME_PREFIX = re.compile(r"^[a-zA-Z0-9](?:-*[a-zA-Z0-9])*$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

# Metrics where lower is better; every other metric is maximised unless GATE_DIRECTION says otherwise.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "mape", "logloss", "mlogloss", "error", "merror", "loss"})

Direction = Literal["maximize", "minimize"]


class _Reader(EnvReader):
    error_class = SettingsError

    def bucket(self, name: str) -> str:
        value = self.text(name)
        if value and not _BUCKET.match(value):
            self.errors.append(f"{name}={value!r} is not a bucket name (give the name, not an s3:// URI)")
        return value


@dataclass(frozen=True)
class PrepareSettings:
    curated_uri: str  # always ends with '/'
    artifacts_bucket: str
    model_prefix: str
    checkpoint_prefix: str
    job_name_prefix: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PrepareSettings:
        env = _Reader(os.environ if environ is None else environ)
        curated = env.text(CURATED_URI)
        if curated:
            try:
                curated = str(S3Uri.parse(curated).as_prefix())
            except ValueError as exc:
                env.errors.append(f"{CURATED_URI}: {exc}")
        job_name_prefix = env.text(JOB_NAME_PREFIX)
        if job_name_prefix and (
            not _JOB_NAME_PREFIX.match(job_name_prefix) or len(job_name_prefix) > MAX_JOB_NAME_PREFIX_LENGTH
        ):
            env.errors.append(
                f"{JOB_NAME_PREFIX}={job_name_prefix!r} must be letters, digits and inner hyphens, at most "
                f"{MAX_JOB_NAME_PREFIX_LENGTH} characters (job names are limited to {MAX_JOB_NAME_LENGTH})"
            )
        settings = cls(
            curated_uri=curated,
            artifacts_bucket=env.bucket(ARTIFACTS_BUCKET),
            model_prefix=normalize_prefix(env.text(MODEL_PREFIX, layout.MODEL_ARTIFACTS_PREFIX)),
            checkpoint_prefix=normalize_prefix(env.text(CHECKPOINT_PREFIX, layout.CHECKPOINTS_PREFIX)),
            job_name_prefix=job_name_prefix,
        )
        env.done("prepare")
        return settings


@dataclass(frozen=True)
class EvaluateSettings:
    model_package_group: str
    gate_metric: str
    gate_threshold: float
    min_improvement: float
    direction: Direction
    artifacts_bucket: str
    model_prefix: str

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EvaluateSettings:
        env = _Reader(os.environ if environ is None else environ)
        metric = normalize_metric_name(env.text(GATE_METRIC, "auc"))
        default_direction = "minimize" if metric in LOWER_IS_BETTER else "maximize"
        direction = env.text(GATE_DIRECTION, default_direction).lower()
        if direction not in ("maximize", "minimize"):
            env.errors.append(f"{GATE_DIRECTION}={direction!r} must be 'maximize' or 'minimize'")
        settings = cls(
            model_package_group=env.text(MODEL_PACKAGE_GROUP),
            gate_metric=metric,
            gate_threshold=env.number(GATE_THRESHOLD),
            min_improvement=env.number(MIN_IMPROVEMENT, 0.0, minimum=0.0),
            direction="minimize" if direction == "minimize" else "maximize",
            artifacts_bucket=env.bucket(ARTIFACTS_BUCKET),
            model_prefix=normalize_prefix(env.text(MODEL_PREFIX, layout.MODEL_ARTIFACTS_PREFIX)),
        )
        env.done("evaluate")
        return settings


def normalize_metric_name(name: str) -> str:
    """``validation:auc`` (the container's log name) and ``auc`` name the same metric."""
    name = name.strip()
    return name.removeprefix("validation:")
