"""Rules as column updates, and several rules' updates applied in one projection.

Each DataFrame step (``withColumns``, ``drop``) makes the driver analyse the whole plan again: with the demo spec's ~25
steps that took ~30 ms each on the local runner's JVM, twice per extraction run (the job builds the rules once to check
them before writing anything, then for the run). :class:`Projection` gathers consecutive rules into one step as long as
none reads or replaces a column another in the step writes, so the result is what applying them one by one gives.

A :class:`Step` is one rule's updates, all reading the DataFrame as it was before the rule: columns (SQL text, or a
Column for a spec's own SQL, which is parsed on its own), reasons to append where a condition holds, columns to drop.
Reasons compose: ``concat(reasons, <each rule's reason where it failed, in order>)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as sf
from pyspark.sql.types import StructType

from esteira_extract.sql_text import ident, string

REASONS = "_esteira_reasons"
_NO_REASONS = "CAST(array() AS ARRAY<STRING>)"
# A name in SQL text: backquoted (a doubled backquote inside), or a bare word. Keywords and function names match too,
# which only ever stops rules from sharing a step.
_NAME = re.compile(r"`((?:[^`]|``)*)`|([A-Za-z_][A-Za-z0-9_]*)")


def names_in(sql: str) -> frozenset[str] | None:
    """Every column ``sql`` could read (lower-case, as Spark matches names), or None when it could read any (``*``)."""
    if "*" in sql:
        return None
    return frozenset((quoted.replace("``", "`") or bare).lower() for quoted, bare in _NAME.findall(sql))


@dataclass
class Step:
    columns: dict[str, str | Column] = field(default_factory=dict)
    flags: list[tuple[str | Column, str]] = field(default_factory=list)  # (failed, reason); null counts as not failed
    drops: tuple[str, ...] = ()
    reads: frozenset[str] | None = frozenset()  # what columns and flags read, lower-case; None: any column

    def writes(self) -> set[str]:
        written = {name.lower() for name in (*self.columns, *self.drops)}
        return written | {REASONS} if self.flags else written

    def alone(self) -> bool:
        """A reason whose condition is a Column cannot be spliced into the reasons' SQL text."""
        return any(not isinstance(failed, str) for failed, _ in self.flags)


def _reasons(flags: list[tuple[str | Column, str]]) -> Column:
    failed, reason = flags[0]
    if not isinstance(failed, str):  # a step with a Column condition is alone in its projection
        appended = f"concat({ident(REASONS)}, array({string(reason)}))"
        return sf.when(failed, sf.expr(appended)).otherwise(sf.col(REASONS))
    added = ", ".join(
        f"CASE WHEN {failed} THEN array({string(reason)}) ELSE {_NO_REASONS} END" for failed, reason in flags
    )
    return sf.expr(f"concat({ident(REASONS)}, {added})")


def apply_step(df: DataFrame, step: Step) -> DataFrame:
    updates = {name: sf.expr(value) if isinstance(value, str) else value for name, value in step.columns.items()}
    if step.flags:
        updates[REASONS] = _reasons(step.flags)
    if updates:
        df = df.withColumns(updates)
    return df.drop(*step.drops) if step.drops else df


class Projection:
    """Steps added in order; a step that reads or replaces what the pending ones write starts the next projection."""

    def __init__(self, df: DataFrame) -> None:
        self.df = df
        self.pending = Step()
        self._schema: StructType | None = None

    def schema(self, columns: Sequence[str]) -> StructType:
        """The types of ``columns`` as the next step reads them."""
        if not self.pending.writes().isdisjoint(c.lower() for c in columns):
            self.flush()
        if self._schema is None:
            self._schema = self.df.schema
        return self._schema

    def add(self, step: Step) -> None:
        if step.alone():
            self.flush()
            self.df, self._schema = apply_step(self.df, step), None
            return
        if self._conflicts(step):
            self.flush()
        self.pending.columns.update(step.columns)
        self.pending.flags.extend(step.flags)
        self.pending.drops += step.drops

    def _conflicts(self, step: Step) -> bool:
        """Applied one by one, a rule sees what the earlier ones wrote; in one projection it would see the columns as
        they were. A rule that only reads what an earlier one in the step also read, or writes what it read, gets the
        same either way. Reasons compose, so flagging rules share a step unless one reads the reasons column itself."""
        written = self.pending.writes()
        if not written:
            return False
        if step.reads is None or not written.isdisjoint(step.reads):
            return True
        return not (step.writes() - {REASONS}).isdisjoint(written)

    def flush(self) -> DataFrame:
        if self.pending.columns or self.pending.flags or self.pending.drops:
            self.df, self._schema = apply_step(self.df, self.pending), None
        self.pending = Step()
        return self.df
