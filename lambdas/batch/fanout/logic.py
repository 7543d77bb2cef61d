"""Fan a transform job's output out to an SQS FIFO queue, 10 messages per call, resumable, with quarantine.

One invocation is one iteration of the Step Functions loop (``request.py`` has the input and output):

1. Resume from the further on of the input's cursor and the run's state object (``state.py``): Step Functions
   retries a failed invocation with the input it already had, so the state object is what moves a retry on.
2. Stream each output object from the cursor's byte offset (``source.py``), one line at a time; send valid lines
   10 per ``SendMessageBatch`` (``sender.py``, the one retry layer for SQS) and quarantine malformed ones
   (``quarantine.py``).
3. At a durable point (nothing buffered: every line so far is sent or quarantined) remember the cursor; save it
   to the state object once ``CHECKPOINT_INTERVAL_MS`` have passed since the last save.
4. Hand over (save and return the cursor) when the remaining time falls below ``SAFETY_MARGIN_MS`` or after
   ``MAX_INVOCATION_MS``; when every object is read, write the summary and mark the run done.
5. On an error, save the last durable cursor and raise: the state machine retries the invocation (with backoff)
   unless the error is one of ``NON_RETRYABLE_ERRORS``, and the retry re-sends only lines after that cursor.

What this guarantees (the README's "Batch predictions" section says the same): a line is re-sent only by the
retry of an invocation that failed, and only if it lies after the failed invocation's last saved cursor. The
MessageDeduplicationId (run id + record id) makes SQS FIFO drop such a re-send when it comes within 5 minutes of
the accepted first send; the stack's config rule (Lambda timeout + handover margin + the longest retry delay
< 300 s) keeps a retry's re-sends inside that window. Beyond it (retries that keep failing before they get as far
as the first attempt did) the queue can see a prediction twice, and the consumer's idempotency keeps the table
exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger

from batch.fanout.errors import location
from batch.fanout.quarantine import Quarantine
from batch.fanout.records import MAX_LINE_BYTES, MalformedLineError, Reason, iter_lines, parse_line
from batch.fanout.request import Cursor, FanoutRequest
from batch.fanout.sender import BatchSender
from batch.fanout.source import output_objects, read_chunks
from batch.fanout.state import Progress, RunState
from esteira_contracts.fanout import FanoutSettings

logger = Logger(child=True)


class _Invocation:
    def __init__(
        self,
        request: FanoutRequest,
        settings: FanoutSettings,
        s3: Any,
        sqs: Any,
        remaining_ms: Callable[[], int],
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.request = request
        self.settings = settings
        self.s3 = s3
        self.state = RunState(s3, request, settings)
        start = self.state.resume()
        self.start = start
        self.stats = start.stats.copy()
        self.quarantine = Quarantine(s3, request, settings, self.stats)
        self.sender = BatchSender(sqs, settings, request.bucket, self.stats, self.quarantine, remaining_ms, sleep)
        self.remaining_ms = remaining_ms
        self.durable = start  # the last point where every line before the cursor was sent or quarantined
        self.durable_quarantined = 0  # quarantine records buffered at that point
        self.first_remaining: int | None = None
        self.last_checkpoint_ms = 0
        self.key = ""
        self.line = 0

    def where(self) -> str:
        return location(self.request.bucket, self.key, self.line + 1)

    def run(self) -> dict[str, Any]:
        if self.start.done:
            logger.info("run already done; nothing to send", extra={"run_id": self.request.run_id})
            return self.request.output(done=True, cursor=None, stats=self.start.stats)
        self.stats.invocations += 1
        cursor = self.start.cursor
        self.durable = Progress(cursor, self.stats.copy())
        logger.info("fan-out invocation", extra={"run_id": self.request.run_id, "cursor": _dict(cursor)})
        suffix, first_key = self.settings.output_suffix, None if cursor is None else cursor.key
        for obj in output_objects(self.s3, self.request.bucket, self.request.prefix, suffix, first_key):
            self.key, size = obj["Key"], int(obj["Size"])
            begin = cursor if cursor is not None and cursor.key == self.key else Cursor(self.key, 0, 0)
            self.line = begin.line
            if begin.offset < size:
                chunks = read_chunks(self.s3, self.request.bucket, obj, begin.offset, self.stats, self.where)
                for raw, end in iter_lines(chunks, begin.offset):
                    self.line += 1
                    self.stats.lines += 1
                    self._handle(raw)
                    here = Cursor(self.key, self.line, end)
                    if self._after_line(here):
                        return self._hand_over(here)
            self.stats.objects += 1
        self.sender.flush()
        self.quarantine.flush()
        self.state.write_summary(self.stats)
        self.state.save(Progress(None, self.stats, done=True))
        logger.info("fan-out done", extra={"run_id": self.request.run_id, "stats": asdict(self.stats)})
        return self.request.output(done=True, cursor=None, stats=self.stats)

    def _handle(self, raw: bytes | None) -> None:
        if raw is None:
            detail = f"line longer than {MAX_LINE_BYTES} bytes"
            self.quarantine.add(self.key, self.line, Reason.LINE_TOO_LONG, detail, None)
            return
        try:
            prediction = parse_line(raw)
        except MalformedLineError as exc:
            self.quarantine.add(self.key, self.line, exc.reason, exc.detail, raw)
            return
        if prediction is None:
            self.stats.blank += 1
        else:
            self.sender.add(self.request.run_id, prediction, self.key, self.line)

    def _after_line(self, cursor: Cursor) -> bool:
        """Track durable points and checkpoints; True when it is time to hand over."""
        remaining = self.remaining_ms()
        if self.first_remaining is None:
            self.first_remaining = remaining
        elapsed = self.first_remaining - remaining
        if self.sender.idle:
            if self.quarantine.full:
                self.quarantine.flush()
            self.durable = Progress(cursor, self.stats.copy())
            self.durable_quarantined = self.quarantine.pending
            if elapsed - self.last_checkpoint_ms >= self.settings.checkpoint_interval_ms:
                self.last_checkpoint_ms = elapsed
                self.quarantine.flush()
                self.durable_quarantined = 0
                self.state.save(self.durable)
        return remaining < self.settings.safety_margin_ms or elapsed >= self.settings.max_invocation_ms

    def _hand_over(self, cursor: Cursor) -> dict[str, Any]:
        self.sender.flush()
        self.quarantine.flush()
        self.durable, self.durable_quarantined = Progress(cursor, self.stats.copy()), 0
        self.state.save(self.durable)
        logger.info("time running low; handing over", extra={"cursor": _dict(cursor)})
        return self.request.output(done=False, cursor=cursor, stats=self.stats)

    def save_after_failure(self, error: Exception) -> None:
        """Save the last durable cursor (and the quarantine records before it); never hide the original error."""
        try:
            self.quarantine.flush(upto=self.durable_quarantined)
            self.state.save(self.durable)
            logger.warning(
                "fan-out failed; cursor saved for the retry",
                extra={"cursor": _dict(self.durable.cursor), "error": f"{type(error).__name__}: {error}"},
            )
        except Exception as save_error:  # the retry then resumes from the previous checkpoint
            logger.exception("could not save the cursor after a failure", extra={"error": str(save_error)})


def fan_out(
    event: dict[str, Any],
    settings: FanoutSettings,
    s3: Any,
    sqs: Any,
    remaining_ms: Callable[[], int],
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """One invocation of the loop (see the module). ``sleep`` defaults to ``sender.pause``."""
    request = FanoutRequest.from_event(event)
    invocation = _Invocation(request, settings, s3, sqs, remaining_ms, sleep)
    try:
        return invocation.run()
    except Exception as error:
        invocation.save_after_failure(error)
        raise


def _dict(cursor: Cursor | None) -> dict[str, Any] | None:
    return None if cursor is None else asdict(cursor)
