"""The WSGI application: /ping, /execution-parameters and /invocations."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from esteira_model import codecs
from esteira_model.codecs import BadRequest
from esteira_model.paths import MLPaths
from esteira_model.predictor import Predictor

logger = logging.getLogger("esteira_model.app")

MAX_PAYLOAD_MB = 6
MAX_PAYLOAD_BYTES = MAX_PAYLOAD_MB * 1024 * 1024
# A client that sends more than the limit gets 413; bodies up to this size are read and dropped
# first, so a keep-alive connection stays usable. Beyond it the connection is closed.
_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def _reply(
    start_response: StartResponse,
    status: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    all_headers = list(headers or _TEXT)
    all_headers.append(("Content-Length", str(len(body))))
    start_response(status, all_headers)
    return [body]


def _error(start_response: StartResponse, status: int, message: str, close: bool = False) -> list[bytes]:
    reason = {
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        406: "Not Acceptable",
        413: "Content Too Large",
        415: "Unsupported Media Type",
        500: "Internal Server Error",
    }[status]
    headers = list(_TEXT)
    if close:
        headers.append(("Connection", "close"))
    return _reply(start_response, f"{status} {reason}", (message + "\n").encode(), headers)


def _content_length(environ: Environ) -> int | None:
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("invalid Content-Length") from None
    if value < 0:
        raise BadRequest("invalid Content-Length")
    return value


def _drain(stream: Any, remaining: int) -> None:
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)


class InferenceApp:
    def __init__(self, predictor: Predictor, max_concurrent_transforms: int) -> None:
        self.predictor = predictor
        self.execution_parameters = orjson.dumps(
            {
                "MaxConcurrentTransforms": max_concurrent_transforms,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": MAX_PAYLOAD_MB,
            }
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        try:
            if path == "/invocations":
                if method != "POST":
                    return _error(start_response, 405, "use POST /invocations")
                return self.invocations(environ, start_response)
            if path == "/ping":
                if method not in ("GET", "HEAD"):
                    return _error(start_response, 405, "use GET /ping")
                return _reply(start_response, "200 OK", b"")
            if path == "/execution-parameters":
                return _reply(
                    start_response,
                    "200 OK",
                    self.execution_parameters,
                    [("Content-Type", "application/json")],
                )
            return _error(start_response, 404, f"no route {path[:100]!r}")
        except BadRequest as err:
            return _error(start_response, err.status, err.message, close=err.status == 413)
        except Exception:
            logger.exception("unexpected error on %s %s", method, path[:100])
            return _error(start_response, 500, "internal error; see the server log")

    def _read_body(self, environ: Environ) -> bytes:
        stream = environ["wsgi.input"]
        length = _content_length(environ)
        if length is not None:
            if length > MAX_PAYLOAD_BYTES:
                if length <= _DRAIN_LIMIT_BYTES:
                    _drain(stream, length)
                raise BadRequest(f"payload over {MAX_PAYLOAD_MB} MB", status=413)
            return bytes(stream.read(length)) if length else b""
        # Chunked transfer: read at most one byte past the limit.
        body = bytes(stream.read(MAX_PAYLOAD_BYTES + 1))
        if len(body) > MAX_PAYLOAD_BYTES:
            raise BadRequest(f"payload over {MAX_PAYLOAD_MB} MB", status=413)
        return body

    def invocations(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        content_type = codecs.normalize_media_type(environ.get("CONTENT_TYPE"))
        if content_type is None:
            raise BadRequest(
                f"unsupported Content-Type {environ.get('CONTENT_TYPE', '')[:100]!r}; "
                "use text/csv, application/json or application/jsonlines",
                status=415,
            )
        accept = codecs.choose_accept(environ.get("HTTP_ACCEPT"), content_type)
        if accept is None:
            return _error(start_response, 406, "Accept must allow text/csv, application/json or application/jsonlines")
        body = self._read_body(environ)
        features = codecs.parse(body, content_type, self.predictor)
        predictions = self.predictor.predict(features)
        payload = codecs.format_output(predictions, accept, self.predictor)
        return _reply(start_response, "200 OK", payload, [("Content-Type", accept)])


def create_app(paths: MLPaths | None = None) -> InferenceApp:
    """Load the model (once per worker) and build the application."""
    paths = paths or MLPaths.from_env()
    nthread = int(os.environ.get("ESTEIRA_PREDICT_THREADS", "1"))
    predictor = Predictor.load(paths.model_dir, nthread=nthread)
    workers = int(os.environ.get("ESTEIRA_SERVER_WORKERS", "0") or 0) or cpu_count()
    print(
        f"Model loaded: {predictor.num_features} features, task {predictor.schema.task}",
        file=sys.stderr,
        flush=True,
    )
    return InferenceApp(predictor, max_concurrent_transforms=workers)


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
