"""The spec's cleaning and validation rules: one frozen dataclass per rule type, parsed from JSON in one place.

A rule is a JSON object whose ``"type"`` picks its kind; :data:`Rule` is the union of the kinds, each class
carrying its ``kind`` literal. :func:`parse_rule` dispatches on ``"type"`` once, through :data:`RULE_CLASSES`;
``transforms.apply_rule`` matches on the class once. Every rule also accepts a free-text ``description``.

Expressions (``derive``, ``check``) are Spark SQL, run after the read, so they are portable across source
databases. Reasons a rule quarantines a row with are named below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from esteira_extract.spec_checker import SNAKE_CASE, Checker, ObjectReader, Scalar


@dataclass(frozen=True, kw_only=True)
class FlagRule:
    """``columns``: trim/upper-case, keep ``true_value``/``false_value`` (default "S"/"N"); anything else
    (including null) becomes ``default`` (default: ``false_value``)."""

    kind: Literal["flag"] = field(default="flag", init=False)
    columns: tuple[str, ...]
    true_value: str = "S"
    false_value: str = "N"
    default: Scalar = "N"

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"columns"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"true_value", "false_value", "default"})

    @classmethod
    def parse(cls, r: ObjectReader) -> FlagRule:
        true_value = r.string("true_value", "S")
        false_value = r.string("false_value", "N")
        default = r.scalar("default", false_value)
        return cls(columns=r.columns(), true_value=true_value, false_value=false_value, default=default)


@dataclass(frozen=True, kw_only=True)
class BinaryMapRule:
    """``column`` -> ``output`` int: 1 if the trimmed upper-cased value is in ``true_values``, 0 if in
    ``false_values`` (when given), else ``default`` (0, or null). ``drop_source`` (default true) removes
    the source column."""

    kind: Literal["binary_map"] = field(default="binary_map", init=False)
    column: str
    output: str
    true_values: tuple[str, ...]
    false_values: tuple[str, ...] = ()
    default: Literal[0, 1] | None = 0
    drop_source: bool = True

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"column", "output", "true_values"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"false_values", "default", "drop_source"})

    @classmethod
    def parse(cls, r: ObjectReader) -> BinaryMapRule:
        default = r.get("default", 0)
        # Only the JSON integers 0 and 1 (not true/false, not 1.0): the output column is an int.
        if default is not None and (type(default) is not int or default not in (0, 1)):
            r.err("default", f"must be 0, 1 or null, got {default!r}")
            default = None
        drop_source = r.get("drop_source", True)
        if not isinstance(drop_source, bool):
            r.err("drop_source", f"must be true or false, got {drop_source!r}")
        column, output = r.column(), r.column("output")
        true_values = tuple(v.upper() for v in r.strings("true_values"))
        false_values = tuple(v.upper() for v in r.strings("false_values")) if r.get("false_values") is not None else ()
        return cls(
            column=column,
            output=output,
            true_values=true_values,
            false_values=false_values,
            default=default,
            drop_source=bool(drop_source),
        )


@dataclass(frozen=True, kw_only=True)
class FillNullRule:
    """``column`` (or ``columns``): nulls (and blank strings) become ``value``."""

    kind: Literal["fill_null"] = field(default="fill_null", init=False)
    columns: tuple[str, ...]
    value: Scalar

    REQUIRED: ClassVar[frozenset[str]] = frozenset()
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"column", "columns", "value"})

    @classmethod
    def parse(cls, r: ObjectReader) -> FillNullRule | None:
        if r.has("column") == r.has("columns"):
            r.err(None, "fill_null needs exactly one of 'column' or 'columns'")
            return None
        if not r.has("value"):
            r.err("value", "is required")
        columns = (r.column(),) if r.has("column") else r.columns()
        return cls(columns=columns, value=r.scalar("value"))


@dataclass(frozen=True, kw_only=True)
class ParseDateRule:
    """``column`` string -> ``date``/``timestamp`` (``to``) trying ``formats`` (Spark datetime patterns) in
    order. A non-null value no format parses is quarantined with reason ``unparseable_date:<column>``.
    Already-typed columns are just cast."""

    kind: Literal["parse_date"] = field(default="parse_date", init=False)
    column: str
    formats: tuple[str, ...]
    to: Literal["date", "timestamp"] = "date"

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"column", "formats"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"to"})

    @classmethod
    def parse(cls, r: ObjectReader) -> ParseDateRule:
        to = r.get("to", "date")
        if to not in ("date", "timestamp"):
            r.err("to", f"must be 'date' or 'timestamp', got {to!r}")
            to = "date"
        formats = r.strings("formats")
        return cls(column=r.column(), formats=formats, to=to)


@dataclass(frozen=True, kw_only=True)
class RangeRule:
    """``column`` must satisfy ``min <= value <= max`` (either bound optional); nulls pass. Violations are
    quarantined with reason ``out_of_range:<column>``."""

    kind: Literal["range"] = field(default="range", init=False)
    column: str
    min: float | None = None
    max: float | None = None

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"column"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"min", "max"})

    @classmethod
    def parse(cls, r: ObjectReader) -> RangeRule:
        low, high = r.number("min"), r.number("max")
        if low is None and high is None:
            r.err(None, "range needs at least one of 'min' or 'max'")
        elif low is not None and high is not None and low > high:
            r.err("min", f"min ({low}) is greater than max ({high})")
        return cls(column=r.column(), min=low, max=high)


@dataclass(frozen=True, kw_only=True)
class NotNullRule:
    """``columns`` must not be null; reason ``null_value:<column>``."""

    kind: Literal["not_null"] = field(default="not_null", init=False)
    columns: tuple[str, ...]

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"columns"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, r: ObjectReader) -> NotNullRule:
        return cls(columns=r.columns())


@dataclass(frozen=True, kw_only=True)
class DeriveRule:
    """``column`` = Spark SQL ``expression`` (a new or replaced column)."""

    kind: Literal["derive"] = field(default="derive", init=False)
    column: str
    expression: str

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"column", "expression"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, r: ObjectReader) -> DeriveRule:
        return cls(column=r.column(), expression=r.sql("expression"))


@dataclass(frozen=True, kw_only=True)
class CheckRule:
    """Spark SQL boolean ``condition``; rows where it is false are quarantined with reason
    ``check_failed:<name>`` (null counts as passing, like SQL CHECK constraints)."""

    kind: Literal["check"] = field(default="check", init=False)
    name: str
    condition: str

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"name", "condition"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, r: ObjectReader) -> CheckRule:
        name = r.string("name", pattern=SNAKE_CASE, what="check name")
        return cls(name=name, condition=r.sql("condition"))


@dataclass(frozen=True, kw_only=True)
class MapValuesRule:
    """``column`` values looked up in ``mapping`` (after trim); unmapped values become ``default`` (null
    unless given)."""

    kind: Literal["map_values"] = field(default="map_values", init=False)
    column: str
    mapping: tuple[tuple[str, Scalar], ...]
    default: Scalar = None

    REQUIRED: ClassVar[frozenset[str]] = frozenset({"column", "mapping"})
    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"default"})

    @classmethod
    def parse(cls, r: ObjectReader) -> MapValuesRule:
        mapping = r.get("mapping")
        pairs: tuple[tuple[str, Scalar], ...] = ()
        if not isinstance(mapping, dict) or not mapping:
            r.err("mapping", "must be a non-empty JSON object")
        else:
            pairs = tuple((str(k), r.checker.scalar(v, r.key(f"mapping.{k}"))) for k, v in mapping.items())
        return cls(column=r.column(), mapping=pairs, default=r.scalar("default"))


Rule = (
    FlagRule
    | BinaryMapRule
    | FillNullRule
    | ParseDateRule
    | RangeRule
    | NotNullRule
    | DeriveRule
    | CheckRule
    | MapValuesRule
)
RuleClass = (
    type[FlagRule]
    | type[BinaryMapRule]
    | type[FillNullRule]
    | type[ParseDateRule]
    | type[RangeRule]
    | type[NotNullRule]
    | type[DeriveRule]
    | type[CheckRule]
    | type[MapValuesRule]
)
# The "type" of a rule in JSON -> its class, in the order the docs list them.
RULE_CLASSES: dict[str, RuleClass] = {
    cls.kind: cls
    for cls in (
        FlagRule,
        BinaryMapRule,
        FillNullRule,
        ParseDateRule,
        RangeRule,
        NotNullRule,
        DeriveRule,
        CheckRule,
        MapValuesRule,
    )
}
RULE_TYPES = tuple(RULE_CLASSES)


def parse_rule(c: Checker, value: Any, path: str) -> Rule | None:
    """One rule object at ``path``; None (with the problem recorded in ``c``) when it has no usable type."""
    if not isinstance(value, dict):
        c.err(path, f"must be a JSON object, got {type(value).__name__}")
        return None
    rule_type = value.get("type")
    rule_class = RULE_CLASSES.get(rule_type) if isinstance(rule_type, str) else None
    if rule_class is None:
        c.err(f"{path}.type", f"unknown rule type {rule_type!r}; expected one of {', '.join(RULE_TYPES)}")
        return None
    obj = c.obj(value, path, {*rule_class.REQUIRED, "type"}, {*rule_class.OPTIONAL, "description"})
    if obj is None:
        return None
    return rule_class.parse(ObjectReader(c, obj, path))
