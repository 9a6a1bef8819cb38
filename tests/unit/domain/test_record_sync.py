"""Webhook hints applied at once, record by record (shared/domain/record_sync.py), with fakes: the change reaches the
other side without a run, the next run finds it in step, echoes leave nothing behind, and every case a record-level
apply cannot take (deletions, bursts, review mode, a held gate, a fault) goes to a whole run without losing the
change."""

from types import SimpleNamespace

import pytest

from shared.domain.record_sync import MAX_RECORDS, RecordSync, named_records
from shared.domain.records import SyncRun
from shared.domain.settings import SyncSettings
from shared.domain.sync_requests import SyncRequests
from shared.fieldservice.models import Address, Site
from shared.quickbooks.errors import Throttled
from shared.tasks import belongs_to_the_run
from tests.fakes import FakeWorkflows
from tests.unit.domain.test_sync_engine import World


def hint(entity, entity_id, operation):
    return SimpleNamespace(entity=entity, entity_id=entity_id, operation=operation)


class Hooks:
    """A World whose webhooks are applied by record."""

    def __init__(self, w: World):
        self.w, self.workflows = w, FakeWorkflows()
        self.requests = SyncRequests(w.gate, w.runs, self.workflows)
        self.ids = iter(f"t-webhook-{i}" for i in range(1000))
        self.records = RecordSync(lambda tenant: w.engine(), w.gate, w.runs, self.requests, belongs_to_the_run,
                                  new_run_id=lambda: next(self.ids), clock=w.clock)

    def apply(self, *hints):
        return self.records.apply("t1", list(hints))


def test_a_quickbooks_edit_named_by_a_hint_reaches_the_platform_at_once_and_the_next_run_finds_it_in_step():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    w.books.calls.clear()
    outcome = Hooks(w).apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert outcome.by_record and not outcome.started
    assert w.platform.clients["c1"].contact.phone == "555-0199"
    assert w.books.calls == ["query"]  # the customer by Id; no CDC, no write back
    entry = w.runs.get("t1", outcome.run_id)  # written once, with its outcome
    assert entry.summary["counts"]["clients_updated_on_platform"] == 1
    assert (entry.status, entry.percent, entry.finished_at is not None) == ("succeeded", 100, True)
    assert w.gate.read("t1").holder is None
    w.tick()
    w.books.calls.clear()
    run = w.run("r2")
    assert w.books.calls == ["cdc"] and "clients_updated_on_platform" not in run.summary["counts"]


def test_a_platform_edit_named_by_a_hint_reaches_quickbooks_sparse_without_a_read():
    w = World()
    w.linked_pair("c1", company="Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", billing_address=Address("1 Main St", None, "Phoenix", "AZ", "85001", "US"))
    w.books.calls.clear()
    Hooks(w).apply(("fieldservice", hint("client", "c1", "updated")))
    qbo = w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]
    assert qbo["BillAddr"]["Line1"] == "1 Main St"
    assert "read" not in w.books.calls and "cdc" not in w.books.calls


def test_the_same_field_edited_on_both_sides_goes_to_the_newest_edit_when_only_one_side_sent_its_hint():
    w = World()
    client, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0001"})  # older
    w.tick()
    w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="555-0002"))  # newer, hint pending
    Hooks(w).apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert w.platform.clients["c1"].contact.phone == "555-0002"
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0002"


def test_an_edit_that_links_nothing_new_does_not_read_the_error_log_for_waiting_records():
    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
    w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing Co")
    listed = []
    w.errors.list = lambda tenant_id, include_resolved=False: listed.append(tenant_id) or []
    Hooks(w).apply(("fieldservice", hint("client", "c1", "updated")))
    assert listed == []


def test_our_own_write_coming_back_as_a_hint_writes_nothing_and_leaves_no_history_entry():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    hooks = Hooks(w)
    runs_before = set(w.runs.runs)
    w.books.calls.clear()
    outcome = hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")),
                          ("fieldservice", hint("client", "c1", "updated")))
    assert outcome.by_record and outcome.run_id is None
    assert set(w.runs.runs) == runs_before
    assert "update" not in w.books.calls and w.platform.calls.count("get") == 1


def test_a_new_client_and_its_site_named_together_become_a_customer_and_its_sub_customer():
    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
    w.tick()
    w.platform.add_client("c9", company="Brand New HVAC", address=Address("1 A St", None, "Mesa", "AZ", "1", "US"))
    w.platform.sites["s9"] = Site("s9", "c9", "Yard", Address("9 Dock Rd", None, "Mesa", "AZ", "85201", "US"), None,
                                  True, w.now, w.now)
    Hooks(w).apply(("fieldservice", hint("client", "c9", "created")), ("fieldservice", hint("site", "s9", "created")))
    parent = w.links.get("t1", "customer", "c9")
    job = w.books.rows["Customer"][w.links.get("t1", "site", "s9").qbo_id]
    assert job["ParentRef"] == {"value": parent.qbo_id}


