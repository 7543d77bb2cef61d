"""Ground-truth model quality: pure DataFrame -> DataFrame steps (``quality_io.py`` reads and writes at the edges).

Order: :func:`newest_predictions` (per model version and record, the prediction of the newest scoring run),
:func:`labelled_predictions` (joined on the spec's key with the rows whose label is final, from the dataset job's
own latest-version and label-state frames), then the aggregations :func:`version_metrics` (one row per model
version) and :func:`calibration` (one row per version and non-empty bin), and :func:`ground_truth_lines`.

Every figure is an aggregation in Spark; only the per-version results (a few rows) reach the driver.
``esteira_contracts.quality`` documents what each figure means.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_contracts import quality as q
from esteira_dataset.transforms import LABEL_FINAL, RECORD_ID

# The columns of a scoring run's ".out" lines (the transform's OutputFilter "$[0,-2,-1]").
PREDICTED_LABEL = "predicted_label"
SCORE = "score"
PREDICTION_SCHEMA = st.StructType(
    [
        st.StructField(RECORD_ID, st.StringType()),
        st.StructField(PREDICTED_LABEL, st.StringType()),
        st.StructField(SCORE, st.DoubleType()),
    ]
)
# The fields of a scoring record the step reads (``esteira_contracts.quality``).
SCORING_SCHEMA = st.StructType(
    [
        st.StructField(q.RUN_ID, st.StringType()),
        st.StructField(q.MODEL_PACKAGE_ARN, st.StringType()),
        st.StructField(q.MODEL_VERSION, st.StringType()),
        st.StructField(q.INPUT_RUN_ID, st.StringType()),
        st.StructField(q.SCORED_AT, st.StringType()),
        st.StructField(q.THRESHOLD, st.DoubleType()),
        st.StructField(q.TASK, st.StringType()),
    ]
)
SCORING_RUN = "scoring_run_id"
LABEL = "_label"  # the label as a number
LABEL_TEXT = "_label_text"  # the label as the ground truth's CSV data
POSITIVE = "_positive"
BIN = "bin"
NON_BINARY_LABELS = "non_binary_labels"
NEWEST_RUN = "newest_run"  # struct(scored_at, run id) of the version's newest run with labelled predictions
_TP, _FP, _FN = "_tp", "_fp", "_fn"
_RANK_SUM = "_rank_sum"


def newest_predictions(predictions: DataFrame, records: DataFrame) -> DataFrame:
    """Per (model version, record id) the prediction of the newest scoring run (``scored_at``, then run id).

    ``predictions``: ``scoring_run_id, record_id, predicted_label, score``; ``records``: one scoring record per run
    (``run_id`` is the run's folder). Lines without a record id or a score, and runs without a record, drop out."""
    runs = records.select(
        sf.col(q.RUN_ID).alias(SCORING_RUN),
        q.MODEL_PACKAGE_ARN,
        q.MODEL_VERSION,
        q.SCORED_AT,
        sf.coalesce(sf.col(q.THRESHOLD), sf.lit(q.DEFAULT_THRESHOLD)).alias(q.THRESHOLD),
        sf.coalesce(sf.col(q.TASK), sf.lit(q.DEFAULT_TASK)).alias(q.TASK),
    ).where(sf.col(q.MODEL_VERSION).isNotNull())
    scored = predictions.where(sf.col(RECORD_ID).isNotNull() & sf.col(SCORE).isNotNull()).join(runs, SCORING_RUN)
    newest_first = Window.partitionBy(q.MODEL_VERSION, RECORD_ID).orderBy(
        sf.col(q.SCORED_AT).desc_nulls_last(), sf.col(SCORING_RUN).desc()
    )
    return scored.withColumn("_n", sf.row_number().over(newest_first)).where(sf.col("_n") == 1).drop("_n")


def labelled_predictions(newest: DataFrame, marked: DataFrame, key: str, label: str) -> DataFrame:
    """The newest predictions whose record's label is final: ``marked`` is the dataset job's frame after
    ``with_label_state`` (one row per live key); the record id is the key as text, as the batch input writes it."""
    final = marked.where(sf.col(LABEL_FINAL) & sf.col(label).isNotNull()).select(
        sf.col(key).cast("string").alias(RECORD_ID),
        sf.col(label).cast("double").alias(LABEL),
        _label_text(marked, label).alias(LABEL_TEXT),
    )
    return newest.join(final, RECORD_ID).withColumn(POSITIVE, (sf.col(LABEL) == 1.0).cast("int"))


def _label_text(frame: DataFrame, label: str) -> Column:
    # What the model was trained on, as CSV text: booleans as 0/1 (the container reads numbers only).
    if isinstance(frame.schema[label].dataType, st.BooleanType):
        return sf.col(label).cast("int").cast("string")
    return sf.col(label).cast("string")


def _rank_sums(labelled: DataFrame) -> DataFrame:
    """Per version, the sum of the positives' ranks by score, ties given their average rank (Mann-Whitney)."""
    per_score = labelled.groupBy(q.MODEL_VERSION, SCORE).agg(
        sf.count(sf.lit(1)).alias("_n"), sf.sum(POSITIVE).alias("_p")
    )
    lower = Window.partitionBy(q.MODEL_VERSION).orderBy(SCORE).rowsBetween(Window.unboundedPreceding, -1)
    below = sf.coalesce(sf.sum("_n").over(lower), sf.lit(0))
    ranked = per_score.withColumn("_rank", below + (sf.col("_n") + 1) / 2.0)
    return ranked.groupBy(q.MODEL_VERSION).agg(sf.sum(sf.col("_p") * sf.col("_rank")).alias(_RANK_SUM))


def version_metrics(labelled: DataFrame) -> DataFrame:
    """One row per model version: counts, every task's figures (the report keeps the task's own), its package,
    threshold and task, and the scoring runs its labelled predictions came from."""
    predicted = sf.col(SCORE) >= sf.col(q.THRESHOLD)
    positive = sf.col(POSITIVE) == 1
    error = sf.col(SCORE) - sf.col(LABEL)
    newest_run = sf.struct(sf.col(q.SCORED_AT), sf.col(SCORING_RUN))
    totals = labelled.groupBy(q.MODEL_VERSION).agg(
        sf.count(sf.lit(1)).alias(q.LABELLED_PREDICTIONS),
        sf.sum(POSITIVE).alias(q.POSITIVES),
        sf.sum((predicted & positive).cast("int")).alias(_TP),
        sf.sum((predicted & ~positive).cast("int")).alias(_FP),
        sf.sum((~predicted & positive).cast("int")).alias(_FN),
        sf.sum((~sf.col(LABEL).isin(0.0, 1.0) | sf.col(LABEL).isNull()).cast("int")).alias(NON_BINARY_LABELS),
        sf.avg(error * error).alias(q.BRIER_SCORE),
        sf.avg((sf.col(PREDICTED_LABEL).cast("double") == sf.col(LABEL)).cast("double")).alias(q.ACCURACY),
        sf.sqrt(sf.avg(error * error)).alias(q.RMSE),
        sf.avg(sf.abs(error)).alias(q.MAE),
        sf.max_by(sf.col(q.MODEL_PACKAGE_ARN), newest_run).alias(q.MODEL_PACKAGE_ARN),
        sf.max_by(sf.col(q.THRESHOLD), newest_run).alias(q.THRESHOLD),
        sf.max_by(sf.col(q.TASK), newest_run).alias(q.TASK),
        sf.max(newest_run).alias(NEWEST_RUN),
        sf.array_sort(sf.collect_set(SCORING_RUN)).alias(q.SCORING_RUNS),
    )
    positives = sf.col(q.POSITIVES)
    negatives = sf.col(q.LABELLED_PREDICTIONS) - positives
    auc = (sf.col(_RANK_SUM) - positives * (positives + 1) / 2.0) / (positives * negatives)
    precision = _ratio(sf.col(_TP), sf.col(_TP) + sf.col(_FP))
    recall = _ratio(sf.col(_TP), sf.col(_TP) + sf.col(_FN))
    f1 = sf.when(precision + recall > 0, 2 * precision * recall / (precision + recall)).when(
        precision.isNotNull() & recall.isNotNull(), sf.lit(0.0)
    )
    return (
        totals.join(_rank_sums(labelled), q.MODEL_VERSION)
        .withColumn(q.AUC, sf.when((sf.col(q.POSITIVES) > 0) & (negatives > 0), auc))
        .withColumn(q.PRECISION, precision)
        .withColumn(q.RECALL, recall)
        .withColumn(q.F1, f1)
        .drop(_TP, _FP, _FN, _RANK_SUM)
    )


def _ratio(numerator: Column, denominator: Column) -> Column:
    return sf.when(denominator > 0, numerator / denominator)


def calibration(labelled: DataFrame) -> DataFrame:
    """Per version and non-empty bin of width 1/CALIBRATION_BINS (the last one includes 1.0): count, mean score
    and positive rate. The report lists every bin, the empty ones with count 0."""
    bins = q.CALIBRATION_BINS
    index = sf.least(sf.greatest(sf.floor(sf.col(SCORE) * bins), sf.lit(0)), sf.lit(bins - 1)).cast("int")
    return (
        labelled.withColumn(BIN, index)
        .groupBy(q.MODEL_VERSION, BIN)
        .agg(
            sf.count(sf.lit(1)).alias(q.COUNT),
            sf.avg(SCORE).alias(q.MEAN_SCORE),
            sf.avg(POSITIVE).alias(q.POSITIVE_RATE),
        )
    )


def ground_truth_lines(labelled: DataFrame) -> DataFrame:
    """One line per labelled record (``value``), in SageMaker model-quality monitor's ground-truth format: the
    label as CSV data, the record id as the event id (the caller's InferenceId when the endpoint scored it)."""
    records = labelled.select(RECORD_ID, LABEL_TEXT).dropDuplicates([RECORD_ID])
    line = sf.to_json(
        sf.struct(
            sf.struct(sf.col(LABEL_TEXT).alias("data"), sf.lit("CSV").alias("encoding")).alias("groundTruthData"),
            sf.struct(sf.col(RECORD_ID).alias("eventId")).alias("eventMetadata"),
            sf.lit("0").alias("eventVersion"),
        )
    )
    return records.select(line.alias("value"))
