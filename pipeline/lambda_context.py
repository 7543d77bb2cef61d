"""A Lambda context for invoking the real handlers in-process: real clock, the function's configured timeout."""

from __future__ import annotations

import time
import uuid
from typing import cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.aws import ACCOUNT, REGION


class LocalContext:
    """What the Lambda runtime passes; ``get_remaining_time_in_millis`` counts down from ``timeout_seconds``."""

    def __init__(self, function_name: str, timeout_seconds: int = 900, memory_mb: int = 512) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def new_context(function_name: str, timeout_seconds: int = 900) -> LambdaContext:
    """A fresh context per invocation, typed as the Powertools protocol the handlers declare."""
    return cast(LambdaContext, LocalContext(function_name, timeout_seconds))
