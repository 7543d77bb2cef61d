"""Fixtures of the local pipeline's tests: small trained models of each task, served by the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.containers.model.conftest import Server, start_server, stop_server
from tests.pipeline.smoke_models import OBJECTIVES, TaskModel, train_task_model


@pytest.fixture(scope="session")
def task_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TaskModel]:
    """One small model per task (binary, multiclass, regression), with its dataset run's holdout."""
    return {task: train_task_model(tmp_path_factory.mktemp(f"smoke-{task}"), task) for task in OBJECTIVES}


@pytest.fixture(scope="session")
def task_servers(
    task_models: dict[str, TaskModel], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """The real bin/serve for each task's model, one worker each."""
    servers: dict[str, Server] = {}
    try:
        for task, trained in task_models.items():
            log = tmp_path_factory.mktemp(f"smoke-serve-{task}") / "serve.log"
            servers[task] = start_server(trained.root, log, {"ESTEIRA_SERVER_WORKERS": "1"})
        yield servers
    finally:
        for running in servers.values():
            stop_server(running)
