"""Where moto differs from AWS in a way this service depends on, made to behave like AWS.

DynamoDB applies each write, with its condition expression, atomically per item. moto evaluates the condition and
applies the update without a lock, so two threads can both pass `attribute_not_exists(lease_until)`. The token
refresh lease relies on that atomicity, so DynamoDB calls are serialized here (in-process mocks and the local
server alike).

The server also costs what AWS does not: it lists moto's package directory (about 150 `isdir` calls) to route every
request, which `cache_backend_names` does once; and a TransactWriteItems copies its whole table once per item it
holds, for a rollback, where `item_backups_per_transaction` keeps only the items it touches; and a Query sorts every
item of the table to find the few it answers, which `partition_queries` finds directly; and SQS takes the time for
every message of a queue on every receive through two datetime conversions, which `plain_sqs_clock` reads from
`time.time()`; and a FIFO receive iterates the queue's in-flight messages while another request's delete can change
them, which failed the receive with a 500 ("Set changed size during iteration") where SQS answers;
`snapshot_sqs_groups` reads a copy."""

from __future__ import annotations

import heapq
import inspect
import threading
import time

_lock = threading.RLock()
_applied = False
calls: dict[str, int] = {}  # DynamoDB API calls by action, counted where they are served (benchmarks read it)
served_s = [0.0]  # seconds spent serving them, i.e. holding the lock every other DynamoDB call waits for
waited_s = [0.0, 0.0]  # seconds calls waited for that lock: in all, and the longest one wait
SLOWEST_KEPT = 10
# The calls that held the lock longest, (seconds, action, tables, unix time): what a late run waited behind.
slowest: list[tuple[float, str, str, float]] = []


def serialize_dynamodb() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self):
        arrived = time.perf_counter()
        with _lock:
            started = time.perf_counter()
            waited = started - arrived
            waited_s[0] += waited
            waited_s[1] = max(waited_s[1], waited)
            action = self._get_action()
            calls[action] = calls.get(action, 0) + 1
            try:
                return original(self)
            finally:
                held = time.perf_counter() - started
                served_s[0] += held
                if len(slowest) < SLOWEST_KEPT or held > slowest[0][0]:
                    params = getattr(self, "params", None) or {}
                    tables = params.get("TableName") or ",".join(sorted(params.get("RequestItems") or {})) or "-"
                    heapq.heappush(slowest, (held, action, tables, time.time()))
                    if len(slowest) > SLOWEST_KEPT:
                        heapq.heappop(slowest)

    DynamoHandler.call_action = call_action
    _applied = True


def cache_backend_names() -> None:
    """moto's server calls `list_of_moto_modules()` (a listing of its own package directory) on every request to
    find the backend. The answer cannot change while the process runs; computing it per request cost several
    milliseconds of the one interpreter the handlers, the emulators and moto share on the local stack."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names


def item_backups_per_transaction() -> None:
    """moto's TransactWriteItems deep-copies every table it writes to, as its rollback backup, once for every item
    of the transaction. A copy of the hint ledger's table (thousands of items once 20 companies have sent hints)
    was the largest item of moto's profile in issue 12's fairness benchmark (12% of its busy time, holding the lock
    every other DynamoDB call waits for), and it grew with the table. A transaction touches at most 100 items, each
    once (moto refuses two operations on one item), so a backup of those items is enough: moto's own code runs
    with a `copy` whose table copy is the table itself (its rollback assigns it back: nothing changes), and when
    moto rolls back, the touched items are put back here as they were. What a transaction writes, refuses and
    rolls back is unchanged."""
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "_item_backups", False):
        return
    original = models.DynamoDBBackend.transact_write_items

    class TablesUncopied:
        """`copy` as moto's module sees it during one transaction."""

        @staticmethod
        def deepcopy(obj, memo=None):
            return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    def touched(backend, transact_items) -> list[tuple[Table, DynamoType, DynamoType | None, object]]:
        """(table, hash key, range key, a copy of the item as it is or None) for each item the transaction names
        that moto can read the key of (one it cannot, it refuses without writing)."""
        out = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                key = (op.get("Item") if op_type == "Put" else op.get("Key")) if table is not None else None
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else []) \
                    if table is not None else []
                if not isinstance(key, dict) or not all(isinstance(key.get(n), dict) for n in names):
                    continue
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                out.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        return out

    def restore(backups) -> None:
        for table, hash_key, range_key, item in reversed(backups):
            if range_key is None:
                table.items.pop(hash_key, None)
                if item is not None:
                    table.items[hash_key] = item
            else:
                table.items[hash_key].pop(range_key, None)
                if item is not None:
                    table.items[hash_key][range_key] = item
                elif not table.items[hash_key]:
                    del table.items[hash_key]

    def transact_write_items(self, transact_items):
        with _lock:  # the module's `copy` is swapped for this call only; every DynamoDB call takes this lock
            backups = touched(self, transact_items) if len(transact_items) <= 100 else []
            models.copy = TablesUncopied()  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            except Exception:
                restore(backups)
                raise
            finally:
                models.copy = copy

    transact_write_items._item_backups = True  # type: ignore[attr-defined]
    models.DynamoDBBackend.transact_write_items = transact_write_items


