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
      "rules": [ ...see RULE_TYPES below... ],            # applied in order, in Spark
      "label": {"column": "y", "expression": "CASE ... END"},  # Spark SQL; omit expression if
                                                              # the source already yields "y"
      "output_columns": [{"name": "y", "type": "int"}, ...]   # curated schema, in order, no "dt"
    }

SQL written in ``source`` (``query``, ``expr``, ``on``) runs on the source database. Expressions
in ``rules`` (``derive``, ``check``) and ``label.expression`` are Spark SQL and run after the
read, so they are portable across source databases. The spec is trusted configuration (it lives
in a bucket only deployers write to); validation catches mistakes, it is not a sandbox.

Rule types (``"type"`` key):

* ``flag`` — ``columns``: trim/upper-case, keep ``true_value``/``false_value`` (default "S"/"N"),
  anything else (including null) becomes ``default`` (default "N").
* ``binary_map`` — ``column`` → ``output`` int: 1 if the trimmed upper-cased value is in
  ``true_values``, 0 if in ``false_values`` (when given), else ``default`` (0, or null).
  ``drop_source`` (default true) removes the source column.
* ``fill_null`` — ``column`` (or ``columns``) nulls become ``value``.
* ``parse_date`` — ``column`` string → ``date``/``timestamp`` (``to``) trying ``formats`` (Spark
  datetime patterns) in order. A non-null value no format parses is quarantined with reason
  ``unparseable_date:<column>``. Already-typed columns are just cast.
* ``range`` — ``column`` must satisfy ``min <= value <= max`` (either bound optional); nulls
  pass. Violations are quarantined with reason ``out_of_range:<column>``.
* ``not_null`` — ``columns`` must not be null; reason ``null_value:<column>``.
* ``derive`` — ``column`` = Spark SQL ``expression`` (new or replaced column).
* ``check`` — Spark SQL boolean ``condition``; rows where it is false are quarantined with
  reason ``check_failed:<name>`` (null counts as passing, like SQL CHECK constraints).
* ``map_values`` — ``column`` values looked up in ``mapping`` (after trim); unmapped values
  become ``default`` (null unless given).

Output column types are Athena/Hive names: int, bigint, float, double, string, date, timestamp, boolean.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SNAKE_CASE = re.compile(r"^[a-z_][a-z0-9_]*$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
QUALIFIED_COLUMN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*\.)?([A-Za-z_][A-Za-z0-9_]*)$")

OUTPUT_TYPES = ("int", "bigint", "float", "double", "string", "date", "timestamp", "boolean")
JOIN_TYPES = ("inner", "left", "right", "full")
RULE_TYPES = (
    "flag",
    "binary_map",
    "fill_null",
    "parse_date",
    "range",
    "not_null",
    "derive",
    "check",
    "map_values",
)
RESERVED_COLUMNS = ("dt", "run_id", "quarantine_reason")

OutputType = Literal["int", "bigint", "float", "double", "string", "date", "timestamp", "boolean"]
Scalar = str | int | float | bool | None


class SpecError(ValueError):
    """The spec is invalid. ``errors`` lists every problem, each naming the offending key."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid extraction spec:\n  - " + "\n  - ".join(self.errors))


@dataclass(frozen=True)
class Join:
    type: str
    on: str


@dataclass(frozen=True)
class SourceTable:
    table: str
    alias: str
    join: Join | None = None


@dataclass(frozen=True)
class SourceColumn:
    name: str
    expr: str


@dataclass(frozen=True)
class Source:
    query: str | None = None
    tables: tuple[SourceTable, ...] = ()
    columns: tuple[SourceColumn, ...] = ()

    def select_sql(self) -> str:
        """The source SELECT (without the incremental filter), in the source database's SQL."""
        if self.query is not None:
            return self.query.strip()
        cols = ",\n  ".join(f"{c.expr} AS {c.name}" for c in self.columns)
        first, *rest = self.tables
        sql = f"SELECT\n  {cols}\nFROM {first.table} {first.alias}"
        for t in rest:
            assert t.join is not None
            keyword = {"inner": "INNER", "left": "LEFT", "right": "RIGHT", "full": "FULL OUTER"}[t.join.type]
            sql += f"\n{keyword} JOIN {t.table} {t.alias} ON {t.join.on}"
        return sql


