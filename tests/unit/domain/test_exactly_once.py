"""Exactly-once creation in QuickBooks when a task dies after QuickBooks accepted a batch (fakes, no network)."""

import json
import threading
import time
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import lanes
from shared.domain.onboarding import Deps, Onboarding
from shared.domain.records import Link
from shared.quickbooks.errors import DuplicateName, Unavailable
from shared.quickbooks.port import CustomerDraft, CustomerResult, CustomerState, Fault
from tests.fakes import FakeRunStore


class FakeQuickBooks:
    """QuickBooks' side of the contract that matters here: unique DisplayNames (6240) and `requestid` replay, which
    it may forget (Intuit does not document how long it keeps them), in both lanes (batch and single create), from
    several threads at once."""

    def __init__(self, workers: int = 1):
        self.customers: dict[str, dict] = {}
        self.answers: dict[str, object] = {}
        self.crash_after_commit = 0  # the next N calls write, then the connection drops before the answer
        self.crash_on_call: int | None = None  # or: only the call with this number (1-based) does
        self.calls: list[str] = []
        self.request_ids: list[str] = []
        self.workers, self.in_flight, self.most_in_flight = workers, 0, 0
        self.pacing, self.budget_reads = lanes.IDLE, 0  # no calls in the last minute, unless a test says so
        self._lock = threading.Lock()

    @contextmanager
    def concurrent(self, want):
        yield min(want, self.workers)

    def budget(self):
        self.budget_reads += 1
        return self.pacing

    def _add(self, draft):
        if any(c.display_name.casefold() == draft.display_name.casefold() for c in self.customers.values()):
            return None
        customer = CustomerState(str(len(self.customers) + 1), "0", draft.display_name, company=draft.company,
                                 email=draft.email)
        self.customers[customer.qbo_id] = customer
        return customer

    def _call(self, kind, request_id, write):
        with self._lock:
            self.calls.append(kind)
            self.request_ids.append(request_id)
            number = len(self.calls)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.001)  # long enough for other lanes' threads to overlap
            with self._lock:
                if request_id in self.answers:
                    answer = self.answers[request_id]
                else:
                    answer = self.answers[request_id] = write()
                crash = self.crash_after_commit > 0 or self.crash_on_call == number
                if self.crash_after_commit:
                    self.crash_after_commit -= 1
            if crash:
                raise Unavailable("10000", "connection dropped", "", None)
            if isinstance(answer, DuplicateName):
                raise answer
            return answer
        finally:
            with self._lock:
                self.in_flight -= 1

    def create_customers(self, drafts, request_id):
        def write():
            results = []
            for i, draft in enumerate(drafts):
                customer = self._add(draft)
                results.append(CustomerResult(str(i), customer) if customer else
                               CustomerResult(str(i), fault=Fault("6240", "Duplicate Name Exists Error")))
            return results
        return self._call("batch", request_id, write)

    def create_customer(self, draft, request_id):
        def write():
            return self._add(draft) or DuplicateName("6240", "Duplicate Name Exists Error", "", 400)
        return self._call("create", request_id, write)

    def customers_named(self, names):
        if not names:
            return []  # as the adapter: no names, no query
        with self._lock:
            self.calls.append("query")
        wanted = {n.casefold() for n in names}
        return [c for c in self.customers.values() if c.display_name.casefold() in wanted]

    def forget_request_ids(self):
        self.answers.clear()


class FakeLinks:
    def __init__(self):
        self.rows: dict[str, Link] = {}  # dict operations are atomic: safe from the lanes' threads

    def get_many(self, tenant_id, entity, fsp_ids):
        return {i: self.rows[i] for i in fsp_ids if i in self.rows}

    def put_many(self, links):
        for link in links:
            self.rows[link.fsp_id] = link

    def clear(self, tenant_id, entity, fsp_id):
        self.rows.pop(fsp_id, None)


class FakeErrors:
    def __init__(self):
        self.entries = []

    def record(self, entry):
        self.entries.append(entry)


def _engine(qb, links, errors, runs=None):
    deps = Deps(tenant_id="t1", quickbooks=lambda: qb, platform=None, links=links, runs=runs or FakeRunStore(),
                errors=errors, settings=None, connections=None)
    return Onboarding(deps)


