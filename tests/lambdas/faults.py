"""Fault injection on real clients: a wrapper that fails chosen SendMessageBatch entries, and botocore hooks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

# decide(entry, attempt_of_this_entry) -> None (pass through), "transient" (Failed, SenderFault false),
# "sender" (Failed, SenderFault true), or "crash" (the call raises after sending, like a lost connection).
Decide = Callable[[dict[str, Any], int], str | None]


class FlakySqs:
    """Wraps the real SQS client. Failing entries are reported in ``Failed``; with ``deliver_failed`` they are
    still sent first (SQS accepted them but the response says otherwise), the nastiest case for duplicates."""

    def __init__(self, real: Any, decide: Decide, deliver_failed: bool = False) -> None:
        self.real = real
        self.decide = decide
        self.deliver_failed = deliver_failed
        self.attempts: Counter[str] = Counter()
        self.calls = 0
        self.injected: Counter[str] = Counter()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        verdicts: dict[str, str] = {}
        for entry in Entries:
            self.attempts[entry["MessageDeduplicationId"]] += 1
            verdict = self.decide(entry, self.attempts[entry["MessageDeduplicationId"]])
            if verdict:
                verdicts[entry["Id"]] = verdict
                self.injected[verdict] += 1
        to_send = [e for e in Entries if self.deliver_failed or e["Id"] not in verdicts]
        response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=to_send) if to_send else {}
        if "crash" in verdicts.values():
            raise ConnectionResetError("injected: connection lost after the batch was sent")
        failed = list(response.get("Failed", []))
        for entry_id, verdict in verdicts.items():
            failed.append(
                {
                    "Id": entry_id,
                    "SenderFault": verdict == "sender",
                    "Code": "InvalidParameterValue" if verdict == "sender" else "InternalError",
                    "Message": f"injected {verdict} failure",
                }
            )
        successful = [s for s in response.get("Successful", []) if s["Id"] not in verdicts]
        return {"Successful": successful, "Failed": failed}


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def throttle_calls(client: Any, operation: str, failures: int) -> Counter[str]:
    """Answer the next ``failures`` calls of ``operation`` with HTTP 400 ThrottlingException before they reach
    the server (``before-send`` hook on the real client). Returns a counter of 'throttled'/'passed' calls."""
    seen: Counter[str] = Counter()

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        if seen["throttled"] >= failures:
            seen["passed"] += 1
            return None
        seen["throttled"] += 1
        body = b'{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded (injected)"}'
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": "ThrottlingException;Sender"}
        return AWSResponse(request.url, 400, headers, _RawBody(body))

    client.meta.events.register(f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}", hook)
    return seen


def count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every ``operation`` call made with ``client``."""
    calls: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.{client.meta.service_model.service_name}.{operation}", hook)
    return calls