def test_a_site_waiting_for_its_client_goes_when_its_client_is_named():
    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
    hooks = Hooks(w)
    w.platform.sites["s9"] = Site("s9", "c9", "Yard", Address("9 Dock Rd", None, "Mesa", "AZ", "85201", "US"), None,
                                  True, w.now, w.now)
    hooks.apply(("fieldservice", hint("site", "s9", "created")))
    assert w.errors.open()["site#s9"].code == "waiting_for_client"
    w.tick()
    w.platform.add_client("c9", company="Brand New HVAC")
    hooks.apply(("fieldservice", hint("client", "c9", "created")))
    assert w.links.get("t1", "site", "s9").qbo_id
    assert "site#s9" not in w.errors.open()



def test_records_waiting_on_a_linked_one_are_asked_of_the_error_log_by_kind_and_open_only():
    """The error log's partition is mostly resolved entries of every kind: the apply asks for the waiting kind's
    open entries only, instead of reading them all (issue 12's profile: 0.2 s a read on the local stack)."""
    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
    hooks = Hooks(w)
    w.platform.sites["s9"] = Site("s9", "c9", "Yard", Address("9 Dock Rd", None, "Mesa", "AZ", "85201", "US"), None,
                                  True, w.now, w.now)
    hooks.apply(("fieldservice", hint("site", "s9", "created")))
    w.tick()
    w.platform.add_client("c9", company="Brand New HVAC")
    asked, listing = [], w.errors.list
    w.errors.list = lambda tenant_id, include_resolved=False, **kw: asked.append((include_resolved, kw)) or listing(
        tenant_id, include_resolved, **kw)
    hooks.apply(("fieldservice", hint("client", "c9", "created")))
    assert asked == [(False, {"entity": "site"})]
    assert w.links.get("t1", "site", "s9").qbo_id

@pytest.mark.parametrize("hints, why", [
    ([("quickbooks", hint("Customer", "1", "Delete"))], "QuickBooks Customer Delete"),
    ([("quickbooks", hint("Customer", "1", "Merge"))], "QuickBooks Customer Merge"),
    ([("quickbooks", hint("Class", "1", "Update"))], "QuickBooks Class Update"),
    ([("fieldservice", hint("job_type", "j1", "created"))], "platform job_type.created"),
    ([("fieldservice", hint("payment", "p1", "deleted"))], "platform payment.deleted"),
    ([("fieldservice", hint("client", f"c{i}", "updated")) for i in range(MAX_RECORDS + 1)], "records at once"),
])
def test_what_a_record_cannot_carry_asks_for_a_whole_run(hints, why):
    named, reason = named_records(hints)
    assert named is None and why in reason
    w = World()
    hooks = Hooks(w)
    outcome = hooks.apply(*hints)
    assert not outcome.by_record and outcome.started and len(hooks.workflows.started) == 1


def test_review_mode_hands_hints_to_a_run_which_holds_them_for_approval():
    w = World()
    w.settings = SyncSettings.model_validate({"review_mode": True})
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    hooks = Hooks(w)
    w.engine = lambda base=w.engine: _with_review(base())
    hooks.records = RecordSync(lambda tenant: w.engine(), w.gate, w.runs, hooks.requests, belongs_to_the_run)
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    outcome = hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert not outcome.by_record and "review mode" in outcome.reason
    assert w.platform.clients["c1"].contact.phone == "555-0100"


def _with_review(engine):
    from tests.fakes import FakeReviewQueue

    engine.review = FakeReviewQueue()
    return engine


def test_a_held_gate_notes_the_change_for_its_holder_and_applies_nothing():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.runs.create(SyncRun("t1", "running-run", "sync", "running", w.now))
    w.gate.acquire("t1", "running-run", 900)
    seen = w.gate.read("t1").changes
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    hooks = Hooks(w)
    outcome = hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert outcome.run_id == "running-run" and not outcome.started and not outcome.by_record
    assert w.gate.read("t1").changes == seen + 1  # the holder's release fails: it goes round and sees it
    assert w.platform.clients["c1"].contact.phone == "555-0100" and hooks.workflows.started == []


