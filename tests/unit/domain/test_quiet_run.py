"""A sync run with nothing to do ends at its start (decision 54), and every reason a run has work keeps it walking.

Each test first shows the settled world's run ending at `start`, then adds one reason and shows the next run
walks the steps (and, where the fakes allow a whole run, that the change arrives)."""

from datetime import timedelta
from types import SimpleNamespace

import pytest

from shared.domain.onboarding import Deps
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.domain.review import ReviewEntry
from shared.domain.settings import SyncSettings
from shared.domain.sync_run import CURSOR_OVERLAP, QUIET_REASON, RECONCILE_EVERY, SyncEngine
from tests.fakes import FakeReviewQueue
from tests.unit.domain.test_sync_engine import World, walk

GAP = 5  # minutes between runs: past the QuickBooks cursor's overlap, so the settling run's echoes are behind it


def settled(settings: dict | None = None) -> World:
    """A linked client and customer, and the runs that applied everything, a scheduled run's gap apart (the second
    still reads the first one's QuickBooks edge again: the cursor's overlap)."""
    w = World()
    if settings:
        w.settings = SyncSettings.model_validate(settings)
    w.linked_pair("c1", company="Acme Plumbing", phone="602-555-0100")
    for run_id in ("r0", "r0-edge"):
        w.tick()
        assert w.run(run_id).status == "succeeded"
        w.tick(GAP)
    return w


def start(w: World, run_id: str, engine: SyncEngine | None = None) -> dict:
    w.runs.create(SyncRun("t1", run_id, "sync", "running", w.now))
    return (engine or w.engine()).start({"tenant_id": "t1", "run_id": run_id})


def ends_at_start(w: World, run_id: str = "quiet", engine: SyncEngine | None = None) -> bool:
    state = start(w, run_id, engine)
    w.tick()
    return bool(state["stop"])


def test_a_run_with_nothing_changed_ends_at_its_start_as_finish_would_end_it():
    w = settled()
    before = dict(w.cursors.items)
    w.books.calls.clear()
    w.platform.calls.clear()
    state = start(w, "r1")
    assert state["stop"] and not state["again"]
    run = w.runs.get("t1", "r1")
    assert run.status == "succeeded" and run.summary == {"counts": {}, "reason": QUIET_REASON}
    assert w.connections.get("t1").last_sync_at == w.now
    assert w.gate.read("t1").holder is None
    assert w.books.calls == ["cdc"] and w.platform.calls == ["list", "list"]  # clients and sites, one page each
    # QuickBooks' cursors move as `finish` moves them; the platform's stay where the last run applied up to.
    read_at = w.now
    assert all(w.cursors.items[f"qbo:{k}"] == read_at - CURSOR_OVERLAP
               for k in ("Customer", "Item", "Class", "Invoice", "Payment"))
    assert {k: v for k, v in w.cursors.items.items() if not k.startswith("qbo:")} == \
        {k: v for k, v in before.items() if not k.startswith("qbo:")}
    assert not [name for (run_id, name, _) in w.runs.chunks_by_name if run_id == "r1"]  # nothing for later tasks



def test_a_run_that_ends_at_its_start_records_the_phase_a_walked_run_ends_with():
    """Its start recorded "reading_changes" before reading; the finished record says what a finished run's says, on
    a first pass and on a pass after going round."""
    w = settled()
    walked = w.runs.get("t1", "r0-edge").phase
    assert start(w, "quiet")["stop"] and w.runs.get("t1", "quiet").phase == walked
    w.tick()
    _hint_while_start_lists_clients(w, lambda: None)
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    _, tasks = walk(engine, engine.start({"tenant_id": "t1", "run_id": "r1"}))
    assert tasks == ["start", "finish", "start"] and w.runs.get("t1", "r1").phase == walked

def test_a_change_in_quickbooks_walks_the_run():
    w = settled()
    assert ends_at_start(w)
    qbo_id = w.links.get("t1", "customer", "c1").qbo_id
    w.books.edit("Customer", qbo_id, PrimaryPhone={"FreeFormNumber": "602-555-0199"})
    w.tick()
    state = start(w, "busy")
    assert not state["stop"] and state["counts"] == {"quickbooks_customer_changes": 1}


