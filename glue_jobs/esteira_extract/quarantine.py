"""Quarantine: route rows that failed validation aside, with their reasons, never dropping them.

Reasons (first failure wins for counting; all are kept in ``quarantine_reasons``):
``null_key``, ``duplicate_key`` (older versions of a key read in the same batch),
``null_value:<col>``, ``unparseable_date:<col>``, ``out_of_range:<col>``, ``check_failed:<name>``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from esteira_extract.spec import Spec
from esteira_extract.sql_text import ident
from esteira_extract.transforms import RAW, REASONS, raw_fields, select_output, with_tracking

QUARANTINE_RUN_ID = "quarantine_run_id"


def split_valid(df: DataFrame, spec: Spec) -> tuple[DataFrame, DataFrame]:
    """(valid rows shaped as ``output_columns``, quarantined rows as read + reasons).

    ``df`` is the output of :func:`apply_rules`. Quarantined rows carry ``quarantine_reason``
    (the first failure) and ``quarantine_reasons`` (all failures, comma-separated).
    """
    df = with_tracking(df)
    reasons = ident(REASONS)
    ok = f"size({reasons}) = 0"
    valid = select_output(df.where(ok), spec)
    quarantined = df.where(f"NOT ({ok})").selectExpr(
        *[f"{ident(RAW)}.{ident(name)} AS {ident(name)}" for name in raw_fields(df)],
        f"{reasons}[0] AS quarantine_reason",
        f"concat_ws(',', {reasons}) AS quarantine_reasons",
    )
    return valid, quarantined


def reason_counts(df: DataFrame) -> tuple[int, dict[str, int]]:
    """(valid row count, {first reason: count}) for the output of :func:`apply_rules`, in one pass."""
    rows = with_tracking(df).selectExpr(f"{ident(REASONS)}[0] AS reason").groupBy("reason").count().collect()
    valid = 0
    by_reason: dict[str, int] = {}
    for row in rows:
        if row["reason"] is None:
            valid = int(row["count"])
        else:
            by_reason[str(row["reason"])] = int(row["count"])
    return valid, dict(sorted(by_reason.items()))
