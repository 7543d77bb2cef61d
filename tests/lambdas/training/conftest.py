"""Fixtures for the training Lambdas. The moto server and fake credentials come from ``tests/lambdas/conftest.py``
(``moto_endpoint`` and the autouse ``aws_env``); this file moves the region to eu-west-1 and owns the training
clients' cache."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from common import clients
from tests.lambdas.training.helpers import REGION, TrainingResources

SetEnv = Callable[[dict[str, str]], None]


@pytest.fixture(autouse=True)
def training_env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "esteira-training-tests")
    clients.reset_clients()
    yield aws_env
    clients.reset_clients()


@pytest.fixture(scope="session")
def test_clients(moto_endpoint: str) -> dict[str, Any]:
    """The tests' own clients (not the Lambdas'), made once: creating a botocore client costs ~0.1-0.5 s."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    return {name: session.client(name, endpoint_url=moto_endpoint) for name in ("s3", "sagemaker", "ecr")}


@pytest.fixture
def aws(training_env: str, test_clients: dict[str, Any]) -> TrainingResources:
    """Fresh, uniquely named buckets, model package group and ECR repository on the shared moto server."""
    return TrainingResources.create(test_clients, uuid.uuid4().hex[:10])


@pytest.fixture
def set_env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    def apply(variables: dict[str, str]) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return apply
