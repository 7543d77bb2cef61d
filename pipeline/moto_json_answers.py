"""moto 5.2.5 answers JSON-protocol clients by walking every result through the service model; for the local run's
busiest calls the result is already in the wire format, so it is dumped as JSON, as moto did before 5.1.

DynamoDB's item reads (``GetItem``, ``BatchGetItem``, ``Query``, ``Scan``: attribute values as ``{"S": ...}`` maps) and
SQS's ``ReceiveMessage``, ``SendMessageBatch`` and ``DeleteMessageBatch``. Checking 6,000 stored predictions spent
~4.5 s of the server's CPU in the serializer. Anything but a plain result (an error, the query protocol, a value
JSON cannot take) keeps moto's serializer. ``tests/pipeline/test_moto_speedups.py`` compares each answer with plain
moto's over HTTP. Applied by :func:`pipeline.moto_speedups.apply`.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

# Operations whose results are items: dumping them is what costs (a Scan of thousands of items).
_ITEM_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})


def _wire_value(value: object) -> str:
    # Binary attribute values reach the result as bytes; JSON carries them base64-encoded, as moto's serializer does.
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumped(context: Any, result: object) -> Any | None:
    """The response moto's JSON serializer would give a plain result, dumped directly; None when only the
    serializer can say (another protocol, not a dict, a value JSON cannot take)."""
    from moto.core.serialize import JSONSerializer

    if context.serializer_class is not JSONSerializer or not isinstance(result, dict):
        return None
    try:
        body = json.dumps(result, default=_wire_value, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    version = context.service_model.metadata.get("jsonVersion", "1.0")
    return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoResult
    from moto.sqs.responses import SQSResponse

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        dumped = _dumped(context, self.result) if context.operation_model.name in _ITEM_READS else None
        return original(self, context) if dumped is None else dumped

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]

    class DumpedResult(ActionResult):
        def execute_result(self, context: Any) -> Any:
            dumped = _dumped(context, self.result)
            return super().execute_result(context) if dumped is None else dumped

    def dumped(method: Any) -> Any:
        @functools.wraps(method)
        def answer(self: Any) -> Any:
            result = method(self)
            return DumpedResult(result.result) if type(result) is ActionResult else result

        return answer

    # The fan-out's sends and the consumers' receives and deletes: the local run's busiest SQS calls.
    for name in ("receive_message", "send_message_batch", "delete_message_batch"):
        setattr(SQSResponse, name, dumped(getattr(SQSResponse, name)))
