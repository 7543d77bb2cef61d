"""Lazily created, cached boto3 clients, for every Lambda.

Nothing is created at import. boto3 reads the region and ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``)
itself when a client is first made, so tests point every client at a local endpoint through the environment and
call :func:`reset_clients` between endpoints.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode: exponential backoff with jitter on throttling and transient errors, inside each API call.
# Callers add their own retries only for partial failures, which botocore cannot see. The read timeout leaves room
# for the slowest call we make (reading a model archive's members).
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)
# SQS is used by the fan-out's sender, which is the one retry layer for SendMessageBatch (whole-call errors and
# failed entries): botocore makes one attempt per call, and a stuck call ends within seconds.
_SINGLE_ATTEMPT = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=5)


@functools.cache
def client(service_name: str, region_name: str | None = None, config: Config = _CONFIG) -> Any:
    """One client per service (and region) per execution environment, reused across warm invocations."""
    return boto3.session.Session().client(service_name, region_name=region_name, config=config)


def s3() -> Any:
    return client("s3")


def sqs() -> Any:
    return client("sqs", config=_SINGLE_ATTEMPT)


def sagemaker() -> Any:
    return client("sagemaker")


def dynamodb() -> Any:
    return client("dynamodb")


def codepipeline() -> Any:
    return client("codepipeline")


def ssm() -> Any:
    return client("ssm")


def ecr(region_name: str | None = None) -> Any:
    """ECR in ``region_name`` (the image's registry region), or in the Lambda's own region."""
    return client("ecr", region_name)


def reset_clients() -> None:
    """Forget cached clients (tests, or after changing the endpoint environment)."""
    client.cache_clear()
