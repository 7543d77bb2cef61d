"""A class-data-sharing archive for the local Glue runner's JVM: ``python -m pipeline.spark_class_archive``.

Starting Spark loads and verifies some 15,000 classes; a JVM that maps them from an archive (``-XX:SharedArchiveFile``)
is ready in 2.7 s instead of 5.1 s, and its jobs are ~1 s faster (measured 2026-12-06, 100k rows, quiet). JDK 19
records such an archive by itself (``-XX:+AutoCreateSharedArchive``); on the JDK 17 this runs on, the set-up of
``make pipeline`` and ``make glue-runner`` records one before any run (``-XX:ArchiveClassesAtExit``: a Spark session
that runs the kinds of work the jobs do, ~20 s once). A run records nothing itself: writing the archive costs ~6 s
of CPU at the JVM's exit, which slowed the run's later stages by ~8 s when tried.

An archive is only valid for the JVM and the class path it was recorded with, so its file name carries a digest of
both (the ``java`` binary, the pyspark version and its jars, the JVM options): after an upgrade the runner finds no
archive and starts as before, until the next ``make pipeline`` records a new one. (``make test`` records none: for
the tests' one warm runner it cost more than it saved.) It is written under a temporary name and renamed once the JVM
has exited, so a runner never maps a half-written archive (and a JVM that cannot map one runs without it). It lives
next to the virtualenv (``ESTEIRA_SPARK_ARCHIVE_DIR`` overrides), never in the run's output folder: ``--fresh`` clears
outputs, not caches.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHIVE_DIR_ENV = "ESTEIRA_SPARK_ARCHIVE_DIR"
ARCHIVE_PREFIX = "esteira-spark-classes-"
# How long a recording JVM may take to write its archive once Spark has stopped.
WRITE_TIMEOUT_SECONDS = 120


def _java_identity() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else shutil.which("java")
    if java is None:
        return "no-java"
    resolved = Path(java).resolve()
    stat = resolved.stat()
    return f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"


def _classpath_identity() -> str:
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    listing = sorted(f"{jar.name}:{jar.stat().st_size}" for jar in jars.glob("*.jar")) if jars.is_dir() else []
    return f"pyspark {pyspark.__version__}; " + ",".join(listing)


@dataclass(frozen=True)
class ClassArchive:
    path: Path  # the archive this JVM maps, or publishes once recorded
    recording: Path | None  # where this JVM writes it at exit; None when it maps an existing one

    @classmethod
    def for_jvm(cls, jvm_options: str, directory: Path | None = None) -> ClassArchive:
        folder = directory or Path(os.environ.get(ARCHIVE_DIR_ENV) or sys.prefix)
        digest = hashlib.sha256(f"{_java_identity()}\n{_classpath_identity()}\n{jvm_options}".encode()).hexdigest()
        return cls(folder / f"{ARCHIVE_PREFIX}{digest[:16]}.jsa", None)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def recorder(self) -> ClassArchive:
        """The same archive, recorded by this JVM under a temporary name."""
        return ClassArchive(self.path, self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex[:8]}.partial"))

    def jvm_option(self) -> str:
        """The option for this JVM: record the archive, map it, or (none recorded yet) nothing."""
        if self.recording is not None:
            return f"-XX:ArchiveClassesAtExit={self.recording} -Xlog:cds=off"  # no line per class it skips
        return f"-XX:SharedArchiveFile={self.path}" if self.exists else ""

    def publish(self, jvm: subprocess.Popen[bytes] | None) -> bool:
        """After Spark has stopped: end the recording JVM (end of its stdin), wait for it to write the archive, and
        rename it into place. True when an archive was published."""
        if self.recording is None or jvm is None:
            return False
        try:
            if jvm.stdin is not None:
                jvm.stdin.close()  # pyspark's gateway JVM exits at the end of its input, and writes the archive
            jvm.wait(timeout=WRITE_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self.recording.unlink(missing_ok=True)
            return False
        if jvm.returncode != 0 or not self.recording.is_file() or self.recording.stat().st_size == 0:
            self.recording.unlink(missing_ok=True)
            return False
        self.recording.replace(self.path)  # atomic: a run maps a whole archive or none
        return True

    def remove_others(self) -> list[Path]:
        """Delete the archives recorded for another JVM, class path or options in this folder (150 MB each): once a
        new one is published, no run maps them again. A running JVM that maps one keeps its mapping."""
        stale = [path for path in self.path.parent.glob(f"{ARCHIVE_PREFIX}*.jsa") if path.name != self.path.name]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale


def exercise(spark: Any, workdir: Path) -> None:
    """The kinds of work the extraction and dataset jobs do, on a few rows: so the archive holds their classes too."""
    from pyspark.sql import Window
    from pyspark.sql import functions as sf

    rows = spark.range(2_000).select(
        sf.col("id"),
        (sf.col("id") % 7).alias("k"),
        sf.concat(sf.lit("F"), sf.lpad(sf.col("id").cast("string"), 7, "0")).alias("matricula"),
        sf.to_timestamp(sf.lit("2024-07-01 10:00:00.000")).alias("atualizado_em"),
        sf.to_date(sf.lit("01/02/1990"), "dd/MM/yyyy").alias("nascimento"),
        (sf.col("id") * 1.5).alias("salario"),
    )
    rows.repartition(2, "k").write.mode("overwrite").parquet(str(workdir / "rows"))
    read = spark.read.parquet(str(workdir / "rows")).persist()
    latest = read.withColumn("rn", sf.row_number().over(Window.partitionBy("k").orderBy(sf.desc("atualizado_em"))))
    split = latest.where("rn = 1").withColumn(
        "bucket", sf.conv(sf.substring(sf.sha2(sf.col("matricula"), 256), 1, 8), 16, 10)
    )
    split.groupBy("k").agg(sf.count(sf.lit(1)), sf.countDistinct("matricula"), sf.avg("salario")).collect()
    split.coalesce(1).write.mode("overwrite").option("header", "false").csv(str(workdir / "csv"))
    spark.read.option("header", "false").csv(str(workdir / "csv")).count()
    read.unpersist()
    sqlite = workdir / "source.db"
    connection = sqlite3.connect(sqlite)
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, updated TEXT)")
    connection.executemany(
        "INSERT INTO t VALUES (?, ?, ?)", [(i, f"n{i}", "2024-07-01 00:00:00.000") for i in range(500)]
    )
    connection.commit()
    connection.close()
    jdbc = spark.read.format("jdbc").options(url=f"jdbc:sqlite:{sqlite}", dbtable="t", driver="org.sqlite.JDBC")
    jdbc.option("partitionColumn", "id").option("lowerBound", 0).option("upperBound", 500).option(
        "numPartitions", 2
    ).load().count()


def main() -> int:
    """Record the archive for the local Glue runner's JVM unless one matching this JVM and class path exists.

    An optimisation only: whatever goes wrong is said, and the exit status is 0 (the runner starts without it)."""
    from pipeline import glue_runner

    archive = ClassArchive.for_jvm(glue_runner.JVM_OPTIONS)
    if archive.exists:
        print(f"Spark class archive: {archive.path} is up to date")
        _remove_others(archive)
        return 0
    print(f"Spark class archive: recording {archive.path} (about 20 s, once) ...", flush=True)
    try:
        published = _record(archive, glue_runner)
    except Exception as exc:
        print(f"Spark class archive: not recorded ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 0
    if not published:
        print("Spark class archive: not written; the local run starts Spark without it", file=sys.stderr)
        return 0
    print(f"Spark class archive: {archive.path} written")
    _remove_others(archive)
    return 0


def _remove_others(archive: ClassArchive) -> None:
    for path in archive.remove_others():
        print(f"Spark class archive: removed {path.name}, recorded for another JVM, class path or options")


def _record(archive: ClassArchive, glue_runner: Any) -> bool:
    from pyspark import SparkContext

    recorder = archive.recorder()
    spark = glue_runner._spark(recorder)
    gateway = SparkContext._gateway
    spark.sparkContext.setLogLevel("ERROR")
    try:
        with tempfile.TemporaryDirectory() as workdir:
            exercise(spark, Path(workdir))
    except Exception as exc:  # the classes loaded so far still make a valid archive
        print(f"Spark class archive: the exercise stopped early ({type(exc).__name__}: {exc})", file=sys.stderr)
    spark.stop()
    return recorder.publish(getattr(gateway, "proc", None))


if __name__ == "__main__":
    raise SystemExit(main())
