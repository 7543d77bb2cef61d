"""SageMaker Clarify's bias metrics for tabular binary classification, computed on one run's holdout.

The training state machine runs Clarify's processing job on the dataset run's holdout (pre-training metrics from the
labels, post-training from the candidate model's predictions) and gates on its ``analysis.json``. The local run
computes the same metrics here, with Clarify's definitions, and writes them in the same ``analysis.json`` shape at
the same place in the lake (``monitoring/clarify/run_id=<run>/bias/analysis.json``), so that the gate logic reads
one format.

Definitions: the SageMaker developer guide's metric pages (``clarify-data-bias-metric-*``,
``clarify-post-training-bias-metric-*``) and their implementation in Clarify's open-source library
(aws/amazon-sagemaker-clarify, ``smclarify.bias.metrics``: ``pretraining.py``, ``posttraining.py``, ``common.py``).
Terms as Clarify uses them:

- facet *d* (the one configured) = rows whose column equals one of the values (categorical facet) or is above the
  threshold (continuous facet, Clarify's interval ``(threshold, max]``); facet *a* = every other row with a value.
  Which one is Clarify's reading of the column (:func:`is_continuous`): floats are continuous, but an integer
  column only when at least 5% of its values are distinct, so the same configured number is a threshold on a
  small holdout and a single category on a large one;
- ``n`` rows, ``n(1)`` / ``n(0)`` rows whose label is / is not positive (one of ``label_values_or_threshold``: 1
  in the demo), ``n^(1)`` / ``n^(0)`` rows whose predicted label is / is not positive; a binary model's predicted
  label is 1 when its probability is above ``probability_threshold`` (Clarify's ``ModelPredictedLabelConfig``), else 0;
- a ratio with a zero denominator is ``0`` when its numerator is 0 too, else infinite (Clarify's ``divide``); two
  equal infinite terms give a difference of 0. Infinite values are written as the strings ``"Infinity"`` /
  ``"-Infinity"``, as Clarify writes them; a metric that cannot be computed has ``value: null`` and an ``error``.

Pre-training: CI = (na - nd) / (na + nd); DPL = na(1)/na - nd(1)/nd; KL, JS, LP (L2), TVD (half the L1) and KS (the
largest difference) between the label distributions Pa and Pd (values present in both facets only, as Clarify's
``pdfs_aligned_nonzero``). Post-training: DPPL = na^(1)/na - nd^(1)/nd; DI = (nd^(1)/nd) / (na^(1)/na);
DCA = na(1)/na^(1) - nd(1)/nd^(1); DCR = nd(0)/nd^(0) - na(0)/na^(0); RD = recall_a - recall_d;
SD = specificity_d - specificity_a; DAR = TPa/na^(1) - TPd/nd^(1); DRR = TNd/nd^(0) - TNa/na^(0);
AD = accuracy_a - accuracy_d; TE = FNd/FPd - FNa/FPa; GE: the generalized entropy index (alpha 2) of the benefits
b = y^ - y + 1 over all rows. Not computed: CDDL/CDDPL (need a group variable) and FT (a k-NN flip test).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from esteira_contracts.bias import EMPTY_COMPLEMENT_ERROR, EMPTY_FACET_ERROR

POSITIVE_LABEL = 1
ANALYSIS_VERSION = "1.0"
# Clarify's rule for a facet column's type (smclarify.bias.metrics.common.series_datatype): an integer column is
# continuous when at least this share of its present values are distinct.
UNIQUENESS_THRESHOLD = 0.05
PRE_TRAINING_DESCRIPTIONS = {
    "CI": "Class Imbalance (CI)",
    "DPL": "Difference in Positive Proportions in Labels (DPL)",
    "JS": "Jensen-Shannon Divergence (JS)",
    "KL": "Kullback-Liebler Divergence (KL)",  # Clarify's own spelling, as its analysis.json carries it
    "KS": "Kolmogorov-Smirnov Distance (KS)",
    "LP": "L-p Norm (LP)",
    "TVD": "Total Variation Distance (TVD)",
}
POST_TRAINING_DESCRIPTIONS = {
    "AD": "Accuracy Difference (AD)",
    "DAR": "Difference in Acceptance Rates (DAR)",
    "DCA": "Difference in Conditional Acceptance (DCA)",
    "DCR": "Difference in Conditional Rejection (DCR)",
    "DI": "Disparate Impact (DI)",
    "DPPL": "Difference in Positive Proportions in Predicted Labels (DPPL)",
    "DRR": "Difference in Rejection Rates (DRR)",
    "GE": "Generalized Entropy (GE)",
    "RD": "Recall Difference (RD)",
    "SD": "Specificity Difference (SD)",
    "TE": "Treatment Equality (TE)",
}


class BiasInputError(ValueError):
    """The holdout cannot be analysed for a configured facet (a missing column, a threshold on text)."""


class MetricUndefinedError(ValueError):
    """A metric has no value on these rows (an empty facet); Clarify reports it with an error instead."""


def divide(numerator: float, denominator: float) -> float:
    """Clarify's ``divide``: 0/0 is 0, x/0 is +-infinity."""
    if denominator == 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / denominator


