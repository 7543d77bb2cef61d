"""The test harness (tests/conftest.py): its shared botocore loader changes how often files are parsed, never what a
client is; its group order hands out the other long groups before the local runs' (which share one warm local Glue
runner); its jsii node runs the kernel program without jsii's relay process."""

import base64
import json
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.conftest import HANDED_OUT_FIRST, group_of, modules_to_import_ahead, pytest_collection_modifyitems
from tests.servers import PRELOADED, module_server


def test_boto3_sessions_share_one_loader_and_their_clients_still_differ() -> None:
    # GIVEN two boto3 sessions, as two Lambda clients are made
    first, second = boto3.session.Session(), boto3.session.Session()
    # WHEN each makes a client
    s3 = first.client("s3", region_name="eu-west-1")
    sqs = second.client("sqs", region_name="us-east-1")
    # THEN the service files were parsed once for both, and each client keeps its own service and region
    assert first._session.get_component("data_loader") is second._session.get_component("data_loader")
    assert (s3.meta.service_model.service_name, s3.meta.region_name) == ("s3", "eu-west-1")
    assert (sqs.meta.service_model.service_name, sqs.meta.region_name) == ("sqs", "us-east-1")


@dataclass
class FakeItem:
    nodeid: str


def test_the_long_groups_go_first_then_the_local_runs_and_each_group_stays_whole() -> None:
    # GIVEN tests of the local runs' group, short ones, and the other long groups, interleaved
    nodeids = [
        "tests/pipeline/test_end_to_end.py::test_a",
        "tests/test_pyproject.py::test_b",
        "tests/stacks/test_batch_stack.py::test_c",
        "tests/containers/model/test_serve.py::test_d",
        "tests/pipeline/test_source_read_only.py::test_e",
        "tests/test_app.py::test_f",
        "tests/glue_jobs/test_job.py::test_g",
        "tests/stacks/test_config.py::test_h",
        "tests/pipeline/test_end_to_end.py::test_i",
    ]
    items = [FakeItem(nodeid) for nodeid in nodeids]
    # WHEN the harness orders them
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    order = [group_of(item.nodeid) for item in items]
    # THEN the four groups come first in their order, then the local runs (one group: one warm Glue runner), then
    # the short ones
    groups = list(dict.fromkeys(order))
    assert groups == [*HANDED_OUT_FIRST, "local-runs", "tests/test_pyproject.py"]
    # AND each group's tests stay together, in collection order
    assert [item.nodeid for item in items if group_of(item.nodeid) == "cdk"] == [nodeids[2], nodeids[7]]
    assert [item.nodeid for item in items if group_of(item.nodeid) == "local-runs"] == [
        nodeids[0],
        nodeids[4],
        nodeids[8],
    ]
    assert [group for index, group in enumerate(order) if index == 0 or order[index - 1] != group] == groups


def test_only_the_second_worker_of_a_whole_suite_run_imports_the_cdk_ahead() -> None:
    testpaths, given = pytest.Config.ArgsSource.TESTPATHS, pytest.Config.ArgsSource.ARGS
    # GIVEN the whole suite on two workers THEN the second imports the CDK's modules before collecting, the first none
    assert "aws_cdk.assertions" in modules_to_import_ahead("gw1", testpaths)
    assert modules_to_import_ahead("gw0", testpaths) == ()
    # AND with paths given, or without workers, collection imports only what those tests need
    assert modules_to_import_ahead("gw1", given) == () and modules_to_import_ahead(None, testpaths) == ()


JSII_NODE = Path(__file__).parent / "fixtures" / "jsii_node" / "node"


def test_the_jsii_kernel_program_runs_on_stdio_and_its_console_output_is_wrapped_as_the_relay_wraps_it(
    tmp_path: Path,
) -> None:
    # GIVEN a stand-in for jsii's unpacked runtime: a program that answers each line read from fd 3 on fd 3, and
    # writes to its console and to fd 2 as the kernel does
    (tmp_path / "bin").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "bin" / "jsii-runtime.js").write_text("process.exit(3); // the relay: never started\n")
    (tmp_path / "lib" / "program.js").write_text(
        "const fs = require('fs');\n"
        "const buffer = Buffer.alloc(64);\n"
        "const request = buffer.subarray(0, fs.readSync(3, buffer, 0, 64, null)).toString().trim();\n"
        "console.log('to stdout');\n"
        "console.error('to stderr');\n"
        "fs.writeSync(2, Buffer.from('xxan error linexx'), 2, 13);\n"
        "fs.writeSync(3, `answer to ${request}\\n`);\n"
    )
    # WHEN jsii-python would start it, through $JSII_NODE
    done = subprocess.run(
        [str(JSII_NODE), "--max-old-space-size=4069", str(tmp_path / "bin" / "jsii-runtime.js")],
        input=b"hello\n",
        capture_output=True,
        timeout=60,
    )
    # THEN the relay never ran (it exits 3), the answer is all of stdout, and stderr holds the console output as
    # {"stdout"|"stderr": base64} lines
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"answer to hello\n"
    console = [json.loads(line) for line in done.stderr.splitlines()]
    assert [{key: base64.b64decode(value) for key, value in line.items()} for line in console] == [
        {"stdout": b"to stdout\n"},
        {"stderr": b"to stderr\n"},
        {"stderr": b"an error line"},
    ]


def test_a_synth_through_the_tests_jsii_node_gives_the_template_and_relays_cdk_warnings() -> None:
    # GIVEN a CDK app that uses a deprecated property (aws-cdk-lib warns on the kernel's console), on $JSII_NODE
    program = (
        "from aws_cdk import App, Stack, aws_events as events\n"
        "from aws_cdk.assertions import Template\n"
        "stack = Stack(App(), 'S')\n"
        "events.CfnEventBusPolicy(stack, 'P', statement_id='s', action='events:PutEvents', principal='111111111111')\n"
        "print(sorted(Template.from_stack(stack).to_json()['Resources']))\n"
    )
    # WHEN it runs
    done = subprocess.run(
        [sys.executable, "-c", program],
        env={
            **os.environ,
            "JSII_NODE": str(JSII_NODE),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_VALIDATION": "false",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    # THEN the template comes back, and the warning reaches stderr as text (not as the raw line of an unwrapped write)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['P']\n"
    assert "[WARNING] aws-cdk-lib.aws_events.CfnEventBusPolicyProps#action is deprecated" in done.stderr
    assert "b'" not in done.stderr


def test_a_module_server_forks_in_a_session_of_its_own_with_the_callers_environment_and_stops_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an environment variable the caller sets now, after the worker's fork server may have started
    monkeypatch.setenv("ESTEIRA_HARNESS_CHECK", "set-by-the-caller")
    # WHEN a server module is started through module_server
    with module_server("tests.fixtures.environment_server") as url:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.loads(response.read())
        # THEN it runs in a process that leads a session of its own, and sees the caller's environment
        assert answer["pid"] == answer["sid"] != os.getpid()
        assert answer["environment"]["ESTEIRA_HARNESS_CHECK"] == "set-by-the-caller"
        # AND it was forked with moto already imported (the fork server's preload; this server never imports it)
        assert set(PRELOADED) <= set(answer["imported"])
    # AND once the block ends, the process is gone and the port takes no connection
    assert (
        not Path(f"/proc/{answer['pid']}").exists() or "State:\tZ" in Path(f"/proc/{answer['pid']}/status").read_text()
    )
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
