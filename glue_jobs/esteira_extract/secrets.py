"""Database credentials from AWS Secrets Manager, fetched at run time.

The secret's JSON must hold ``username`` and ``password`` (the shape RDS-managed and
CDK-generated secrets use). The boto3 client is created on call, so ``AWS_ENDPOINT_URL`` and
friends are honoured; the password is never logged and is hidden from ``repr``.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Libraries that log request/response payloads at DEBUG: botocore logs GetSecretValue's body and
# py4j logs every JVM command, including the JDBC "password" option.
SENSITIVE_DEBUG_LOGGERS = ("botocore", "boto3", "urllib3", "py4j")


class SecretError(RuntimeError):
    """The secret is missing or malformed. Messages never include the secret's value."""


@dataclass(frozen=True)
class DbCredentials:
    username: str
    password: str = field(repr=False)


def _secrets_client() -> Any:
    # importlib keeps mypy strict without boto3 stubs (Glue ships boto3; the stubs are not needed).
    return importlib.import_module("boto3").client("secretsmanager")


@contextmanager
def no_payload_logging() -> Iterator[None]:
    """Raise payload-logging libraries to INFO while secrets are in flight, even if the caller
    turned on DEBUG globally; restores their levels afterwards."""
    saved = {name: logging.getLogger(name).level for name in SENSITIVE_DEBUG_LOGGERS}
    try:
        for name in SENSITIVE_DEBUG_LOGGERS:
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() < logging.INFO:
                logger.setLevel(logging.INFO)
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def get_db_credentials(secret_id: str) -> DbCredentials:
    with no_payload_logging():
        client = _secrets_client()
        try:
            response = client.get_secret_value(SecretId=secret_id)
        except client.exceptions.ResourceNotFoundException as exc:
            raise SecretError(f"secret {secret_id!r} not found") from exc
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise SecretError(f"secret {secret_id!r} has no SecretString (binary secrets are not supported)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise SecretError(f"secret {secret_id!r} is not a JSON object") from None
    if not isinstance(data, dict):
        raise SecretError(f"secret {secret_id!r} is not a JSON object")
    missing = [k for k in ("username", "password") if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise SecretError(f"secret {secret_id!r} lacks non-empty string key(s): {', '.join(missing)}")
    return DbCredentials(username=data["username"], password=data["password"])
