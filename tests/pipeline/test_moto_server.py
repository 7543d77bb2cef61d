"""``python -m pipeline.moto_server PORT [PORT ...]``: one import of moto, one server process per port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from pipeline.processes import Child, Children, free_port, wait_for_http

REPO = Path(__file__).resolve().parents[2]


def processes_in_group(pgid: int) -> list[int]:
    """Live processes (not zombies) in a process group, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def start(children: Children, tmp_path: Path, *ports: str) -> Child:
    """As the local run starts it: a child of its own session, its output in a log file."""
    argv = [sys.executable, "-m", "pipeline.moto_server", *ports]
    return children.start("moto-server", argv, dict(os.environ), tmp_path / "moto.log", REPO)


@pytest.fixture
def children() -> Iterator[Children]:
    started = Children("test-moto-server")
    yield started
    started.stop_all()


@pytest.fixture
def two_ports(children: Children, tmp_path: Path) -> tuple[Child, list[str]]:
    ports = [str(free_port()), str(free_port())]
    child = start(children, tmp_path, *ports)
    for port in ports:
        wait_for_http(f"http://127.0.0.1:{port}/moto-api/", child, timeout=60)
    return child, ports


def client(service: str, port: str) -> object:
    return boto3.session.Session().client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_each_port_is_a_server_of_its_own_in_a_process_of_its_own(two_ports: tuple[Child, list[str]]) -> None:
    child, (first, second) = two_ports
    # GIVEN one server started with two ports
    # WHEN a queue is created on the first
    client("sqs", first).create_queue(QueueName="only-on-the-first")  # type: ignore[attr-defined]
    # THEN only the first has it: each port has its own state
    assert len(client("sqs", first).list_queues()["QueueUrls"]) == 1  # type: ignore[attr-defined]
    assert "QueueUrls" not in client("sqs", second).list_queues()  # type: ignore[attr-defined]
    # AND the second port is served by a second process, forked into the first one's process group
    assert len(processes_in_group(child.pid)) == 2


def test_sigterm_to_the_group_stops_both_servers_cleanly(two_ports: tuple[Child, list[str]]) -> None:
    child, _ = two_ports
    # GIVEN both servers running WHEN the group is sent SIGTERM (as the local run stops its children)
    os.killpg(child.pid, signal.SIGTERM)
    # THEN the first exits 0 and no process of the group is left
    assert child.process.wait(timeout=10) == 0
    deadline = time.monotonic() + 10
    while processes_in_group(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_in_group(child.pid) == []


def test_sigterm_to_the_first_server_alone_stops_the_forked_one_too(two_ports: tuple[Child, list[str]]) -> None:
    child, _ = two_ports
    # GIVEN both servers running WHEN only the first process is sent SIGTERM
    child.process.send_signal(signal.SIGTERM)
    # THEN it stops the server it forked before it exits, with 0
    assert child.process.wait(timeout=10) == 0
    assert processes_in_group(child.pid) == []


def test_a_forked_server_that_dies_stops_the_first_with_an_error(two_ports: tuple[Child, list[str]]) -> None:
    child, _ = two_ports
    # GIVEN both servers running WHEN the forked one is killed
    forked = [pid for pid in processes_in_group(child.pid) if pid != child.pid]
    assert len(forked) == 1
    os.kill(forked[0], signal.SIGKILL)
    # THEN the first stops too, exits 1 and says why
    assert child.process.wait(timeout=10) == 1
    assert f"the server in process {forked[0]} ended" in child.log_path.read_text()


@pytest.mark.parametrize("taken", [0, 1], ids=["first port", "forked port"])
def test_a_port_already_taken_fails_the_server_naming_the_port(children: Children, tmp_path: Path, taken: int) -> None:
    # GIVEN a port something else already listens on
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        ports = [str(free_port()), str(free_port())]
        ports[taken] = str(listener.getsockname()[1])
        # WHEN the server is started with it
        child = start(children, tmp_path, *ports)
        # THEN it exits 1, naming the port, and leaves no process behind
        assert child.process.wait(timeout=60) == 1
    assert f"cannot listen on 127.0.0.1:{ports[taken]}" in child.log_path.read_text()
    assert processes_in_group(child.pid) == []


@pytest.mark.parametrize("args", [[], ["http"], ["8080", "-1"]])
def test_arguments_other_than_ports_are_refused_with_the_usage(args: list[str]) -> None:
    # GIVEN arguments that are not all port numbers WHEN the server starts THEN it exits 2 with its usage
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.moto_server", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "usage: python -m pipeline.moto_server PORT [PORT ...]" in done.stderr
