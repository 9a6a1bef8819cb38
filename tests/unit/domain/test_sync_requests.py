"""Sync requests: no request fails or is dropped; a running run covers requests made while it runs."""

from shared.domain.sync_requests import SyncRequests
from tests.fakes import FakeRunStore, FakeSyncGate, FakeWorkflows


def test_a_request_with_no_run_going_starts_one_and_one_during_a_run_is_covered_by_it():
    gate, runs, flows = FakeSyncGate(), FakeRunStore(), FakeWorkflows()
    requests = SyncRequests(gate, runs, flows)
    first = requests.request("t1", "sync_now")
    assert first.started and flows.started == [("sync", "t1", first.run.run_id, {"trigger": "sync_now"})]
    taken = gate.acquire("t1", first.run.run_id, 60)  # the run's first task
    second = requests.request("t1", "webhook")
    assert not second.started and second.run.run_id == first.run.run_id and len(flows.started) == 1
    assert not gate.release("t1", first.run.run_id, taken.seen)  # the run sees the second request first


def test_requests_racing_past_a_free_gate_each_start_a_run_and_the_second_folds_at_its_first_task():
    gate, runs, flows = FakeSyncGate(), FakeRunStore(), FakeWorkflows()
    requests = SyncRequests(gate, runs, flows)
    a, b = requests.request("t1", "webhook"), requests.request("t1", "webhook")
    assert a.started and b.started and a.run.run_id != b.run.run_id
    assert gate.acquire("t1", a.run.run_id, 60).holder == a.run.run_id
    assert gate.acquire("t1", b.run.run_id, 60).holder == a.run.run_id  # b folds into a
