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
    assert lanes.singles_for(4300, lanes.PACED) == pytest.approx(1300, rel=0.02)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.sampled_from([lanes.IDLE, lanes.PACED]))
def test_every_row_goes_once_in_order_and_no_batch_is_over_30(n, budget):
    singles = lanes.singles_for(n, budget)
    work = lanes.split(list(range(n)), singles)
    assert [row for piece in work for row in piece.rows] == list(range(n))
    assert all(len(p.rows) <= 30 if p.lane == "batch" else len(p.rows) == 1 for p in work)
    assert sum(p.lane == "batch" for p in work) == -(-(n - singles) // 30)
    assert lanes.split(list(range(n)), singles) == work  # the same rows and split give the same pieces


def test_a_small_set_stays_in_batches_and_a_larger_one_interleaves_singles_with_them():
    assert lanes.singles_for(150) == 0 and [p.lane for p in lanes.split(list(range(150)))] == ["batch"] * 5
    work = lanes.split(list(range(300)), lanes.singles_for(300))  # 30 singles beside 9 batches: 6.9 s, not 8.6 s
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

    two_lanes, sent, batches = simulate(lanes.split(list(range(n)), lanes.singles_for(n)))
    assert _max_in_window(sent) <= 500 and _max_in_window(batches) <= 40
    batch_only, _, _ = simulate([lanes.Work("batch", (i,)) for i in range(0, n, 30)])
    assert two_lanes <= batch_only + 1e-6
    assert two_lanes == pytest.approx(lanes.paced_seconds(-(-(n - lanes.singles_for(n)) // 30),
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


# -- when singles are worth their calls (decision 40, amended) -------------------------------------------------------

budgets = st.builds(lanes.Budget, st.integers(0, 5), st.integers(0, 10),
                    st.sampled_from([lanes.IDLE.batch_interval, 1e-4]),
                    st.sampled_from([lanes.IDLE.request_interval, 1e-4]))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=1500), budgets)
def test_singles_go_only_when_the_batch_budget_would_make_the_work_wait_and_then_shorten_it(n, budget):
    singles = lanes.singles_for(n, budget)
    batches_only = -(-n // 30)
    if batches_only <= min(budget.batches, budget.requests):
        assert singles == 0  # the batch lane takes it now: a single would only cost a call
    if singles:
        assert lanes.paced_seconds(-(-(n - singles) // 30), singles, budget) <= \
            lanes.paced_seconds(batches_only, 0, budget) - lanes.MIN_SAVING_S


def test_a_budget_with_room_or_coming_back_fast_keeps_everything_in_batches():
    assert lanes.singles_for(600, lanes.Budget(20, 40, lanes.IDLE.batch_interval, lanes.IDLE.request_interval)) == 0
    request, batch = quickbooks_limits(1_000_000, 1_000_000)  # a pace that never waits (the call-count benchmarks)
    fast = lanes.Budget(batch.burst, request.burst, batch.interval, request.interval)
    assert lanes.singles_for(5000, fast) == 0
    # 184 rows: 7 batches where 6 and 4 singles would save a wait of microseconds; not worth 3 more calls.
    assert lanes.singles_for(184, fast) == 0
    # The same set at QuickBooks' limits saves a batch interval (1.7 s) with them.
    assert lanes.singles_for(184, lanes.IDLE) == 4
    # Spent, at QuickBooks' limits: the single lane carries its sustained share.
    assert lanes.singles_for(860, lanes.PACED) == pytest.approx(860 * 13 / 43, rel=0.05)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.0, 0.05, 0.5, 1.7, 4.0]), max_size=40),
       st.sampled_from([(500, 40), (60, 8)]), st.sampled_from(["request", "batch"]))
def test_the_budget_counts_exactly_the_calls_pacing_lets_through_without_a_wait(gaps, limits, kind):
    clock, store = Clock(), MemoryStore()
    pacer = Pacer(store, quickbooks_limits(*limits), max_wait_s=1e9, clock=lambda: clock.now, sleep=clock.sleep)
    for gap in gaps:
        clock.now += gap
        pacer.before("realm", kind)
    budget = pacer.budget("realm")
    free = budget.batches if kind == "batch" else budget.requests
    at = clock.now
    for _ in range(free):
        pacer.before("realm", kind)
    assert clock.now == at  # every call the budget promised went at once
    pacer.before("realm", kind)
    assert clock.now > at  # and the next one waited


def test_an_idle_company_shows_both_bursts_and_each_call_spends_them():
    clock, store = Clock(), MemoryStore()
    pacer = Pacer(store, quickbooks_limits(), clock=lambda: clock.now, sleep=clock.sleep)
    assert pacer.budget("realm") == lanes.IDLE
    for _ in range(3):
        pacer.before("realm", "batch")
    assert (pacer.budget("realm").batches, pacer.budget("realm").requests) == (2, 7)
    assert pacer.budget("other") == lanes.IDLE  # companies do not share a budget


class Memo:
    def __init__(self):
        self.kept: dict[str, list[int]] = {}

    def recall(self, position):
        return self.kept.get(position)

    def remember(self, position, decision):
        self.kept[position] = decision


def test_a_task_remembers_its_splits_and_its_re_run_recalls_them_whatever_the_budget_shows():
    memo, reads = Memo(), []

    def budget(value):
        def read():
            reads.append(value)
            return value
        return read

    first = lanes.LaneChooser(budget(lanes.PACED), memo, "customer-0")
    spent = [first.split(list(range(300))), first.split(list(range(100)))]
    assert sum(p.lane == "single" for p in spent[0]) == lanes.singles_for(300, lanes.PACED) > 0
    again = lanes.LaneChooser(budget(lanes.IDLE), memo, "customer-0")  # the retry, once the budget came back
    assert [again.split(list(range(300))), again.split(list(range(100)))] == spent
    assert reads == [lanes.PACED, lanes.PACED]  # read once per set, by the first attempt only
    other = lanes.LaneChooser(budget(lanes.IDLE), memo, "customer-860")  # the next task decides for itself
    assert [p.lane for p in other.split(list(range(100)))] == ["batch"] * 4


def test_one_batch_or_less_reads_no_budget_and_keeps_nothing():
    memo = Memo()
    chooser = lanes.LaneChooser(lambda: pytest.fail("no budget needed for one batch"), memo, "t")
    assert [p.lane for p in chooser.split(list(range(30)))] == ["batch"] and memo.kept == {}
