from shared.domain.admin import AdminService
from shared.domain.connections import Caller
from shared.domain.records import ErrorEntry, Link
from tests.fakes import FakeErrorLog, FakeLinkStore


def test_clear_id_forgets_the_link_and_leaves_the_entry_for_the_next_run_to_recreate():
    links, errors = FakeLinkStore(), FakeErrorLog()
    links.put(Link("t1", "invoice", "inv1", "42"))
    errors.record(ErrorEntry("t1", "invoice", "inv1", "to_platform", "deleted_in_quickbooks", "deleted in QuickBooks",
                             dismissed=True))
    service = AdminService(None, None, None, errors, links, None, None, None)
    assert service.clear_link(Caller("t1", "admin"), "invoice", "inv1") == {"cleared": "invoice#inv1"}
    assert links.get("t1", "invoice", "inv1") is None
    entry = errors.get("t1", "invoice#inv1")
    # Nothing else brings an unchanged invoice back: the engine re-attempts entries marked so (SyncRun._waiting),
    # and without its link that attempt creates it; the entry resolves only once QuickBooks has it again.
    assert (entry.resolved, entry.retry_requested, entry.dismissed) == (False, True, False)


def test_clear_id_without_an_entry_records_one_marked_for_the_next_run():
    links, errors = FakeLinkStore(), FakeErrorLog()
    links.put(Link("t1", "invoice", "inv2", "43"))
    links.put(Link("t1", "customer", "c1", "44"))
    errors.record(ErrorEntry("t1", "invoice", "inv2", "to_quickbooks", "610", "Object Not Found"))
    errors.resolve("t1", "invoice#inv2")  # refused once, synced since: only a resolved entry is left
    service = AdminService(None, None, None, errors, links, None, None, None)
    service.clear_link(Caller("t1", "admin"), "invoice", "inv2")  # deleted in QuickBooks, nothing failed here
    assert service.clear_link(Caller("t1", "admin"), "customer", "c1") == {"cleared": "client#c1"}
    for key in ("invoice#inv2", "client#c1"):  # the error log's names, which the engine re-attempts
        entry = errors.get("t1", key)
        assert (entry.code, entry.retry_requested, entry.resolved) == ("id_cleared", True, False)
