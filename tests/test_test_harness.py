"""The test harness (tests/conftest.py): its shared botocore loader changes how often files are parsed, never what a
client is; its group order hands out the groups that need no Spark class archive before the local runs', which share
one warm local Glue runner."""

from dataclasses import dataclass

import boto3
import pytest

from tests.conftest import HANDED_OUT_FIRST, group_of, modules_to_import_ahead, pytest_collection_modifyitems


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


def test_the_long_groups_that_need_no_class_archive_go_first_and_each_group_stays_whole() -> None:
    # GIVEN tests of the local runs' groups, short ones, and the long groups that need no archive, interleaved
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
