"""The training Lambdas' contracts: Prepare's and Evaluate's settings, and the results they hand the state machine.

Settings: the construct builds them from config and renders ``to_env()``; the handlers parse ``from_env()``.
Results: the handlers return ``<X>Result.to_payload()``; the state machine definition reads their fields through
paths derived from these classes (``stacks/constructs/training_definition.py``), so a renamed field fails at synth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal, Protocol, Self

from esteira_contracts import layout
from esteira_contracts._base import EnvContract, setting

# A training job name is "<prefix>-YYYYMMDD-HHMMSS-<6 hex>": 23 characters after the prefix, 63 in all
# (CreateTrainingJob's TrainingJobName: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$).
MAX_JOB_NAME_LENGTH = 63
JOB_NAME_SUFFIX_LENGTH = len("-20250101-020000-abcdef")
MAX_JOB_NAME_PREFIX_LENGTH = MAX_JOB_NAME_LENGTH - JOB_NAME_SUFFIX_LENGTH
# A tuning job name is "<prefix>-YYMMDDHHMM-<4 hex>": CreateHyperParameterTuningJob allows 1 to 32 characters.
MAX_TUNING_JOB_NAME_LENGTH = 32
TUNING_JOB_NAME_SUFFIX_LENGTH = len("-2501010200-abcd")
MAX_TUNING_JOB_NAME_PREFIX_LENGTH = MAX_TUNING_JOB_NAME_LENGTH - TUNING_JOB_NAME_SUFFIX_LENGTH
JOB_NAME_PREFIX_PATTERN = rf"(?=.{{1,{MAX_JOB_NAME_PREFIX_LENGTH}}}$)[a-zA-Z0-9](?:-*[a-zA-Z0-9])*"
# S3 bucket naming rules (3-63 lowercase letters, digits, dots and hyphens; a letter or digit at both ends).
BUCKET_PATTERN = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
S3_URI_PATTERN = r"s3://[^/\s]+(?:/.*)?"

# Metrics where lower is better; every other metric is maximised unless GATE_DIRECTION says otherwise.
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mse", "mape", "logloss", "mlogloss", "error", "merror", "loss"})

Direction = Literal["maximize", "minimize"]


def normalize_metric_name(name: str) -> str:
    """``validation:auc`` (the container's log name) and ``auc`` name the same metric."""
    return name.strip().removeprefix("validation:")


def as_folder_uri(uri: str) -> str:
    """``s3://bucket/key`` with exactly one trailing '/' on a non-empty key (a folder); ``s3://bucket/`` else."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    key = key.rstrip("/")
    return f"s3://{bucket}/{key}/" if key.strip("/") else f"s3://{bucket}/"


# --- settings ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrepareSettings(EnvContract):
    """Where the extraction's manifests are, where the job writes, and how its job is named."""

    component: ClassVar[str] = "prepare"

    curated_uri: str = setting(  # normalised to a folder (ends with '/')
        "CURATED_URI", pattern=S3_URI_PATTERN, pattern_help="an s3:// URI (s3://<bucket>/<prefix>)"
    )
    artifacts_bucket: str = setting(  # also read by evaluate
        "ARTIFACTS_BUCKET", pattern=BUCKET_PATTERN, pattern_help="a bucket name (give the name, not an s3:// URI)"
    )
    # Also read by evaluate.
    model_prefix: str = setting("MODEL_PREFIX", default=layout.MODEL_ARTIFACTS_PREFIX, prefix=True)
    checkpoint_prefix: str = setting("CHECKPOINT_PREFIX", default=layout.CHECKPOINTS_PREFIX, prefix=True)
    # The dataset job writes each run under <artifacts>/<datasets_prefix>run_id=R/ and its rows to score under
    # <predictions>/<batch_input_prefix>run_id=R/; without a predictions bucket, inside the dataset run.
    datasets_prefix: str = setting("DATASETS_PREFIX", default=layout.DATASETS_PREFIX, prefix=True)
    predictions_bucket: str | None = setting(
        "PREDICTIONS_BUCKET",
        default=None,
        pattern=BUCKET_PATTERN,
        pattern_help="a bucket name (give the name, not an s3:// URI)",
    )
    batch_input_prefix: str = setting("BATCH_INPUT_PREFIX", default=layout.BATCH_INPUT_PREFIX, prefix=True)
    # The baselining job writes each run's constraints.json and statistics.json under
    # <artifacts>/<baselines_prefix>run_id=R/.
    baselines_prefix: str = setting("BASELINES_PREFIX", default=layout.MONITORING_BASELINES_PREFIX, prefix=True)
    # The group whose newest Approved package is the champion, scored by the training job on the same holdout.
    model_package_group: str | None = setting("MODEL_PACKAGE_GROUP", default=None)
    job_name_prefix: str = setting(
        "JOB_NAME_PREFIX",
        pattern=JOB_NAME_PREFIX_PATTERN,
        pattern_help=(
            f"letters, digits and inner hyphens, at most {MAX_JOB_NAME_PREFIX_LENGTH} characters "
            f"(job names are limited to {MAX_JOB_NAME_LENGTH})"
        ),
    )

    def __post_init__(self) -> None:
        # A deploy-time token ("s3://${Token[...]}/extractions/") is normalised the same way: it keeps its slashes.
        object.__setattr__(self, "curated_uri", as_folder_uri(self.curated_uri))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateSettings(EnvContract):
    """The quality gate (metric, threshold, margin over the champion) and where the evaluation is published."""

    component: ClassVar[str] = "evaluate"

    model_package_group: str = setting("MODEL_PACKAGE_GROUP")
    gate_metric: str = setting("GATE_METRIC", default="auc")  # "validation:" is dropped
    gate_threshold: float = setting("GATE_THRESHOLD")
    min_improvement: float = setting("MIN_IMPROVEMENT", default=0.0, minimum=0.0)
    # None: minimise the metrics of LOWER_IS_BETTER, maximise the others (see `effective_direction`).
    direction: Literal["maximize", "minimize"] | None = setting("GATE_DIRECTION", default=None)
    artifacts_bucket: str = setting(
        "ARTIFACTS_BUCKET", pattern=BUCKET_PATTERN, pattern_help="a bucket name (give the name, not an s3:// URI)"
    )
    model_prefix: str = setting("MODEL_PREFIX", default=layout.MODEL_ARTIFACTS_PREFIX, prefix=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gate_metric", normalize_metric_name(self.gate_metric))

    @classmethod
    def parse(cls, values: Mapping[str, str | None]) -> Self:
        direction = values.get("GATE_DIRECTION")
        if isinstance(direction, str):  # "Maximize" and "maximize" mean the same
            values = {**values, "GATE_DIRECTION": direction.strip().lower()}
        return super().parse(values)

    @classmethod
    def for_gate(
        cls, gate: GateLike, *, model_package_group: str, artifacts_bucket: str, threshold: float | None = None
    ) -> Self:
        """From the config's `training.gate`: the construct and the local run build it alike (the local run may
        override the threshold, as `--gate-threshold` does)."""
        return cls(
            model_package_group=model_package_group,
            gate_metric=gate.metric,
            gate_threshold=gate.threshold if threshold is None else threshold,
            min_improvement=gate.min_improvement,
            artifacts_bucket=artifacts_bucket,
        )

    @property
    def effective_direction(self) -> Direction:
        if self.direction is not None:
            return self.direction
        return "minimize" if self.gate_metric in LOWER_IS_BETTER else "maximize"

    @property
    def maximize(self) -> bool:
        return self.effective_direction == "maximize"


class GateLike(Protocol):
    """The config's `training.gate` (stacks.training_config.GateConfig), as far as Evaluate needs it."""

    @property
    def metric(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def min_improvement(self) -> float: ...


# --- results ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """A Lambda's result as the state machine receives it: ``to_payload()`` is the handler's return value."""

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrepareResult(Result):
    """Everything the training job needs, derived from the extraction run's manifest."""

    training_job_name: str
    tuning_job_name: str | None  # None when the prefix is too long for a tuning job name (32 characters)
    train_uri: str  # the whole curated prefix, a folder
    manifest_uri: str  # the run's dated manifest
    output_uri: str
    checkpoint_uri: str
    rows: int  # rows the run wrote; 0: nothing new to train on
    target: str | None  # the manifest's label column
    run_id: str  # the extraction run
    # The dataset job's run (named like the training job: one dataset per execution) and where it writes.
    dataset_run_id: str
    datasets_uri: str  # the dataset job's --datasets_uri, a folder
    batch_input_uri: str  # the dataset job's --batch_input_uri, a folder; the run's rows go under run_id=R/
    dataset_uri: str  # <datasets_uri>run_id=R/
    dataset_manifest_bucket: str  # the run's manifest.json, read by the state machine (status ok|no_new_data)
    dataset_manifest_key: str
    # The training job's channels (S3 prefixes): train, validation, holdout.
    train_channel_uri: str
    validation_channel_uri: str
    holdout_channel_uri: str
    batch_run_input_uri: str  # <batch_input_uri>run_id=R/: what the batch launcher scores for this run
    # The baselining job (Model Monitor's analyzer) reads the run's baseline/ CSV and writes its constraints and
    # statistics under <artifacts>/monitoring/baselines/run_id=R/; Register names those files in the package.
    baseline_input_uri: str  # <dataset_uri>baseline/
    baseline_uri: str  # the job's output folder
    baseline_constraints_uri: str
    baseline_statistics_uri: str
    # The champion (newest Approved package of the group), scored on the same holdout as the candidate.
    champion_package_arn: str | None
    champion_model_uri: str | None  # its model.tar.gz: the training job's "champion" channel


@dataclasses.dataclass(frozen=True, kw_only=True)
class Champion:
    """The newest Approved package of the group, and its ``metric.<gate metric>`` if it records a usable one."""

    arn: str
    metric_value: float | None


# How a training execution (and the local run's evaluate stage) ends when the gate decides: a rejection is an outcome,
# not a failure. The state machine's output and its notifications carry it as "outcome".
OUTCOME_REGISTERED: Final = "registered"
OUTCOME_GATE_REJECTED: Final = "gate_rejected"


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateResult(Result):
    """The gate's decision (a failing gate is ``passed: false``, not an error) and what Register records."""

    passed: bool
    reason: str
    metrics: dict[str, float]
    metric_name: str
    metric_value: float
    champion: Champion | None
    evaluation_uri: str  # the published evaluation.json (the package's model quality statistics)
    evaluation_source: str  # the tarball it was read from
    image_digest: str
    customer_metadata: dict[str, str]  # metric.* and lineage.* for CreateModelPackage


def field_names(result: type[Any]) -> tuple[str, ...]:
    """The fields of a result dataclass, in declaration order."""
    return tuple(field.name for field in dataclasses.fields(result))