def partition_queries() -> None:
    """moto answers a Query by sorting every item of the table (all tenants, all kinds) and then keeping the ones of
    the partition asked for: the cost of every error-log, run and link query grew with everything the stack held
    (issue 12, where 20 companies share the tables), and the link index's query by QuickBooks id was the largest
    item of the webhook worker's profile. Here moto's query sees only the items that can match: on the table's key,
    its partition (sorted as moto sorts it); on an index, the items whose index hash key attributes equal the query's
    (moto sorts an index query's matches itself); of those, only the ones its sort key condition selects
(`_range_condition`). The answer, its order, pages and filters are moto's own, except that where moto ended with an
empty page after one that filled its Limit, this answer ends on the full page."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_by_partition", False):
        return
    original = Table.query

    signature = inspect.signature(original)

    def query(self, hash_key, *args, **kwargs):
        asked = signature.bind(self, hash_key, *args, **kwargs).arguments
        index_name, conditions = asked.get("index_name"), asked.get("hash_key_conditions") or []
        in_range = _range_condition(self, asked)
        if index_name and conditions:
            def candidates() -> list:
                return [item for part in self.items.values() for item in (
                    part.values() if self.range_key_attr else [part])
                    if all(_equal(item.attrs.get(name), value) for name, value in conditions) and in_range(item)]
        elif not index_name and self.range_key_attr and hash_key is not None:
            def candidates() -> list:
                return sorted((item for item in self.items.get(hash_key, {}).values() if in_range(item)),
                              key=lambda x: (x.hash_key, x.range_key))
        else:
            return original(self, hash_key, *args, **kwargs)
        with _lock:  # all_items is shadowed on this table for this call only; every DynamoDB call takes this lock
            self.all_items = candidates
            try:
                return original(self, hash_key, *args, **kwargs)
            finally:
                del self.all_items

    query._by_partition = True  # type: ignore[attr-defined]
    query.__wrapped__ = original  # type: ignore[attr-defined]
    Table.query = query


def _range_condition(table, asked: dict):
    """The query's sort key condition as a test of one item, as moto's loop applies it after sorting and sizing
    every item of the partition (its `size()` walks every attribute): one company's link or ledger partition holds
    thousands of items, of which a `begins_with` asks for a few. Items it fails are never answered, so leaving them
    out first changes nothing but the cost (and, as DynamoDB does, the 1 MB page counts only the items read)."""
    comparison, values = asked.get("range_comparison"), asked.get("range_objs") or []
    key_conditions = asked.get("range_key_conditions") or []
    if not comparison or len(key_conditions) > 1:
        return lambda item: True
    if key_conditions:
        attr = key_conditions[-1][0]
    elif not asked.get("index_name"):
        attr = table.range_key_attr
    else:
        return lambda item: True

    def in_range(item) -> bool:
        value = item.attrs.get(attr)
        return bool(value) and value.compare(comparison, values)

    return in_range


def _equal(attribute, value) -> bool:
    """moto's DynamoType equality, which compares only with another; a string's without its casts (the index keys
    here are strings, and this runs once per item of the table for every index query, holding the lock)."""
    if attribute is None:
        return False
    if value.type == "S":
        return attribute.type == "S" and attribute.value == value.value
    return attribute == value


def plain_sqs_clock() -> None:
    """moto's SQS asks `unix_time_millis()` (utcnow, less the epoch as a datetime) for every stored message on every
    receive, to see whether it is visible or delayed; with a company's backlog of thousands of hints and the
    poller's receives, that was most of moto's SQS time on the stack. The same clock, read directly."""
    from moto.sqs import models

    original = models.unix_time_millis
    if getattr(original, "_plain", False):
        return

    def unix_time_millis(dt=None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    unix_time_millis._plain = True  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis


def snapshot_sqs_groups() -> None:
    """A FIFO receive asks which message groups have a message in flight by iterating the queue's set of in-flight
    messages in Python, while a delete on another of the server's threads removes from it: the receive then failed
    with a 500. The same answer, from a copy taken in one step (copying a set is one C call under the interpreter's
    lock, so no other thread changes it meanwhile)."""
    from moto.sqs.models import Queue

    if getattr(Queue.pending_message_groups.fget, "_snapshot", False):
        return

    def pending_message_groups(self) -> set[str]:
        return {m.group_id for m in frozenset(self._pending_messages) if m.group_id is not None}

    pending_message_groups._snapshot = True  # type: ignore[attr-defined]
    pending_message_groups.__wrapped__ = Queue.pending_message_groups  # type: ignore[attr-defined]  # moto's own
    prop = property(pending_message_groups)
    Queue.pending_message_groups = prop  # type: ignore[method-assign]
