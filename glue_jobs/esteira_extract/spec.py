"""The declarative extraction spec: JSON in, validated frozen dataclasses out.

A spec tells the job *what* to read and *how* to clean it, so pointing the job at another
database means editing JSON, not code. Top-level keys (unknown keys are rejected, so typos
fail loudly)::

    {
      "name": "employees",                  # snake_case; Glue/Athena table name
      "description": "free text",           # optional
      "source": {                           # exactly one of "query" or "tables"
        "query": "SELECT ... AS col, ...",  # a single SELECT; its column aliases are the columns
        # --- or ---
        "tables": [
          {"table": "funcionarios", "alias": "f"},
          {"table": "pessoas_fisicas", "alias": "p",
           "join": {"type": "left", "on": "p.id = f.pessoa_fisica_id"}}
        ],
        "columns": ["f.cargo", {"name": "funcionario_id", "expr": "f.id"}]
      },
      "primary_key": "matricula",            # null keys and older duplicates are quarantined
      "watermark": {"column": "atualizado_em"},          # source column for incremental reads
      "partitioning": {"column": "funcionario_id", "num_partitions": 4},  # parallel JDBC read
      "rules": [ ...see esteira_extract.rules... ],      # applied in order, in Spark
      "label": {"column": "y", "expression": "CASE ... END"},  # Spark SQL; omit expression if
                                                              # the source already yields "y"
      "output_columns": [{"name": "y", "type": "int"}, ...],  # curated schema, in order, no "dt"
      "dataset": {"label_final_when": "...", ...}  # optional here; the dataset job's rules (esteira_dataset.spec)
    }

SQL written in ``source`` (``query``, ``expr``, ``on``) runs on the source database. Expressions
in ``rules`` (``derive``, ``check``) and ``label.expression`` are Spark SQL and run after the
read, so they are portable across source databases. The spec is trusted configuration (it lives
in a bucket only deployers write to); validation catches mistakes, it is not a sandbox.

Rule types (``"type"`` key): ``flag``, ``binary_map``, ``fill_null``, ``parse_date``, ``range``, ``not_null``,
``derive``, ``check``, ``map_values``; each is a class in :mod:`esteira_extract.rules`, documented there.

Output column types are Athena/Hive names: int, bigint, float, double, string, date, timestamp, boolean.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from esteira_extract.rules import RULE_TYPES, Rule, parse_rule
from esteira_extract.spec_checker import SNAKE_CASE, Checker, Scalar, SpecError
from esteira_extract.spec_source import Source, parse_source

__all__ = [
    "OUTPUT_TYPES",
    "RESERVED_COLUMNS",
    "RULE_TYPES",
    "Label",
    "OutputColumn",
    "OutputType",
    "Rule",
    "Scalar",
    "Source",
    "Spec",
    "SpecError",
    "load_spec",
    "loads_spec",
    "parse_spec",
]

OUTPUT_TYPES = ("int", "bigint", "float", "double", "string", "date", "timestamp", "boolean")
RESERVED_COLUMNS = ("dt", "run_id", "quarantine_reason")

OutputType = Literal["int", "bigint", "float", "double", "string", "date", "timestamp", "boolean"]


@dataclass(frozen=True)
class Label:
    column: str
    expression: str | None = None


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: OutputType


@dataclass(frozen=True)
class Spec:
    name: str
    source: Source
    primary_key: str
    watermark_column: str
    partition_column: str
    num_partitions: int
    output_columns: tuple[OutputColumn, ...]
    rules: tuple[Rule, ...] = ()
    label: Label | None = None
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def output_column_names(self) -> list[str]:
        return [c.name for c in self.output_columns]


def parse_spec(data: Any) -> Spec:
    """Validate a decoded JSON document and build a :class:`Spec`. Raises :class:`SpecError`."""
    c = Checker()
    top = c.obj(
        data,
        "spec",
        {"name", "source", "primary_key", "watermark", "partitioning", "output_columns"},
        # "dataset" is the dataset job's section (esteira_dataset.spec validates it); the extraction ignores it.
        {"description", "rules", "label", "dataset"},
    )
    if top is None:
        raise SpecError(c.errors)

    name = c.string(top.get("name"), "spec.name", SNAKE_CASE, "snake_case table name")
    description = top.get("description", "")
    if not isinstance(description, str):
        c.err("spec.description", "must be a string")
        description = ""
    source = parse_source(c, top.get("source")) if "source" in top else Source()
    pk = c.string(top.get("primary_key"), "spec.primary_key", SNAKE_CASE, "column name")

    wm = c.obj(top.get("watermark"), "spec.watermark", {"column"}, set()) if "watermark" in top else None
    wm_col = c.string(wm.get("column"), "spec.watermark.column", SNAKE_CASE, "column name") if wm else ""

    part = (
        c.obj(top.get("partitioning"), "spec.partitioning", {"column", "num_partitions"}, set())
        if "partitioning" in top
        else None
    )
    part_col, num_parts = "", 1
    if part is not None:
        part_col = c.string(part.get("column"), "spec.partitioning.column", SNAKE_CASE, "column name")
        n = part.get("num_partitions")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            c.err("spec.partitioning.num_partitions", f"must be an integer between 1 and 1000, got {n!r}")
        else:
            num_parts = n

    rules: list[Rule] = []
    raw_rules = top.get("rules", [])
    if not isinstance(raw_rules, list):
        c.err("spec.rules", "must be a list")
        raw_rules = []
    for i, r in enumerate(raw_rules):
        rule = parse_rule(c, r, f"spec.rules[{i}]")
        if rule is not None:
            rules.append(rule)

    label: Label | None = None
    if "label" in top:
        lab = c.obj(top["label"], "spec.label", {"column"}, {"expression"})
        if lab is not None:
            expr = c.sql(lab["expression"], "spec.label.expression") if "expression" in lab else None
            label = Label(
                column=c.string(lab.get("column"), "spec.label.column", SNAKE_CASE, "column name"),
                expression=expr,
            )

    outputs: list[OutputColumn] = []
    raw_out = top.get("output_columns")
    if "output_columns" in top and (not isinstance(raw_out, list) or not raw_out):
        c.err("spec.output_columns", "must be a non-empty list of {name, type}")
    for i, oc in enumerate(raw_out if isinstance(raw_out, list) else []):
        path = f"spec.output_columns[{i}]"
        obj = c.obj(oc, path, {"name", "type"}, {"description"})
        if obj is None:
            continue
        oname = c.string(obj.get("name"), f"{path}.name", SNAKE_CASE, "snake_case column name")
        otype = obj.get("type")
        if otype not in OUTPUT_TYPES:
            c.err(f"{path}.type", f"must be one of {', '.join(OUTPUT_TYPES)}, got {otype!r}")
            continue
        if oname in RESERVED_COLUMNS:
            c.err(f"{path}.name", f"{oname!r} is reserved (partition/bookkeeping column)")
        if oname in {o.name for o in outputs}:
            c.err(f"{path}.name", f"duplicate output column {oname!r}")
        outputs.append(OutputColumn(name=oname, type=otype))

    # Cross-field checks; only meaningful once the pieces themselves parsed.
    out_names = {o.name for o in outputs}
    if pk and outputs and pk not in out_names:
        c.err("spec.primary_key", f"{pk!r} must be one of the output_columns")
    if label is not None and outputs and label.column not in out_names:
        c.err("spec.label.column", f"{label.column!r} must be one of the output_columns")
    if source.columns:
        src_names = {sc.name for sc in source.columns}
        for key, colname in (
            ("spec.primary_key", pk),
            ("spec.watermark.column", wm_col),
            ("spec.partitioning.column", part_col),
        ):
            if colname and colname not in src_names:
                c.err(key, f"{colname!r} is not one of source.columns ({', '.join(sorted(src_names))})")
        if label is not None and label.expression is None and label.column not in src_names:
            c.err("spec.label", f"{label.column!r} is not a source column; give an 'expression' to derive it")

    if c.errors:
        raise SpecError(c.errors)
    return Spec(
        name=name,
        description=description,
        source=source,
        primary_key=pk,
        watermark_column=wm_col,
        partition_column=part_col,
        num_partitions=num_parts,
        rules=tuple(rules),
        label=label,
        output_columns=tuple(outputs),
        raw=top,
    )


def loads_spec(text: str) -> Spec:
    """Parse spec JSON text. Malformed JSON is reported as a :class:`SpecError` too."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError([f"spec: not valid JSON ({exc})"]) from exc
    return parse_spec(data)


def load_spec(uri: str) -> Spec:
    """Load and validate the spec at ``uri`` (``s3://...``, ``file://...`` or a local path)."""
    from esteira_extract.storage import read_text

    text = read_text(uri)
    if text is None:
        raise SpecError([f"spec: no spec found at {uri}"])
    return loads_spec(text)
