"""Exactly-once creation in QuickBooks when a task dies after QuickBooks accepted a batch (fakes, no network)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.onboarding import Deps, Onboarding
from shared.domain.records import Link
from shared.quickbooks.errors import Unavailable
from shared.quickbooks.port import BatchResult


class FakeQuickBooks:
    """QuickBooks' side of the contract that matters here: unique DisplayNames (6240) and `requestid` replay, which
    it may forget (Intuit does not document how long it keeps them)."""

    def __init__(self):
        self.customers: dict[str, dict] = {}
        self.answers: dict[str, list[BatchResult]] = {}
        self.crash_after_commit = 0

    def batch(self, ops, request_id):
        if request_id in self.answers:
            return self.answers[request_id]
        results = []
        for op in ops:
            name = op.body["DisplayName"]
            if any(c["DisplayName"].casefold() == name.casefold() for c in self.customers.values()):
                results.append(BatchResult(op.bid, fault={"code": "6240", "message": "Duplicate Name Exists Error"}))
                continue
            customer = {**op.body, "Id": str(len(self.customers) + 1), "SyncToken": "0"}
            self.customers[customer["Id"]] = customer
            results.append(BatchResult(op.bid, entity=customer))
        self.answers[request_id] = results
        if self.crash_after_commit:
            self.crash_after_commit -= 1
            raise Unavailable("10000", "connection dropped", "", None)
        return results

    def query_page(self, entity, where, start=1, size=1000):
        names = {part.strip().strip("'") for part in where.split("(", 1)[1].rstrip(")").split(",")}
        return [c for c in self.customers.values() if c["DisplayName"] in names]

    def forget_request_ids(self):
        self.answers.clear()


class FakeLinks:
    def __init__(self):
        self.rows: dict[str, Link] = {}

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


def _engine(qb, links, errors):
    deps = Deps(tenant_id="t1", quickbooks=lambda: qb, platform=None, links=links, runs=None, errors=errors,
                settings=None, connections=None)
    return Onboarding(deps)


def _rows(n):
    return [{"fsp_id": f"cli_{i:03d}", "customer": {"DisplayName": f"Client {i}",
                                                   "PrimaryEmailAddr": {"Address": f"c{i}@example.com"}}}
            for i in range(n)]


def _create(engine, qb, rows):
    return engine._create_in_batches({"run_id": "r1"}, qb, "customer", "client", rows)


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
    names = [c["DisplayName"] for c in qb.customers.values()]
    assert len(names) == len(set(names)) == n + 3
    linked = {fsp: link.qbo_id for fsp, link in links.rows.items() if link.qbo_id}
    assert len(set(linked.values())) == len(linked) == len(rerun)  # one QuickBooks customer per client
    assert not [e for e in errors.entries if e.code == "6240"]
