"""The transform's output objects: listed in key order, each read as a stream that survives a broken connection.

botocore retries a failed call, but not a body that breaks while it is being streamed (``IncompleteReadError``,
``ResponseStreamingError``, a read timeout or a connection reset mid-body). :func:`read_chunks` re-opens the object
with a ranged GET at the byte offset it had reached, at most :data:`MAX_REOPENS` times per object and invocation,
and pins the object's ETag (``IfMatch``), so a replaced object fails instead of mixing two versions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from batch.fanout import sender
from batch.fanout.errors import OutputObjectError, OutputStreamError
from batch.fanout.request import Stats

logger = Logger(child=True)

READ_CHUNK_BYTES = 256 * 1024
MAX_REOPENS = 4
REOPEN_BASE_DELAY_S = 0.1
STREAM_ERRORS = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, ConnectionClosedError, ConnectionError)
# Answers that another attempt cannot change.
_PERMANENT_CODES = frozenset(
    {"NoSuchKey", "NoSuchBucket", "AccessDenied", "PreconditionFailed", "InvalidRange", "InvalidObjectState", "404"}
)


def permanent(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _PERMANENT_CODES


def output_objects(s3: Any, bucket: str, prefix: str, suffix: str, first_key: str | None) -> Iterator[dict[str, Any]]:
    """Objects under ``prefix`` ending in ``suffix``, from ``first_key`` on, in key order (S3 lists keys sorted)."""
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith(suffix) and (first_key is None or key >= first_key):
                    yield obj
    except ClientError as exc:
        if permanent(exc):
            raise OutputObjectError(f"s3://{bucket}/{prefix}: cannot list the transform output: {exc}") from exc
        raise


def read_chunks(
    s3: Any, bucket: str, obj: dict[str, Any], offset: int, stats: Stats, where: Callable[[], str]
) -> Iterator[bytes]:
    """The bytes of ``obj`` from ``offset`` to its end, re-opened at the reached offset when the stream breaks."""
    key, size, etag = obj["Key"], int(obj["Size"]), obj.get("ETag")
    position = offset
    reopens = 0
    while position < size:
        extra: dict[str, str] = {"Range": f"bytes={position}-"} if position else {}
        if etag:
            extra["IfMatch"] = etag
        try:
            body = s3.get_object(Bucket=bucket, Key=key, **extra)["Body"]
        except ClientError as exc:
            if permanent(exc):
                raise OutputObjectError(f"{where()}: cannot read the object: {exc}") from exc
            raise
        try:
            for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                position += len(chunk)
                yield chunk
            if position >= size:
                return
            problem: Exception = IncompleteReadError(actual_bytes=position - offset, expected_bytes=size - offset)
        except STREAM_ERRORS as exc:
            problem = exc
        finally:
            body.close()
        reopens += 1
        stats.stream_reopens += 1
        if reopens > MAX_REOPENS:
            raise OutputStreamError(f"{where()}: the body broke {reopens} times; last: {problem}") from problem
        logger.warning("output stream broke; re-opening at its offset", extra={"key": key, "offset": position})
        sender.pause(random.uniform(0, REOPEN_BASE_DELAY_S * 2 ** (reopens - 1)))
