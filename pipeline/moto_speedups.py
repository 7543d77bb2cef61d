"""Make moto 5.2.5's server and SQS usable at 10k-1M messages without changing what clients observe.

The local pipeline's servers and the tests' servers apply it: ``python -m pipeline.moto_server PORT`` (served by
:mod:`pipeline.moto_http`: keep-alive connections; werkzeug's server closes every one).

moto recomputes ``ApproximateNumberOfMessages*`` (a scan of every message, with a slow clock per message) each
time any queue attribute is read, which ``SendMessage*`` does several times per message, and scans every message
to deduplicate: sending n FIFO messages costs O(n^2) with a large constant (30 batches took 30 s). Patched:

* the server's per-request listing of moto's package directory is done once;
* attribute-name conversion is memoized (moto converts ~20 names per attribute read);
* the clock used by SQS messages is ``time.time()`` (the same value, ~50x cheaper);
* approximate counts are computed only inside ``GetQueueAttributes``, where a client can see them;
* FIFO deduplication uses an index of first-send times per deduplication id. This is also closer to SQS, which
  keeps deduplicating for 5 minutes after a message was deleted (moto forgets once it is deleted);
* ``Queue.messages`` is lazy, so a receive stops scanning once it has its batch;
* a receipt handle is 185 random letters drawn in one call (moto drew them one by one: ~2 ms per receive);
* ``DeleteMessage`` finds the message through an index of receipt handles (moto scanned every message's
  handles twice per delete: O(n) per message), refreshed from the messages in flight when a handle is new, and
  ``DeleteMessageBatch`` drops its messages from the queue's list in one pass, not one pass per message;
* a send's FIFO checks read the queue's ``ContentBasedDeduplication`` (moto built every queue attribute, the
  redrive policy's JSON included, twice per message sent);
* a receive's retention check reads the queue's ``message_retention_period`` (moto read all queue attributes,
  approximate counts included, once per received message);
* DynamoDB condition expressions are parsed once per (expression, names, values): moto parsed each ``Put`` of a
  transaction three times, and lexed the same expression text for every call;
* DynamoDB ``TransactWriteItems`` backs up each table it touches for its rollback with a deep copy of the whole
  table (O(table) per call). The backup is a shallow copy of the table's item index instead, with deep copies of
  only the items an ``Update`` changes in place (``Put`` and ``Delete`` replace or drop items, never mutate them).
  moto does not isolate a transaction from the server's other threads: a rollback restored a whole table over
  writes made meanwhile, and two transactions could both pass a condition on one item. DynamoDB's writes
  (transactions, PutItem, UpdateItem, DeleteItem, BatchWriteItem) therefore take one lock, as DynamoDB serializes
  them per item;
* the busiest calls' results are dumped as JSON instead of walked through moto 5.2's serializer
  (:mod:`pipeline.moto_json_answers`).

Apply with :func:`apply` in the process that runs the moto server, before it serves requests.
"""

from __future__ import annotations

import copy
import functools
import string
import threading
import time
import types
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any

from moto import backends
from moto.dynamodb import comparisons
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_api._internal import mock_random
from moto.sqs import models
from moto.sqs.exceptions import ReceiptHandleIsInvalid

from pipeline import moto_json_answers

_state = threading.local()
_applied = False


def _now_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else float(_original_unix_time_millis(dt))


def _now(dt: Any = None) -> float:
    return time.time() if dt is None else float(_original_unix_time(dt))


_namespace = vars(models)
_original_unix_time_millis = _namespace["unix_time_millis"]
_original_unix_time = _namespace["unix_time"]


def _counts_wanted() -> bool:
    return bool(getattr(_state, "counts", False))


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    queue_cls: Any = models.Queue
    backend_cls: Any = models.SQSBackend
    modules = list(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # the server listed moto's package directory per request
    _namespace["unix_time_millis"] = _now_millis
    _namespace["unix_time"] = _now
    _namespace["camelcase_to_underscores"] = functools.cache(_namespace["camelcase_to_underscores"])

    original_counts = {
        name: getattr(queue_cls, name)
        for name in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible",
        )
    }

    def lazy_count(prop: property) -> property:
        def getter(self: Any) -> int:
            return int(prop.fget(self)) if _counts_wanted() and prop.fget else 0

        return property(getter)

    for name, prop in original_counts.items():
        setattr(queue_cls, name, lazy_count(prop))

    def messages(self: Any) -> Iterator[Any]:
        return (m for m in list(self._messages) if m.visible and not m.delayed)

    queue_cls.messages = property(messages)
    queue_cls.approximate_number_of_messages = property(
        lambda self: sum(1 for _ in self.messages) if _counts_wanted() else 0
    )

    original_get_attributes = backend_cls.get_queue_attributes

    def get_queue_attributes(self: Any, *args: Any, **kwargs: Any) -> Any:
        _state.counts = True
        try:
            return original_get_attributes(self, *args, **kwargs)
        finally:
            _state.counts = False

    backend_cls.get_queue_attributes = get_queue_attributes

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and message.deduplication_id:
            index: dict[str, int] = self.__dict__.setdefault("_dedup_first_sent", {})
            first = index.get(message.deduplication_id)
            if first is not None and (message.sent_timestamp - first) / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                return
            index[message.deduplication_id] = message.sent_timestamp
        if self.lambda_event_source_mappings:
            raise NotImplementedError("moto_speedups does not support Lambda event source mappings")
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    queue_cls.add_message = add_message

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    backend_cls.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period
    original_validate = backend_cls._validate_message

    def validate_message(self: Any, queue: Any, *args: Any, **kwargs: Any) -> None:
        original_validate(self, _FifoChecksView(queue), *args, **kwargs)

    backend_cls._validate_message = validate_message
    _namespace["generate_receipt_handle"] = lambda: "".join(mock_random.choices(string.ascii_lowercase, k=185))

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: SQS accepts deleting again
        with self._messages_lock:
            index: dict[str, Any] = self.__dict__.setdefault("_receipt_index", {})
            message = index.get(receipt_handle)
            if message is None:  # a handle issued since: index the messages in flight, then (rarely) all of them
                index.update((handle, m) for m in self.pending_messages for handle in m.all_receipt_handles)
                message = index.get(receipt_handle)
            if message is None:
                index.clear()
                index.update((handle, m) for m in self._messages for handle in m.all_receipt_handles)
                message = index.get(receipt_handle)
            if message is None:
                raise ReceiptHandleIsInvalid()
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            for handle in message.all_receipt_handles:
                index.pop(handle, None)
            batch = getattr(_state, "deleted_in_batch", None)
            if batch is None:
                self._messages = [m for m in self._messages if m is not message]
            else:  # DeleteMessageBatch drops its messages from the list once, at its end
                batch.add(id(message))

    queue_cls.delete_message = delete_message
    original_delete_batch = backend_cls.delete_message_batch

    def delete_message_batch(self: Any, queue_name: str, receipts: list[dict[str, Any]]) -> Any:
        deleted: set[int] = set()
        _state.deleted_in_batch = deleted
        try:
            return original_delete_batch(self, queue_name, receipts)
        finally:
            _state.deleted_in_batch = None
            if deleted:
                queue = self.get_queue(queue_name)
                # Until now the deleted messages were in flight (invisible), so no receive could take them.
                with queue._messages_lock:
                    queue._messages = [m for m in queue._messages if id(m) not in deleted]

    backend_cls.delete_message_batch = delete_message_batch
    _patch_transactions()
    _patch_condition_parser()
    moto_json_answers.apply()


