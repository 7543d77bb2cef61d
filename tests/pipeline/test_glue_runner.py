"""The local Glue runner: one Spark driver runs the jobs' own main(); a bad job fails alone, clearly, and the runner
ends with its input. A runner that listens (``--listen``, tests/warm_glue_runner.py's) serves many runs' jobs, one per
connection, each in exactly its run's environment, and answers a bad request without stopping."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.glue_runner import MAX_SOCKET_PATH_BYTES, job_environment, listen_on, main
from pipeline.glue_runner_client import AttachedGlueRunner, GlueRunner
from pipeline.options import REPO
from pipeline.processes import ChildFailedError


def test_a_job_with_bad_arguments_fails_naming_the_key_and_the_runner_ends_with_its_input(tmp_path: Path) -> None:
    # GIVEN a running local Glue runner
    log = (tmp_path / "glue-runner.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.glue_runner"],
        cwd=REPO,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    runner = GlueRunner(process, tmp_path / "glue-runner.log", tmp_path)
    waits: list[float] = []
    try:
        # WHEN the dataset job is given arguments without its spec
        with pytest.raises(ChildFailedError) as failure:
            runner.run("dataset", ["--run_id", "r1"], dict(os.environ), tmp_path / "dataset.log", waits.append)
        # THEN the stage's error names the job and the missing key, and the job's log says it too
        assert "dataset failed" in str(failure.value)
        assert "spec_uri" in str(failure.value)
        assert "spec_uri" in (tmp_path / "dataset.log").read_text()
        # WHEN its input ends THEN the runner stops Spark and exits cleanly
        runner.finish()
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def ask(socket_path: Path, line: bytes) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(socket_path))
        connection.sendall(line)
        answer: dict[str, object] = json.loads(connection.makefile("rb").readline())
    return answer


def test_a_listening_runner_answers_bad_requests_and_then_runs_the_next_job(
    glue_runner_socket: Path, tmp_path: Path
) -> None:
    # GIVEN the session's warm runner WHEN requests it cannot take arrive THEN each answer names what is wrong
    request = {"job": "extract", "argv": [], "env": {}, "log": str(tmp_path / "x.log")}
    assert ask(glue_runner_socket, b"not json\n") == {
        "ok": False,
        "error": "bad request: Expecting value: line 1 column 1 (char 0)",
    }
    unknown = ask(glue_runner_socket, json.dumps({**request, "job": "rm -rf /"}).encode() + b"\n")
    assert unknown == {"ok": False, "error": "bad request: job 'rm -rf /': not one of ['dataset', 'extract']"}
    for key, value in (("argv", "--run_id r1"), ("env", {"A": 1}), ("log", "")):
        answer = ask(glue_runner_socket, json.dumps({**request, key: value}).encode() + b"\n")
        assert answer["ok"] is False and f"bad request: {key}:" in str(answer["error"])
    # AND the next run's job still runs there: bad arguments fail naming the key, in the job's own log
    with pytest.raises(ChildFailedError) as failure:
        AttachedGlueRunner(glue_runner_socket).run(
            "dataset", ["--run_id", "r1"], dict(os.environ), tmp_path / "dataset.log", lambda _: None
        )
    assert "dataset failed" in str(failure.value) and "spec_uri" in str(failure.value)
    assert "spec_uri" in (tmp_path / "dataset.log").read_text()


def test_a_job_sees_exactly_its_runs_environment_and_the_runners_own_comes_back() -> None:
    # GIVEN the runner's environment
    before = dict(os.environ)
    # WHEN a job runs with its run's environment, and fails
    with pytest.raises(RuntimeError), job_environment({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}):
        # THEN it sees that environment and nothing of the runner's or an earlier run's
        assert dict(os.environ) == {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
        raise RuntimeError("the job failed")
    # AND the runner's own is back afterwards
    assert dict(os.environ) == before


@pytest.fixture()
def short_dir() -> Iterator[Path]:
    """A folder for sockets whose path stays well under the 107-byte limit, whatever the basetemp."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="esteira-gr-", dir="/tmp") as folder:
        yield Path(folder)


def test_a_runner_that_goes_away_mid_job_or_is_not_there_fails_the_stage_clearly(short_dir: Path) -> None:
    # GIVEN a "runner" that reads the request and closes the connection without an answer
    path = short_dir / "gone.sock"
    listener = listen_on(path)

    def hang_up() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.makefile("rb").readline()

    listener.settimeout(10)
    thread = threading.Thread(target=hang_up)
    thread.start()
    runner = AttachedGlueRunner(path)
    # WHEN a stage sends it a job THEN the stage fails naming the runner and the job
    with pytest.raises(ChildFailedError, match=r"closed the connection during extract without an answer"):
        runner.run("extract", [], {}, short_dir / "extract.log", lambda _: None)
    thread.join()
    listener.close()
    path.unlink()
    # AND with no runner there at all, the stage says how to start one
    with pytest.raises(ChildFailedError, match=r"no local Glue runner answers at .*make glue-runner"):
        runner.run("extract", [], {}, short_dir / "extract.log", lambda _: None)


def test_the_socket_is_private_and_only_a_stale_socket_is_ever_replaced(short_dir: Path) -> None:
    # GIVEN a socket file left by a killed runner WHEN a runner listens there THEN it takes the path over
    path = short_dir / "glue.sock"
    stale = listen_on(path)
    stale.close()
    listener = listen_on(path)
    # AND only this user may connect
    assert path.stat().st_mode & 0o777 == 0o600
    # WHEN another runner is asked to listen there too THEN it refuses: one already does
    with pytest.raises(SystemExit, match="another runner already listens"):
        listen_on(path)
    listener.close()
    # AND a path that holds anything but a socket is never removed
    plain = short_dir / "notes.txt"
    plain.write_text("mine")
    with pytest.raises(SystemExit, match="exists and is not a socket"):
        listen_on(plain)
    assert plain.read_text() == "mine"


def test_a_socket_path_longer_than_the_kernel_takes_is_refused_before_spark_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_path = "/tmp/" + "x" * MAX_SOCKET_PATH_BYTES + ".sock"
    with pytest.raises(SystemExit) as exited:
        main(["--listen", long_path])
    assert exited.value.code == 2
    assert f"--listen {long_path}: a Unix socket's path is at most {MAX_SOCKET_PATH_BYTES} bytes" in (
        capsys.readouterr().err
    )


def test_a_listening_runner_outlives_an_input_that_is_not_a_pipe_and_stops_on_sigterm(short_dir: Path) -> None:
    # GIVEN the listener alone (requests it cannot take never reach Spark), its input /dev/null as in the background
    path = short_dir / "glue.sock"
    code = "import sys; from pathlib import Path; from pipeline.glue_runner import serve_socket; "
    code += "serve_socket(None, Path(sys.argv[1]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and "listening on" in process.stdout.readline()
        # WHEN its input is at its end already THEN it still answers
        assert ask(path, b"{}\n") == {"ok": False, "error": "bad request: job None: not one of ['dataset', 'extract']"}
        # WHEN it is sent SIGTERM THEN it exits 0 and removes its socket
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert not path.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