def _difference(first: float, second: float) -> float:
    """``first - second``, 0 when both are the same infinity (Clarify's rule for its ratio differences)."""
    return 0.0 if first == second and math.isinf(first) else first - second


@dataclass(frozen=True)
class Group:
    """One facet's counts: rows, labels and predicted labels (positive = 1), and the confusion matrix."""

    n: int
    labels_1: int
    predicted_1: int
    tp: int
    fp: int
    fn: int
    tn: int

    @classmethod
    def of(cls, label: np.ndarray, predicted: np.ndarray | None) -> Group:
        guess = np.zeros(len(label), dtype=bool) if predicted is None else predicted
        return cls(
            n=len(label),
            labels_1=int(label.sum()),
            predicted_1=int(guess.sum()),
            tp=int((label & guess).sum()),
            fp=int((~label & guess).sum()),
            fn=int((label & ~guess).sum()),
            tn=int((~label & ~guess).sum()),
        )

    @property
    def labels_0(self) -> int:
        return self.n - self.labels_1

    @property
    def predicted_0(self) -> int:
        return self.n - self.predicted_1

    @property
    def label_distribution(self) -> dict[bool, float]:
        """P(label is positive) and P(it is not), the values with no row left out (Clarify's pdf)."""
        counts = {False: self.labels_0, True: self.labels_1}
        return {value: count / self.n for value, count in counts.items() if count}


def _aligned(a: Group, d: Group) -> tuple[np.ndarray, np.ndarray]:
    """The two label distributions on the label values both facets have (``pdfs_aligned_nonzero``)."""
    pa, pd_ = a.label_distribution, d.label_distribution
    common = sorted(set(pa) & set(pd_))
    if not common:
        raise MetricUndefinedError("No instance of common facet found, dataset may be too small")
    return np.array([pa[v] for v in common]), np.array([pd_[v] for v in common])


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * np.log(p / q)))


def pre_training_metrics(a: Group, d: Group) -> dict[str, float]:
    """CI, DPL, KL, JS, LP, TVD, KS of facet d against facet a (raises when a facet is empty)."""
    _require_both(a, d)
    pa, pd_ = _aligned(a, d)
    middle = (pa + pd_) / 2
    return {
        "CI": (a.n - d.n) / (a.n + d.n),
        "DPL": a.labels_1 / a.n - d.labels_1 / d.n,
        "JS": 0.5 * (_kl(pa, middle) + _kl(pd_, middle)),
        "KL": _kl(pa, pd_),
        "KS": float(np.max(np.abs(pa - pd_))),
        "LP": float(np.linalg.norm(pa - pd_, 2)),
        "TVD": 0.5 * float(np.linalg.norm(pa - pd_, 1)),
    }


def post_training_metrics(a: Group, d: Group) -> dict[str, float]:
    """Clarify's post-training metrics of facet d against facet a, but GE (:func:`generalized_entropy`)."""
    _require_both(a, d)
    qa, qd = a.predicted_1 / a.n, d.predicted_1 / d.n
    return {
        "AD": (a.tp + a.tn) / a.n - (d.tp + d.tn) / d.n,
        "DAR": _difference(divide(a.tp, a.predicted_1), divide(d.tp, d.predicted_1)),
        "DCA": _difference(divide(a.labels_1, a.predicted_1), divide(d.labels_1, d.predicted_1)),
        "DCR": _difference(divide(d.labels_0, d.predicted_0), divide(a.labels_0, a.predicted_0)),
        "DI": divide(qd, qa),
        "DPPL": qa - qd,
        "DRR": _difference(divide(d.tn, d.predicted_0), divide(a.tn, a.predicted_0)),
        "RD": _difference(divide(a.tp, a.tp + a.fn), divide(d.tp, d.tp + d.fn)),
        "SD": _difference(divide(d.tn, d.tn + d.fp), divide(a.tn, a.tn + a.fp)),
        "TE": _difference(divide(d.fn, d.fp), divide(a.fn, a.fp)),
    }


