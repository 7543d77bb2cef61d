"""The spec as the dataset job reads it: the extraction spec plus its ``dataset`` section.

The section (Spark SQL boolean conditions over the curated columns, which may also use the date column
``as_of_date``, the job's ``--as_of_date``)::

    "dataset": {
      "label_final_when": "desligado_em_12_meses = 1 OR add_months(data_admissao, 12) <= as_of_date",
      "score_when": "desligado_em_12_meses = 0 AND add_months(data_admissao, 12) > as_of_date",
      "tombstone_when": "excluido = 1"
    }

- ``label_final_when`` (required): rows whose label is settled; only they enter train/validation/holdout. Open
  cases are left out, never counted as negatives. A null result counts as not final.
- ``score_when`` (optional): the rows the batch transform scores; default: every row whose label is not final.
- ``tombstone_when`` (optional): a key whose *latest* version matches is deleted: it appears in no output.

Everything is checked before Spark starts (:func:`parse_dataset_spec`): the extraction spec's own rules (a primary
key, a watermark column, a label), the section's keys and the conditions' shape (one expression, balanced
parentheses and quotes). What needs Spark's parser (a misspelt function, an unknown column, a non-boolean
result) is checked on an empty frame before any row is read (``transforms.check_conditions``); every error names
its key, e.g. ``spec.dataset.label_final_when``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from esteira_extract.spec import Spec, SpecError, parse_spec
from esteira_extract.storage import read_text

SECTION = "dataset"
AS_OF_COLUMN = "as_of_date"
NUMERIC_TYPES = ("int", "bigint", "float", "double", "boolean")
NON_FEATURE_COLUMNS = ("dt",)  # never a feature for the container (esteira_model.data.NON_FEATURE_COLUMNS)
_CONDITIONS = ("label_final_when", "score_when", "tombstone_when")
_REQUIRED = ("label_final_when",)
_QUERY = re.compile(r"(?is)^\s*(select|with)\b")


class DatasetSpecError(ValueError):
    """The spec (or the job's arguments against it) cannot build data sets; ``errors`` name each key."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid dataset spec:\n  - " + "\n  - ".join(self.errors))


@dataclass(frozen=True)
class DatasetRules:
    """The ``dataset`` section: Spark SQL conditions (``None`` when not given)."""

    label_final_when: str
    score_when: str | None = None
    tombstone_when: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    extraction: Spec
    rules: DatasetRules

    @property
    def key(self) -> str:
        return self.extraction.primary_key

    @property
    def watermark(self) -> str:
        return self.extraction.watermark_column

    @property
    def label(self) -> str:
        assert self.extraction.label is not None  # parse_dataset_spec refuses a spec without one
        return self.extraction.label.column

    @property
    def columns(self) -> list[str]:
        return self.extraction.output_column_names

    def features(self, drop_columns: Sequence[str]) -> list[str]:
        """The model's features in the container's order: output columns minus the label, dropped and non-feature
        columns (``esteira_model.train._feature_columns`` on a frame with these columns)."""
        dropped = {*drop_columns, *NON_FEATURE_COLUMNS, self.label}
        return [c for c in self.columns if c not in dropped]

    def check_features(self, drop_columns: Sequence[str]) -> list[str]:
        """Problems with ``--drop_columns`` against this spec, each naming the argument."""
        types = {c.name: c.type for c in self.extraction.output_columns}
        problems = []
        unknown = [c for c in drop_columns if c not in types]
        if unknown:
            problems.append(f"--drop_columns: {', '.join(unknown)} not among the spec's output_columns")
        if self.key not in drop_columns:
            problems.append(f"--drop_columns must list the primary key {self.key!r}: the model must not train on it")
        features = self.features(drop_columns)
        if not features:
            problems.append("--drop_columns leaves no feature column")
        text = [f"{c} ({types[c]})" for c in features if types[c] not in NUMERIC_TYPES]
        if text:
            problems.append(
                f"--drop_columns: features {', '.join(text)} are not numeric; the model takes numbers only, "
                "so list them in drop_columns (and in the training hyperparameter of the same name), or encode them "
                "as numbers with a rule of the spec (binary_map, map_values, flag or derive) and drop the originals"
            )
        return problems


def _shape_problem(text: str) -> str | None:
    """A condition that cannot be one Spark SQL expression: caught without Spark."""
    if _QUERY.match(text):
        return "must be a boolean condition, not a query"
    depth, quote, escaped = 0, "", False
    for char in text:
        if escaped:
            escaped = False
        elif quote:
            escaped = char == "\\"
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == ";":
            return "must be a single expression (no ';')"
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return "has a ')' without its '('"
    if quote:
        return f"has an unclosed {quote}"
    if depth:
        return "has an unclosed '('"
    return None


def _parse_section(value: Any, columns: set[str]) -> tuple[DatasetRules | None, list[str]]:
    path = f"spec.{SECTION}"
    if value is None:
        return None, [f"{path}: is required by the dataset job (at least 'label_final_when')"]
    if not isinstance(value, dict):
        return None, [f"{path}: must be a JSON object, got {type(value).__name__}"]
    errors = [
        f"{path}.{k}: unknown key (allowed: {', '.join(_CONDITIONS)})" for k in sorted(set(value) - {*_CONDITIONS})
    ]
    errors += [f"{path}.{k}: is required" for k in _REQUIRED if k not in value]
    found: dict[str, str] = {}
    for key in _CONDITIONS:
        if key not in value:
            continue
        text = value[key]
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{path}.{key}: must be a non-empty Spark SQL condition, got {text!r}")
            continue
        problem = _shape_problem(text)
        if problem:
            errors.append(f"{path}.{key}: {problem}: {text!r}")
        found[key] = text.strip()
    if AS_OF_COLUMN in columns:
        errors.append(f"spec.output_columns: {AS_OF_COLUMN!r} is reserved for the dataset job's --as_of_date")
    if errors:
        return None, errors
    return DatasetRules(found["label_final_when"], found.get("score_when"), found.get("tombstone_when")), []


def parse_dataset_spec(data: Any) -> DatasetSpec:
    """Validate a decoded spec document; every problem (extraction or dataset) in one :class:`DatasetSpecError`."""
    if not isinstance(data, dict):
        raise DatasetSpecError([f"spec: must be a JSON object, got {type(data).__name__}"])
    extraction_part = {k: v for k, v in data.items() if k != SECTION}
    errors: list[str] = []
    extraction: Spec | None = None
    try:
        extraction = parse_spec(extraction_part)
    except SpecError as error:
        errors.extend(error.errors)
    columns = {str(c.get("name")) for c in data.get("output_columns") or [] if isinstance(c, dict)}
    rules, section_errors = _parse_section(data.get(SECTION), columns)
    errors.extend(section_errors)
    if "label" not in data:
        errors.append("spec.label: is required by the dataset job (the column train, validation and holdout carry)")
    if errors or extraction is None or rules is None:
        raise DatasetSpecError(errors or ["spec: invalid"])
    return DatasetSpec(extraction=extraction, rules=rules)


def load_dataset_spec(uri: str) -> DatasetSpec:
    """Load and validate the spec at ``uri`` (``s3://...``, ``file://...`` or a local path)."""
    text = read_text(uri)
    if text is None:
        raise DatasetSpecError([f"spec: no spec found at {uri}"])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetSpecError([f"spec: {uri} is not valid JSON ({exc})"]) from exc
    return parse_dataset_spec(data)
