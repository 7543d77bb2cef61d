"""The test session's one SparkSession (the ``spark`` fixture in tests/conftest.py): the Spark tests' queries run on
it, and the local runs' Glue jobs run on its SparkContext, through a local Glue runner hosted in the same worker
(tests/warm_glue_runner.py). One JVM starts, loads Spark's classes and compiles their hot code for both: the local
runs used to start a runner JVM of their own, plus a class archive recorded beside the tests for it.

The context holds what both share (the master, the JDBC drivers, the driver's heap, the Python workers' daemon); the
settings that only suit the tests' few rows are set on the tests' own session, so each job's session starts from the
context's settings, as a Glue job run does (``pipeline.glue_runner.job_session``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.glue_runner import DRIVER_HEAP_OPTIONS, LOCAL_JARS, import_hot_jvm_classes

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parents[1]

# The tests' queries only: a job's session never sees these.
TEST_QUERY_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    # Expressions interpreted, not compiled: on these tests' few rows Janino compiling each new plan's Java cost more
    # than running it (test_job.py and test_dataset_job.py: 74 -> 65 s of CPU). The local runs keep Spark's code
    # generation, as Glue runs it.
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    # Nor re-planned at run time (adaptive query execution): on a few rows it has nothing to adapt to, and its
    # re-optimisation after each shuffle cost CPU (tests/glue_jobs: 101.5 and 98.1 -> 93.6 and 92.7 s of CPU,
    # interleaved). The results are the same plans' results; the local runs keep it, as Glue 5.0 runs it.
    "spark.sql.adaptive.enabled": "false",
}


def missing_jars() -> list[str]:
    return [jar for jar in LOCAL_JARS if not Path(jar).exists()]


def start() -> SparkSession:
    """The SparkContext both share, and the tests' session on it (TEST_QUERY_CONF set)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The Python workers run the tests' own interpreter (pyspark reads this variable), not whatever `python3` is first
    # on PATH: the daemon module imports pyspark from this venv.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("esteira-tests")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.jars", ",".join(LOCAL_JARS))
        # The local Glue runner's heap sizing: the serial collector paused this session 181 times for 2.8 s in all
        # over tests/glue_jobs with the default sizing, 51 times for 1.4 s with it.
        .config("spark.driver.extraJavaOptions", DRIVER_HEAP_OPTIONS)
        # Python workers (for frames made from local rows) through a daemon that skips Python 3.11's zip directory
        # re-read on every task (glue_jobs/spark_worker_daemon.py), found on the repository's path.
        .config("spark.python.daemon.module", "tests.glue_jobs.spark_worker_daemon")
        .config("spark.executorEnv.PYTHONPATH", str(REPO))
        .getOrCreate()
    )
    for key, value in TEST_QUERY_CONF.items():
        session.conf.set(key, value)
    session.sparkContext.setLogLevel("ERROR")
    import_hot_jvm_classes(session)  # as the local Glue runner's session: 7 failed class lookups -> 1 per F.* call
    return session
