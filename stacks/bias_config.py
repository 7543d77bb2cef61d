"""``training.bias`` in `config/<env>.yaml`: SageMaker Clarify's bias and SHAP analyses of each candidate, and the gate.

After the quality gate passes, the training state machine runs two Clarify processing jobs on the run's holdout
(``stacks/constructs/training_clarify.py``): bias (pre- and post-training metrics of ``facets``) and explainability
(Kernel SHAP). The bias gate then checks ``gate.metric`` for every facet against ``[gate.min, gate.max]``; a
failing gate ends the execution as ``gate_rejected``, like the quality gate. The reports are attached to the
registered package (``ModelMetrics.Bias`` and ``.Explainability``).

A facet is a numeric output column of the spec and the group it singles out: ``values_or_threshold`` is Clarify's
``value_or_threshold``, a list of values for a categorical column (``masculino: [1]``) or one number for a
continuous column, which Clarify reads as a lower bound, exclusive. A facet column may be one the model does not
take (in ``training.hyperparameters.drop_columns``): the holdout still holds it, Clarify's ``excluded_columns`` keeps
it from the model's input, and the bias metrics group rows by it. The demo's age bands are such a column
(``faixa_etaria``, derived in the spec: 0 <25, 1 25-34, 2 35-44, 3 >=45, facet value ``[3]``): a band is a category,
where a number on ``idade_na_admissao`` would be a threshold or a single age depending on how many distinct ages
the holdout has (Clarify reads an integer column as continuous only when >= 5% of its values are distinct; with 4
bands that needs a holdout under 80 rows, which the gate's min_facet_rows never judges).

SHAP's baseline: none is given, so Clarify computes one by clustering the holdout (``shap.num_clusters`` clusters,
Clarify's default when unset); no extra data travels, and the local run explains with XGBoost's own
``pred_contribs`` against the training data's expectation, so the two agree in ranking, not to the digit.

The rules AWS documents are checked here and in :func:`clarify_columns` (which needs the extraction spec), each
naming its key; docs/aws-rules.md lists them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Final, Literal, Self

from pydantic import Field, StrictFloat, StrictInt, model_validator

from esteira_contracts.bias import MIN_FACET_ROWS, STAGE_METRICS
from stacks.config_base import InstanceType, StrictModel

if TYPE_CHECKING:
    from stacks.extraction_spec import ExtractionSpecSummary

CLARIFY_ANALYSIS_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-processing-job-configure-analysis.html"
)
CLARIFY_JOB_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/clarify-processing-job-configure-parameters.html"
)
CLARIFY_SHAP_DOCS: Final = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClarifyShapConfig.html"
PROCESSING_CLUSTER_DOCS: Final = (
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProcessingClusterConfig.html"
)
# "The Clarify processing job doesn't use GPUs": accelerated families (p*, g*, inf*, trn*) only cost more.
_ACCELERATED_FAMILY: Final = re.compile(r"^ml\.(p\d|g\d|inf\d|trn\d)")
# CreateProcessingJob's StoppingCondition: a Clarify job runs at most 7 days.
MAX_RUNTIME_MINUTES: Final = 7 * 24 * 60
# Columns the dataset job never hands the model (esteira_dataset.spec.NON_FEATURE_COLUMNS).
NON_FEATURE_COLUMNS: Final = ("dt",)
NUMERIC_TYPES: Final = frozenset({"int", "bigint", "double", "float"})
CONTINUOUS_TYPES: Final = frozenset({"double", "float"})

FacetValue = StrictInt | StrictFloat | str


class BiasFacet(StrictModel):
    """A sensitive group: a numeric output column (a feature or a dropped column) and Clarify's
    ``value_or_threshold`` for it."""

    column: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    values_or_threshold: Annotated[tuple[FacetValue, ...], Field(min_length=1)]
    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # how reports name it


class BiasGateConfig(StrictModel):
    """``metric`` of ``stage`` must lie in ``[min, max]`` for every facet group with at least ``min_facet_rows`` rows
    in it and in the rest; disabled, the values are only reported."""

    enabled: bool = True
    metric: str = "DI"  # disparate impact: the ratio of positive-prediction rates (post-training)
    stage: Literal["pre_training", "post_training"] = "post_training"
    min: float = 0.8
    max: float = 1.25
    # The evidence floor: a facet group is judged only when it and the rest each have at least this many analysed
    # (holdout) rows; one under it is reported "not judged", never passed silently. Why 100: a group's positive-
    # prediction rate q over n rows has a relative standard error of sqrt((1 - q)/(n q)); at n = 100 and a
    # positive rate of 0.3 that is 0.15, so DI's noise is already the size of the four-fifths band's half-width
    # (log 1.25 = 0.22). Fewer rows judge noise (the finding: DI 0.66 from 10 predicted positives, 0.87 at 100k
    # rows). It is a floor, not a significance test: raise it where the holdout allows.
    min_facet_rows: Annotated[int, Field(ge=0)] = MIN_FACET_ROWS

    @model_validator(mode="after")
    def _metric_of_the_stage(self) -> Self:
        known = STAGE_METRICS[self.stage]
        if self.metric not in known:
            raise ValueError(
                f"training.bias.gate.metric '{self.metric}' is not a Clarify {self.stage} bias metric "
                f"(training.bias.gate.stage): use one of {', '.join(known)}"
            )
        if self.min > self.max:
            raise ValueError(f"training.bias.gate.min ({self.min:g}) must be <= training.bias.gate.max ({self.max:g})")
        return self


class ShapConfig(StrictModel):
    """Kernel SHAP on the holdout: ``num_samples`` synthetic rows per explained row (ClarifyShapConfig: at least 1)."""

    num_samples: Annotated[int, Field(ge=1, le=100_000)] = 100
    agg_method: Literal["mean_abs", "median", "mean_sq"] = "mean_abs"
    num_clusters: Annotated[int, Field(ge=1, le=100)] | None = None  # the baseline Clarify computes; None: its default
    seed: Annotated[int, Field(ge=0)] = 0  # deterministic SHAP values run to run
    use_logit: bool = False


class BiasConfig(StrictModel):
    enabled: bool = False
    facets: tuple[BiasFacet, ...] = ()
    # The positive outcome (Clarify's label_values_or_threshold); binary classification: one value.
    label_values_or_threshold: Annotated[tuple[FacetValue, ...], Field(min_length=1)] = (1,)
    # Scores above it are predicted positive (Clarify's probability_threshold), as the served threshold reads them.
    probability_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5
    gate: BiasGateConfig = BiasGateConfig()
    instance_type: InstanceType = "ml.m5.xlarge"
    instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    volume_size_gb: Annotated[int, Field(ge=1, le=16384)] = 20
    max_runtime_minutes: Annotated[int, Field(ge=1, le=MAX_RUNTIME_MINUTES)] = 60
    # Clarify's shadow endpoint: the candidate served for the analyses' predictions (a ratio of 1:1 with the
    # processing instances is what the docs recommend).
    predictor_instance_type: InstanceType = "ml.m5.large"
    predictor_instance_count: Annotated[int, Field(ge=1, le=100)] = 1
    shap: ShapConfig = ShapConfig()

    @model_validator(mode="after")
    def _facets(self) -> Self:
        if self.enabled and not self.facets:
            raise ValueError("training.bias.facets: name at least one facet (a feature column and its group)")
        seen: set[str] = set()
        for index, facet in enumerate(self.facets):
            if facet.column in seen:
                raise ValueError(f"training.bias.facets.{index}.column: '{facet.column}' is already a facet")
            seen.add(facet.column)
        if _ACCELERATED_FAMILY.match(self.instance_type):
            raise ValueError(
                f"training.bias.instance_type '{self.instance_type}' is an accelerated (GPU) type: the Clarify "
                "processing job uses no GPU; choose a CPU type such as ml.m5.xlarge or ml.c5.xlarge "
                f"[{CLARIFY_JOB_DOCS}]"
            )
        if self.gate.enabled and len(self.label_values_or_threshold) != 1:
            raise ValueError(
                "training.bias.label_values_or_threshold: binary classification takes exactly one positive value "
                f"[{CLARIFY_ANALYSIS_DOCS}]"
            )
        return self


@dataclass(frozen=True)
class ClarifyColumns:
    """What the analysis config says about the holdout's columns (the dataset job writes the spec's output columns)."""

    headers: tuple[str, ...]  # the holdout's columns, in order
    label: str
    features: tuple[str, ...]  # what the model takes, in its order
    excluded: tuple[str, ...]  # every other column: never sent to the model (Clarify's excluded_columns)


def clarify_columns(
    bias: BiasConfig, spec: ExtractionSpecSummary, *, target: str, drop_columns: Sequence[str]
) -> ClarifyColumns:
    """The holdout's columns for Clarify, after checking each facet against the spec; raises ConfigError naming
    the key (``training.bias.facets.<n>...``)."""
    from stacks.config import ConfigError  # stacks.config imports this module

    types = {column.name: column.type for column in spec.output_columns}
    headers = tuple(types)
    if target not in types:
        raise ConfigError(f"training.hyperparameters.target: '{target}' is not an output column of spec '{spec.name}'")
    dropped = {*drop_columns, *NON_FEATURE_COLUMNS, target}
    features = tuple(c for c in headers if c not in dropped)
    problems = []
    for index, facet in enumerate(bias.facets):
        key = f"training.bias.facets.{index}"
        column_type = types.get(facet.column)
        if facet.column == target:
            problems.append(f"{key}.column: '{target}' is the label; a facet is a column the label may depend on")
        elif column_type is None:
            columns = ", ".join(c for c in headers if c != target)
            problems.append(
                f"{key}.column: '{facet.column}' is not an output column of spec '{spec.name}'; a facet is one of "
                f"its columns (a feature, or a column dropped from training and kept for the analysis): {columns}"
            )
        elif column_type not in NUMERIC_TYPES:
            problems.append(f"{key}.column: '{facet.column}' is a {column_type} column; a facet column is numeric")
        elif any(isinstance(value, str) for value in facet.values_or_threshold):
            problems.append(f"{key}.values_or_threshold: '{facet.column}' is a {column_type} column: give numbers")
        elif column_type in CONTINUOUS_TYPES and len(facet.values_or_threshold) != 1:
            problems.append(
                f"{key}.values_or_threshold: '{facet.column}' is continuous ({column_type}); Clarify takes one "
                f"threshold, the sensitive group's lower bound [{CLARIFY_ANALYSIS_DOCS}]"
            )
    if problems:
        raise ConfigError("\n".join(problems))
    excluded = tuple(c for c in headers if c not in features and c != target)
    return ClarifyColumns(headers=headers, label=target, features=features, excluded=excluded)