def _rows(n):
    return [{"fsp_id": f"cli_{i:03d}",
             "customer": CustomerDraft(f"Client {i}", email=f"c{i}@example.com").as_dict()} for i in range(n)]


def _create(engine, qb, rows):
    state = {"run_id": "r1"}
    chooser = engine.lane_chooser(state, qb, "customer-0")
    return engine._create_in_batches(state, qb, "customer", "client", rows, chooser)


def test_a_retry_after_a_committed_batch_replays_instead_of_writing():
    qb, links, errors = FakeQuickBooks(), FakeLinks(), FakeErrors()
    engine, rows = _engine(qb, links, errors), _rows(30)
    qb.crash_after_commit = 1
    with pytest.raises(Unavailable):
        _create(engine, qb, rows)
    assert len(qb.customers) == 30 and all(link.state == "pending" for link in links.rows.values())
    assert _create(engine, qb, rows) == 30
    assert len(qb.customers) == 30 and not errors.entries
    assert {link.qbo_id for link in links.rows.values()} == set(qb.customers)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=30), st.integers(min_value=0, max_value=29), st.booleans())
def test_a_rerun_with_other_batch_members_or_a_forgotten_requestid_still_creates_nothing_twice(n, dropped, forget):
    qb, links, errors = FakeQuickBooks(), FakeLinks(), FakeErrors()
    engine, rows = _engine(qb, links, errors), _rows(n)
    qb.crash_after_commit = 1
    with pytest.raises(Unavailable):
        _create(engine, qb, rows)
    if forget:
        qb.forget_request_ids()
    rerun = [r for i, r in enumerate(rows) if i != dropped % n] + _rows(n + 3)[n:]  # membership changed
    _create(engine, qb, rerun)
    names = [c.display_name for c in qb.customers.values()]
    assert len(names) == len(set(names)) == n + 3
    linked = {fsp: link.qbo_id for fsp, link in links.rows.items() if link.qbo_id}
    assert len(set(linked.values())) == len(linked) == len(rerun)  # one QuickBooks customer per client
    assert not [e for e in errors.entries if e.code == "6240"]


def test_a_large_set_goes_in_both_lanes_on_several_threads_and_each_record_once():
    qb, links, errors = FakeQuickBooks(workers=4), FakeLinks(), FakeErrors()
    engine, rows = _engine(qb, links, errors), _rows(430)  # 12 batches of 30 and 70 single creates
    assert _create(engine, qb, rows) == 430
    assert qb.calls.count("batch") == 12 and qb.calls.count("create") == 70 == lanes.singles_for(430)
    assert 1 < qb.most_in_flight <= 4  # the lanes overlapped, never beyond the slots the task was given
    assert len(qb.customers) == 430 and {link.qbo_id for link in links.rows.values()} == set(qb.customers)
    assert all(link.state == "linked" for link in links.rows.values())
    # A retried task finds them linked (by its own first attempt): counted once more as this task's, sent never.
    assert _create(engine, qb, rows) == 430 and len(qb.calls) == 82


def test_a_small_set_stays_in_batches():
    qb, links, errors = FakeQuickBooks(workers=4), FakeLinks(), FakeErrors()
    assert _create(_engine(qb, links, errors), qb, _rows(150)) == 150
    assert qb.calls == ["batch"] * 5


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=151, max_value=260), st.integers(min_value=1, max_value=40), st.booleans(),
       st.integers(min_value=0, max_value=150), st.sampled_from([1, 3]))
def test_a_crash_in_either_lane_replays_without_a_duplicate(n, crash_on, forget, dropped, workers):
    """A call (batch or single) that wrote and then lost its answer, the rest of the task stopped or not, then a
    re-run: with the same pieces or other members, with QuickBooks remembering the request ids or not."""
    qb, links, errors = FakeQuickBooks(workers=workers), FakeLinks(), FakeErrors()
    engine, rows = _engine(qb, links, errors), _rows(n)
    qb.crash_on_call = 1 + crash_on % lanes.calls(n)  # one of the task's calls, batch or single
    with pytest.raises(Unavailable):
        _create(engine, qb, rows)
    qb.crash_on_call = None
    if forget:
        qb.forget_request_ids()
    _create(engine, qb, rows)  # the task retried as it was
    rerun = [r for i, r in enumerate(rows) if i != dropped] + _rows(n + 2)[n:]  # then membership changed
    _create(engine, qb, rerun)
    names = [c.display_name for c in qb.customers.values()]
    assert len(names) == len(set(names)) == n + 2
    linked = {fsp: link.qbo_id for fsp, link in links.rows.items() if link.qbo_id}
    assert len(set(linked.values())) == len(linked) == n + 2  # one QuickBooks customer per client
    assert not errors.entries