def generalized_entropy(label: np.ndarray, predicted: np.ndarray, alpha: float = 2.0) -> float:
    """GE index of the benefits b_i = y^_i - y_i + 1: sum((b_i / mean b)^alpha - 1) / (n alpha (alpha - 1))."""
    benefit = predicted.astype(np.float64) - label.astype(np.float64) + 1
    mean = float(benefit.mean()) if len(benefit) else 0.0
    if mean == 0:
        raise MetricUndefinedError("All predicted labels are false negatives")
    return float(((benefit / mean) ** alpha - 1).sum() / (len(benefit) * alpha * (alpha - 1)))


def _require_both(a: Group, d: Group) -> None:
    if d.n == 0:
        raise MetricUndefinedError(EMPTY_FACET_ERROR)
    if a.n == 0:
        raise MetricUndefinedError(EMPTY_COMPLEMENT_ERROR)


# ------------------------------------------------------------------------------------------------ facets


@dataclass(frozen=True)
class Facet:
    """A configured facet: a column and the values (categorical) or the one threshold (continuous) selecting d."""

    column: str
    value_or_threshold: tuple[Any, ...]


@dataclass(frozen=True)
class FacetRows:
    """Which holdout rows are in facet d, which in a; rows whose facet value is missing are in neither."""

    in_d: np.ndarray
    in_a: np.ndarray
    value_or_threshold: str  # as Clarify writes it: "1", "1,2", or an interval "(40, 65]"
    continuous: bool


def is_continuous(series: pd.Series, values: Sequence[Any]) -> bool:
    """Clarify's reading of a facet column: several values or a category dtype are categorical; floats are
    continuous; integers are continuous when at least 5% of the present values are distinct."""
    if isinstance(series.dtype, pd.CategoricalDtype) or len(values) > 1:
        return False
    if pd.api.types.is_float_dtype(series.dtype):
        return True
    if pd.api.types.is_integer_dtype(series.dtype):
        present = int(series.count())
        return present > 0 and series.nunique() / present >= UNIQUENESS_THRESHOLD
    return False


def facet_rows(frame: pd.DataFrame, facet: Facet, continuous: bool | None = None) -> FacetRows:
    """Facet d's and facet a's rows; ``continuous`` None reads the column as Clarify does (:func:`is_continuous`)."""
    if facet.column not in frame.columns:
        raise BiasInputError(f"the facet column {facet.column!r} is not in the holdout's columns")
    if not facet.value_or_threshold:
        raise BiasInputError(f"the facet {facet.column!r} has no value or threshold")
    series = frame[facet.column]
    present = series.notna().to_numpy(dtype=bool)
    kind = is_continuous(series, facet.value_or_threshold) if continuous is None else continuous
    if kind:
        if len(facet.value_or_threshold) != 1 or not pd.api.types.is_numeric_dtype(series.dtype):
            raise BiasInputError(
                f"the facet {facet.column!r} is continuous: it takes one numeric threshold on a numeric column "
                f"(got {list(facet.value_or_threshold)!r} on a {series.dtype} column)"
            )
        threshold = float(facet.value_or_threshold[0])
        numbers = pd.to_numeric(series).astype("float64").to_numpy(na_value=np.nan)
        top = float(np.nanmax(numbers)) if present.any() else threshold
        in_d = present & (numbers > threshold)
        # Clarify's interval from the threshold to the column's maximum, e.g. "(40, 65]".
        interval = pd.Interval(_plain(threshold), _plain(max(top, threshold)), closed="right")
        return FacetRows(in_d, present & ~in_d, str(interval), True)
    matches = np.zeros(len(series), dtype=bool)
    for value in facet.value_or_threshold:
        matches |= (series == _like(value, series)).fillna(False).to_numpy(dtype=bool)
    text = ",".join(str(_plain(v)) for v in facet.value_or_threshold)
    return FacetRows(matches & present, present & ~matches, text, False)


def _like(value: Any, series: pd.Series) -> Any:
    """A configured value compared as the column's type (``1`` matches 1 and 1.0; ``"1"`` matches 1 in a numeric
    column, as Clarify retries with the values converted to the column's type)."""
    if pd.api.types.is_numeric_dtype(series.dtype) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _plain(value: Any) -> Any:
    """A number as Clarify prints it: 1 for 1.0, else unchanged."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# ------------------------------------------------------------------------------------------------ analysis.json


def json_number(value: float) -> float | str:
    """A metric value as Clarify's analysis.json holds it: infinities as "Infinity" / "-Infinity"."""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def metric_value(entry: Mapping[str, Any]) -> float | None:
    """A metric entry's value back as a float (the inverse of :func:`json_number`; None when it has none)."""
    value = entry.get("value")
    if value in ("Infinity", "-Infinity"):
        return math.inf if value == "Infinity" else -math.inf
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


