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

``python -m pipeline.glue_runner --listen <socket>`` (``make glue-runner``) keeps one such runner warm for many runs:
it takes the same requests, one per connection on a Unix socket (without ``result``: the answer comes back on the
connection), one job at a time, and ``python -m pipeline --glue-runner <socket>`` sends its jobs there instead of
starting Spark (``pipeline.glue_runner_client.AttachedGlueRunner``). A warm JVM has its classes loaded and its code
compiled: a 3,000-row run's two jobs took 7 s instead of 13.5 s. Ctrl-C or SIGTERM stops it, and so does the end of
its input when that is a pipe (a parent that holds it stops it by closing it, or by dying).
Each job sees exactly the environment its run gave (the process's own is put back after it), as in a runner of its own.

The JVM options suit a short-lived 2-core local driver (serial GC, C1 only, the classes of the previous run mapped from
an archive: :mod:`pipeline.spark_class_archive`); they are local settings, never the jobs'.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

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


# pyspark reaches these JVM classes by their short names (`sc._jvm.functions` for every column function, thousands of
# times a run). py4j tries such a name as given, then under each package pyspark imports, in turn, and each miss
# scans every jar on the class path (~250): 7 misses for `functions`, 3 for `PythonUtils`. Imported by their full
# names, each costs one miss: `F.col(...)` 1.1 -> 0.66 ms a call (measured on a local session).
HOT_JVM_CLASSES = ("org.apache.spark.sql.functions", "org.apache.spark.api.python.PythonUtils")


def import_hot_jvm_classes(spark: Any) -> None:
    """Let py4j resolve HOT_JVM_CLASSES by their short names in one lookup (the names still mean the same classes)."""
    from py4j.java_gateway import java_import

    for name in HOT_JVM_CLASSES:
        java_import(spark._jvm, name)


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
    import_hot_jvm_classes(spark)
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


# A Unix socket's path is at most 107 bytes (sun_path is 108, with its terminating NUL).
MAX_SOCKET_PATH_BYTES = 107
# A client that connects and says nothing within this time does not hold up the runs behind it.
REQUEST_TIMEOUT_SECONDS = 10.0
MAX_REQUEST_BYTES = 1 << 20


class RequestError(ValueError):
    """A request the runner cannot take: its message is the answer."""


def check_request(request: Any, *, with_result: bool) -> dict[str, Any]:
    """A request as ``_run_job`` reads it: a known job, argv a list of strings, env a string map, log a path."""
    if not isinstance(request, dict):
        raise RequestError("a request is a JSON object")
    if request.get("job") not in JOB_MODULES:
        raise RequestError(f"job {request.get('job')!r}: not one of {sorted(JOB_MODULES)}")
    argv, env = request.get("argv"), request.get("env")
    if not isinstance(argv, list) or not all(isinstance(item, str) for item in argv):
        raise RequestError("argv: a list of strings")
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise RequestError("env: an object of string values")
    keys = ("log", "result") if with_result else ("log",)
    for key in keys:
        if not isinstance(request.get(key), str) or not request[key]:
            raise RequestError(f"{key}: a file path")
    return request


@contextlib.contextmanager
def job_environment(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` while a job runs, and the runner's own again after it: a job of one run
    never sees a setting (an endpoint, a credential) that another run gave."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _run_job(base: Any, request: dict[str, Any]) -> dict[str, Any]:
    with job_environment(request["env"]):
        return _run_job_in_environment(base, request)


def _run_job_in_environment(base: Any, request: dict[str, Any]) -> dict[str, Any]:
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


def _answer(spark: Any, line: bytes, *, with_result: bool) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A request line's answer, and the request when it was one the runner took."""
    try:
        request = check_request(json.loads(line), with_result=with_result)
    except ValueError as exc:  # JSONDecodeError and RequestError are ValueErrors
        return {"ok": False, "error": f"bad request: {exc}"}, None
    return _run_job(spark, request), request


def _serve_stdin(spark: Any) -> None:
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        result, request = _answer(spark, line, with_result=True)
        if request is None:
            raise SystemExit(f"esteira local Glue runner: {result['error']}")  # only the pipeline writes here
        target = Path(request["result"])
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(result))
        partial.replace(target)  # the stage reads a whole result or none


def check_socket_path(path: Path) -> str:
    """The socket's path as the kernel takes it, or ValueError naming the limit."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ValueError(f"{path}: a Unix socket's path is at most {MAX_SOCKET_PATH_BYTES} bytes; give a shorter one")
    return str(path)


def listen_on(path: Path) -> socket.socket:
    """A Unix socket only this user may connect to; a stale socket file (a runner that was killed) is replaced,
    anything else at the path is left alone."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise SystemExit(f"esteira local Glue runner: {path} exists and is not a socket; give another path")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()
            else:
                raise SystemExit(f"esteira local Glue runner: another runner already listens at {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        listener.bind(check_socket_path(path))
    finally:
        os.umask(old_umask)
    listener.listen(8)
    listener.settimeout(0.5)
    return listener


def _serve_connection(spark: Any, connection: socket.socket) -> None:
    log = logging.getLogger("esteira_local_glue")
    connection.settimeout(REQUEST_TIMEOUT_SECONDS)
    try:
        line = connection.makefile("rb").readline(MAX_REQUEST_BYTES)
    except OSError as exc:
        log.warning("a client connected and sent no request (%s)", exc)
        return
    result, request = _answer(spark, line, with_result=False)
    job = request["job"] if request else "no job"
    try:
        connection.sendall(json.dumps(result).encode() + b"\n")
    except OSError as exc:  # the run was stopped (Ctrl-C) while its job ran here: the job ran to its end
        log.warning("the run that asked for %s went away before its answer (%s)", job, exc)


def serve_socket(spark: Any, path: Path) -> None:
    listener = listen_on(path)
    stop = threading.Event()

    def stop_at_end_of_input() -> None:
        for _ in sys.stdin.buffer:
            pass
        stop.set()

    # A parent that holds a pipe to this runner's input (the tests' session) stops it by closing the pipe, and so does
    # that parent's death. A terminal's input, or /dev/null in the background, is never a stop.
    if stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        threading.Thread(target=stop_at_end_of_input, name="stdin", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"esteira local Glue runner: listening on {path} (Ctrl-C or SIGTERM stops it)", flush=True)
    try:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                _serve_connection(spark, connection)
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.glue_runner", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--listen", type=Path, metavar="SOCKET", help="serve many runs' jobs on this Unix socket (make glue-runner)"
    )
    args = parser.parse_args(argv)
    if args.listen is not None:
        try:
            check_socket_path(args.listen)
        except ValueError as exc:
            parser.error(f"--listen {exc}")
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
    try:
        if args.listen is None:
            _serve_stdin(spark)
        else:
            serve_socket(spark, args.listen)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
