"""The local AWS stand-in: DynamoDB on a moto server of its own, every other service on the main one."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from pipeline import aws
from pipeline.processes import Children
from tests.pipeline.test_moto_server import processes_in_group

REPO = Path(__file__).resolve().parents[2]


def test_dynamodb_calls_go_to_their_own_server_and_the_rest_to_the_main_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    children = Children("test-aws")
    try:
        # GIVEN the local run's servers and its environment
        endpoints = aws.start_moto(children, tmp_path, REPO)
        for name, value in aws.local_aws_environment(endpoints.main, endpoints.dynamodb).items():
            monkeypatch.setenv(name, value)
        # WHEN the run's resources are created with clients that name no endpoint
        session = boto3.session.Session()
        resources = aws.create_resources(session, max_receive_count=3)
        # THEN the tables are on the DynamoDB server only, and the queues and buckets on the main one
        tables = sorted(session.client("dynamodb").list_tables()["TableNames"])
        assert tables == sorted([aws.PREDICTIONS_TABLE, aws.IDEMPOTENCY_TABLE])
        on_main = boto3.session.Session().client("dynamodb", endpoint_url=endpoints.main)
        assert on_main.list_tables()["TableNames"] == []
        assert resources.queue_url.startswith(endpoints.main)
        on_dynamodb = boto3.session.Session().client("s3", endpoint_url=endpoints.dynamodb)
        assert on_dynamodb.list_buckets()["Buckets"] == []
        assert {b["Name"] for b in session.client("s3").list_buckets()["Buckets"]} >= {aws.CURATED_BUCKET}
        # AND both servers are one child of the run (the DynamoDB one forked by it, in its process group)
        assert [child["name"] for child in children.started] == ["moto-server"]
        assert len(processes_in_group(int(str(children.started[0]["pid"])))) == 2
    finally:
        children.stop_all()
    # AND stopping the child stopped both
    assert processes_in_group(int(str(children.started[0]["pid"]))) == []


def test_one_endpoint_serves_every_service_when_no_dynamodb_server_is_named() -> None:
    # GIVEN one endpoint WHEN the environment is built THEN DynamoDB uses it too
    env = aws.local_aws_environment("http://127.0.0.1:1")
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
