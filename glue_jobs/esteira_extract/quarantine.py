"""Quarantine: route rows that failed validation aside, with their reasons, never dropping them.

Reasons (first failure wins for counting; all are kept in ``quarantine_reasons``):
``null_key``, ``duplicate_key`` (older versions of a key read in the same batch),
``null_value:<col>``, ``unparseable_date:<col>``, ``out_of_range:<col>``, ``check_failed:<name>``.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf

from esteira_extract.spec import Spec
from esteira_extract.transforms import RAW, REASONS, raw_fields, select_output, with_tracking

QUARANTINE_RUN_ID = "quarantine_run_id"


def split_valid(df: DataFrame, spec: Spec) -> tuple[DataFrame, DataFrame]:
    """(valid rows shaped as ``output_columns``, quarantined rows as read + reasons).

    ``df`` is the output of :func:`apply_rules`. Quarantined rows carry ``quarantine_reason``
    (the first failure) and ``quarantine_reasons`` (all failures, comma-separated).
    """
    df = with_tracking(df)
    ok = sf.size(sf.col(REASONS)) == 0
    valid = select_output(df.where(ok), spec)
    raw_cols = [sf.col(f"{RAW}.`{name}`").alias(name) for name in raw_fields(df)]
    quarantined = df.where(~ok).select(
        *raw_cols,
        sf.col(REASONS)[0].alias("quarantine_reason"),
        sf.concat_ws(",", sf.col(REASONS)).alias("quarantine_reasons"),
    )
    return valid, quarantined


def reason_counts(df: DataFrame) -> tuple[int, dict[str, int]]:
    """(valid row count, {first reason: count}) for the output of :func:`apply_rules`, in one pass."""
    rows = with_tracking(df).groupBy(sf.col(REASONS)[0].alias("reason")).count().collect()
    valid = 0
    by_reason: dict[str, int] = {}
    for row in rows:
        if row["reason"] is None:
            valid = int(row["count"])
        else:
            by_reason[str(row["reason"])] = int(row["count"])
    return valid, dict(sorted(by_reason.items()))