Computation = tuple[tuple[str, ...], Callable[[], dict[str, float]]]


def _metrics(descriptions: Mapping[str, str], computations: Sequence[Computation]) -> list[dict[str, Any]]:
    """Clarify's metric entries, sorted by name. A computation that fails (an empty facet or complement) leaves
    each of its metrics without a value and with the error, as in Clarify's report."""
    entries: dict[str, dict[str, Any]] = {}
    for names, compute in computations:
        try:
            values = compute()
        except MetricUndefinedError as err:
            for name in names:
                entries[name] = {"name": name, "description": descriptions[name], "value": None, "error": str(err)}
            continue
        for name in names:
            entries[name] = {"name": name, "description": descriptions[name], "value": json_number(values[name])}
    return [entries[name] for name in sorted(entries)]


def _ge(label: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"GE": generalized_entropy(label, predicted)}


def _failing(message: str) -> Callable[[], dict[str, float]]:
    def compute() -> dict[str, float]:
        raise MetricUndefinedError(message)

    return compute


def analysis(
    frame: pd.DataFrame,
    label_column: str,
    predicted: np.ndarray,
    facets: Sequence[Facet],
    continuous: Mapping[str, bool] | None = None,
    positive_labels: Sequence[Any] = (POSITIVE_LABEL,),
) -> dict[str, Any]:
    """Clarify's bias ``analysis.json`` for these holdout rows. ``predicted`` is each row's predicted label value
    (a binary model's: 1 when its probability is above ``probability_threshold``, else 0); a label or predicted
    label is positive when it is one of ``positive_labels`` (Clarify's ``label_values_or_threshold``);
    ``continuous`` forces a facet column's reading (else Clarify's rule)."""
    if label_column not in frame.columns:
        raise BiasInputError(f"the label column {label_column!r} is not in the holdout's columns")
    if not positive_labels:
        raise BiasInputError("no positive label value (label_values_or_threshold)")
    values = [_like(value, frame[label_column]) for value in positive_labels]
    label = frame[label_column].isin(values).fillna(False).to_numpy(dtype=bool)
    try:
        guess = np.isin(np.asarray(predicted, dtype=np.float64), [float(v) for v in values])
    except (TypeError, ValueError):
        raise BiasInputError(f"positive label values {list(positive_labels)!r} are not numbers") from None
    if len(guess) != len(label):
        raise BiasInputError(f"{len(label)} holdout rows but {len(guess)} predicted labels")
    pre_names = tuple(PRE_TRAINING_DESCRIPTIONS)
    post_names = tuple(n for n in POST_TRAINING_DESCRIPTIONS if n != "GE")
    pre: dict[str, list[dict[str, Any]]] = {}
    post: dict[str, list[dict[str, Any]]] = {}
    for facet in facets:
        rows = facet_rows(frame, facet, (continuous or {}).get(facet.column))
        a = Group.of(label[rows.in_a], guess[rows.in_a])
        d = Group.of(label[rows.in_d], guess[rows.in_d])
        both = rows.in_a | rows.in_d
        post_training: list[Computation] = [
            (post_names, partial(post_training_metrics, a, d)),
            (("GE",), partial(_ge, label[both], guess[both])),
        ]
        if not guess.any():  # Clarify refuses post-training metrics when no predicted label is positive
            failing = _failing("No Label values are present in the predicted Label Column")
            post_training = [(names, failing) for names, _ in post_training]
        pre.setdefault(facet.column, []).append(
            {
                "value_or_threshold": rows.value_or_threshold,
                "metrics": _metrics(PRE_TRAINING_DESCRIPTIONS, [(pre_names, partial(pre_training_metrics, a, d))]),
            }
        )
        post.setdefault(facet.column, []).append(
            {
                "value_or_threshold": rows.value_or_threshold,
                "metrics": _metrics(POST_TRAINING_DESCRIPTIONS, post_training),
            }
        )
    common = {"label": label_column, "label_value_or_threshold": ",".join(str(_plain(v)) for v in positive_labels)}
    return {
        "version": ANALYSIS_VERSION,
        "pre_training_bias_metrics": {**common, "facets": pre},
        "post_training_bias_metrics": {**common, "facets": post},
    }
