"""The tests' SparkSession runs its Python workers through tests/glue_jobs/spark_worker_daemon.py."""

import sys
import zipimport
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow


def describe_worker(_: object) -> tuple[str, str]:
    """Runs in a Python worker: its interpreter's prefix and the zip importer's cache invalidation in effect."""
    import sys as worker_sys
    import zipimport as worker_zipimport

    return worker_sys.prefix, worker_zipimport.zipimporter.invalidate_caches.__name__


def test_python_workers_run_the_tests_interpreter_and_keep_their_zip_directories(spark: SparkSession) -> None:
    # WHEN a Python worker reports on itself
    [(prefix, invalidate)] = spark.sparkContext.parallelize([0], 1).map(describe_worker).collect()
    # THEN it runs in the tests' venv, with the daemon's zip importer that skips the re-read
    assert Path(prefix) == Path(sys.prefix)
    assert invalidate == "_keep_directory"
    # AND this process's own zip importers are untouched
    assert zipimport.zipimporter.invalidate_caches.__name__ == "invalidate_caches"