def test_the_batch_lane_alone_while_the_budget_has_room_for_every_batch():
    qb, links, errors = FakeQuickBooks(workers=4), FakeLinks(), FakeErrors()
    qb.pacing = lanes.Budget(20, 40, lanes.IDLE.batch_interval, lanes.IDLE.request_interval)
    assert _create(_engine(qb, links, errors), qb, _rows(430)) == 430
    assert qb.calls == ["batch"] * 15  # the call bound: no single request where no batch would wait


def test_a_retried_task_splits_as_its_first_attempt_did_whatever_the_budget_shows_by_then():
    """The split now follows the company's budget, which moves on between attempts: the retry recalls the first
    attempt's split from the run, forms the same requests and resends the same requestids (nothing looked up)."""
    qb, links, errors, runs = FakeQuickBooks(workers=1), FakeLinks(), FakeErrors(), FakeRunStore()
    engine, rows = _engine(qb, links, errors, runs), _rows(430)
    qb.pacing = lanes.Budget(20, 40, lanes.IDLE.batch_interval, lanes.IDLE.request_interval)  # room: batches only
    qb.crash_on_call = 4
    with pytest.raises(Unavailable):
        _create(engine, qb, rows)
    qb.crash_on_call, qb.pacing = None, lanes.PACED  # by the retry, the budget is spent: singles would go
    qb.calls.clear()
    assert _create(engine, qb, rows) == 430
    # The same batches: the three answered ones linked and not sent again, the fourth (which wrote, then lost its
    # answer) replayed by its requestid, the other eleven sent; no single request, no look-up by name.
    assert qb.calls == ["batch"] * 12
    assert qb.budget_reads == 1 and len(qb.customers) == 430 and not errors.entries


def test_a_retried_task_reading_its_drafts_back_from_the_chunk_resends_the_same_requestid():
    """Plan chunks hold drafts as plain dicts (JSON in the sync-runs table): the retry reads them back, forms the same
    pieces and sends the same `requestid`, so QuickBooks replays its first answer (decision 14)."""
    qb, links, errors = FakeQuickBooks(), FakeLinks(), FakeErrors()
    engine = _engine(qb, links, errors)
    chunk = json.dumps(_rows(30))
    qb.crash_after_commit = 1
    with pytest.raises(Unavailable):
        _create(engine, qb, json.loads(chunk))
    first = list(qb.request_ids)
    assert _create(engine, qb, json.loads(chunk)) == 30
    assert qb.request_ids[len(first):] == first  # the same id again, answered from QuickBooks' replay
    assert len(qb.customers) == 30 and not errors.entries


def test_a_set_reads_its_links_once_and_writes_them_twice_whatever_its_lanes():
    """Pending links for the whole set before the first call, linked ones once the calls are done: a few link
    store calls per set (DynamoDB batches them 25 and 100 to a call), not three for every single create."""
    calls = []

    class CountingLinks(FakeLinks):
        def get_many(self, tenant_id, entity, fsp_ids):
            calls.append("get_many")
            return super().get_many(tenant_id, entity, fsp_ids)

        def put_many(self, links):
            links = list(links)
            calls.append(("put_many", {link.state for link in links}, len(links)))
            super().put_many(links)

    qb, links, errors = FakeQuickBooks(workers=4), CountingLinks(), FakeErrors()
    assert _create(_engine(qb, links, errors), qb, _rows(430)) == 430 and qb.calls.count("create") == 70
    assert calls == ["get_many", ("put_many", {"pending"}, 430), ("put_many", {"linked"}, 430)]
