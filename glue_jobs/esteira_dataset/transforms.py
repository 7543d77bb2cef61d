"""Pure DataFrame -> DataFrame steps of the dataset job (no I/O; the job reads and writes at the edges).

Order: :func:`latest_versions` (one row per key), :func:`drop_tombstones`, :func:`with_label_state` (final label,
to score), :func:`with_split` (a stable hash of the key), then the projections :func:`split_rows`,
:func:`feature_rows` and :func:`batch_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_contracts.dataset import SPLIT_BUCKETS
from esteira_dataset.spec import AS_OF_COLUMN, DatasetRules, DatasetSpecError

SPLIT_COLUMN = "_split"
LABEL_FINAL = "_label_final"
TO_SCORE = "_to_score"
RECORD_ID = "record_id"
SPLITS = ("train", "validation", "holdout")
# The split rule in words (the manifest carries it): reproducible outside Spark with Python's hashlib.
SPLIT_RULE = (
    f"bucket = int(sha256(utf8(cast(key as string))).hexdigest()[:8], 16) % {SPLIT_BUCKETS}; "
    "train if bucket < cuts[0], validation if bucket < cuts[1], else holdout"
)
_RANK = "_version_rank"


def split_bucket(key: Column) -> Column:
    """0..SPLIT_BUCKETS-1 from the key alone (first 32 bits of its SHA-256), so it never changes between runs."""
    first_bits = sf.conv(sf.substring(sf.sha2(key.cast("string"), 256), 1, 8), 16, 10).cast("long")
    return sf.pmod(first_bits, sf.lit(SPLIT_BUCKETS))


def row_digest(columns: Sequence[str]) -> Column:
    """A deterministic fingerprint of a row's values: the last tie-breaker between versions."""
    return sf.sha2(sf.to_json(sf.struct(*[sf.col(c) for c in columns])), 256)


def latest_versions(rows: DataFrame, key: str, newest_first: Sequence[str], value_columns: Sequence[str]) -> DataFrame:
    """One row per non-null key: the greatest by ``newest_first`` (each descending, nulls last), then by
    :func:`row_digest` of ``value_columns``, so equal versions always resolve to the same row."""
    order = [sf.col(c).desc_nulls_last() for c in newest_first] + [row_digest(value_columns).desc()]
    window = Window.partitionBy(key).orderBy(*order)
    return (
        rows.where(sf.col(key).isNotNull())
        .withColumn(_RANK, sf.row_number().over(window))
        .where(sf.col(_RANK) == 1)
        .drop(_RANK)
    )


def _condition(text: str) -> Column:
    return sf.coalesce(sf.expr(f"({text})").cast("boolean"), sf.lit(False))


def _with_as_of(rows: DataFrame, as_of: date) -> DataFrame:
    return rows.withColumn(AS_OF_COLUMN, sf.lit(as_of).cast("date"))


def drop_tombstones(latest: DataFrame, rules: DatasetRules, as_of: date) -> DataFrame:
    """Keys whose latest version is a tombstone disappear (older versions never resurface: run after
    :func:`latest_versions`)."""
    if rules.tombstone_when is None:
        return latest
    return _with_as_of(latest, as_of).where(~_condition(rules.tombstone_when)).drop(AS_OF_COLUMN)


def with_label_state(rows: DataFrame, rules: DatasetRules, label: str, as_of: date) -> DataFrame:
    """Adds ``_label_final`` (settled and non-null label) and ``_to_score`` (default: not ``_label_final``)."""
    with_date = _with_as_of(rows, as_of)
    final = _condition(rules.label_final_when) & sf.col(label).isNotNull()
    marked = with_date.withColumn(LABEL_FINAL, final)
    to_score = _condition(rules.score_when) if rules.score_when else ~sf.col(LABEL_FINAL)
    return marked.withColumn(TO_SCORE, to_score).drop(AS_OF_COLUMN)


def with_split(rows: DataFrame, key: str, cuts: tuple[int, int]) -> DataFrame:
    bucket = split_bucket(sf.col(key))
    split = sf.when(bucket < cuts[0], sf.lit(SPLITS[0])).when(bucket < cuts[1], sf.lit(SPLITS[1])).otherwise(SPLITS[2])
    return rows.withColumn(SPLIT_COLUMN, split)


def split_rows(rows: DataFrame, split: str, columns: Sequence[str]) -> DataFrame:
    """The labelled rows of one split, with exactly the curated columns (key and label included)."""
    return rows.where(sf.col(LABEL_FINAL) & (sf.col(SPLIT_COLUMN) == split)).select(*columns)


def _as_numbers(rows: DataFrame, names: Sequence[str]) -> list[Column]:
    # CSV for the model: booleans as 0/1 (the container's CSV parser reads numbers only). The schema is read once: each
    # read is a round trip to the driver's JVM and a JSON document to parse.
    schema = rows.schema
    return [
        sf.col(name).cast("int").alias(name) if isinstance(schema[name].dataType, st.BooleanType) else sf.col(name)
        for name in names
    ]


def feature_rows(rows: DataFrame, features: Sequence[str]) -> DataFrame:
    """The labelled training rows as the model sees them: features only, in feature-schema order."""
    train = rows.where(sf.col(LABEL_FINAL) & (sf.col(SPLIT_COLUMN) == SPLITS[0]))
    return train.select(*_as_numbers(train, features))


def batch_rows(rows: DataFrame, key: str, features: Sequence[str]) -> DataFrame:
    """The rows to score as the transform takes them: ``record_id`` (the key), then the features."""
    scored = rows.where(sf.col(TO_SCORE))
    return scored.select(sf.col(key).cast("string").alias(RECORD_ID), *_as_numbers(scored, features))


def check_conditions(spark: SparkSession, schema: st.StructType, rules: DatasetRules) -> None:
    """Analyse every condition against an empty frame with the curated schema: Spark's parse and analysis
    errors (and non-boolean results) surface here, before any row is read, naming the spec key."""
    empty = _with_as_of(spark.createDataFrame([], schema), date(2000, 1, 1))
    errors = []
    for key in ("label_final_when", "score_when", "tombstone_when"):
        text = getattr(rules, key)
        if text is None:
            continue
        try:
            result = empty.select(sf.expr(f"({text})").alias("condition")).schema["condition"].dataType
        except AnalysisException as error:  # ParseException is an AnalysisException
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            errors.append(f"spec.dataset.{key}: Spark cannot use {text!r}: {first_line}")
            continue
        if not isinstance(result, st.BooleanType):
            errors.append(f"spec.dataset.{key}: must be a boolean condition, {text!r} is {result.simpleString()}")
    if errors:
        raise DatasetSpecError(errors)
