"""Two lanes to QuickBooks for large sets of writes: batch requests and single requests side by side (issue 15).

QuickBooks allows 40 batch requests a minute of at most 30 operations each, and 500 requests a minute in all (batches
count toward the 500), at most 10 at once (qbo-facts.md, Limits). Batches alone cap a company at 40 x 30 = 1,200
writes a minute; the other 460 requests of the minute can carry one write each, for 1,660. At our own pacing
(shared/quickbooks/pacing.py: 35 batches and 490 requests a minute sustained, after a burst of 5 and 10) the
sustained best is 35 batches of 30 plus 455 single writes a minute (13 singles beside every batch), 1,505 writes.

A single request carries one write where a batch carries 30, so singles cost calls; they are worth it only when the
company's batch budget would make the work wait. The decision is taken from the company's pacing state as every
Lambda shares it (`Budget`, pacing.Pacer.budget): when the batches the set needs can go now, it goes in batches
alone; otherwise as many singles as make it finish soonest from that state (fewest calls on a tie), approaching 13
in 43 for thousands when the company is already being paced, and none when they would save less than MIN_SAVING_S
(decision 40, amended).

The decision is no longer a function of the rows alone, so a task remembers it (`LaneChooser`, one small chunk of
its run, written before the first call): a task re-run after a crash forms the same batches and singles and
resends the same `requestid`s (decision 14), whatever the budget shows by then.

`run_lanes` sends the work on a few threads, as many as the company's concurrency slots this task holds (Pacer.
concurrent); every call still reserves its pacing slot first, so the lanes share one budget per company."""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from shared.quickbooks.pacing import Budget, quickbooks_limits
from shared.quickbooks.port import MAX_BATCH

if TYPE_CHECKING:
    from shared.domain.ports import RunStore

T = TypeVar("T")
R = TypeVar("R")

_REQUEST, _BATCH = quickbooks_limits()
SUSTAINED_REQUESTS = _REQUEST.per_minute - _REQUEST.burst  # 490 a minute
SUSTAINED_BATCHES = _BATCH.per_minute - _BATCH.burst  # 35 a minute
SINGLES_PER_BATCH = (SUSTAINED_REQUESTS - SUSTAINED_BATCHES) // SUSTAINED_BATCHES  # 13 beside each batch, sustained
BATCH_ONLY_UP_TO = _BATCH.burst * MAX_BATCH  # 150 writes go in the batch lane's burst without waiting
WRITES_PER_MINUTE_BOUND = 40 * MAX_BATCH + (500 - 40)  # 1,660: both lanes full at QuickBooks' own limits
# Singles go only when they finish a set at least this much sooner than batches alone: a shorter wait is less
# than one request's round trip to QuickBooks, so the calls they cost would buy nothing (decision 40, amended).
MIN_SAVING_S = 0.5
PARALLEL = 8  # concurrency slots a lane task asks for: QuickBooks allows 10 at once, 2 stay for one-call callers
# A company with no calls in the last minute (both bursts there), and one already being paced (nothing left now),
# at QuickBooks' published limits.
IDLE = Budget(_BATCH.burst, _REQUEST.burst, _BATCH.interval, _REQUEST.interval)
PACED = Budget(0, 0, _BATCH.interval, _REQUEST.interval)


@dataclass(frozen=True)
class Work(Generic[T]):
    lane: str  # "batch" | "single"
    rows: tuple[T, ...]


def paced_seconds(batches: int, singles: int, budget: Budget = IDLE) -> float:
    """How long our pacing takes to send this many batches and single requests from a company's `budget`."""
    requests = batches + singles
    return max(max(0, batches - budget.batches) * budget.batch_interval,
               max(0, requests - budget.requests) * budget.request_interval)


@lru_cache(maxsize=1024)
def singles_for(n: int, budget: Budget = IDLE) -> int:
    """The number of n writes to send singly: none when the batch lane takes them now; otherwise soonest done
    from `budget`, then fewest calls."""
    batches_only = math.ceil(n / MAX_BATCH)
    if batches_only <= min(budget.batches, budget.requests):
        return 0  # no wait for the batch lane: a single would only cost a call

    def cost(k: int) -> tuple[float, int]:
        batches = math.ceil((n - k) / MAX_BATCH)
        return paced_seconds(batches, k, budget), batches + k
    best = min(range(n + 1), key=lambda k: (*cost(k), k))
    if cost(0)[0] - cost(best)[0] < MIN_SAVING_S:
        return 0  # the batches' wait is shorter than a call's own round trip: singles would only cost calls
    return best


