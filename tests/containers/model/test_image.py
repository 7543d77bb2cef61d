"""The image's contract, checked statically (no docker here): executables, PATH, port and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from esteira_model import serve
from esteira_model.core_board import BOARD_ENV
from esteira_model.paths import MLPaths
from tests.containers.model.helpers import BOARD_SLOT, MODEL_DIR


@pytest.mark.parametrize("name", ["train", "serve"])
def test_entry_points_are_executable_python_scripts(name: str) -> None:
    # GIVEN bin/<name> WHEN inspected THEN it is an executable python3 script
    script = MODEL_DIR / "bin" / name
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env python3\n")


def test_dockerfile_puts_train_and_serve_on_path() -> None:
    # GIVEN the Dockerfile WHEN read THEN bin/ is copied, made executable and put on PATH
    dockerfile = (MODEL_DIR / "Dockerfile").read_text()
    assert "COPY bin ./bin" in dockerfile
    assert "COPY src ./src" in dockerfile
    assert 'PATH="/opt/program/bin:${PATH}"' in dockerfile
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "EXPOSE 8080" in dockerfile


def test_requirements_are_pinned() -> None:
    # GIVEN the image's requirements WHEN read THEN every package is pinned with ==
    lines = [
        line.strip()
        for line in (MODEL_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines)
    assert any(line.startswith("xgboost-cpu==") for line in lines)


def test_paths_default_to_opt_ml_and_follow_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no override THEN /opt/ml; GIVEN ESTEIRA_ML_ROOT THEN everything hangs off it
    monkeypatch.delenv("ESTEIRA_ML_ROOT", raising=False)
    monkeypatch.delenv("TRAINING_JOB_NAME", raising=False)
    assert MLPaths.from_env().model_dir == Path("/opt/ml/model")
    monkeypatch.setenv("ESTEIRA_ML_ROOT", "/tmp/x")
    paths = MLPaths.from_env()
    assert paths.hyperparameters == Path("/tmp/x/input/config/hyperparameters.json")
    assert paths.failure_file == Path("/tmp/x/output/failure")
    assert paths.checkpoint_dir == Path("/tmp/x/checkpoints")


def test_port_is_8080_unless_sagemaker_binds_another(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no SAGEMAKER_BIND_TO_PORT THEN 8080 on every interface
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT", raising=False)
    monkeypatch.delenv("ESTEIRA_BIND_HOST", raising=False)
    assert serve.bind() == ("0.0.0.0", 8080)
    # GIVEN SAGEMAKER_BIND_TO_PORT (inference pipelines) THEN that port
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9090")
    assert serve.bind()[1] == 9090
    assert serve.gunicorn_options()["bind"] == "0.0.0.0:9090"


def test_one_worker_per_core_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no worker override WHEN options are built THEN one gthread worker per usable core
    monkeypatch.delenv("ESTEIRA_SERVER_WORKERS", raising=False)
    options = serve.gunicorn_options()
    assert options["workers"] == len(os.sched_getaffinity(0))
    assert options["worker_class"] == "gthread"
    assert options["preload_app"] is False


@pytest.mark.parametrize(("workers", "share"), [("2", "1"), ("2", "0"), ("1", "1")])
def test_uvicorn_workers_get_a_core_board_for_the_servers_life_unless_alone_or_turned_off(
    workers: str, share: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two workers with sharing on (the default), two with ESTEIRA_SHARE_CORES=0, or a lone worker; and a
    # board named in the environment beforehand, which no worker may write into
    monkeypatch.setenv("ESTEIRA_SERVER_WORKERS", workers)
    monkeypatch.setenv("ESTEIRA_SHARE_CORES", share)
    monkeypatch.setenv(BOARD_ENV, "/etc/passwd")
    seen: list[str | None] = []

    def run(host: str, port: int) -> None:
        named = os.environ.get(BOARD_ENV)
        seen.append(named)
        if named:
            assert Path(named).read_bytes() == bytes(2 * BOARD_SLOT.size)

    monkeypatch.setattr(serve, "_run_uvicorn", run)
    # WHEN uvicorn runs and returns
    serve.run_uvicorn()
    # THEN two sharing workers saw a zeroed board for two, removed when the server ended; the others none
    if (workers, share) == ("2", "1"):
        assert seen[0] is not None and not Path(seen[0]).exists()
    else:
        assert seen == [None]


def test_a_board_that_cannot_be_created_is_reported_and_uvicorn_serves_without_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two workers and no room for the board file
    monkeypatch.setenv("ESTEIRA_SERVER_WORKERS", "2")
    monkeypatch.delenv("ESTEIRA_SHARE_CORES", raising=False)

    def no_room(workers: int) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serve, "create_board_file", no_room)
    seen: list[str | None] = []
    monkeypatch.setattr(serve, "_run_uvicorn", lambda host, port: seen.append(os.environ.get(BOARD_ENV)))
    # WHEN uvicorn starts
    serve.run_uvicorn()
    # THEN it runs, with no board named, and says why
    assert seen == [None]
    assert "No core board ([Errno 28] No space left on device)" in capsys.readouterr().err
