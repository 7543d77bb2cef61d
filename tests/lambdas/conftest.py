"""A moto server over real HTTP for the whole session; every boto3 client reaches it through AWS_ENDPOINT_URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from common import clients
from tests.lambdas.helpers import REGION, AwsResources
from tests.servers import module_server

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A patched moto server in a process of its own: with 2 cores, server and tests each get one."""
    with module_server("pipeline.moto_server") as url:
        yield url


@pytest.fixture(autouse=True)
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Fake credentials, one region, the moto endpoint; fresh client caches per test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "esteira-batch-tests")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    clients.reset_clients()
    yield moto_endpoint
    clients.reset_clients()


@pytest.fixture
def aws(aws_env: str) -> AwsResources:
    """Fresh, uniquely named resources on the shared server: a bucket, a FIFO queue, the two tables."""
    suffix = uuid.uuid4().hex[:10]
    session = boto3.session.Session()
    return AwsResources.create(session, suffix)
