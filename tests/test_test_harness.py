"""The test harness's shared botocore loader (tests/conftest.py) changes how often files are parsed, never what a
client is."""

import boto3


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
