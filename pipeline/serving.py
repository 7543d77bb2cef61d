"""Talk to ``serve`` over HTTP: the smoke test's invokers and a SageMaker batch transform equivalent.

:func:`pipeline.smoke_check.smoke_test` takes any :class:`CsvInvoker`: :class:`ServeClient` (the local run) or
:class:`pipeline.smoke.EndpointInvoker` (a SageMaker endpoint, the CD pipeline's smoke-test step).

The transform emulates what SageMaker does for the batch stack's job (``MULTI_RECORD``, ``SplitType=Line``,
``DataProcessing = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-2,-1]"}``): each input
object under the input prefix is split into lines, the input filter drops the record id, records are packed into
mini-batches of at most ``MaxPayloadInMB``, each mini-batch is one ``POST /invocations`` (``text/csv``), every
output line is joined to its input line, the output filter keeps the id, the label and the score, and the result is
written as ``<output prefix><input name>.out``, one line per input line, in order.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MB = 1024 * 1024


class ServeError(RuntimeError):
    pass


class CsvInvoker(Protocol):
    """Predicts headerless CSV records, one output line (``label,score``) per record, in order."""

    @property
    def requests(self) -> int: ...

    def invoke_csv(self, lines: Sequence[str]) -> list[str]: ...


class ServeClient:
    """One keep-alive HTTP connection to the model server."""

    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.requests = 0

    def close(self) -> None:
        self._conn.close()

    def invoke_csv(self, lines: Sequence[str]) -> list[str]:
        body = ("\n".join(lines) + "\n").encode()
        self._conn.request(
            "POST", "/invocations", body=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"}
        )
        response = self._conn.getresponse()
        payload = response.read().decode()
        self.requests += 1
        if response.status != 200:
            raise ServeError(f"/invocations answered {response.status}: {payload[:300]}")
        out = payload.splitlines()
        if len(out) != len(lines):
            raise ServeError(f"/invocations returned {len(out)} lines for {len(lines)} records")
        return out


# ------------------------------------------------------------------------------------------- transform


def input_filter(line: str) -> str:
    """``$[1:]`` on a CSV record: every field but the first (the record id)."""
    _, _, rest = line.partition(",")
    return rest


def output_filter(joined: str) -> str:
    """``$[0,-2,-1]`` on the joined record: record id, predicted label, score."""
    fields = joined.split(",")
    return ",".join((fields[0], fields[-2], fields[-1]))


def mini_batches(lines: Sequence[str], max_payload_bytes: int) -> Iterator[tuple[int, int]]:
    """(start, end) slices whose filtered records fit ``max_payload_bytes`` (a longer record goes alone)."""
    start, size = 0, 0
    for index, line in enumerate(lines):
        record = len(input_filter(line).encode()) + 1
        if index > start and size + record > max_payload_bytes:
            yield start, index
            start, size = index, 0
        size += record
    if start < len(lines):
        yield start, len(lines)


@dataclass
class TransformStats:
    objects: int = 0
    records: int = 0
    mini_batches: int = 0


def transform(
    s3: Any,
    client: ServeClient,
    bucket: str,
    input_prefix: str,
    output_prefix: str,
    max_payload_mb: int,
) -> TransformStats:
    stats = TransformStats()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=input_prefix)
    keys = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
    for key in keys:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        lines = [line for line in text.splitlines() if line.strip()]
        out: list[str] = []
        for start, end in mini_batches(lines, max_payload_mb * MB):
            batch = lines[start:end]
            predictions = client.invoke_csv([input_filter(line) for line in batch])
            out.extend(output_filter(f"{line},{pred}") for line, pred in zip(batch, predictions, strict=True))
            stats.mini_batches += 1
        name = key.removeprefix(input_prefix)
        body = ("\n".join(out) + "\n").encode() if out else b""
        s3.put_object(Bucket=bucket, Key=f"{output_prefix}{name}.out", Body=body, ContentType="text/csv")
        stats.objects += 1
        stats.records += len(out)
    return stats
