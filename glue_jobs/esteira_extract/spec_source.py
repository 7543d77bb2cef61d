"""The spec's ``source``: what the job reads, as the SELECT it sends to the source database."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from esteira_extract.spec_checker import IDENTIFIER, QUALIFIED_COLUMN, SNAKE_CASE, TABLE_NAME, Checker

JOIN_TYPES = ("inner", "left", "right", "full")


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


def parse_source(c: Checker, value: Any) -> Source:
    """The ``source`` object: a query, or tables joined in order plus the columns to select."""
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