@pytest.mark.parametrize("entity,row", [("Item", {"Name": "Drain Snake", "Type": "Service"}),
                                        ("Class", {"Name": "Install"})])
def test_a_change_in_quickbooks_of_a_kind_the_settings_do_not_import_still_walks_the_run(entity, row):
    w = settled()
    assert ends_at_start(w)
    w.books.add(entity, row)
    w.tick()
    assert not start(w, "busy")["stop"]


def test_a_client_changed_on_the_platform_walks_the_run_and_arrives():
    w = settled()
    assert ends_at_start(w)
    client = w.platform.clients["c1"]
    w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="602-555-0777"))
    w.tick()
    w.run("r1")
    row = w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]
    assert row["PrimaryPhone"]["FreeFormNumber"] == "602-555-0777"


def test_a_record_updated_at_the_cursors_instant_but_not_applied_then_walks_the_run():
    """The cursor keeps the ids applied at its instant; another record stamped with that same instant is new."""
    w = settled()
    assert ends_at_start(w)
    edge = w.cursors.items["fsp:clients"]
    w.platform.clients["c2"] = SimpleNamespace(id="c2", updated_at=edge)
    assert not start(w, "busy")["stop"]


PLATFORM_KINDS = [
    ("sites", {}, "sites"),
    ("invoices", {"invoices": {"enabled": True, "income_account_id": "79", "expense_account_id": "80"}},
     "invoices"),
    ("payments", {"payments": {"enabled": True}}, "payments"),
    ("items", {"items": {"enabled": True, "direction": "platform_to_quickbooks"}}, "items"),
    ("job_types", {"job_types": {"enabled": True, "always_create_class": True}}, "job_types"),
]


@pytest.mark.parametrize("kind,settings,rows", PLATFORM_KINDS, ids=[k for k, _, _ in PLATFORM_KINDS])
def test_a_record_changed_on_the_platform_of_each_kind_the_settings_sync_walks_the_run(kind, settings, rows):
    w = settled(settings)
    assert ends_at_start(w)
    record = SimpleNamespace(id=f"{kind}-1", updated_at=w.now)
    if kind == "job_types":
        w.platform.job_types.setdefault("t1", {})[record.id] = record
    else:
        getattr(w.platform, rows)[record.id] = record
    w.tick()
    assert not start(w, "busy")["stop"]


def test_a_kind_the_settings_do_not_sync_is_not_asked_about():
    w = settled({"sites": {"enabled": False}})
    w.platform.sites["s1"] = SimpleNamespace(id="s1", updated_at=w.now)
    w.tick()
    w.platform.calls.clear()
    assert ends_at_start(w) and w.platform.calls == ["list"]  # clients only


def test_a_record_an_admin_asked_to_retry_walks_the_run():
    w = settled()
    assert ends_at_start(w)
    entry = w.errors.record(ErrorEntry("t1", "invoice", "inv_9", "to_quickbooks", "6000", "refused"))
    assert ends_at_start(w, "still-quiet")  # a refusal alone waits for its record to change
    w.errors.request_retry("t1", entry.key)
    assert not start(w, "busy")["stop"]


def test_a_record_waiting_on_one_now_in_quickbooks_walks_the_run_and_one_still_waiting_does_not():
    w = settled()
    w.errors.record(ErrorEntry("t1", "site", "s1", "to_quickbooks", "waiting_for_client", "waits",
                               waits_for="customer#c2"))
    assert ends_at_start(w)  # c2 is not in QuickBooks yet: nothing to do
    # c2 linked to a customer QuickBooks has had since before the cursor (by onboarding's conflict resolution, say):
    # CDC shows nothing, and only the waiting site says there is work.
    w.links.put(Link("t1", "customer", "c2", "77"))
    w.books.calls.clear()
    state = start(w, "busy")
    assert not state["stop"] and w.books.calls == ["cdc"]


def test_a_waiting_entry_that_names_nothing_it_waits_for_walks_the_run():
    w = settled()
    assert ends_at_start(w)
    w.errors.record(ErrorEntry("t1", "client", "c7", "to_quickbooks", "waiting_for_parent", "waits"))
    assert not start(w, "busy")["stop"]


