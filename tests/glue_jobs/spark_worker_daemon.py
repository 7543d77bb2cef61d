"""pyspark's Python worker daemon for the tests' SparkSession (``spark.python.daemon.module``), without Python 3.11's
zip directory re-reads.

Every task a Python worker runs (here: each ``spark.createDataFrame`` of local rows, which re-pickles them in
workers) calls ``importlib.invalidate_caches()``. On Python 3.11 that makes every zip importer on the worker's path
read its archive's whole directory again, in pure Python: Spark puts pyspark.zip, py4j's zip and the spark-core jar
(5,220 entries) there. Measured: ~0.25 s of worker CPU for a two-row frame, 37 s over tests/glue_jobs, four fifths of
it in ``zipimport._read_directory``. Python 3.12 made the re-read lazy; these archives are Spark's own install and do
not change while the session runs, so here the re-read is skipped. Everything else is pyspark's own daemon.
"""

import zipimport

from pyspark import daemon


def _keep_directory(self: zipimport.zipimporter) -> None:
    """The archive's directory, as read when the importer was made, stays valid: Spark's own files do not change."""


if __name__ == "__main__":
    zipimport.zipimporter.invalidate_caches = _keep_directory  # type: ignore[method-assign]
    daemon.manager()  # type: ignore[no-untyped-call]
