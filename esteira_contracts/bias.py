"""Bias and explainability: SageMaker Clarify's metric names, where its outputs go, and the bias gate's contract.

The training state machine runs two Clarify processing jobs per run (bias: pre- and post-training metrics of the
configured facets; explainability: SHAP), each writing Clarify's ``analysis.json`` under
``monitoring/clarify/run_id=<run>/{bias,explainability}/`` (``layout.CLARIFY_PREFIX``), beside the
``analysis_config.json`` it read. The bias gate (``lambdas/training/bias_gate``) checks one metric of the bias
``analysis.json`` for every facet against ``[minimum, maximum]``; the local run computes the same document and calls
the same check. The construct builds :class:`BiasGateSettings` from ``training.bias.gate`` and renders ``to_env()``;
the handler parses ``from_env()``.

analysis.json (the docs' "Get the analysis results" of a Clarify processing job)::

    {"pre_training_bias_metrics": {"label": ..., "label_value_or_threshold": ..., "facets": {
         "<column>": [{"value_or_threshold": "<value>",
                       "metrics": [{"name": "CI", "description": ..., "value": ...}]}]}},
     "post_training_bias_metrics": {... the same shape, metrics DPPL, DI, ...},
     "explanations": {"kernel_shap": {"label0": {"global_shap_values": {"<feature>": ...}, "expected_value": ...}}}}
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Final, Literal, Protocol, Self

from esteira_contracts import layout
from esteira_contracts._base import EnvContract, setting
from esteira_contracts.training import BUCKET_PATTERN, JOB_NAME_PREFIX_PATTERN

Stage = Literal["pre_training", "post_training"]

# Clarify's metric names per stage (its analysis config's pre_training_bias/post_training_bias "methods").
PRE_TRAINING_METRICS: Final = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "CDDL")
POST_TRAINING_METRICS: Final = ("DPPL", "DI", "DCA", "DCR", "RD", "DAR", "DRR", "AD", "CDDPL", "TE", "FT")
STAGE_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "pre_training": PRE_TRAINING_METRICS,
    "post_training": POST_TRAINING_METRICS,
}
# The analysis.json section of each stage.
STAGE_SECTIONS: Final[dict[str, str]] = {
    "pre_training": "pre_training_bias_metrics",
    "post_training": "post_training_bias_metrics",
}
EXPLANATIONS_SECTION: Final = "explanations"
# The pre-training metric that carries the facet groups' sizes: CI = (n_a - n_d) / (n_a + n_d).
CLASS_IMBALANCE: Final = "CI"
# Clarify's errors (smclarify's wording) for a facet group with no rows in the analysed data, and for one that holds
# every row: the metric has no value, and the group has 0 rows on one side.
EMPTY_FACET_ERROR: Final = "Facet set is empty"
EMPTY_COMPLEMENT_ERROR: Final = "Negated facet set is empty"
# The bias gate judges a facet group only with at least this many analysed rows in it and in the rest (see
# stacks/bias_config.BiasGateConfig.min_facet_rows for why 100).
MIN_FACET_ROWS: Final = 100

# Clarify's files and the two analyses' folders under a run's clarify prefix.
ANALYSIS_FILENAME: Final = "analysis.json"
ANALYSIS_CONFIG_FILENAME: Final = "analysis_config.json"
BIAS_DIR: Final = "bias"
EXPLAINABILITY_DIR: Final = "explainability"


def clarify_run_prefix(run_id: str, prefix: str = layout.CLARIFY_PREFIX) -> str:
    """``monitoring/clarify/run_id=<run>/``: one training run's Clarify outputs."""
    return layout.run_prefix(prefix, run_id)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BiasGateSettings(EnvContract):
    """The bias gate: ``metric`` of ``stage`` must lie in ``[minimum, maximum]`` for every facet of the analysis
    with enough evidence: at least ``min_facet_rows`` analysed rows in the facet group (d) and in the rest (a).

    A facet group under the floor is reported "not judged", never passed silently; the group sizes come from the
    pre-training CI and the analysed row count (n_d = n(1 - CI)/2), since analysis.json holds no counts.
    Disabled, the gate still reads and reports the values but always passes.
    """

    component: ClassVar[str] = "bias gate"

    metric: str = setting("BIAS_GATE_METRIC", default="DI")
    stage: Literal["pre_training", "post_training"] = setting("BIAS_GATE_STAGE", default="post_training")
    minimum: float = setting("BIAS_GATE_MIN")
    maximum: float = setting("BIAS_GATE_MAX")
    enabled: bool = setting("BIAS_GATE_ENABLED", default=True)
    min_facet_rows: int = setting("BIAS_GATE_MIN_FACET_ROWS", default=MIN_FACET_ROWS, minimum=0)

    def problems(self) -> list[str]:
        found = []
        known = STAGE_METRICS[self.stage]
        if self.metric not in known:
            found.append(
                f"{self.name_of('metric')}={self.metric!r} is not a Clarify {self.stage} bias metric "
                f"({self.name_of('stage')}); use one of {', '.join(known)}"
            )
        if self.minimum > self.maximum:
            found.append(
                f"{self.name_of('minimum')}={self.minimum:g} must be <= {self.name_of('maximum')}={self.maximum:g}"
            )
        return found

    @property
    def section(self) -> str:
        """The analysis.json section the gate reads."""
        return STAGE_SECTIONS[self.stage]

    @classmethod
    def for_gate(cls, gate: BiasGateLike) -> Self:
        """From the config's ``training.bias.gate``: the construct and the local run build it alike."""
        return cls(
            metric=gate.metric,
            stage=gate.stage,
            minimum=gate.min,
            maximum=gate.max,
            enabled=gate.enabled,
            min_facet_rows=gate.min_facet_rows,
        )


