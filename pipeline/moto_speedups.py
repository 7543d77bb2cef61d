"""Make moto 5.2.5's server and SQS usable at 10k-1M messages without changing what clients observe.

The local pipeline's server and the Lambda tests' server both use this module (the tests run it as
``python -m pipeline.moto_speedups PORT``, a server process of its own).

moto recomputes ``ApproximateNumberOfMessages*`` (a scan of every message, with a slow clock per message) each
time any queue attribute is read, which ``SendMessage*`` does several times per message, and scans every message
to deduplicate: sending n FIFO messages costs O(n^2) with a large constant (30 batches took 30 s). Patched:

* the server speaks HTTP/1.1 with keep-alive (werkzeug's default is one connection per request);
* the server's per-request listing of moto's package directory is done once;
* attribute-name conversion is memoized (moto converts ~20 names per attribute read);
* the clock used by SQS messages is ``time.time()`` (the same value, ~50x cheaper);
* approximate counts are computed only inside ``GetQueueAttributes``, where a client can see them;
* FIFO deduplication uses an index of first-send times per deduplication id. This is also closer to SQS, which
  keeps deduplicating for 5 minutes after a message was deleted (moto forgets once it is deleted);
* ``Queue.messages`` is lazy, so a receive stops scanning once it has its batch.

Apply with :func:`apply` in the process that runs the moto server, before it serves requests.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from typing import Any

from moto import backends
from moto.sqs import models
from werkzeug.serving import WSGIRequestHandler

_state = threading.local()
_applied = False


def _now_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else float(_original_unix_time_millis(dt))


def _now(dt: Any = None) -> float:
    return time.time() if dt is None else float(_original_unix_time(dt))


_namespace = vars(models)
_original_unix_time_millis = _namespace["unix_time_millis"]
_original_unix_time = _namespace["unix_time"]


def _counts_wanted() -> bool:
    return bool(getattr(_state, "counts", False))


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    queue_cls: Any = models.Queue
    backend_cls: Any = models.SQSBackend
    WSGIRequestHandler.protocol_version = "HTTP/1.1"  # keep-alive: no new TCP connection per request
    modules = list(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # the server listed moto's package directory per request
    _namespace["unix_time_millis"] = _now_millis
    _namespace["unix_time"] = _now
    _namespace["camelcase_to_underscores"] = functools.cache(_namespace["camelcase_to_underscores"])

    original_counts = {
        name: getattr(queue_cls, name)
        for name in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible",
        )
    }

    def lazy_count(prop: property) -> property:
        def getter(self: Any) -> int:
            return int(prop.fget(self)) if _counts_wanted() and prop.fget else 0

        return property(getter)

    for name, prop in original_counts.items():
        setattr(queue_cls, name, lazy_count(prop))

    def messages(self: Any) -> Iterator[Any]:
        return (m for m in list(self._messages) if m.visible and not m.delayed)

    queue_cls.messages = property(messages)
    queue_cls.approximate_number_of_messages = property(
        lambda self: sum(1 for _ in self.messages) if _counts_wanted() else 0
    )

    original_get_attributes = backend_cls.get_queue_attributes

    def get_queue_attributes(self: Any, *args: Any, **kwargs: Any) -> Any:
        _state.counts = True
        try:
            return original_get_attributes(self, *args, **kwargs)
        finally:
            _state.counts = False

    backend_cls.get_queue_attributes = get_queue_attributes

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and message.deduplication_id:
            index: dict[str, int] = self.__dict__.setdefault("_dedup_first_sent", {})
            first = index.get(message.deduplication_id)
            if first is not None and (message.sent_timestamp - first) / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                return
            index[message.deduplication_id] = message.sent_timestamp
        if self.lambda_event_source_mappings:
            raise NotImplementedError("moto_speedups does not support Lambda event source mappings")
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    queue_cls.add_message = add_message


def serve(port: int) -> None:
    """Runs a patched moto server until terminated."""
    from moto.server import ThreadedMotoServer

    apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    threading.Event().wait()


if __name__ == "__main__":
    import logging
    import sys

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(int(sys.argv[1]))
