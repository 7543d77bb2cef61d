"""Where one dataset run writes, how, and what its written files hold (counted back from storage).

Layout (``R`` = run id)::

    <datasets_uri>/run_id=R/train/ validation/ holdout/   Parquet part files: the spec's output columns
    <datasets_uri>/run_id=R/baseline/                     headerless CSV: the features, in feature-schema order
    <batch_input_base>/run_id=R/                          headerless CSV: record_id,f1,...,fn
    <datasets_uri>/run_id=R/manifest.json                 written last: its presence marks a complete run

``_SUCCESS`` markers are removed: a transform job or Model Monitor reading the prefix would take them as
(empty) input files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from esteira_dataset.transforms import SPLITS
from esteira_extract.storage import delete_object, delete_tree, join_uri, spark_path

ROWS_PER_FILE = 500_000
MANIFEST_NAME = "manifest.json"
BATCH_INPUT_DIR = "batch-input"
_SHARED = "_shared"


@dataclass(frozen=True)
class Layout:
    run_uri: str
    batch_input: str

    @classmethod
    def of(cls, datasets_uri: str, run_id: str, batch_input_uri: str | None) -> Layout:
        run_uri = join_uri(datasets_uri, f"run_id={run_id}")
        batch_base = batch_input_uri or join_uri(run_uri, BATCH_INPUT_DIR)
        return cls(run_uri=run_uri, batch_input=join_uri(batch_base, f"run_id={run_id}"))

    def split(self, name: str) -> str:
        return join_uri(self.run_uri, name)

    @property
    def baseline(self) -> str:
        return join_uri(self.run_uri, "baseline")

    @property
    def manifest(self) -> str:
        return join_uri(self.run_uri, MANIFEST_NAME)

    def outputs(self) -> dict[str, str]:
        return {
            **{s: self.split(s) for s in SPLITS},
            "baseline": self.baseline,
            "batch_input": self.batch_input,
            "manifest": self.manifest,
        }

    def clear(self) -> None:
        """Remove this run's outputs, manifest first: a re-run never leaves a manifest over other files."""
        delete_object(self.manifest)
        delete_tree(self.run_uri)
        delete_tree(self.batch_input)


def _files(rows: int) -> int:
    return max(1, -(-rows // ROWS_PER_FILE))


def write_parquet(frame: DataFrame, uri: str, rows: int) -> None:
    """Spark's write only: safe to run beside other writes (drop its ``_SUCCESS`` with :func:`drop_success_marker`)."""
    frame.coalesce(_files(rows)).write.mode("overwrite").parquet(spark_path(uri))


def write_csv(frame: DataFrame, uri: str, rows: int) -> None:
    """Headerless CSV; a null is an empty field (what the model's CSV parser reads as missing). Spark's write only."""
    frame.coalesce(_files(rows)).write.mode("overwrite").option("header", "false").csv(spark_path(uri))


def drop_success_marker(uri: str) -> None:
    """SageMaker reads every object under a channel's prefix: Spark's empty ``_SUCCESS`` marker must go. A boto3
    call, so from the job's main thread (boto3's default session is not safe to share between threads)."""
    delete_object(join_uri(uri, "_SUCCESS"))


# --------------------------------------------------------------------------------- counted from the files


def _read_csv(spark: SparkSession, uri: str, width: int) -> DataFrame:
    schema = st.StructType([st.StructField(f"_c{i}", st.StringType()) for i in range(width)])
    return spark.read.schema(schema).option("header", "false").option("mode", "FAILFAST").csv(spark_path(uri))


def count_splits(spark: SparkSession, layout: Layout, key: str) -> dict[str, Any]:
    """Rows and distinct keys per split, and keys found in more than one split, read back from the Parquet files
    (one Spark job: both aggregations share the per-key exchange)."""
    frames = [
        spark.read.parquet(spark_path(layout.split(s))).select(key).withColumn("split", sf.lit(s)) for s in SPLITS
    ]
    written = frames[0].unionByName(frames[1]).unionByName(frames[2])
    per_key = written.groupBy(key, "split").agg(sf.count(sf.lit(1)).alias("c"))
    per_split = per_key.groupBy("split").agg(sf.sum("c").alias("rows"), sf.count(sf.lit(1)).alias("keys"))
    shared = (
        per_key.groupBy(key)
        .count()
        .where("count > 1")
        .agg(sf.lit(_SHARED).alias("split"), sf.lit(0).cast("long").alias("rows"), sf.count(sf.lit(1)).alias("keys"))
    )
    found = {r["split"]: (int(r["rows"] or 0), int(r["keys"])) for r in per_split.unionByName(shared).collect()}
    return {
        "splits": {s: {"rows": found.get(s, (0, 0))[0], "distinct_keys": found.get(s, (0, 0))[1]} for s in SPLITS},
        "keys_in_more_than_one_split": found.get(_SHARED, (0, 0))[1],
    }


def count_csv(spark: SparkSession, uri: str, width: int, rows_expected: int, with_ids: bool) -> dict[str, Any]:
    """Rows (and distinct first fields when ``with_ids``) of a headerless CSV output; nothing written counts 0."""
    if rows_expected == 0:
        return {"rows": 0, "columns": width, **({"distinct_record_ids": 0} if with_ids else {})}
    written = _read_csv(spark, uri, width)
    aggregates = [sf.count(sf.lit(1)).alias("rows")]
    if with_ids:
        aggregates.append(sf.countDistinct("_c0").alias("ids"))
    row = written.agg(*aggregates).first()
    assert row is not None
    counted = {"rows": int(row["rows"]), "columns": width}
    if with_ids:
        counted["distinct_record_ids"] = int(row["ids"])
    return counted