class BiasGateLike(Protocol):
    """The config's ``training.bias.gate`` (stacks.bias_config.BiasGateConfig), as far as the gate needs it."""

    @property
    def enabled(self) -> bool: ...
    @property
    def metric(self) -> str: ...
    @property
    def stage(self) -> Literal["pre_training", "post_training"]: ...
    @property
    def min(self) -> float: ...
    @property
    def max(self) -> float: ...
    @property
    def min_facet_rows(self) -> int: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class FacetValue:
    """One facet group's value of the gate's metric (None: Clarify could not compute it, with its error)."""

    facet: str  # the column
    value_or_threshold: str  # the group, as Clarify names it
    value: float | None
    error: str | None = None
    # The group's analysed rows (d) and the rest's (a), from CI and the analysed row count; None: not known.
    rows_d: int | None = None
    rows_a: int | None = None
    # False: too few rows in d or a (``not_judged`` says why); the gate neither passes nor fails on it.
    judged: bool = True
    not_judged: str | None = None

    @property
    def group(self) -> str:
        return f"{self.facet}={self.value_or_threshold}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BiasGateResult:
    """The bias gate's decision (a failing gate is ``passed: false``, not an error), as the state machine reads it."""

    passed: bool
    reason: str
    metric: str
    stage: str
    minimum: float
    maximum: float
    facets: list[FacetValue]
    # The first failing facet group and its value (None: passed, or Clarify computed no value): what a
    # rejection names.
    failed_facet: str | None = None
    failed_value: float | None = None
    analysis_uri: str = ""  # the analysis.json the decision was read from (set by the handler)
    rows: int | None = None  # the analysed row count (the holdout's rows) the group sizes were derived from
    min_facet_rows: int = MIN_FACET_ROWS

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- the analysis config writer (lambdas/training/clarify) ----------------------------------------------------

COLUMN_PATTERN: Final = r"[A-Za-z_][A-Za-z0-9_]*"
# A facet travels as "<column>=<value>|<value>..." (numbers: facets are numeric columns of the holdout).
FACET_PATTERN: Final = rf"{COLUMN_PATTERN}=-?[0-9.eE+-]+(\|-?[0-9.eE+-]+)*"
# Clarify's processing inputs and output (the docs' "Configure a SageMaker Clarify processing job").
ANALYSIS_CONFIG_INPUT: Final = "analysis_config"
DATASET_INPUT: Final = "dataset"
ANALYSIS_RESULT_OUTPUT: Final = "analysis_result"
# The dataset job writes the holdout as Parquet; Clarify reads it as such.
PARQUET: Final = "application/x-parquet"


def facet_text(column: str, values: tuple[float | int | str, ...]) -> str:
    """A facet as the FACETS setting carries it."""
    return f"{column}=" + "|".join(str(value) for value in values)


