"""The two lanes (shared/domain/lanes.py): how rows are split, how the work runs, and that paced lanes stay within
QuickBooks' per-company limits while finishing sooner than the batch lane alone."""

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import lanes
from shared.quickbooks.errors import Throttled
from shared.quickbooks.pacing import LEASED_SLOTS, Pacer, quickbooks_limits
from tests.unit.quickbooks.test_pacing import Clock, MemoryStore, _max_in_window


def test_the_sustained_share_fills_both_budgets_of_our_pacing():
    assert lanes.SINGLES_PER_BATCH == 13
    assert lanes.SUSTAINED_BATCHES * (1 + lanes.SINGLES_PER_BATCH) == lanes.SUSTAINED_REQUESTS  # 35 x 14 = 490
    assert lanes.WRITES_PER_MINUTE_BOUND == 1660
    # Already being paced, thousands of writes go 13 singles to each batch of 30.
    assert lanes.singles_for(4300, from_idle=False) == pytest.approx(1300, rel=0.02)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.booleans())
def test_every_row_goes_once_in_order_and_no_batch_is_over_30(n, from_idle):
    work = lanes.split(list(range(n)), from_idle)
    assert [row for piece in work for row in piece.rows] == list(range(n))
    assert all(len(p.rows) <= 30 if p.lane == "batch" else len(p.rows) == 1 for p in work)
    assert sum(p.lane == "batch" for p in work) == -(-(n - lanes.singles_for(n, from_idle)) // 30)
    assert lanes.split(list(range(n)), from_idle) == work  # the same rows give the same pieces: a re-run matches


def test_a_small_set_stays_in_batches_and_a_larger_one_interleaves_singles_with_them():
    assert lanes.singles_for(150) == 0 and [p.lane for p in lanes.split(list(range(150)))] == ["batch"] * 5
    work = lanes.split(list(range(300)))  # 30 singles beside 9 batches: done in 6.9 s instead of 8.6 s
    assert [len(p.rows) for p in work if p.lane == "batch"] == [30] * 9
    assert sum(p.lane == "single" for p in work) == 30 == lanes.singles_for(300)
    assert work[0].lane == "batch" and work[1].lane == "single" and work[-1].lane == "single"
    assert lanes.paced_seconds(9, 30) < lanes.paced_seconds(10, 0)
    assert lanes.calls(300) == len(work) == 39


def test_the_work_runs_on_as_many_threads_as_given_and_results_come_back_in_order():
    barrier = threading.Barrier(3, timeout=5)  # three pieces must be in flight together, or this times out

    def send(piece):
        if piece.rows[0] < 3:
            barrier.wait()
        return piece.rows[0]

    got = []
    lanes.run_lanes([lanes.Work("single", (i,)) for i in range(12)], send, got.append, workers=3)
    assert got == list(range(12))


def test_after_a_failure_no_more_work_starts_and_what_was_written_is_recorded_first():
    sent, recorded = [], []

    def send(piece):
        sent.append(piece.rows[0])
        if piece.rows[0] == 2:
            raise Throttled("3001", "ThrottleExceeded", "", 429)
        return piece.rows[0]

    work = [lanes.Work("single", (i,)) for i in range(6)]
    with pytest.raises(Throttled):
        lanes.run_lanes(work, send, recorded.append, workers=1)
    assert sent == [0, 1, 2] and recorded == [0, 1]


class SlotStore(MemoryStore):
    def __init__(self):
        super().__init__()
        self.held: dict[int, float] = {}

    def lease_slots(self, key, want, now, until, slots):
        free = [i for i in range(slots) if self.held.get(i, 0) < now][:want]
        self.held.update({i: until for i in free})
        return free

    def release_slots(self, key, taken, until):
        for i in taken:
            if self.held.get(i) == until:
                del self.held[i]


def test_a_task_gets_at_most_the_leasable_slots_and_gives_them_back():
    clock, store = Clock(), SlotStore()
    pacer = Pacer(store, quickbooks_limits(), clock=lambda: clock.now, sleep=clock.sleep)
    with pacer.concurrent("realm", 20) as first:
        assert first == LEASED_SLOTS == 8
        with pacer.concurrent("realm", 4) as second:  # another task of the same company: none left
            assert second == 1  # it sends one call at a time, as every other caller does
    assert store.held == {}
    with pacer.concurrent("realm", 1) as one:
        assert one == 1 and store.held == {}  # one call at a time needs no lease


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=151, max_value=3000))
def test_paced_lanes_stay_within_the_limits_and_beat_the_batch_lane_alone(n):
    """Every piece reserves its pacing slots as the adapter does (a batch: request + batch; a single: request);
    sent back to back, the lanes finish at the rate both budgets allow."""
    limits = quickbooks_limits()

    def simulate(work):
        clock, store = Clock(), MemoryStore()
        pacer = Pacer(store, limits, max_wait_s=1e9, clock=lambda: clock.now, sleep=clock.sleep)
        start, sent, batches = clock.now, [], []
        for piece in work:
            pacer.before("realm", piece.lane if piece.lane == "batch" else "request")
            sent.append(clock.now)
            if piece.lane == "batch":
                batches.append(clock.now)
        return clock.now - start, sent, batches

    two_lanes, sent, batches = simulate(lanes.split(list(range(n))))
    assert _max_in_window(sent) <= 500 and _max_in_window(batches) <= 40
    batch_only, _, _ = simulate([lanes.Work("batch", (i,)) for i in range(0, n, 30)])
    assert two_lanes <= batch_only + 1e-6
    assert two_lanes == pytest.approx(lanes.paced_seconds(sum(p.lane == "batch" for p in lanes.split(range(n))),
                                                          lanes.singles_for(n)), abs=0.5)  # the model
    # Never faster than QuickBooks' own bound allows (the bursts are the only head start), and for large sets
    # within a few percent of the sustained 35 x 30 + 455 = 1,505 writes a minute.
    assert two_lanes >= 60 * (n - 5 * 30 - 10) / lanes.WRITES_PER_MINUTE_BOUND
    if n >= 2000:
        assert two_lanes <= 60 * n / 1505


def test_the_status_of_the_last_response_is_kept_per_thread():
    """The lanes share one client; a 429 seen on one thread must not classify another thread's failure."""
    from shared.quickbooks.client import StatusRecorder

    recorder, seen, ready = StatusRecorder(), {}, threading.Barrier(2, timeout=5)

    def send(status):
        recorder(type("Response", (), {"status_code": status})())
        ready.wait()  # both have recorded before either reads
        seen[status] = recorder.last_status

    threads = [threading.Thread(target=send, args=(s,)) for s in (429, 200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {429: 429, 200: 200} and recorder.last_status is None  # this thread sent nothing