def _patch_condition_parser() -> None:
    parser_cls: Any = comparisons.ConditionExpressionParser
    original_lex = parser_cls._lex_condition_expression
    original_parse = parser_cls.parse
    lexed: dict[str, Any] = {}
    parsed: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    def lex(self: Any) -> Any:
        nodes = lexed.get(self.condition_expression)
        if nodes is None:
            if len(lexed) >= 4096:
                lexed.clear()
            nodes = lexed[self.condition_expression] = tuple(original_lex(self))
        return deque(nodes)  # the parser consumes its deque: a fresh one per call

    def parse(self: Any) -> Any:
        key = (
            self.condition_expression,
            repr(sorted((self.expression_attribute_names or {}).items())),
            repr(sorted((self.expression_attribute_values or {}).items())),
        )
        hit = parsed.get(key)
        if hit is None:
            op = original_parse(self)
            if len(parsed) >= 4096:  # bounded: values differ per item
                parsed.clear()
            parsed[key] = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            return op
        op, names, values = hit
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    parser_cls._lex_condition_expression = lex
    parser_cls.parse = parse


def _table_backup(table: Any, updated_keys: list[dict[str, Any]]) -> Any:
    """What moto's rollback needs of ``table``: its items as they are now, without copying every item."""
    backup = copy.copy(table)
    if table.range_key_attr is None:
        backup.items = defaultdict(dict, table.items)
    else:
        backup.items = defaultdict(dict, {h: dict(rows) for h, rows in table.items.items()})
    for key in updated_keys:
        hash_value = DynamoType(key[table.hash_key_attr])
        if table.range_key_attr is None:
            if hash_value in backup.items:
                backup.items[hash_value] = copy.deepcopy(backup.items[hash_value])
        else:
            range_value = DynamoType(key[table.range_key_attr])
            rows = backup.items.get(hash_value, {})
            if range_value in rows:
                rows[range_value] = copy.deepcopy(rows[range_value])
    return backup


def _patch_transactions() -> None:
    backend_cls: Any = dynamodb_models.DynamoDBBackend
    original = backend_cls.transact_write_items
    namespace = vars(dynamodb_models)
    real_copy = namespace["copy"]

    def deepcopy(value: Any, memo: Any = None) -> Any:
        backups = getattr(_state, "table_backups", None)
        if backups is not None and isinstance(value, Table) and value.name in backups:
            return backups[value.name]
        return real_copy.deepcopy(value, memo)

    # The module's ``copy.deepcopy`` calls: the transaction's table backups come from ``_state``.
    namespace["copy"] = types.SimpleNamespace(deepcopy=deepcopy, copy=real_copy.copy)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        updated: dict[str, list[dict[str, Any]]] = {}
        for entry in transact_items:
            for op_type, op in entry.items():
                name = op.get("TableName") if isinstance(op, dict) else None
                if isinstance(name, str) and name in self.tables:
                    keys = updated.setdefault(name, [])
                    if op_type == "Update" and isinstance(op.get("Key"), dict):
                        keys.append(op["Key"])
        _state.table_backups = {name: _table_backup(self.tables[name], keys) for name, keys in updated.items()}
        try:
            return original(self, transact_items)
        finally:
            _state.table_backups = None

    backend_cls.transact_write_items = transact_write_items
    for name in ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item"):
        setattr(backend_cls, name, _serialized(getattr(backend_cls, name)))


_write_lock = threading.RLock()


class _FifoChecksView:
    """A queue as moto 5.2.5's ``_validate_message`` reads it: its ``attributes`` hold only
    ``ContentBasedDeduplication`` (spelled as moto's full ``attributes`` spells it), everything else is the queue's."""

    __slots__ = ("_queue",)

    def __init__(self, queue: Any) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    @property
    def attributes(self) -> dict[str, Any]:
        value = self._queue.content_based_deduplication
        return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _serialized(method: Any) -> Any:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _write_lock:
            return method(*args, **kwargs)

    return locked
