"""A few threads that run blocking calls for an asyncio event loop, with less hand-off work than run_in_executor.

`loop.run_in_executor` wraps each call in a concurrent.futures.Future, chains it to an asyncio future through
callbacks and locks, and has ThreadPoolExecutor check its thread count: for a 1,000-row request, whose parsing,
prediction and formatting release the GIL, that bookkeeping was a visible share of what remained on the GIL. Here
a call is one queue put; its thread hands the result straight to the loop's future.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():  # the request's task was cancelled (its client left) while the call ran
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Offload:
    def __init__(self, threads: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, function, arguments = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = function(*arguments)
            except BaseException as raised:  # handed to the awaiting coroutine, which decides
                error = raised
            # RuntimeError: the loop closed while the call ran (shutdown), so nobody awaits the result.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)

    async def run(self, function: Callable[..., T], *arguments: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, function, arguments))
        return await future

    def close(self) -> None:
        for _ in self._threads:
            self._jobs.put(None)