def split(rows: Sequence[T], singles: int = 0) -> list[Work[T]]:
    """The rows as lane work, in order: each batch of 30 followed by its share of the `singles` single writes."""
    singles = max(0, min(singles, len(rows)))
    batches = math.ceil((len(rows) - singles) / MAX_BATCH)
    work: list[Work[T]] = []
    at = 0
    for j in range(batches):
        work.append(Work("batch", tuple(rows[at:at + MAX_BATCH])))
        at += len(work[-1].rows)
        share = (j + 1) * singles // batches - j * singles // batches
        work.extend(Work("single", (row,)) for row in rows[at:at + share])
        at += share
    work.extend(Work("single", (row,)) for row in rows[at:])  # only when every write goes singly
    return work


def calls(n: int, budget: Budget = IDLE) -> int:
    """QuickBooks requests the lanes make for n rows from `budget`."""
    return len(split(range(n), singles_for(n, budget)))


class SplitMemo(Protocol):
    """Where a task keeps the splits it chose, so its re-run forms the same requests."""

    def recall(self, position: str) -> list[int] | None: ...
    def remember(self, position: str, decision: list[int]) -> None: ...


class RunSplits:
    """A run's split decisions as chunks of the run (`lanes-{position}`: [singles, rows]), one small item each."""

    def __init__(self, runs: RunStore, tenant_id: str, run_id: str):
        self._runs, self._tenant_id, self._run_id = runs, tenant_id, run_id

    def recall(self, position: str) -> list[int] | None:
        return next(iter(self._runs.chunks(self._tenant_id, self._run_id, f"lanes-{position}")), None)

    def remember(self, position: str, decision: list[int]) -> None:
        self._runs.put_chunk(self._tenant_id, self._run_id, f"lanes-{position}", 0, decision)


def task_position(*parts: object) -> str:
    """A short, stable name for a task's place in its run (its step and the cursor it started from)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class LaneChooser:
    """The splits of one task: each set of more than one batch is split from the company's budget at the moment
    it is first sent, and the choice is remembered under the task's position and its order within the task, so a
    re-run of the task (same rows, same order) recalls it instead of reading a budget that has moved on."""

    def __init__(self, budget: Callable[[], Budget], memo: SplitMemo | None = None, task: str = ""):
        self._budget, self._memo, self._task, self._seq = budget, memo, task, 0

    def split(self, rows: Sequence[T]) -> list[Work[T]]:
        if len(rows) <= MAX_BATCH:
            return split(rows)  # one batch: nothing to choose
        self._seq += 1
        position = f"{self._task}-{self._seq}"
        recalled = self._memo.recall(position) if self._memo is not None else None
        if recalled is not None and recalled[1] == len(rows):
            return split(rows, recalled[0])
        singles = singles_for(len(rows), self._budget())
        if self._memo is not None:
            self._memo.remember(position, [singles, len(rows)])
        return split(rows, singles)


def run_lanes(work: Sequence[Work[T]], send: Callable[[Work[T]], R], record: Callable[[R], None],
              workers: int) -> None:
    """`send` every piece of work on up to `workers` threads, then `record` (on this thread, in the work's order)
    every result that came back. After a failure (a 429 or an outage) no further piece is started; what was
    written is still recorded, then the failure is raised: the task is retried and replays by requestid."""
    stop = threading.Event()

    def guarded(piece: Work[T]) -> tuple[bool, object]:
        if stop.is_set():
            return False, None
        try:
            return True, send(piece)
        except Exception as exc:  # noqa: BLE001 - raised by run_lanes once the others are recorded
            stop.set()
            return False, exc

    if workers <= 1 or len(work) <= 1:
        outcomes = [guarded(piece) for piece in work]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qbo-lane") as pool:
            outcomes = list(pool.map(guarded, work))
    first_error = None
    for sent, value in outcomes:
        if sent:
            record(value)  # type: ignore[arg-type]
        elif isinstance(value, Exception) and first_error is None:
            first_error = value
    if first_error is not None:
        raise first_error
