"""pipeline.ahead: work started in a thread while the main process waits on a child, and taken by the stage later."""

from __future__ import annotations

import threading

import pytest

from pipeline.ahead import Ahead


def test_the_work_runs_while_the_caller_does_something_else_and_its_value_is_returned() -> None:
    # GIVEN work that can only finish once the caller has gone on (it waits for the caller's signal)
    caller_went_on = threading.Event()

    def work() -> str:
        assert caller_went_on.wait(10)
        return f"computed in {threading.current_thread().name}"

    # WHEN it is started ahead and the caller goes on before asking for it
    ahead = Ahead("statistics", work)
    caller_went_on.set()
    # THEN the result is the work's value, computed in its own thread
    assert ahead.result() == "computed in ahead-statistics"


def test_the_works_error_is_raised_where_the_result_is_taken() -> None:
    # GIVEN work that fails
    def work() -> int:
        raise ValueError("baseline CSV has a text column")

    # WHEN the stage takes the result THEN it gets the work's own error, each time it asks
    ahead = Ahead("statistics", work)
    for _ in range(2):
        with pytest.raises(ValueError, match="baseline CSV has a text column"):
            ahead.result()
