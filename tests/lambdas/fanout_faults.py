"""Faults injected into the real boto3 clients the fan-out handler uses (botocore event hooks), on a simulated clock.

SendMessageBatch, per call (seeded, or scheduled by call number):
- ``throttle``: HTTP 400 ThrottlingException, nothing delivered;
- ``partial``: some entries dropped before sending and reported ``Failed``, others delivered but reported
  ``Failed`` anyway (the response lies: the worst case for duplicates);
- ``5xx_after_enqueue``: the batch reaches the queue, then the answer is HTTP 500 InternalError;
- ``crash``: the batch reaches the queue, then the connection dies with an error botocore does not wrap;
- ``hang``: the batch reaches the queue, then the call hangs until the function's timeout kills the invocation.
GetObject of an output object: the body breaks (a connection reset) after some bytes.

Every message the queue accepted is recorded with the simulated time, so a test can check that each re-send came
within SQS FIFO's 5-minute deduplication window of the first accepted send.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ResponseStreamingError
from botocore.httpsession import URLLib3Session

from tests.lambdas.sfn_local import InvocationKilled, SimClock

DEDUPLICATION_WINDOW_MS = 300_000


@dataclass
class FaultRates:
    throttle: float = 0.0
    partial: float = 0.0
    error_after_enqueue: float = 0.0


@dataclass
class Schedule:
    """Faults at given SendMessageBatch call numbers (1-based) and GetObject numbers of output objects."""

    hang: set[int] = field(default_factory=set)
    crash: set[int] = field(default_factory=set)
    throttle: set[int] = field(default_factory=set)
    error_after_enqueue: set[int] = field(default_factory=set)
    break_body_after_bytes: dict[int, int] = field(default_factory=dict)
    missing_object: set[str] = field(default_factory=set)  # keys answered with 404 NoSuchKey


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(request: Any, status: int, code: str, message: str, protocol: str) -> AWSResponse:
    if protocol == "json":
        body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}
    else:
        body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
        headers = {"Content-Type": "application/xml"}
    return AWSResponse(request.url, status, headers, _Body(body))


class BreakingBody:
    """A real StreamingBody that raises a connection reset after ``after_bytes`` bytes."""

    def __init__(self, real: Any, after_bytes: int) -> None:
        self._real = real
        self._after = after_bytes

    def iter_chunks(self, chunk_size: int = 1024) -> Iterator[bytes]:
        sent = 0
        for chunk in self._real.iter_chunks(min(chunk_size, 1024)):
            if sent + len(chunk) > self._after:
                yield chunk[: self._after - sent]
                raise ResponseStreamingError(error=ConnectionResetError(104, "Connection reset by peer (injected)"))
            sent += len(chunk)
            yield chunk

    def close(self) -> None:
        self._real.close()


class FaultPlan:
    def __init__(
        self,
        sqs: Any,
        s3: Any,
        clock: SimClock,
        *,
        seed: int,
        rates: FaultRates | None = None,
        schedule: Schedule | None = None,
        call_ms: float = 2_000,
    ) -> None:
        self.clock = clock
        self.random = random.Random(seed)
        self.rates = rates or FaultRates()
        self.schedule = schedule or Schedule()
        self.call_ms = call_ms
        self.injected: Counter[str] = Counter()
        self.accepted: dict[str, list[float]] = {}
        self.calls = 0
        self.gets = 0
        self.invocation_deadline_ms = float("inf")
        self._http = URLLib3Session()
        self._verdict: str | None = None
        self._entries: dict[str, str] = {}  # entry Id -> MessageDeduplicationId, for the current call
        self._dropped: list[str] = []
        self._lied: list[str] = []
        self._s3_key = ""
        events = sqs.meta.events
        events.register("provide-client-params.sqs.SendMessageBatch", self._decide)
        events.register("before-send.sqs.SendMessageBatch", self._before_send)
        events.register("after-call.sqs.SendMessageBatch", self._after_call)
        s3.meta.events.register("provide-client-params.s3.GetObject", self._remember_key)
        s3.meta.events.register("before-send.s3.GetObject", self._missing_object)
        s3.meta.events.register("after-call.s3.GetObject", self._break_body)

    # --- SQS ------------------------------------------------------------------------------------------------
    def _decide(self, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.calls += 1
        self.clock.advance(self.call_ms)
        if self.clock.now_ms >= self.invocation_deadline_ms:
            self.injected["timeout"] += 1
            raise InvocationKilled  # the runtime ends an invocation that outlives its timeout
        n, rates, schedule = self.calls, self.rates, self.schedule
        draw = self.random.random()
        verdict: str | None = None
        if n in schedule.hang:
            verdict = "hang"
        elif n in schedule.crash:
            verdict = "crash"
        elif n in schedule.throttle or draw < rates.throttle:
            verdict = "throttle"
        elif n in schedule.error_after_enqueue or draw < rates.throttle + rates.error_after_enqueue:
            verdict = "5xx_after_enqueue"
        elif draw < rates.throttle + rates.error_after_enqueue + rates.partial:
            verdict = "partial"
        self._verdict = verdict
        entries = list(params["Entries"])
        self._entries = {e["Id"]: e["MessageDeduplicationId"] for e in entries}
        self._dropped, self._lied = [], []
        if verdict == "partial":
            for entry in entries:
                pick = self.random.random()
                if pick < 0.2:
                    self._dropped.append(entry["Id"])
                elif pick < 0.4:
                    self._lied.append(entry["Id"])
            if len(self._dropped) == len(entries):  # a request needs at least one entry: send the last one
                self._dropped.pop()
            if not self._dropped and not self._lied:
                self._lied.append(entries[0]["Id"])
            params = params | {"Entries": [e for e in entries if e["Id"] not in self._dropped]}
        if verdict:
            self.injected[verdict] += 1
        return params

    def _record(self, successful: list[dict[str, Any]]) -> None:
        for item in successful:
            self.accepted.setdefault(self._entries[item["Id"]], []).append(self.clock.now_ms)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        verdict = self._verdict
        if verdict == "throttle":
            return _response(request, 400, "ThrottlingException", "Rate exceeded (injected)", "json")
        if verdict in ("5xx_after_enqueue", "crash", "hang"):
            real = self._http.send(request)
            self._record(json.loads(real.content).get("Successful", []))
            if verdict == "hang":
                raise InvocationKilled
            if verdict == "crash":
                raise ConnectionResetError(104, "connection lost after the batch was sent (injected)")
            return _response(request, 500, "InternalError", "injected: failed after enqueue", "json")
        return None

    def _after_call(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if self._verdict not in (None, "partial") or http_response.status_code != 200:
            return
        self._record(parsed.get("Successful", []))
        if self._verdict == "partial":
            parsed["Successful"] = [s for s in parsed.get("Successful", []) if s["Id"] not in self._lied]
            parsed.setdefault("Failed", []).extend(
                {"Id": entry_id, "SenderFault": False, "Code": "InternalError", "Message": "injected"}
                for entry_id in [*self._dropped, *self._lied]
            )

    # --- S3 -------------------------------------------------------------------------------------------------
    def _remember_key(self, params: dict[str, Any], **_: Any) -> None:
        self._s3_key = str(params["Key"])
        if self._s3_key.endswith(".out"):
            self.gets += 1

    def _missing_object(self, request: Any, **_: Any) -> AWSResponse | None:
        if self._s3_key in self.schedule.missing_object:
            self.injected["missing_object"] += 1
            return _response(request, 404, "NoSuchKey", "The specified key does not exist. (injected)", "xml")
        return None

    def _break_body(self, parsed: dict[str, Any], **_: Any) -> None:
        after = self.schedule.break_body_after_bytes.get(self.gets) if self._s3_key.endswith(".out") else None
        if after is not None and "Body" in parsed:
            self.injected["s3_reset"] += 1
            parsed["Body"] = BreakingBody(parsed["Body"], after)

    # --- checks ---------------------------------------------------------------------------------------------
    def resends_outside_the_window(self) -> dict[str, float]:
        """Deduplication ids accepted again 5 minutes or more after their first accepted send (sim ms)."""
        late = {}
        for dedup_id, times in self.accepted.items():
            spread = max(times) - min(times)
            if spread >= DEDUPLICATION_WINDOW_MS:
                late[dedup_id] = spread
        return late
