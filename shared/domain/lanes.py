"""Two lanes to QuickBooks for large sets of writes: batch requests and single requests side by side (issue 15).

QuickBooks allows 40 batch requests a minute of at most 30 operations each, and 500 requests a minute in all (batches
count toward the 500), at most 10 at once (qbo-facts.md, Limits). Batches alone cap a company at 40 x 30 = 1,200
writes a minute; the other 460 requests of the minute can carry one write each, for 1,660. At our own pacing
(shared/quickbooks/pacing.py: 35 batches and 490 requests a minute sustained, after a burst of 5 and 10) the
sustained best is 35 batches of 30 plus 455 single writes a minute (13 singles beside every batch), 1,505 writes.

How many of n writes go single is the number that makes them finish soonest at that pacing, from a company with
no calls in the last minute (fewest calls on a tie): up to 150 writes none (the batch burst takes them at once),
then a growing share, approaching 13 in 43 for thousands. It is a pure function of n, and the rows are laid out in
order (each batch followed by its share of the singles), so a task re-run after a crash forms the same batches and
singles and resends the same `requestid`s (decision 14).

`run_lanes` sends the work on a few threads, as many as the company's concurrency slots this task holds (Pacer.
concurrent); every call still reserves its pacing slot first, so the lanes share one budget per company."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from shared.quickbooks.pacing import quickbooks_limits
from shared.quickbooks.port import MAX_BATCH

T = TypeVar("T")
R = TypeVar("R")

_REQUEST, _BATCH = quickbooks_limits()
SUSTAINED_REQUESTS = _REQUEST.per_minute - _REQUEST.burst  # 490 a minute
SUSTAINED_BATCHES = _BATCH.per_minute - _BATCH.burst  # 35 a minute
SINGLES_PER_BATCH = (SUSTAINED_REQUESTS - SUSTAINED_BATCHES) // SUSTAINED_BATCHES  # 13 beside each batch, sustained
BATCH_ONLY_UP_TO = _BATCH.burst * MAX_BATCH  # 150 writes go in the batch lane's burst without waiting
WRITES_PER_MINUTE_BOUND = 40 * MAX_BATCH + (500 - 40)  # 1,660: both lanes full at QuickBooks' own limits
PARALLEL = 8  # concurrency slots a lane task asks for: QuickBooks allows 10 at once, 2 stay for one-call callers


@dataclass(frozen=True)
class Work(Generic[T]):
    lane: str  # "batch" | "single"
    rows: tuple[T, ...]


def paced_seconds(batches: int, singles: int, from_idle: bool = True) -> float:
    """How long our pacing takes to send this many batches and single requests, from a company with no calls in
    the last minute (both bursts available) or from one already being paced (`from_idle=False`)."""
    requests = batches + singles
    batch_burst, request_burst = (_BATCH.burst, _REQUEST.burst) if from_idle else (0, 0)
    return max(max(0, batches - batch_burst) * _BATCH.interval, max(0, requests - request_burst) * _REQUEST.interval)


@lru_cache(maxsize=1024)
def singles_for(n: int, from_idle: bool = True) -> int:
    """The number of n writes to send singly: soonest done at our pacing, then fewest calls."""
    def cost(k: int) -> tuple[float, int]:
        batches = math.ceil((n - k) / MAX_BATCH)
        return paced_seconds(batches, k, from_idle), batches + k
    return min(range(n + 1), key=lambda k: (*cost(k), k))


def split(rows: Sequence[T], from_idle: bool = True) -> list[Work[T]]:
    """The rows as lane work, in order: each batch of 30 followed by its share of the single writes. `from_idle`:
    whether this company's budget is likely fresh (the first piece of work of a run) or already being spent
    (a later task of the same run); either way a pure function of the caller's position, so a re-run matches."""
    singles = singles_for(len(rows), from_idle)
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


def calls(n: int, from_idle: bool = True) -> int:
    """QuickBooks requests `split` makes for n rows."""
    return len(split(range(n), from_idle))


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