def number(text: str) -> int | float:
    """``"1"`` -> 1, ``"40.5"`` -> 40.5: the JSON number Clarify compares the column with."""
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClarifySettings(EnvContract):
    """What the analysis configs say (the holdout's columns, the facets, SHAP, the shadow endpoint) and where
    they and the analyses go. Built at synth from ``training.bias`` and the extraction spec."""

    component: ClassVar[str] = "clarify config"

    artifacts_bucket: str = setting(
        "ARTIFACTS_BUCKET", pattern=BUCKET_PATTERN, pattern_help="a bucket name (give the name, not an s3:// URI)"
    )
    clarify_prefix: str = setting("CLARIFY_PREFIX", default=layout.CLARIFY_PREFIX, prefix=True)
    job_name_prefix: str = setting(
        "JOB_NAME_PREFIX", pattern=JOB_NAME_PREFIX_PATTERN, pattern_help="the environment's job name prefix"
    )
    headers: tuple[str, ...] = setting("HEADERS", pattern=COLUMN_PATTERN)
    label: str = setting("LABEL", pattern=COLUMN_PATTERN, pattern_help="a column name")
    excluded_columns: tuple[str, ...] = setting("EXCLUDED_COLUMNS", default=(), pattern=COLUMN_PATTERN)
    facets: tuple[str, ...] = setting("FACETS", pattern=FACET_PATTERN, pattern_help="<column>=<number>|<number>...")
    label_values: tuple[str, ...] = setting("LABEL_VALUES", default=("1",))
    probability_threshold: float = setting("PROBABILITY_THRESHOLD", default=0.5, minimum=0, maximum=1)
    shap_num_samples: int = setting("SHAP_NUM_SAMPLES", default=100, minimum=1)
    shap_agg_method: Literal["mean_abs", "median", "mean_sq"] = setting("SHAP_AGG_METHOD", default="mean_abs")
    shap_num_clusters: int | None = setting("SHAP_NUM_CLUSTERS", default=None, minimum=1)
    shap_seed: int = setting("SHAP_SEED", default=0, minimum=0)
    shap_use_logit: bool = setting("SHAP_USE_LOGIT", default=False)
    predictor_instance_type: str = setting(
        "PREDICTOR_INSTANCE_TYPE", pattern=r"ml\.[a-z0-9]+\.[a-z0-9]+", pattern_help="an ml.* instance type"
    )
    predictor_instance_count: int = setting("PREDICTOR_INSTANCE_COUNT", default=1, minimum=1)

    def problems(self) -> list[str]:
        found = []
        headers = set(self.headers)
        if self.label not in headers:
            found.append(f"LABEL={self.label!r} is not among HEADERS")
        if self.label in self.excluded_columns:
            found.append(f"LABEL={self.label!r} must not be in EXCLUDED_COLUMNS (Clarify reads it for bias)")
        unknown = [c for c in self.excluded_columns if c not in headers]
        if unknown:
            found.append(f"EXCLUDED_COLUMNS {', '.join(unknown)} are not among HEADERS")
        for facet in self.facets:
            # A facet may be an excluded column: Clarify keeps excluded columns from the model's input only.
            column = facet.split("=", 1)[0]
            if column not in headers or column == self.label:
                found.append(f"FACETS {column!r} must be one of HEADERS other than LABEL")
        return found

    @property
    def features(self) -> tuple[str, ...]:
        """What Clarify sends the model: the headers less the label and the excluded columns, in order."""
        return tuple(c for c in self.headers if c != self.label and c not in self.excluded_columns)

    @property
    def endpoint_name_prefix(self) -> str:
        """Clarify's shadow endpoints are named under it (its role may touch only those)."""
        return f"{self.job_name_prefix}-clarify"

    def facet_config(self) -> list[dict[str, Any]]:
        """Clarify's ``facet`` list."""
        config = []
        for facet in self.facets:
            column, _, values = facet.partition("=")
            config.append({"name_or_index": column, "value_or_threshold": [number(v) for v in values.split("|")]})
        return config


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClarifyResult:
    """What the writer hands the state machine: the run's temporary model, the two jobs and their files."""

    model_name: str  # CreateClarifyModel makes it from the candidate; DeleteClarifyModel removes it
    bias_job_name: str
    explainability_job_name: str
    dataset_uri: str  # the run's holdout (Parquet): Clarify's "dataset" input
    bias_config_uri: str
    explainability_config_uri: str
    bias_output_uri: str  # folders: Clarify's "analysis_result" outputs
    explainability_output_uri: str
    bias_analysis_uri: str  # <bias_output_uri>analysis.json: the bias gate's input, ModelMetrics.Bias.Report
    explainability_analysis_uri: str  # ModelMetrics.Explainability.Report

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
