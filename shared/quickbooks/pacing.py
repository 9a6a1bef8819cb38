"""Staying under QuickBooks' per-company limits across every Lambda at once, instead of finding them by 429.

QuickBooks allows 500 requests a minute per company and app, and 40 batch requests a minute (batches count toward
the 500 too); over that it answers 429 and asks for a 60 s wait (qbo-facts.md, Limits). Every call first reserves a
slot with the generic cell rate algorithm (GCRA): one "theoretical arrival time" per company and limit, kept in
DynamoDB so all containers share it. Interval and burst are chosen so that no 60-second window, wherever it starts,
can hold more calls than the limit: with burst b the sustained rate is (limit - b) per minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.quickbooks.errors import Throttled

WINDOW_S = 60.0


@dataclass(frozen=True)
class Limit:
    kind: str  # "request" (every call) or "batch"
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        # One slot of margin below the exact bound (limit - burst + 1), so even a window with both ends on a call
        # stays within the limit.
        return WINDOW_S / (self.per_minute - self.burst)

    @property
    def tolerance(self) -> float:
        return (self.burst - 1) * self.interval


def quickbooks_limits(requests_per_minute: int = 500, batches_per_minute: int = 40) -> tuple[Limit, ...]:
    return (Limit("request", requests_per_minute, max(1, min(10, requests_per_minute // 10))),
            Limit("batch", batches_per_minute, max(1, min(5, batches_per_minute // 8))))


def gcra(tat: float | None, now: float, limit: Limit) -> tuple[float, float]:
    """(seconds to wait before the call may go, the new theoretical arrival time once it is reserved)."""
    start = max(tat if tat is not None else now, now)
    wait = start - limit.tolerance - now
    return (wait if wait > 1e-6 else 0.0), start + limit.interval  # float dust is not a wait


class PaceStore(Protocol):
    def reserve(self, key: str, now: float, limit: Limit, max_wait_s: float) -> float | None:
        """Reserve the next slot atomically; the wait before it, or None (nothing reserved) if over max_wait_s."""


class Pacer:
    def __init__(self, store: PaceStore, limits: tuple[Limit, ...], max_wait_s: float = 20.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self._store, self._limits, self._max_wait = store, limits, max_wait_s
        self._clock, self._sleep = clock, sleep

    def before(self, realm_id: str, kind: str) -> None:
        """Block until this call may go; a wait longer than `max_wait_s` becomes Throttled, so a state machine
        backs off instead of a Lambda sleeping through its timeout."""
        for limit in self._limits:
            if limit.kind not in ("request", kind):
                continue
            wait = self._store.reserve(f"{realm_id}#{limit.kind}", self._clock(), limit, self._max_wait)
            if wait is None:
                raise Throttled("3001", "ThrottleExceeded",
                                f"our own pacing: the {limit.per_minute}/minute {limit.kind} budget of this company "
                                "is spoken for", None)
            if wait > 0:
                self._sleep(wait)
