"""Where moto differs from AWS in a way this service depends on, made to behave like AWS.

DynamoDB applies each write, with its condition expression, atomically per item. moto evaluates the condition and
applies the update without a lock, so two threads can both pass `attribute_not_exists(lease_until)`. The token
refresh lease relies on that atomicity, so DynamoDB calls are serialized here (in-process mocks and the local
server alike).

The server also costs what AWS does not: it lists moto's package directory (about 150 `isdir` calls) to route every
request, which `cache_backend_names` does once."""

from __future__ import annotations

import threading
import time

_lock = threading.RLock()
_applied = False
calls: dict[str, int] = {}  # DynamoDB API calls by action, counted where they are served (benchmarks read it)
served_s = [0.0]  # seconds spent serving them, i.e. holding the lock every other DynamoDB call waits for


def serialize_dynamodb() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self):
        with _lock:
            started = time.perf_counter()
            action = self._get_action()
            calls[action] = calls.get(action, 0) + 1
            try:
                return original(self)
            finally:
                served_s[0] += time.perf_counter() - started

    DynamoHandler.call_action = call_action
    _applied = True


def cache_backend_names() -> None:
    """moto's server calls `list_of_moto_modules()` (a listing of its own package directory) on every request to
    find the backend. The answer cannot change while the process runs; computing it per request cost several
    milliseconds of the one interpreter the handlers, the emulators and moto share on the local stack."""
    from moto import backends

    names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: names
