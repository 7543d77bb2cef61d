"""pipeline.glue_runner.import_hot_jvm_classes, on the session the Spark tests share (tests/glue_jobs/conftest.py)."""

from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from pipeline.glue_runner import HOT_JVM_CLASSES, import_hot_jvm_classes


def test_the_short_names_still_mean_the_same_classes(spark: SparkSession) -> None:
    # GIVEN the session with the hot classes imported (again: importing twice changes nothing)
    import_hot_jvm_classes(spark)
    # THEN each short name pyspark uses resolves to that class, and a column function still works through it
    for name in HOT_JVM_CLASSES:
        assert getattr(spark._jvm, name.rsplit(".", 1)[1])._fqn == name
    (row,) = spark.range(3).select(sf.sum(sf.col("id") + sf.lit(1)).alias("total")).collect()
    assert row["total"] == 6