@dataclass(frozen=True)
class Rule:
    """One cleaning/validation rule. Only the fields relevant to ``type`` are set."""

    type: str
    columns: tuple[str, ...] = ()
    output: str | None = None
    true_value: str = "S"
    false_value: str = "N"
    default: Scalar = None
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    drop_source: bool = True
    value: Scalar = None
    formats: tuple[str, ...] = ()
    to: str = "date"
    min: float | None = None
    max: float | None = None
    expression: str | None = None
    name: str | None = None
    mapping: tuple[tuple[str, Scalar], ...] = ()

    @property
    def column(self) -> str:
        return self.columns[0]


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


# --------------------------------------------------------------------------------------- parsing


class _Checker:
    """Collects errors while walking the JSON, so one load reports every problem at once."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        if not self.reported(path):  # one message per key: "is required" beats "must be a string"
            self.errors.append(f"{path}: {msg}")

    def reported(self, path: str) -> bool:
        return any(e.startswith(f"{path}: ") for e in self.errors)

    def obj(self, value: Any, path: str, required: set[str], optional: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.err(path, f"must be a JSON object, got {type(value).__name__}")
            return None
        for key in sorted(required - value.keys()):
            self.err(f"{path}.{key}", "is required")
        for key in sorted(value.keys() - required - optional):
            allowed = ", ".join(sorted(required | optional))
            self.err(f"{path}.{key}", f"unknown key (allowed: {allowed})")
        return value

    def string(self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            self.err(path, f"must be a non-empty string, got {value!r}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.err(path, f"{value!r} is not a valid {what or 'value'} (must match {pattern.pattern})")
        return value

    def sql(self, value: Any, path: str) -> str:
        text = self.string(value, path)
        if ";" in text.strip().rstrip(";"):
            self.err(path, "must be a single SQL statement/expression (no ';')")
        return text.strip().rstrip(";").strip()

    def string_list(
        self, value: Any, path: str, pattern: re.Pattern[str] | None = None, what: str = ""
    ) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.err(path, f"must be a non-empty list of strings, got {value!r}")
            return ()
        return tuple(self.string(v, f"{path}[{i}]", pattern, what) for i, v in enumerate(value))

    def number(self, value: Any, path: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(path, f"must be a number, got {value!r}")
            return None
        return float(value)

    def scalar(self, value: Any, path: str) -> Scalar:
        if value is not None and not isinstance(value, str | int | float | bool):
            self.err(path, f"must be a string, number, boolean or null, got {type(value).__name__}")
            return None
        return value


def _parse_source(c: _Checker, value: Any) -> Source:
    src = c.obj(value, "source", set(), {"query", "tables", "columns"})
    if src is None:
        return Source()
    has_query, has_tables = "query" in src, "tables" in src
    if has_query == has_tables:
        c.err("source", "must have exactly one of 'query' or 'tables'")
        return Source()
    if has_query:
        if "columns" in src:
            c.err("source.columns", "not allowed with 'query' (alias columns in the query instead)")
        query = c.sql(src["query"], "source.query")
        if query and not re.match(r"(?is)^\s*(select|with)\b", query):
            c.err("source.query", "must be a SELECT (or WITH ... SELECT) statement")
        return Source(query=query)

    tables: list[SourceTable] = []
    raw_tables = src["tables"]
    if not isinstance(raw_tables, list) or not raw_tables:
        c.err("source.tables", "must be a non-empty list")
        raw_tables = []
    aliases: set[str] = set()
    for i, t in enumerate(raw_tables):
        path = f"source.tables[{i}]"
        obj = c.obj(t, path, {"table", "alias"}, {"join"})
        if obj is None:
            continue
        table = c.string(obj.get("table"), f"{path}.table", TABLE_NAME, "table name")
        alias = c.string(obj.get("alias"), f"{path}.alias", IDENTIFIER, "alias")
        if alias in aliases:
            c.err(f"{path}.alias", f"duplicate alias {alias!r}")
        aliases.add(alias)
        join: Join | None = None
        if i == 0 and "join" in obj:
            c.err(f"{path}.join", "the first table cannot have a join")
        elif i > 0:
            if "join" not in obj:
                c.err(f"{path}.join", "is required for every table after the first")
            else:
                j = c.obj(obj["join"], f"{path}.join", {"type", "on"}, set())
                if j is not None:
                    jtype = j.get("type")
                    if jtype not in JOIN_TYPES:
                        c.err(f"{path}.join.type", f"must be one of {', '.join(JOIN_TYPES)}, got {jtype!r}")
                    join = Join(type=str(jtype), on=c.sql(j.get("on"), f"{path}.join.on"))
        tables.append(SourceTable(table=table, alias=alias, join=join))

    columns: list[SourceColumn] = []
    raw_cols = src.get("columns")
    if not isinstance(raw_cols, list) or not raw_cols:
        c.err("source.columns", "is required with 'tables' and must be a non-empty list")
        raw_cols = []
    for i, col in enumerate(raw_cols):
        path = f"source.columns[{i}]"
        if isinstance(col, str):
            m = QUALIFIED_COLUMN.match(col)
            if not m:
                c.err(path, f"{col!r} is not 'alias.column'; use {{'name': ..., 'expr': ...}} for expressions")
                continue
            columns.append(SourceColumn(name=m.group(1).lower(), expr=col))
        else:
            obj = c.obj(col, path, {"name", "expr"}, set())
            if obj is None:
                continue
            name = c.string(obj.get("name"), f"{path}.name", SNAKE_CASE, "snake_case column name")
            columns.append(SourceColumn(name=name, expr=c.sql(obj.get("expr"), f"{path}.expr")))
    seen: set[str] = set()
    for i, sc in enumerate(columns):
        if sc.name in seen:
            c.err(f"source.columns[{i}]", f"duplicate column name {sc.name!r}")
        seen.add(sc.name)
    return Source(tables=tuple(tables), columns=tuple(columns))


_RULE_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "flag": ({"columns"}, {"true_value", "false_value", "default"}),
    "binary_map": ({"column", "output", "true_values"}, {"false_values", "default", "drop_source"}),
    "fill_null": (set(), {"column", "columns", "value"}),
    "parse_date": ({"column", "formats"}, {"to"}),
    "range": ({"column"}, {"min", "max"}),
    "not_null": ({"columns"}, set()),
    "derive": ({"column", "expression"}, set()),
    "check": ({"name", "condition"}, set()),
    "map_values": ({"column", "mapping"}, {"default"}),
}


def _parse_rule(c: _Checker, value: Any, path: str) -> Rule | None:
    if not isinstance(value, dict):
        c.err(path, f"must be a JSON object, got {type(value).__name__}")
        return None
    rtype = value.get("type")
    if rtype not in _RULE_KEYS:
        c.err(f"{path}.type", f"unknown rule type {rtype!r}; expected one of {', '.join(RULE_TYPES)}")
        return None
    required, optional = _RULE_KEYS[rtype]
    obj = c.obj(value, path, required | {"type"}, optional | {"description"})
    if obj is None:
        return None

    def col(key: str = "column") -> str:
        return c.string(obj.get(key), f"{path}.{key}", SNAKE_CASE, "column name")

    if rtype == "flag":
        tv = c.string(obj.get("true_value", "S"), f"{path}.true_value")
        fv = c.string(obj.get("false_value", "N"), f"{path}.false_value")
        default = c.scalar(obj.get("default", fv), f"{path}.default")
        cols = c.string_list(obj.get("columns"), f"{path}.columns", SNAKE_CASE, "column name")
        return Rule(type=rtype, columns=cols, true_value=tv, false_value=fv, default=default)
    if rtype == "binary_map":
        dflt = obj.get("default", 0)
        if dflt not in (0, 1, None) or isinstance(dflt, bool):
            c.err(f"{path}.default", f"must be 0, 1 or null, got {dflt!r}")
        drop = obj.get("drop_source", True)
        if not isinstance(drop, bool):
            c.err(f"{path}.drop_source", f"must be true or false, got {drop!r}")
        fvs = obj.get("false_values")
        return Rule(
            type=rtype,
            columns=(col(),),
            output=col("output"),
            true_values=tuple(v.upper() for v in c.string_list(obj.get("true_values"), f"{path}.true_values")),
            false_values=(
                tuple(v.upper() for v in c.string_list(fvs, f"{path}.false_values")) if fvs is not None else ()
            ),
            default=dflt if dflt in (0, 1, None) else None,
            drop_source=bool(drop),
        )
    if rtype == "fill_null":
        if ("column" in obj) == ("columns" in obj):
            c.err(path, "fill_null needs exactly one of 'column' or 'columns'")
            return None
        if "value" not in obj:
            c.err(f"{path}.value", "is required")
        cols = (
            (col(),)
            if "column" in obj
            else c.string_list(obj.get("columns"), f"{path}.columns", SNAKE_CASE, "column name")
        )
        return Rule(type=rtype, columns=cols, value=c.scalar(obj.get("value"), f"{path}.value"))
    if rtype == "parse_date":
        to = obj.get("to", "date")
        if to not in ("date", "timestamp"):
            c.err(f"{path}.to", f"must be 'date' or 'timestamp', got {to!r}")
        fmts = c.string_list(obj.get("formats"), f"{path}.formats")
        return Rule(type=rtype, columns=(col(),), formats=fmts, to=str(to))
    if rtype == "range":
        lo, hi = c.number(obj.get("min"), f"{path}.min"), c.number(obj.get("max"), f"{path}.max")
        if lo is None and hi is None:
            c.err(path, "range needs at least one of 'min' or 'max'")
        elif lo is not None and hi is not None and lo > hi:
            c.err(f"{path}.min", f"min ({lo}) is greater than max ({hi})")
        return Rule(type=rtype, columns=(col(),), min=lo, max=hi)
    if rtype == "not_null":
        cols = c.string_list(obj.get("columns"), f"{path}.columns", SNAKE_CASE, "column name")
        return Rule(type=rtype, columns=cols)
    if rtype == "derive":
        return Rule(type=rtype, columns=(col(),), expression=c.sql(obj.get("expression"), f"{path}.expression"))
    if rtype == "check":
        name = c.string(obj.get("name"), f"{path}.name", SNAKE_CASE, "check name")
        return Rule(type=rtype, name=name, expression=c.sql(obj.get("condition"), f"{path}.condition"))
    # map_values
    mapping = obj.get("mapping")
    pairs: tuple[tuple[str, Scalar], ...] = ()
    if not isinstance(mapping, dict) or not mapping:
        c.err(f"{path}.mapping", "must be a non-empty JSON object")
    else:
        pairs = tuple((str(k), c.scalar(v, f"{path}.mapping.{k}")) for k, v in mapping.items())
    return Rule(type=rtype, columns=(col(),), mapping=pairs, default=c.scalar(obj.get("default"), f"{path}.default"))


def parse_spec(data: Any) -> Spec:
    """Validate a decoded JSON document and build a :class:`Spec`. Raises :class:`SpecError`."""
    c = _Checker()
    top = c.obj(
        data,
        "spec",
        {"name", "source", "primary_key", "watermark", "partitioning", "output_columns"},
        {"description", "rules", "label"},
    )
    if top is None:
        raise SpecError(c.errors)

    name = c.string(top.get("name"), "spec.name", SNAKE_CASE, "snake_case table name")
    description = top.get("description", "")
    if not isinstance(description, str):
        c.err("spec.description", "must be a string")
        description = ""
    source = _parse_source(c, top.get("source")) if "source" in top else Source()
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
        rule = _parse_rule(c, r, f"spec.rules[{i}]")
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
