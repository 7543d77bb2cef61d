"""Work started ahead, in a thread of the main process, while a stage waits on another process.

The local run's stages keep the state machine's order; a few pieces of work whose inputs are final earlier (the
baseline CSV's statistics, the report's charts) are computed while the main process would only wait on a child (the
training job, the consumers). The stage that needs the result takes it from here: the same computation on the same
inputs, only done sooner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    """``work()`` running in a daemon thread; :meth:`result` waits for it and returns its value or raises its error."""

    def __init__(self, name: str, work: Callable[[], T]) -> None:
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"ahead-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to the caller of result(), in its own thread
            self._error = exc

    def result(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]  # set when no error was raised
