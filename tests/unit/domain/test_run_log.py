"""StateRunLog (shared/domain/run_log.py): a task writes to the error log only for records that have an entry."""

from shared.domain.records import ErrorEntry
from shared.domain.run_log import StateRunLog
from tests.fakes import FakeErrorLog


class CountingErrors(FakeErrorLog):
    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def open_keys(self, tenant_id):
        self.calls.append("open_keys")
        return super().open_keys(tenant_id)

    def resolve(self, tenant_id, key):
        self.calls.append(f"resolve {key}")
        return super().resolve(tenant_id, key)


def test_records_without_an_open_entry_are_settled_without_a_write_and_open_ones_are_resolved():
    errors = CountingErrors()
    errors.record(ErrorEntry("t1", "client", "c-old", "to_quickbooks", "6000", "refused before"))
    state = {"run_id": "r1"}
    log = StateRunLog("t1", state, errors)
    for n in range(500):
        log.resolved("client", f"c{n}")  # synced, never failed: one read of the open keys, no write
    log.resolved("client", "c-old")
    log.error("client", "c-new", "to_quickbooks", "6240", "duplicate")  # recorded during the task
    log.resolved("client", "c-new")
    log.resolved("client", "c-old")  # already resolved by this task: not written again
    assert errors.calls == ["open_keys", "resolve client#c-old", "resolve client#c-new"]
    assert not errors.open() and state["counts"] == {"errors_resolved": 2, "errors": 1}


def test_an_entry_recorded_before_the_first_resolve_is_in_the_open_keys():
    errors = CountingErrors()
    log = StateRunLog("t1", {"run_id": "r1"}, errors)
    log.error("invoice", "i1", "to_quickbooks", "waiting_for_client", "waits")
    log.resolved("invoice", "i1")
    assert not errors.open()
