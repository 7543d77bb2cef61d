"""The core board: worker processes claim slots, publish what they run, and see whether the other cores are taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from esteira_model import core_board
from esteira_model.core_board import BOARD_ENV, CoreBoard, create_board_file, join_board
from tests.containers.model.helpers import BOARD_SLOT, read_slot, write_slot


@pytest.fixture
def board_file() -> Iterator[Path]:
    path = create_board_file(2)
    yield path
    path.unlink(missing_ok=True)


@contextmanager
def worker(path: Path, run_forever: bool = False) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Another process that joins the board (and, with run_forever, enters a request that never ends)."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from esteira_model.core_board import CoreBoard
        board = CoreBoard(Path({str(path)!r}), 2)
        request = board.running()  # held, so the block never ends
        if {run_forever}:
            request.__enter__()
        print(board.slot, flush=True)
        sys.stdin.read()
        """
    )
    source_root = Path(core_board.__file__).parents[1]
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(source_root)},
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise AssertionError(child.communicate()[1])
        yield child, int(line)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_each_worker_claims_its_own_slot_and_one_too_many_is_refused(board_file: Path) -> None:
    # GIVEN a board for two workers, each slot claimed by a live process
    with worker(board_file) as (_, first), worker(board_file) as (_, second):
        # THEN they hold different slots
        assert {first, second} == {0, 1}
        # WHEN a third process joins THEN it is refused with a reason
        with pytest.raises(ValueError, match="all 2 slots of the core board are taken"):
            CoreBoard(board_file, 2)


def test_a_dead_workers_slot_is_taken_over_and_its_record_reset(board_file: Path) -> None:
    # GIVEN a worker killed while it ran a request (its record still says one is running)
    with worker(board_file, run_forever=True) as (child, slot):
        assert read_slot(board_file, slot)[0] == 1
        child.send_signal(signal.SIGKILL)
        child.wait()
    # WHEN its replacement joins
    replacement = CoreBoard(board_file, 2)
    # THEN it takes the freed slot and starts from nothing running
    assert replacement.slot == slot
    assert read_slot(board_file, slot) == (0, 0.0)
    replacement.close()


def test_the_other_cores_are_taken_while_another_worker_runs_or_has_only_just_finished(board_file: Path) -> None:
    # GIVEN this worker on slot 0 of a two-core board
    board = CoreBoard(board_file, cores=2)
    assert board.slot == 0
    # WHEN the other worker runs a request THEN the other core is taken
    write_slot(board_file, 1, running=1, idle_since=0.0)
    assert board.others_take_the_other_cores()
    # WHEN it has just finished one (its client is most likely sending the next) THEN it still counts
    write_slot(board_file, 1, running=0, idle_since=time.monotonic())
    assert board.others_take_the_other_cores()
    # WHEN it has been idle for longer than the grace THEN the other core is free
    write_slot(board_file, 1, running=0, idle_since=time.monotonic() - 10 * core_board.IDLE_GRACE_SECONDS)
    assert not board.others_take_the_other_cores()
    board.close()


def test_own_requests_are_published_and_never_count_against_this_worker(board_file: Path) -> None:
    # GIVEN this worker on a two-core board, the other worker idle for long
    board = CoreBoard(board_file, cores=2)
    write_slot(board_file, 1, running=0, idle_since=time.monotonic() - 1)
    # WHEN it runs two requests of its own
    with board.running(), board.running():
        # THEN the board shows both to the others, and this worker still sees the other core free
        assert read_slot(board_file, 0)[0] == 2
        assert not board.others_take_the_other_cores()
    # AND when they end, its record says none runs and when that began
    running, idle_since = read_slot(board_file, 0)
    assert running == 0
    assert time.monotonic() - 5 < idle_since <= time.monotonic()
    board.close()


def test_one_core_is_always_taken_and_more_cores_need_more_busy_workers(tmp_path: Path) -> None:
    # GIVEN a board of three workers, one of the others running a request
    path = create_board_file(3)
    try:
        write_slot(path, 1, running=1, idle_since=0.0)
        # WHEN the machine has one core THEN there is never another core to hand off to
        single = CoreBoard(path, cores=1)
        assert single.others_take_the_other_cores()
        single.close()
        # WHEN it has three cores THEN one busy worker leaves one free
        triple = CoreBoard(path, cores=3)
        assert not triple.others_take_the_other_cores()
        write_slot(path, 2, running=1, idle_since=0.0)
        assert triple.others_take_the_other_cores()
        triple.close()
    finally:
        path.unlink()


def test_the_board_lives_in_memory_and_joining_needs_it_named(
    board_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN the board serve creates for two workers
    # THEN it holds two zeroed records, in /dev/shm where there is one
    assert board_file.read_bytes() == bytes(2 * BOARD_SLOT.size)
    if Path("/dev/shm").is_dir():
        assert board_file.parent == Path("/dev/shm")
    # WHEN no board is named THEN a worker has none
    monkeypatch.delenv(BOARD_ENV, raising=False)
    assert join_board(2) is None
    # WHEN the named board is missing THEN joining fails with the reason, for the worker to report
    monkeypatch.setenv(BOARD_ENV, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError):
        join_board(2)
    # WHEN it names a file that is not a board THEN joining refuses it
    other = tmp_path / "notes.txt"
    other.write_bytes(b"not a board")
    monkeypatch.setenv(BOARD_ENV, str(other))
    with pytest.raises(ValueError, match="is not a core board: 11 bytes"):
        join_board(2)
    assert other.read_bytes() == b"not a board"
    # WHEN it exists THEN the worker joins it
    monkeypatch.setenv(BOARD_ENV, str(board_file))
    joined = join_board(2)
    assert joined is not None and joined.slot == 0
    joined.close()
