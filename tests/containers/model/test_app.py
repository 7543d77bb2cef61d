"""The WSGI face in-process: payload limits that batch transform can raise."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from esteira_model.app import WSGIApp, create_service
from tests.containers.model.helpers import MLRoot


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
