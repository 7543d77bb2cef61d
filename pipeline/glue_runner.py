"""A local Glue runner: one Spark driver process that runs the extraction job's and the dataset job's own ``main()``.

On AWS each job is a Glue job run. Locally each used to be a process of its own, and starting Spark (a JVM, its
classes, its JIT warming up) took about as long as the job itself at 100k rows. This process starts Spark once,
early in the run (while the source stage builds the demo database), and then runs each job's ``main(argv)`` with
the same arguments the stage would give a child process (``esteira_contracts``' ``to_args()``). The jobs find this
session through ``SparkSession.builder.getOrCreate()``, as they would find Glue's, and set their own settings on it.

``python -m pipeline.glue_runner`` reads one JSON request per line on stdin::

    {"job": "extract" | "dataset", "argv": [...], "env": {...}, "log": "<path>", "result": "<path>"}

runs it (the job's Python log lines go to ``log``; the JVM's go to this process's own log), and writes
``{"ok": true}`` or ``{"ok": false, "error": "..."}`` to ``result``. End of input stops Spark and the process.

The JVM options suit a short-lived 2-core local driver (serial GC, C1 only, the classes of the previous run mapped from
an archive: :mod:`pipeline.spark_class_archive`); they are local settings, never the jobs'.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

from pipeline.options import REPO
from pipeline.spark_class_archive import ClassArchive

JOB_MODULES = {"extract": "esteira_extract.job", "dataset": "esteira_dataset.job"}
LOCAL_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/sqlite-jdbc.jar")
# A driver that lives for a minute on 2 cores: no parallel GC threads, no C2 compilations competing with the job.
# Its heap is sized up front (Spark's driver heap is 1 GB): with the default sizing the serial collector stopped the
# jobs 67 times for 1.29 s in all at 100k rows, one of them a full collection when the generated classes outgrew the
# initial metaspace; with 512 MB young and a 256 MB metaspace threshold, 18 times for ~0.5 s.
DRIVER_HEAP_OPTIONS = "-Xms1g -Xmn512m -XX:MetaspaceSize=256m"
JVM_OPTIONS = f"-XX:+UseSerialGC -XX:TieredStopAtLevel=1 {DRIVER_HEAP_OPTIONS}"
LOCAL_SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "8",  # what both jobs' local sessions set
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
}


def _spark(archive: ClassArchive | None = None) -> Any:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("esteira-local-glue")
    for key, value in LOCAL_SPARK_CONF.items():
        builder = builder.config(key, value)
    if archive is not None and archive.jvm_option():
        builder = builder.config("spark.driver.extraJavaOptions", f"{JVM_OPTIONS} {archive.jvm_option()}")
    jars = ",".join(j for j in LOCAL_JARS if Path(j).exists())
    if jars:
        builder = builder.config("spark.jars", jars)
    spark = builder.getOrCreate()
    spark.range(1).count()  # the first action loads the SQL engine's classes before a job waits for them
    return spark


def _fresh_session(base: Any) -> Any:
    """A new session on the running SparkContext, made the one ``getOrCreate()`` returns: each job starts from the
    context's settings, as a Glue job run does, not from what the previous job set (its SQL conf, its cache)."""
    from pyspark.sql import SparkSession

    base.catalog.clearCache()
    session = base.newSession()
    # pyspark 3.5 keeps "the" session in these two class attributes and the JVM's default/active session.
    SparkSession._instantiatedSession = session
    SparkSession._activeSession = session
    jvm_session = session._jvm.SparkSession
    jvm_session.setDefaultSession(session._jsparkSession)
    jvm_session.setActiveSession(session._jsparkSession)
    return session


def _run_job(base: Any, request: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(request.get("env") or {})
    _fresh_session(base)
    handler = logging.FileHandler(request["log"], encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        module = importlib.import_module(JOB_MODULES[request["job"]])
        module.main([f"{request['job']}_job", *request["argv"]])
        return {"ok": True}
    except SystemExit as exc:  # the jobs end bad input with SystemExit("<job>: <message>")
        return {"ok": False, "error": str(exc.code)}
    except Exception as exc:
        logging.getLogger("esteira_local_glue").error("%s", traceback.format_exc())
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        root.removeHandler(handler)
        handler.close()


def main() -> int:
    sys.path[:0] = [str(REPO / "glue_jobs")]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    archive = ClassArchive.for_jvm(JVM_OPTIONS)
    spark = _spark(archive)
    how = (
        f"classes from {archive.path.name}"
        if archive.exists
        else "no class archive: make spark-class-archive records one"
    )
    print(f"esteira local Glue runner: Spark ready in {time.monotonic() - started:.1f}s ({how})", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        result = _run_job(spark, request)
        target = Path(request["result"])
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(result))
        partial.replace(target)  # the stage reads a whole result or none
    spark.stop()
    return 0


class GlueRunner:
    """The pipeline's side: the runner process (a tracked child) and one job at a time through it."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, requests: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.requests = requests
        self._stdin: IO[bytes] | None = process.stdin
        self.jobs = 0

    def run(self, job: str, argv: list[str], env: dict[str, str], log_path: Path, on_wait: Any) -> None:
        """Run one job and wait for it; a failure raises with the job's and the runner's last log lines."""
        from pipeline.processes import ChildFailedError, tail

        if self._stdin is None or self.process.poll() is not None:
            raise ChildFailedError(f"the local Glue runner is not running:\n{tail(self.log_path, 15)}")
        self.jobs += 1
        result = self.requests / f"{self.jobs:02d}-{job}.result.json"
        result.unlink(missing_ok=True)
        request = {"job": job, "argv": argv, "env": env, "log": str(log_path), "result": str(result)}
        self._stdin.write(json.dumps(request).encode() + b"\n")
        self._stdin.flush()
        started = last = time.monotonic()
        while not result.exists():
            if self.process.poll() is not None:
                raise ChildFailedError(
                    f"the local Glue runner exited with {self.process.returncode} during {job}; "
                    f"last lines of {log_path}:\n{tail(log_path, 15)}\n{self.log_path}:\n{tail(self.log_path, 15)}"
                )
            time.sleep(0.1)
            if time.monotonic() - last >= 15:
                last = time.monotonic()
                on_wait(time.monotonic() - started)
        outcome = json.loads(result.read_text())
        if not outcome.get("ok"):
            raise ChildFailedError(
                f"{job} failed: {outcome.get('error')}; last lines of {log_path}:\n{tail(log_path, 15)}"
            )

    def finish(self) -> None:
        """End of input: the runner stops Spark and exits."""
        if self._stdin is not None:
            with contextlib.suppress(OSError):  # a runner that already died closed its end
                self._stdin.close()
            self._stdin = None


if __name__ == "__main__":
    raise SystemExit(main())
