"""How many batch requests each of the server's worker processes is running, in memory they all share.

A uvicorn worker hands a batch body to its thread pool so that, when connections land unevenly (all four of a
client's on one worker, say), its requests still spread over every core. But each hand-off costs two thread wake-ups
and a core switch: ~0.15 ms of CPU on a 1,000-row request. When every other core is already busy, the pool gains
nothing, so the worker runs the request on its own event loop instead. Only the board knows that: each worker
writes its own slot (from its event loop thread alone) and reads everyone's. A slot holds how many batch requests
the worker is running and when it last ran none; a worker that finished one within IDLE_GRACE_SECONDS still counts
as busy, since its client is most likely sending the next request (without that grace, a worker seen in the gap
between two requests drew a needless hand-off: 0.83x in-process on the bench instead of 0.85x).

`serve` creates the board file and names it in ESTEIRA_CORE_BOARD; each worker claims a slot by locking its byte
(the lock goes with the process, so a restarted worker takes over a dead one's slot). Without the variable, or
with no slot free (it says so at start), a worker has no board and hands every batch body to its pool.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import struct
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BOARD_ENV = "ESTEIRA_CORE_BOARD"
IDLE_GRACE_SECONDS = 0.002
_SLOT = struct.Struct("=qd")  # requests running; time.monotonic() when the last one ended (the clock is system-wide)


def create_board_file(workers: int) -> Path:
    """A zeroed board for `workers` processes, in /dev/shm when there is one (memory, never written to disk)."""
    directory = "/dev/shm" if Path("/dev/shm").is_dir() else None
    fd, name = tempfile.mkstemp(prefix="esteira-core-board-", dir=directory)
    try:
        os.write(fd, bytes(_SLOT.size * max(1, workers)))
    finally:
        os.close(fd)
    return Path(name)


class CoreBoard:
    def __init__(self, path: Path, cores: int) -> None:
        """Claims a free slot; ValueError when every slot is held by a live worker."""
        self.cores = max(1, cores)
        self._file = path.open("r+b")
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size == 0 or size % _SLOT.size:
                raise ValueError(f"{path} is not a core board: {size} bytes")
            self._slot = self._claim(size)
            self._board = mmap.mmap(self._file.fileno(), size)
        except BaseException:
            self._file.close()
            raise
        self._slots = size // _SLOT.size
        self._offset = self._slot * _SLOT.size
        self._running = 0
        _SLOT.pack_into(self._board, self._offset, 0, 0.0)  # a dead worker's record, if this slot was its

    def _claim(self, size: int) -> int:
        for slot in range(size // _SLOT.size):
            try:
                fcntl.lockf(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB, _SLOT.size, slot * _SLOT.size)
            except OSError:
                continue  # a live worker holds it
            return slot
        raise ValueError(f"all {size // _SLOT.size} slots of the core board are taken")

    @property
    def slot(self) -> int:
        return self._slot

    def others_take_the_other_cores(self) -> bool:
        """True when the other workers' requests already occupy every core but one.

        This worker's own pool is left out: run on the event loop while its pool is busy, a request blocks the loop,
        so the pool's finished results and the next requests wait for it. With every connection on one worker of
        two, that held the bench at 0.68x in-process against 0.77x for the pool alone.
        """
        now = time.monotonic()
        taken = 0
        for slot in range(self._slots):
            if slot != self._slot:
                running, idle_since = _SLOT.unpack_from(self._board, slot * _SLOT.size)
                taken += running if running > 0 else now - idle_since < IDLE_GRACE_SECONDS
        return taken >= self.cores - 1

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Counts one request while the block runs. Call from the event loop thread only: one writer per slot."""
        self._running += 1
        _SLOT.pack_into(self._board, self._offset, self._running, 0.0)
        try:
            yield
        finally:
            self._running -= 1
            _SLOT.pack_into(self._board, self._offset, self._running, time.monotonic())

    def close(self) -> None:
        _SLOT.pack_into(self._board, self._offset, 0, 0.0)
        self._board.close()
        self._file.close()  # releases the slot's lock


def join_board(cores: int) -> CoreBoard | None:
    """This worker's place on the board `serve` named in BOARD_ENV, or None when it named none.

    OSError or ValueError when it names one this worker cannot use (a missing file, every slot taken).
    """
    name = os.environ.get(BOARD_ENV, "").strip()
    return CoreBoard(Path(name), cores) if name else None