def test_the_daily_reconciliation_sweep_walks_the_run():
    w = settled()
    assert ends_at_start(w)
    # A day and more since the last sweep, and past the 25 hours it re-reads: its window holds no change either.
    w.tick(int((RECONCILE_EVERY + timedelta(hours=2)) / timedelta(minutes=1)))
    state = start(w, "sweep")
    assert not state["stop"] and state["reconcile"]


def test_items_first_full_match_in_a_direction_walks_the_run():
    w = settled({"items": {"enabled": True}})
    assert ends_at_start(w)
    w.settings = SyncSettings.model_validate({"items": {"enabled": True, "direction": "platform_to_quickbooks"}})
    assert not start(w, "busy")["stop"]


def test_a_review_entry_waiting_to_be_synced_walks_the_run():
    w = settled()
    queue = FakeReviewQueue(w.clock)

    def engine():
        deps = Deps("t1", lambda: w.books, w.platform, w.links, w.runs, w.errors, w.settings, w.connections)
        return SyncEngine(deps, w.gate, w.cursors, w.clock, review=queue)

    assert ends_at_start(w, engine=engine())
    queue.hold("t1", [ReviewEntry("import", "customer", w.links.get("t1", "customer", "c1").qbo_id, "Acme",
                                  "update", "v1")])  # held in review mode, which is now off: released to sync
    assert not start(w, "busy", engine())["stop"]


def _hint_while_start_lists_clients(w: World, change) -> None:
    real, hinted = w.platform.list_clients, []

    def list_clients(*args, **kwargs):
        page = real(*args, **kwargs)
        if not hinted:  # the first list, by `start`: a change (or a Sync Now) and its hint land just after it
            hinted.append(True)
            w.tick()
            change()
            w.gate.note_change("t1")
        return page

    w.platform.list_clients = list_clients


def test_a_change_and_its_hint_after_the_start_listed_the_platform_walk_the_run_and_go_round():
    """The gate's mark: a change committed after `start` listed its kind is covered by this run, which walks on
    (its steps list it) and goes round for it, as a run that had work always did."""
    w = settled()
    assert ends_at_start(w)

    def change():
        client = w.platform.clients["c1"]
        w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="602-555-0777"))

    _hint_while_start_lists_clients(w, change)
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.start({"tenant_id": "t1", "run_id": "r1"})
    assert not state["stop"] and w.gate.read("t1").holder == "r1"
    state, tasks = walk(engine, state)
    assert tasks[:2] == ["start", "finish"]
    row = w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]
    assert row["PrimaryPhone"]["FreeFormNumber"] == "602-555-0777"
    run = w.runs.get("t1", "r1")
    assert run.status == "succeeded" and "reason" not in run.summary
    assert run.summary["counts"]["passes_for_changes_during_the_run"] == 1
    assert w.gate.read("t1").holder is None


def test_a_pass_after_going_round_with_nothing_to_do_ends_at_its_start_and_keeps_the_runs_counts():
    """Sync Now pressed while a quiet start reads: the release fails, the run walks and goes round, and that pass,
    which finds nothing, ends at its start; the history says what the run did, not that nothing changed."""
    w = settled()
    assert ends_at_start(w)
    _hint_while_start_lists_clients(w, lambda: None)
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state, tasks = walk(engine, engine.start({"tenant_id": "t1", "run_id": "r1"}))
    assert tasks == ["start", "finish", "start"]
    run = w.runs.get("t1", "r1")
    assert run.status == "succeeded" and run.summary == {"counts": {"passes_for_changes_during_the_run": 1}}
    assert w.gate.read("t1").holder is None and w.connections.get("t1").last_sync_at == w.now


def test_a_quickbooks_edit_of_a_customer_whose_client_sits_at_the_platform_cursors_instant_arrives():
    """The last run applied the client at the platform cursor's instant, so this run's page leaves it out; the
    QuickBooks step must not take it for a client its page merged (found by helper-26: the edit was dropped)."""
    w = settled()
    qbo_id = w.links.get("t1", "customer", "c1").qbo_id
    w.books.edit("Customer", qbo_id, PrimaryEmailAddr={"Address": "office@acme.example"})
    w.tick()
    assert w.run("r1").status == "succeeded"
    assert w.platform.clients["c1"].contact.email == "office@acme.example"
