"""moto's WSGI app behind a keep-alive HTTP/1.1 server: one thread per connection, one write per response.

werkzeug's development server, which ``moto.server.ThreadedMotoServer`` uses, ends every response with
``Connection: close`` (werkzeug 2.1 and later; it cannot tell where a request body ends once the app has not read
it), so every boto3 call paid a TCP connection and a new server thread, and the server drained each closed socket
for up to 10 ms. Here the request body is read in full before the app runs, so the next request on the connection
always starts where this one ended, and the response goes out in one ``sendall``. Everything else (request
parsing, the WSGI environment, moto's app) is werkzeug's and moto's own.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

logger = logging.getLogger("pipeline.moto_http")
_access_log = logging.getLogger("werkzeug")

_NO_BODY_STATUSES = frozenset({204, 304})


def _content_length(environ: dict[str, Any]) -> int | None:
    """The request's Content-Length (0 when absent), or None when it is not a number of bytes."""
    raw = str(environ.get("CONTENT_LENGTH") or "0").strip()
    return int(raw) if raw.isdigit() else None


class KeepAliveMotoRequestHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        # Read the whole body now: whatever the app leaves unread would otherwise be taken for the next request.
        # (A chunked body keeps werkzeug's wsgi.input_terminated: the app reads it to its end.)
        if environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()
        else:
            length = _content_length(environ)
            if length is None:  # where the body ends is unknown: answer, and close the connection
                self.close_connection = True
                self._send("400 Bad Request", [("Content-Type", "text/plain")], b"invalid Content-Length")
                return
            body = self.rfile.read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        try:
            result: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            logger.exception("moto raised on %s %s", self.command, self.path)
            started[:] = ["500 Internal Server Error", [("Content-Type", "text/plain")]]
            chunks = [b"internal error in the local AWS server"]
            self.close_connection = True
        self._send(started[0], started[1], b"".join(chunks))

    def _send(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code = int(status.split(None, 1)[0])
        lines = [f"HTTP/1.1 {status}", f"Server: {self.server_version}", f"Date: {self.date_time_string()}"]
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
            lines.append(f"{name}: {value}")
        bodyless = self.command == "HEAD" or code in _NO_BODY_STATUSES or 100 <= code < 200
        if not has_length and not bodyless:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if bodyless else head + body)
        if _access_log.isEnabledFor(logging.INFO):  # werkzeug formats the line before its logger drops it
            self.log_request(code, len(body))


def make_moto_server(port: int) -> BaseWSGIServer:
    app = DomainDispatcherApplication(create_backend_app)
    return make_server("127.0.0.1", port, app, threaded=True, request_handler=KeepAliveMotoRequestHandler)


class MotoHTTPServer:
    """The server on a background thread (``start``/``stop``), for a process that does nothing else."""

    def __init__(self, port: int) -> None:
        self._server = make_moto_server(port)
        # A short poll interval: shutdown() waits up to one interval (werkzeug's default 0.5 s delayed each run's end).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True, name="moto-http")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
