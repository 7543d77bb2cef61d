"""The WSGI and ASGI faces in-process: payload limits that batch transform can raise; where a batch body runs."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import MutableMapping
from typing import Any

import pytest

from esteira_model.app import OFFLOAD_BYTES, ASGIApp, Invocation, Response, WSGIApp, create_service
from esteira_model.core_board import CoreBoard, create_board_file
from tests.containers.model.helpers import MLRoot, read_slot, write_slot


def _post(app: WSGIApp, body: bytes) -> tuple[str, bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/invocations",
        "CONTENT_TYPE": "text/csv",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    body_out = b"".join(app(environ, start_response))
    return seen["status"], body_out


def test_batch_transform_payload_limit_is_honoured(trained_root: MLRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN batch transform announcing MaxPayloadInMB=1
    monkeypatch.setenv("ESTEIRA_ML_ROOT", str(trained_root.root))
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1")
    service = create_service()
    app = WSGIApp(service)
    record = b"0.1,0.2,0.3,1,2,1\n"
    # WHEN a body just under and one just over 1 MB are posted
    under = record * (1024 * 1024 // len(record))
    over = under + record * 10
    status_under, body_under = _post(app, under)
    status_over, body_over = _post(app, over)
    # THEN the first is answered line for line and the second is 413; the hint stays 6 MB
    assert status_under.startswith("200")
    assert body_under.count(b"\n") == under.count(b"\n")
    assert status_over.startswith("413")
    assert b"1 MB" in body_over
    assert json.loads(service.execution_parameters)["MaxPayloadInMB"] == 6


def _asgi_post(app: ASGIApp, body: bytes) -> tuple[int, bytes]:
    async def exchange() -> tuple[int, bytes]:
        incoming: list[MutableMapping[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> MutableMapping[str, Any]:
            return incoming.pop(0)

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        headers = [(b"content-type", b"text/csv"), (b"content-length", str(len(body)).encode())]
        await app({"type": "http", "method": "POST", "path": "/invocations", "headers": headers}, receive, send)
        return sent[0]["status"], sent[1]["body"]

    return asyncio.run(exchange())


def test_a_batch_body_runs_on_the_event_loop_only_while_the_other_workers_take_the_other_cores(
    trained_root: MLRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the ASGI face with a 2-thread pool, on slot 0 of a two-core board, and a body big enough for the pool
    monkeypatch.setenv("ESTEIRA_ML_ROOT", str(trained_root.root))
    service = create_service()
    ran_on: list[str] = []
    invoke = service.invoke

    def recording_invoke(invocation: Invocation, body: bytes) -> Response:
        ran_on.append(threading.current_thread().name)
        return invoke(invocation, body)

    monkeypatch.setattr(service, "invoke", recording_invoke)
    path = create_board_file(2)
    board = CoreBoard(path, cores=2)
    app = ASGIApp(service, offload_bytes=OFFLOAD_BYTES, threads=2, board=board)
    body = b"0.1,0.2,0.3,1,2,1\n" * (OFFLOAD_BYTES // 18 + 1)
    try:
        # WHEN the other worker is running a request
        write_slot(path, 1, running=1, idle_since=0.0)
        busy = _asgi_post(app, body)
        # AND WHEN it has been idle for long
        write_slot(path, 1, running=0, idle_since=time.monotonic() - 1)
        idle = _asgi_post(app, body)
        # THEN the first ran on the event loop's thread and the second on the pool, with the same answer
        assert ran_on[0] == threading.current_thread().name
        assert ran_on[1].startswith("predict-")
        assert busy == idle
        assert busy[0] == 200 and busy[1].count(b"\n") == body.count(b"\n")
        # AND this worker's record shows nothing running afterwards
        assert read_slot(path, 0)[0] == 0
    finally:
        assert app.pool is not None
        app.pool.close()
        board.close()
        path.unlink()
