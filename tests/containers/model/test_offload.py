"""Offload: blocking calls on a few threads, results and errors back on the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from esteira_model.offload import Offload


def test_calls_run_on_the_threads_at_once_and_return_in_order_of_their_callers() -> None:
    # GIVEN two threads and two calls that each wait for the other to have started
    offload = Offload(2, "test")
    both_started = threading.Barrier(2, timeout=5)

    def call(value: int) -> tuple[int, str]:
        both_started.wait()  # fails with BrokenBarrierError unless the two calls run at the same time
        return value * 10, threading.current_thread().name

    async def main() -> list[tuple[int, str]]:
        return list(await asyncio.gather(offload.run(call, 1), offload.run(call, 2)))

    # WHEN both are awaited
    results = asyncio.run(main())
    offload.close()
    # THEN each caller gets its own result, computed off the event loop's thread
    assert [value for value, _ in results] == [10, 20]
    assert {name for _, name in results} == {"test-0", "test-1"}


def test_an_exception_reaches_the_awaiting_coroutine_and_the_thread_survives_it() -> None:
    # GIVEN one thread and a call that raises
    offload = Offload(1, "test")

    def fail() -> None:
        raise KeyError("boom")

    async def main() -> int:
        with pytest.raises(KeyError, match="boom"):
            await offload.run(fail)
        return await offload.run(lambda: 7)

    # WHEN awaited THEN the caller sees the exception AND the same thread runs the next call
    assert asyncio.run(main()) == 7
    offload.close()


def test_a_caller_cancelled_while_its_call_runs_does_not_break_the_loop() -> None:
    # GIVEN a call still running when its caller is cancelled (a client that hung up)
    offload = Offload(1, "test")

    async def main() -> int:
        task = asyncio.ensure_future(offload.run(time.sleep, 0.2))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # WHEN the call finishes later THEN its result is dropped AND the next call works
        return await offload.run(lambda: 3)

    assert asyncio.run(main()) == 3
    offload.close()
