"""The JVM behind the Spark tests' shared session (tests/glue_jobs/conftest.py) runs with the options it is given."""

from pyspark.sql import SparkSession

from pipeline.glue_runner import DRIVER_HEAP_OPTIONS
from tests.glue_jobs.conftest import JIT_OPTIONS


def test_the_session_jvm_runs_with_the_heap_and_jit_options(spark: SparkSession) -> None:
    # GIVEN the shared session WHEN its JVM's own start-up arguments are read (not the Spark conf)
    jvm = spark._jvm
    assert jvm is not None
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    # THEN the local Glue runner's heap sizing and the tests' JIT threshold reached the JVM
    for option in [*DRIVER_HEAP_OPTIONS.split(), *JIT_OPTIONS.split()]:
        assert option in arguments
