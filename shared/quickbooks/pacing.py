"""Staying under QuickBooks' per-company limits across every Lambda at once, instead of finding them by 429.

QuickBooks allows 500 requests a minute per company and app, and 40 batch requests a minute (batches count toward
the 500 too); over that it answers 429 and asks for a 60 s wait (qbo-facts.md, Limits). Every call first reserves a
slot with the generic cell rate algorithm (GCRA): one "theoretical arrival time" per company and limit, kept in
DynamoDB so all containers share it (one item per company; a batch reserves both of its limits in one write).
Interval and burst are chosen so that no 60-second window, wherever it starts, can hold more calls than the limit,
even when each call reaches QuickBooks up to ARRIVAL_SPREAD_S later than reserved: with burst b the sustained rate
is (limit - b) calls per 61 s.

QuickBooks also allows at most 10 requests in flight per company. Code that sends on several threads at once
(shared/domain/lanes.py) first leases that many of the company's concurrency slots for the task
(`Pacer.concurrent`): one conditional write to take them and one to give them back, not one per call. Slots are
leases with an expiry, so a task that dies gives its slots back by time. Of the 10, LEASED_SLOTS can be leased;
the rest stay for the callers that send one call at a time (an admin page, a task without lanes).

What a company may send right now without waiting (`Pacer.budget`, one consistent read of its item) is what
the lanes (shared/domain/lanes.py) decide from: single requests only when the batch budget would make work wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from shared.quickbooks.errors import Throttled

WINDOW_S = 60.0
# How much later a call may reach QuickBooks than one reserved after it: the sleep overshooting, a thread waiting
# for a core or the interpreter, the network. QuickBooks counts arrivals and we space reservations, so the spacing
# is reckoned over a window this much longer than QuickBooks' (the fairness benchmark's company at the request
# limit met a 429 with none: 500 arrivals in a minute from reservations 122 ms apart).
ARRIVAL_SPREAD_S = 1.0
CONCURRENT = 10  # requests in flight per company and app (qbo-facts.md, Limits)
LEASED_SLOTS = 8  # of CONCURRENT, what tasks sending in parallel may hold; 2 stay for one-call-at-a-time callers
SLOT_LEASE_S = 900.0  # a Lambda's longest run: a dead task's slots come back by then at the latest


@dataclass(frozen=True)
class Limit:
    kind: str  # "request" (every call) or "batch"
    per_minute: int
    burst: int

    @property
    def interval(self) -> float:
        # One slot of margin below the exact bound (limit - burst + 1), so even a window with both ends on a call
        # stays within the limit; and reckoned over WINDOW_S + ARRIVAL_SPREAD_S, so that calls reserved that far
        # apart still stay within it however their arrivals bunch up.
        return (WINDOW_S + ARRIVAL_SPREAD_S) / (self.per_minute - self.burst)

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


@dataclass(frozen=True)
class Budget:
    """What a company may send now without waiting, and how fast each budget comes back: `batches` batch requests
    and `requests` requests of any kind (a batch counts in both), one more every `batch_interval` and
    `request_interval` seconds."""

    batches: int
    requests: int
    batch_interval: float
    request_interval: float


UNPACED = Budget(10**9, 10**9, 0.0, 0.0)  # a caller without pacing: nothing it sends waits for a budget


def free_now(tat: float | None, now: float, limit: Limit) -> int:
    """How many calls GCRA lets through at `now` without a wait, from the limit's theoretical arrival time: a call
    goes at once while max(tat, now) - tolerance <= now, and each one moves tat on by an interval."""
    start = max(tat if tat is not None else now, now)
    room = now + limit.tolerance - start
    return 0 if room < -1e-6 else min(limit.burst, int(room / limit.interval + 1e-6) + 1)


class PaceStore(Protocol):
    def peek(self, key: str) -> dict[str, float]:
        """The company's theoretical arrival time per limit kind that has one (a strongly consistent read)."""

    def reserve(self, key: str, now: float, limits: Sequence[Limit], max_wait_s: float) -> float | None:
        """Reserve the next slot of each of the company's `limits`, all at once and atomically; the wait before
        the call may go (the later of their slots), or None (nothing reserved) if that is over max_wait_s."""

    def lease_slots(self, key: str, want: int, now: float, until: float, slots: int) -> list[int]:
        """Take up to `want` of slots 0..slots-1 that are free (never leased, or their lease ended before `now`)
        until `until`, atomically; the slots taken (possibly none)."""

    def release_slots(self, key: str, taken: list[int], until: float) -> None:
        """Give back slots this caller leased (a slot whose lease ran out and was taken by another stays theirs)."""


class Pacer:
    def __init__(self, store: PaceStore, limits: tuple[Limit, ...], max_wait_s: float = 20.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self._store, self._limits, self._max_wait = store, limits, max_wait_s
        self._clock, self._sleep = clock, sleep

    @contextmanager
    def concurrent(self, realm_id: str, want: int) -> Iterator[int]:
        """How many calls this task may have in flight for the company at once: up to `want` leased slots for as
        long as the block runs, at least 1 (a caller with no slot sends one call at a time, as every other
        caller does)."""
        want = max(0, min(want, LEASED_SLOTS))
        if want <= 1:
            yield 1
            return
        until = self._clock() + SLOT_LEASE_S
        taken = self._store.lease_slots(f"{realm_id}#slots", want, self._clock(), until, LEASED_SLOTS)
        try:
            yield max(1, len(taken))
        finally:
            if taken:
                self._store.release_slots(f"{realm_id}#slots", taken, until)

    def budget(self, realm_id: str) -> Budget:
        """What the company may send right now without waiting (one read of its pacing items, shared by every
        Lambda): the lanes send single requests only when the batch budget would make work wait."""
        limits = {limit.kind: limit for limit in self._limits}
        tats = self._store.peek(realm_id)
        now = self._clock()
        free = {kind: free_now(tats.get(kind), now, limit) for kind, limit in limits.items()}
        return Budget(free["batch"], free["request"], limits["batch"].interval, limits["request"].interval)

    def before(self, realm_id: str, kind: str) -> None:
        """Block until this call may go; a wait longer than `max_wait_s` becomes Throttled, so a state machine
        backs off instead of a Lambda sleeping through its timeout. A batch spends a slot of both limits, reserved
        together (one write to the store per call)."""
        limits = tuple(limit for limit in self._limits if limit.kind in ("request", kind))
        wait = self._store.reserve(realm_id, self._clock(), limits, self._max_wait)
        if wait is None:
            budgets = " and ".join(f"{limit.per_minute}/minute {limit.kind}" for limit in limits)
            raise Throttled("3001", "ThrottleExceeded",
                            f"our own pacing: the {budgets} budget of this company is spoken for", None)
        if wait > 0:
            self._sleep(wait)