def test_a_change_noted_while_the_record_level_run_holds_the_gate_gets_a_run():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    hooks = Hooks(w)
    engine = w.engine()
    applying = engine.apply_records

    def with_sync_now(state, named):  # "Sync Now" pressed while the hint is being applied
        hooks.requests.request("t1", "sync_now")
        return applying(state, named)

    engine.apply_records = with_sync_now
    hooks.records = RecordSync(lambda tenant: engine, w.gate, w.runs, hooks.requests, belongs_to_the_run,
                               new_run_id=lambda: "t-webhook-1", clock=w.clock)
    outcome = hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    # The Sync Now found the gate held and started a run, which folds into us at its start; our release then fails
    # (its change is unseen), so one more run is asked for and sees it. Nothing is dropped.
    assert outcome.by_record and outcome.started
    assert [s[0] for s in hooks.workflows.started] == ["sync", "sync"]
    assert w.runs.get("t1", "t-webhook-1").summary["handed_to"] == hooks.workflows.started[-1][2]
    assert w.gate.read("t1").holder is None
    assert w.platform.clients["c1"].contact.phone == "555-0199"


def test_a_transient_fault_frees_the_gate_and_hands_the_work_to_a_run_that_backs_off():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.books.fail_next.append(Throttled("429", "Too many requests", "", 429))
    hooks = Hooks(w)
    outcome = hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert outcome.started and len(hooks.workflows.started) == 1
    assert w.gate.read("t1").holder is None
    handed = w.runs.get("t1", outcome.run_id)
    assert handed.summary["handed_to"] == hooks.workflows.started[0][2] and "Throttled" in handed.summary["reason"]


def test_any_other_failure_frees_the_gate_records_the_failure_and_raises_so_the_queue_redelivers():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.books.fail_next.append(RuntimeError("disk on fire"))
    hooks = Hooks(w)
    with pytest.raises(RuntimeError):
        hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update")))
    assert w.gate.read("t1").holder is None and hooks.workflows.started == []
    assert w.runs.get("t1", "t-webhook-0").status == "failed"
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    assert hooks.apply(("quickbooks", hint("Customer", row["Id"], "Update"))).by_record  # the redelivery applies
    assert w.platform.clients["c1"].contact.phone == "555-0199"


def test_a_run_never_folds_into_a_record_level_apply_it_waits_for_the_gate_and_runs_itself():
    w = World()
    w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.gate.acquire("t1", "t-webhook-9", 90)  # a record-level apply is going
    requested = SyncRequests(w.gate, w.runs, FakeWorkflows()).request("t1", "sync_now")
    assert requested.started  # not "covered": the apply sees only its own records
    naps = []
    engine = w.engine()
    engine.sleep = lambda s: (naps.append(s), w.gate.abandon("t1", "t-webhook-9"))  # its release failed: noted
    state = engine.start({"tenant_id": "t1", "run_id": requested.run.run_id})
    assert not state["stop"], state
    assert w.gate.read("t1").holder == requested.run.run_id and len(naps) == 1


def test_a_customer_named_by_a_hint_has_its_link_looked_up_once():
    """The apply reads the named customers' links by QuickBooks id to pair them with their clients; the rest of the
    step takes those links instead of querying the index again for each customer (issue 12's profile)."""
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    _, echo = w.linked_pair("c2", company="Bravo Electric", phone="555-0200")
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0199"})
    looked_up = []
    by_qbo = w.links.by_qbo
    w.links.by_qbo = lambda tenant_id, entity, qbo_id: looked_up.append(qbo_id) or by_qbo(tenant_id, entity, qbo_id)
    Hooks(w).apply(("quickbooks", hint("Customer", row["Id"], "Update")),
                   ("quickbooks", hint("Customer", echo["Id"], "Update")))
    assert sorted(looked_up) == sorted([row["Id"], echo["Id"]])
    assert w.platform.clients["c1"].contact.phone == "555-0199"


def test_the_links_an_apply_settles_are_written_in_one_batch():
    """Each settled link was its own PutItem; a plain put needs no condition, so a page's go in one batch write
    (issue 12's profile)."""
    w = World()
    for n in (1, 2, 3):
        w.linked_pair(f"c{n}", company=f"Company {n}", phone=f"555-010{n}")
    w.tick()
    for n in (1, 2, 3):
        w.platform.update_client("t1", f"c{n}", company_name=f"Company {n} Inc")
    writes, put = [], w.links.put
    w.links.put = lambda link: writes.append(["put", link.fsp_id]) or put(link)
    w.links.put_many = lambda links: writes.append(["put_many", sorted(lk.fsp_id for lk in links)]) or [
        put(lk) for lk in links]
    Hooks(w).apply(*(("fieldservice", hint("client", f"c{n}", "updated")) for n in (1, 2, 3)))
    assert writes == [["put_many", ["c1", "c2", "c3"]]]
    for n in (1, 2, 3):
        link = w.links.get("t1", "customer", f"c{n}")
        assert link.sync_token == w.books.rows["Customer"][link.qbo_id]["SyncToken"]
