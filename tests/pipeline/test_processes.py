"""The local run's children: started in groups of their own, stopped together."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from pipeline import processes
from pipeline.processes import Children

# Says when SIGTERM arrived, lingers a little as a server finishing its work would, then exits.
LINGERING = (
    "import signal, sys, time\n"
    "def on_term(signum, frame):\n"
    "    open(sys.argv[1], 'a').write(f'term {time.time()}\\n')\n"
    "    time.sleep(0.5)\n"
    "    open(sys.argv[1], 'a').write(f'exit {time.time()}\\n')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, on_term)\n"
    "open(sys.argv[1], 'a').write('ready\\n')\n"
    "time.sleep(60)\n"
)
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
)


def wait_for_text(path: Path, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in (path.read_text() if path.exists() else ""):
        assert time.monotonic() < deadline, f"{path} never said {text!r}"
        time.sleep(0.02)


def events(path: Path) -> dict[str, float]:
    return {kind: float(value) for kind, value in (line.split() for line in path.read_text().splitlines()[1:])}


def test_stop_all_signals_every_child_before_waiting_for_any(tmp_path: Path) -> None:
    # GIVEN two children that each take half a second to exit after SIGTERM
    children = Children("test-processes")
    traces = [tmp_path / "a.trace", tmp_path / "b.trace"]
    started = [
        children.start(
            path.stem, [sys.executable, "-c", LINGERING, str(path)], {}, tmp_path / f"{path.stem}.log", tmp_path
        )
        for path in traces
    ]
    for path in traces:
        wait_for_text(path, "ready")
    # WHEN the run stops them all
    children.stop_all()
    # THEN each got SIGTERM before the other had exited, and both exited by themselves
    first, second = (events(path) for path in traces)
    assert second["term"] < first["exit"] and first["term"] < second["exit"]
    assert [child.process.returncode for child in started] == [0, 0]
    assert [record["exit_code"] for record in children.started] == [0, 0]


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a child that ignores SIGTERM (and a short grace, to keep the test short)
    monkeypatch.setattr(processes, "STOP_GRACE_SECONDS", 0.5)
    children = Children("test-processes")
    log = tmp_path / "stubborn.log"
    child = children.start("stubborn", [sys.executable, "-c", STUBBORN], {}, log, tmp_path)
    wait_for_text(log, "ready")
    # WHEN it is stopped
    children.stop(child)
    # THEN SIGKILL ended it
    assert child.process.returncode == -9
