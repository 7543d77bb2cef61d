"""The inference service (/ping, /execution-parameters, /invocations) and its WSGI and ASGI faces.

The service is server-agnostic: `InferenceService` turns (method, path, headers, body) into a
`Response`; `WSGIApp` and `ASGIApp` only move bytes in and out for the server in use.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from esteira_model import codecs, native_csv
from esteira_model.codecs import BadRequest
from esteira_model.core_board import CoreBoard, join_board
from esteira_model.offload import Offload
from esteira_model.paths import MLPaths
from esteira_model.predictor import Predictor

logger = logging.getLogger("esteira_model.app")

# The hint given to batch transform, and the request limit unless batch transform announces its own
# MaxPayloadInMB through SAGEMAKER_MAX_PAYLOAD_IN_MB.
MAX_PAYLOAD_MB = 6
PAYLOAD_LIMIT_ENV = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
# A client that sends more than the limit gets 413; bodies up to this size are read and dropped
# first, so a keep-alive connection stays usable. Beyond it the connection is closed.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024
# ASGI: bodies from this size (about 100 rows of 20 features) are parsed and predicted on the worker's
# thread pool, smaller ones on the event loop (ASGIApp); the pool's size (ESTEIRA_SERVER_THREADS).
OFFLOAD_BYTES = 16 * 1024
ASGI_THREADS = 2

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = _TEXT
    close: bool = False

    def headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        if self.close:
            headers.append(("Connection", "close"))
        return headers


def error(status: int, message: str, close: bool = False) -> Response:
    return Response(status, (message + "\n").encode(), close=close)


@dataclass(frozen=True)
class Invocation:
    """A POST /invocations whose headers passed: the body is still to be read."""

    content_type: str
    accept: str
    content_length: int | None


class InferenceService:
    def __init__(
        self, predictor: Predictor, max_concurrent_transforms: int, max_payload_mb: int = MAX_PAYLOAD_MB
    ) -> None:
        self.predictor = predictor
        self.max_payload_mb = max_payload_mb
        self.max_payload_bytes = max_payload_mb * 1024 * 1024
        self.execution_parameters = orjson.dumps(
            {
                "MaxConcurrentTransforms": max_concurrent_transforms,
                "BatchStrategy": "MULTI_RECORD",
                "MaxPayloadInMB": MAX_PAYLOAD_MB,
            }
        )

    def route(
        self, method: str, path: str, content_type: str | None, accept: str | None, content_length: str | None
    ) -> Response | Invocation:
        """Everything decided from the request line and headers alone."""
        if path == "/invocations":
            if method != "POST":
                return error(405, "use POST /invocations")
            return self._check_invocation(content_type, accept, content_length)
        if path == "/ping":
            if method not in ("GET", "HEAD"):
                return error(405, "use GET /ping")
            return Response(200, b"")
        if path == "/execution-parameters":
            return Response(200, self.execution_parameters, "application/json")
        return error(404, f"no route {path[:100]!r}")

    def _check_invocation(
        self, content_type: str | None, accept: str | None, content_length: str | None
    ) -> Response | Invocation:
        media = codecs.normalize_media_type(content_type)
        if media is None:
            return error(
                415,
                f"unsupported Content-Type {(content_type or '')[:100]!r}; "
                "use text/csv, application/json or application/jsonlines",
            )
        chosen = codecs.choose_accept(accept, media)
        if chosen is None:
            return error(406, "Accept must allow text/csv, application/json or application/jsonlines")
        length: int | None = None
        if content_length:
            try:
                length = int(content_length)
            except ValueError:
                return error(400, "invalid Content-Length")
            if length < 0:
                return error(400, "invalid Content-Length")
        return Invocation(media, chosen, length)

    def invoke(self, invocation: Invocation, body: bytes) -> Response:
        try:
            if len(body) > self.max_payload_bytes:
                return self.too_large()
            features = codecs.parse(body, invocation.content_type, self.predictor)
            predictions = self.predictor.predict(features)
            payload = codecs.format_output(predictions, invocation.accept, self.predictor)
            return Response(200, payload, invocation.accept)
        except BadRequest as err:
            return error(err.status, err.message)
        except Exception:
            logger.exception("unexpected error in /invocations")
            return error(500, "internal error; see the server log")

    def too_large(self, close: bool = False) -> Response:
        return error(413, f"payload over {self.max_payload_mb} MB", close=close)


# ---------------------------------------------------------------------------------------------
# WSGI (gunicorn)

StartResponse = Callable[..., Any]


class WSGIApp:
    def __init__(self, service: InferenceService) -> None:
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self._handle(environ)
        except Exception:
            logger.exception("unexpected error")
            response = error(500, "internal error; see the server log", close=True)
        start_response(f"{response.status} {_REASONS[response.status]}", response.headers())
        return [response.body]

    def _handle(self, environ: dict[str, Any]) -> Response:
        routed = self.service.route(
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            environ.get("CONTENT_TYPE"),
            environ.get("HTTP_ACCEPT"),
            environ.get("CONTENT_LENGTH"),
        )
        if isinstance(routed, Response):
            return routed
        stream = environ["wsgi.input"]
        length = routed.content_length
        if length is not None:
            if length > self.service.max_payload_bytes:
                if length > DRAIN_LIMIT_BYTES:
                    return self.service.too_large(close=True)
                remaining = length
                while remaining > 0:
                    chunk = stream.read(min(_CHUNK, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                return self.service.too_large()
            body = bytes(stream.read(length)) if length else b""
        else:  # chunked transfer: read at most one byte past the limit
            body = bytes(stream.read(self.service.max_payload_bytes + 1))
        return self.service.invoke(routed, body)


# ---------------------------------------------------------------------------------------------
# ASGI (uvicorn)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class ASGIApp:
    """One worker process per core; a batch request runs on a small thread pool, a single-row one inline.

    uvicorn's workers share the listening socket, so connections land unevenly: with 4 clients and 2
    workers, one worker often holds 3. Run on the event loop, that worker's requests would queue behind
    one another on one core while the other core idles. On the pool, its XGBoost calls (which release
    the GIL) overlap on both cores, as gunicorn's threads do. Small bodies stay inline: the hand-off
    (~30 us) would be a large share of a single-row request. With a core board (core_board), a batch
    body also stays inline while the other workers occupy every other core: the pool could not use a
    free core then, and skipping its hand-off saves ~0.1-0.15 ms of CPU per 1,000-row request.
    """

    def __init__(
        self, service: InferenceService, offload_bytes: int, threads: int, board: CoreBoard | None = None
    ) -> None:
        self.service = service
        self.offload_bytes = offload_bytes
        self.pool = Offload(threads, "predict") if threads else None
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.pool is not None:
                        self.pool.close()
                    if self.board is not None:
                        self.board.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            return
        try:
            response = await self._handle(scope, receive)
        except Exception:
            logger.exception("unexpected error")
            response = error(500, "internal error; see the server log", close=True)
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _handle(self, scope: Scope, receive: Receive) -> Response:
        headers = scope["headers"]
        routed = self.service.route(
            scope["method"],
            scope["path"],
            _header(headers, b"content-type"),
            _header(headers, b"accept"),
            _header(headers, b"content-length"),
        )
        if isinstance(routed, Response):
            return routed
        if routed.content_length is not None and routed.content_length > DRAIN_LIMIT_BYTES:
            return self.service.too_large(close=True)
        chunks: list[bytes] = []
        size = 0
        over = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return error(400, "client disconnected", close=True)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.service.max_payload_bytes:
                over = True  # keep draining so the connection stays usable
            elif chunk:
                chunks.append(chunk)
            if size > DRAIN_LIMIT_BYTES:
                return self.service.too_large(close=True)
            if not message.get("more_body", False):
                break
        if over:
            return self.service.too_large()
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self.pool is None or len(body) < self.offload_bytes:
            return self.service.invoke(routed, body)
        board = self.board
        if board is None:
            return await self.pool.run(self.service.invoke, routed, body)
        every_other_core_busy = board.others_take_the_other_cores()  # then the pool would only add a hand-off
        with board.running():
            if every_other_core_busy:
                return self.service.invoke(routed, body)
            return await self.pool.run(self.service.invoke, routed, body)


# ---------------------------------------------------------------------------------------------


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def create_service(paths: MLPaths | None = None) -> InferenceService:
    """Load the model (once per worker process) and build the service."""
    paths = paths or MLPaths.from_env()
    nthread = int(os.environ.get("ESTEIRA_PREDICT_THREADS", "1"))
    predictor = Predictor.load(paths.model_dir, nthread=nthread)
    if native_csv.CODEC is None:
        print(
            f"No CSV codec in C at {native_csv.LIBRARY} (or {native_csv.SWITCH_ENV}=0):"
            " CSV bodies take the Python parser, about 20x slower",
            file=sys.stderr,
            flush=True,
        )
    if os.environ.get("ESTEIRA_FAST_PREDICT", "1") != "0" and not predictor.enable_fast_path():
        print("Fast predict path disabled: it did not match inplace_predict", file=sys.stderr, flush=True)
    workers = int(os.environ.get("ESTEIRA_SERVER_WORKERS", "0") or 0) or cpu_count()
    print(
        f"Model loaded: {predictor.num_features} features, task {predictor.schema.task}",
        file=sys.stderr,
        flush=True,
    )
    payload_mb = int(os.environ.get(PAYLOAD_LIMIT_ENV, "") or MAX_PAYLOAD_MB)
    return InferenceService(predictor, max_concurrent_transforms=workers, max_payload_mb=max(1, payload_mb))


def create_wsgi_app() -> WSGIApp:
    return WSGIApp(create_service())


def create_asgi_app() -> ASGIApp:
    board: CoreBoard | None = None
    try:
        board = join_board(cpu_count())  # None when serve named no board
    except (OSError, ValueError) as err:
        print(f"No core board ({err}): every batch body goes to the thread pool", file=sys.stderr, flush=True)
    return ASGIApp(
        create_service(),
        offload_bytes=int(os.environ.get("ESTEIRA_OFFLOAD_BYTES", "") or OFFLOAD_BYTES),
        threads=int(os.environ.get("ESTEIRA_SERVER_THREADS", "") or ASGI_THREADS),
        board=board,
    )
