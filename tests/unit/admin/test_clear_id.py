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
