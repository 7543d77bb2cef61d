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
from typing import Any, ClassVar, Final, Literal

from esteira_contracts import layout
from esteira_contracts._base import EnvContract, setting

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
    """The bias gate: ``metric`` of ``stage`` must lie in ``[minimum, maximum]`` for every facet of the analysis.

    Disabled, the gate still reads and reports the values but always passes.
    """

    component: ClassVar[str] = "bias gate"

    metric: str = setting("BIAS_GATE_METRIC", default="DI")
    stage: Literal["pre_training", "post_training"] = setting("BIAS_GATE_STAGE", default="post_training")
    minimum: float = setting("BIAS_GATE_MIN")
    maximum: float = setting("BIAS_GATE_MAX")
    enabled: bool = setting("BIAS_GATE_ENABLED", default=True)

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class FacetValue:
    """One facet group's value of the gate's metric (None: Clarify could not compute it, with its error)."""

    facet: str  # the column
    value_or_threshold: str  # the group, as Clarify names it
    value: float | None
    error: str | None = None

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
    analysis_uri: str = ""  # the analysis.json the decision was read from (set by the handler)

    def to_payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
