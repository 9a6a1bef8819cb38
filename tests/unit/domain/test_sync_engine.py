"""The sync engine with fakes (no network): cursors, the two-way client merge, new records on either side, the
direction setting, echoes, deletions, stale objects, transient faults, and the run gate."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shared.domain.clients import customer_values, fingerprints, merge
from shared.domain.connections import Connection
from shared.domain.onboarding import Deps
from shared.domain.records import Link, SyncRun
from shared.domain.settings import SyncSettings
from shared.domain.sync_run import SyncEngine
from shared.fieldservice.models import Address
from shared.quickbooks.errors import Throttled
from shared.quickbooks.shapes import customer_state
from tests.fakes import (
    FakeBooks,
    FakeConnections,
    FakeCursors,
    FakeErrorLog,
    FakeLinkStore,
    FakePlatform,
    FakeRunStore,
    FakeSyncGate,
    FakeWorkflows,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, direction="two_way", **client_settings):
        self.now = T0
        self.books, self.platform = FakeBooks(self.clock), FakePlatform(self.clock)
        self.links, self.runs, self.errors = FakeLinkStore(), FakeRunStore(), FakeErrorLog()
        self.cursors, self.gate, self.connections = FakeCursors(), FakeSyncGate(lambda: 0.0), FakeConnections()
        self.runs.create(SyncRun("t1", "onb", "onboarding", "succeeded", T0))
        self.connections.save(Connection("t1", "connected", realm_id="realm-1",
                                         onboarding={"status": "completed", "run_id": "onb"}))
        self.settings = SyncSettings.model_validate({"clients": {"direction": direction, **client_settings}})

    def clock(self):
        return self.now

    def tick(self, minutes=1):
        self.now += timedelta(minutes=minutes)

    def engine(self):
        deps = Deps("t1", lambda: self.books, self.platform, self.links, self.runs, self.errors, self.settings,
                    self.connections)
        return SyncEngine(deps, self.gate, self.cursors, self.clock)

    def linked_pair(self, fsp_id, **fields):
        """A client and customer linked by onboarding with the same values, and their fingerprints."""
        client = self.platform.add_client(fsp_id, **fields)
        row = self.books.add("Customer", {"DisplayName": fields.get("company") or fsp_id,
                                          "CompanyName": fields.get("company"),
                                          "PrimaryPhone": {"FreeFormNumber": fields.get("phone")}
                                          if fields.get("phone") else None, "Active": True})
        row = {k: v for k, v in row.items() if v is not None}
        self.books.rows["Customer"][row["Id"]] = row
        from shared.domain.clients import baseline, client_values

        self.links.put(Link("t1", "customer", fsp_id, row["Id"], sync_token=row["SyncToken"],
                            extra={"fp": baseline(client_values(client), customer_values(customer_state(row)))}))
        return client, row

    def run(self, run_id="r1"):
        """One sync run through every task, as the state machine drives it (loops until each step is done)."""
        engine = self.engine()
        self.runs.create(SyncRun("t1", run_id, "sync", "running", self.now))
        walk(engine, engine.start({"tenant_id": "t1", "run_id": run_id}))
        return self.runs.get("t1", run_id)


def walk(engine, state: dict, after: Callable[[str], None] = lambda boundary: None) -> tuple[dict, list[str]]:
    """The state machine's walk from a first `start`'s answer (sync.asl.json), naming the tasks that decide where a
    pass ends; each step's task is looped until its cursor says done. `after(boundary)` is called after each task of
    the first pass: "start", "sync_items", the clients step's platform pages ("clients_page_0", ...) and its later
    parts ("clients_quickbooks"), the other steps by name, "finish"."""
    tasks, first = ["start"], True
    after("start")
    while not state["stop"]:
        state = engine.sync_items({**state, "cursor": {"done": False}})
        if first:
            after("sync_items")
        for step in ("sync_clients", "sync_sites", "push_invoices", "push_payments"):
            state, page = {**state, "cursor": {"done": False}}, 0
            while not state["cursor"]["done"]:
                part = state["cursor"].get("step", "platform")
                state = getattr(engine, step)(state)
                if first:
                    after(step if step != "sync_clients" else f"clients_page_{page}" if part == "platform"
                          else f"clients_{part}")
                page += 1
        state = engine.finish(state)
        tasks.append("finish")
        if first:
            after("finish")
        first = False
        if state.get("again"):
            state = engine.start(state)
            tasks.append("start")
    return state, tasks


def test_a_phone_changed_in_quickbooks_reaches_the_platform_and_its_echo_is_not_sent_back():
    w = World()
    w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.tick()
    w.books.edit("Customer", w.links.get("t1", "customer", "c1").qbo_id, PrimaryPhone={"FreeFormNumber": "555-0199"})
    w.tick()
    run = w.run()
    assert run.status == "succeeded" and run.summary["counts"]["clients_updated_on_platform"] == 1
    assert w.platform.clients["c1"].contact.phone == "555-0199"
    w.tick()
    w.books.calls.clear()
    second = w.run("r2")
    assert w.books.calls == ["cdc"]  # nothing changed: one CDC call, no write, no read
    assert "customers_updated_in_quickbooks" not in second.summary["counts"]


def test_an_address_changed_on_the_platform_reaches_quickbooks_without_a_read():
    w = World()
    w.linked_pair("c1", company="Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", billing_address=Address("1 Main St", None, "Phoenix", "AZ", "85001", "US"))
    w.tick()
    w.run()
    row = w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]
    assert row["BillAddr"]["Line1"] == "1 Main St" and row["BillAddr"]["CountrySubDivisionCode"] == "AZ"
    assert "read" not in w.books.calls
    assert w.links.get("t1", "customer", "c1").sync_token == row["SyncToken"]


def test_the_same_field_edited_on_both_sides_goes_to_the_most_recent_edit_and_the_run_says_who_won():
    w = World()
    client, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0001"})  # older
    w.tick()
    w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="555-0002"))  # newer
    w.tick()
    run = w.run()
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0002"
    assert run.summary["counts"]["client_conflicts_platform_won"] == 1


def test_quickbooks_master_ignores_platform_edits_and_platform_master_ignores_quickbooks_edits():
    for direction, expect_platform, expect_books in (("quickbooks_master", "555-0001", "555-0001"),
                                                      ("platform_master", "555-0002", "555-0002")):
        w = World(direction)
        client, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
        w.tick()
        if direction == "quickbooks_master":
            w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0001"})
            w.platform.update_client("t1", "c1", company_name="Acme Plumbing")  # touched, phone unchanged
        else:
            w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="555-0002"))
            w.books.edit("Customer", row["Id"], CompanyName="Acme Plumbing")
        w.tick()
        w.run()
        assert w.platform.clients["c1"].contact.phone == expect_platform
        assert w.books.rows["Customer"][row["Id"]].get("PrimaryPhone", {}).get("FreeFormNumber") in (
            expect_books, "555-0100") if direction == "platform_master" else True


def test_new_records_on_either_side_are_created_on_the_other_and_the_same_company_on_both_is_matched():
    w = World()
    w.tick()
    w.platform.add_client("c9", company="Brand New HVAC", email="hi@brandnew.example")
    w.books.add("Customer", {"DisplayName": "Fresh From Books LLC", "CompanyName": "Fresh From Books LLC",
                             "Active": True})
    w.platform.add_client("c10", company="Twin Co", email="twin@example.com")
    w.books.add("Customer", {"DisplayName": "Twin Co", "CompanyName": "Twin Co",
                             "PrimaryEmailAddr": {"Address": "twin@example.com"}, "Active": True})
    w.tick()
    run = w.run()
    names = sorted(c["DisplayName"] for c in w.books.rows["Customer"].values())
    assert names == ["Brand New HVAC", "Fresh From Books LLC", "Twin Co"]  # no second Twin Co
    assert sorted(c.company_name for c in w.platform.clients.values()) == [
        "Brand New HVAC", "Fresh From Books LLC", "Twin Co"]
    assert run.summary["counts"]["clients_matched"] == 1
    w.tick()
    w.run("r2")  # nothing is created twice by the next run
    assert len(w.books.rows["Customer"]) == 3 and len(w.platform.clients) == 3


def test_an_inactive_client_makes_its_customer_inactive():
    w = World()
    w.linked_pair("c1", company="Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", active=False)
    w.tick()
    w.run()
    assert w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]["Active"] is False


def test_a_customer_deleted_or_merged_in_quickbooks_is_flagged_never_recreated():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing")
    w.tick()
    del w.books.rows["Customer"][row["Id"]]
    original = w.books.cdc_rows

    def with_tombstone(entities, since):
        rows = original(entities, since)
        rows["Customer"].append({"status": "Deleted", "Id": row["Id"],
                                 "MetaData": {"LastUpdatedTime": w.now.isoformat()}})
        return rows

    w.books.cdc_rows = with_tombstone
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing Inc")
    w.tick()
    w.run()
    assert w.books.rows["Customer"] == {}
    assert w.errors.open()["client#c1"].code == "deleted_in_quickbooks"


def test_a_stale_sync_token_is_re_read_and_merged_not_failed():
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.tick()
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing West")
    link = w.links.get("t1", "customer", "c1")
    link.sync_token = "stale"
    w.links.put(link)
    w.tick()
    w.run()
    assert w.books.rows["Customer"][row["Id"]]["CompanyName"] == "Acme Plumbing West"
    assert not w.errors.open()


def test_a_canadian_customer_without_a_province_names_canada_and_never_gets_the_us_default():
    w = World(use_default_state=True, default_state="AZ")
    w.tick()
    w.books.add("Customer", {"DisplayName": "Maple Ltd", "CompanyName": "Maple Ltd", "Active": True,
                             "BillAddr": {"Line1": "1 Rue", "City": "Montreal", "PostalCode": "H2X",
                                          "Country": "Canada"}})
    w.tick()
    w.run()
    entry = next(iter(w.errors.open().values()))
    assert "Country <Canada>" in entry.message and entry.code == "missing_state"
    assert not w.platform.clients


def test_a_throttle_pauses_the_run_and_the_retry_loses_and_duplicates_nothing():
    w = World()
    w.tick()
    w.platform.add_client("c9", company="Brand New HVAC")
    w.tick()
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.start({"tenant_id": "t1", "run_id": "r1"})
    state = engine.sync_items({**state, "cursor": {"done": False}})
    # The platform page keeps its writes for the step's last task, which sends them.
    state = engine.sync_clients({**state, "cursor": {"done": False}})
    assert state["cursor"]["step"] == "quickbooks" and not w.books.rows["Customer"]
    w.books.fail_next = [Throttled("3001", "ThrottleExceeded")]
    with pytest.raises(Throttled):  # the state machine backs off and re-runs the task with the same input
        engine.sync_clients(state)
    assert not w.errors.entries
    w.run("r1")  # the whole run again, as the retry would
    assert [c["DisplayName"] for c in w.books.rows["Customer"].values()] == ["Brand New HVAC"]
    assert not w.errors.entries


def test_a_second_run_folds_into_the_first_and_the_first_goes_round_again_for_its_change():
    w = World()
    w.platform.add_client("c1", company="Acme Plumbing")  # r1 has work: a run with none ends at its start
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    first = engine.start({"tenant_id": "t1", "run_id": "r1"})
    w.gate.note_change("t1")  # "Sync Now" while r1 runs
    w.runs.create(SyncRun("t1", "r2", "sync", "running", w.now))
    second = engine.start({"tenant_id": "t1", "run_id": "r2"})
    assert second["stop"] and w.runs.get("t1", "r2").status == "succeeded"
    assert w.runs.get("t1", "r2").summary["folded_into"] == "r1"
    done = engine.finish({**first, "cursor": {"done": True}})
    assert done["again"] and not done["stop"]
    again = engine.finish(engine.start(done))
    assert again["stop"] and w.runs.get("t1", "r1").status == "succeeded"
    assert w.gate.read("t1").holder is None


def test_cursors_move_only_when_the_run_finishes():
    w = World()
    w.platform.add_client("c1", company="Acme Plumbing")  # a run with nothing to do moves them at its start
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.start({"tenant_id": "t1", "run_id": "r1"})
    assert not {k for k in w.cursors.items if k.startswith("qbo:")}
    engine.finish({**state, "cursor": {"done": True}})
    assert w.cursors.items["qbo:Customer"] <= w.now


def test_merge_takes_each_field_from_the_side_that_changed_it_and_leaves_differences_found_at_linking():
    was = {"company": "A", "first": None, "last": None, "email": "a@x.com", "phone": "602-555-0100",
           "address": None, "active": True}
    base = {"p": fingerprints(was), "q": fingerprints({**was, "first": "Ann"})}  # differed when linked
    platform = {**was, "email": "new@x.com"}
    books = {**was, "first": "Ann", "phone": "602-555-0199"}
    result = merge(base, platform, books, T0, T0, "two_way")
    assert result.to_quickbooks == {"email": "new@x.com"} and result.to_platform == {"phone": "602-555-0199"}
    assert customer_values(customer_state({"Id": "1", "DisplayName": "A", "Active": False}))["active"] is False


def test_merge_without_a_baseline_records_one_and_writes_nothing():
    values = {"company": "A", "first": None, "last": None, "email": "a@x.com", "phone": None, "address": None,
              "active": True}
    result = merge({}, values, {**values, "email": "b@x.com"}, T0, T0, "two_way")
    assert not result.writes and result.platform_fp and result.quickbooks_fp


class _JobTypes:
    def __init__(self, clock):
        from shared.fieldservice.models import JobType

        self.rows = {"jt1": JobType("jt1", "Drain Cleaning", True, clock(), clock()),
                     "jt2": JobType("jt2", "HVAC: Install", True, clock(), clock())}

    def get_job_type(self, tenant_id, job_type_id):
        return self.rows[job_type_id]


def _classes_world(**job_types):
    from shared.domain.classes import JobTypeClasses

    w = World()
    w.settings = SyncSettings.model_validate({"invoices": {"enabled": True}, "job_types": {"enabled": True,
                                                                                           **job_types}})
    jt = _JobTypes(w.clock)
    w.platform.get_job_type = jt.get_job_type
    deps = Deps("t1", lambda: w.books, w.platform, w.links, w.runs, w.errors, w.settings, w.connections)
    from shared.domain.run_log import StateRunLog

    return w, jt, JobTypeClasses(deps, StateRunLog("t1", {}, w.errors))


def test_create_new_job_class_finds_an_existing_class_by_name_first_and_creates_once():
    w, jt, classes = _classes_world(class_mapping={"jt1": {"mode": "create"}, "jt2": {"mode": "create"}})
    existing = w.books.add("Class", {"Name": "Drain Cleaning"})
    assert classes.class_for("jt1") == existing["Id"]
    made = classes.class_for("jt2")
    assert w.books.rows["Class"][made]["Name"] == "HVAC- Install"  # ':' is QuickBooks' sub-class separator
    assert classes.class_for("jt2") == made and len(w.books.rows["Class"]) == 2


def test_always_create_gives_each_new_job_type_its_class_and_none_means_none():
    w, jt, classes = _classes_world(always_create_class=True, class_mapping={"jt2": {"mode": "none"}})
    w.books.classes_named = lambda names: []
    classes.new_job_types(list(jt.rows.values()))
    assert [r["Name"] for r in w.books.rows["Class"].values()] == ["Drain Cleaning"]
    assert classes.class_for("jt1") is not None and classes.class_for("jt2") is None


def test_a_new_site_becomes_a_sub_customer_with_its_clients_state_and_a_site_of_an_unlinked_client_waits():
    from shared.domain.run_log import StateRunLog
    from shared.domain.sites import SiteSync
    from shared.fieldservice.models import Site

    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True, "use_client_address_state": True}})
    client, row = w.linked_pair("c1", company="Acme Plumbing",
                                address=Address("1 Main St", None, "Phoenix", "AZ", "85001", "US"))
    site = Site("s1", "c1", "Yard", Address("9 Dock Rd", None, "Mesa", None, "85201", None), None, True, w.now,
                w.now)
    orphan = Site("s2", "c-unlinked", "Shed", Address("2 Elm", None, "Mesa", "AZ", "85201", "US"), None, True,
                  w.now, w.now)
    deps = Deps("t1", lambda: w.books, w.platform, w.links, w.runs, w.errors, w.settings, w.connections)
    state = {"run_id": "r1"}
    from shared.domain.onboarding import Onboarding

    def create(rows):
        engine = Onboarding(deps)
        chooser = engine.lane_chooser(state, w.books, "site")
        return engine._create_in_batches(state, w.books, "site", "site", rows, chooser)

    SiteSync(deps, StateRunLog("t1", state, w.errors), create).apply([site, orphan])
    job = next(r for r in w.books.rows["Customer"].values() if r.get("Job"))
    assert job["ParentRef"] == {"value": row["Id"]} and job["ShipAddr"]["CountrySubDivisionCode"] == "AZ"
    assert w.errors.open()["site#s2"].code == "waiting_for_client"


def test_a_site_onboarding_created_from_a_job_is_compared_with_what_onboarding_kept_not_read_again():
    from shared.domain import parties
    from shared.domain.run_log import StateRunLog
    from shared.domain.sites import SiteSync
    from shared.fieldservice.models import Site

    w = World()
    w.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
    w.linked_pair("c1", company="Acme Plumbing")
    yard = Address("9 Dock Rd", None, "Mesa", "AZ", "85201", "US")
    job = w.books.add("Customer", {"DisplayName": "Acme Plumbing:Yard", "Job": True, "Active": True})
    for site_id, line1 in (("s1", "9 Dock Rd"), ("s2", "1 Other St")):  # s2: moved on the platform since
        w.platform.sites[site_id] = Site(site_id, "c1", "Yard", yard, None, True, w.now, w.now)
        held = {"ship_key": parties.address_key({"line1": line1, "postal_code": "85201"}), "active": True}
        w.links.put(Link("t1", "site", site_id, job["Id"], sync_token=job["SyncToken"], extra={"held": held}))
    w.books.calls.clear()
    deps = Deps("t1", lambda: w.books, w.platform, w.links, w.runs, w.errors, w.settings, w.connections)
    SiteSync(deps, StateRunLog("t1", {"run_id": "r1"}, w.errors), lambda rows: 0).apply(
        [w.platform.sites["s1"], w.platform.sites["s2"]])
    assert "read" not in w.books.calls and w.books.calls.count("update") == 1
    assert w.books.rows["Customer"][job["Id"]]["ShipAddr"]["Line1"] == "9 Dock Rd"


def test_a_waiting_record_is_re_read_only_once_what_it_waits_for_is_in_quickbooks():
    """A quiet run costs no platform reads for records still waiting; the one whose dependency synced goes again,
    and a site waiting for its client is never left stuck."""
    from shared.fieldservice.models import Site

    w = World()
    # QuickBooks is the master, so the new client is not created there and its site waits for it.
    w.settings = SyncSettings.model_validate({"clients": {"direction": "quickbooks_master"},
                                              "sites": {"enabled": True}})
    w.platform.add_client("c2", company="Later Plumbing")
    w.platform.sites["s1"] = Site("s1", "c2", "Yard", Address("9 Dock Rd", None, "Mesa", "AZ", "85201", "US"),
                                  None, True, w.now, w.now)
    w.tick()
    w.run()
    assert w.errors.open()["site#s1"].code == "waiting_for_client"
    assert w.errors.open()["site#s1"].waits_for == "customer#c2"
    w.tick()
    w.platform.sites["s2"] = Site("s2", "c2", "Shed", Address("2 Elm", None, "Mesa", "AZ", "85201", "US"), None,
                                  True, w.now, w.now)  # a later change moves the sites cursor past s1
    w.tick()
    w.platform.calls.clear()
    w.run("r2")
    assert "get_site" not in w.platform.calls  # s1 still waits: not re-read
    row = w.books.add("Customer", {"DisplayName": "Later Plumbing", "Active": True})
    w.links.put(Link("t1", "customer", "c2", row["Id"], sync_token=row["SyncToken"]))
    w.tick()
    w.run("r3")
    # Both sites waited on c2 and are re-read once each (s2, applied at the cursor's instant, is not listed again).
    assert w.platform.calls.count("get_site") == 2 and not w.errors.open()
    jobs = [r for r in w.books.rows["Customer"].values() if r.get("Job")]
    assert len(jobs) == 2 and {j["ParentRef"]["value"] for j in jobs} == {row["Id"]}


def test_a_run_with_nothing_to_push_reads_no_quickbooks_preferences():
    w = World()
    w.settings = SyncSettings.model_validate({"invoices": {"enabled": True}, "payments": {"enabled": True}})
    w.linked_pair("c1", company="Acme Plumbing")
    w.tick()
    w.run()
    w.tick()
    w.books.calls.clear()
    w.run("r2")
    assert w.books.calls == ["cdc"]


STEPS = ("start", "sync_items", "sync_clients", "sync_sites", "push_invoices", "push_payments", "finish")


@pytest.mark.parametrize("boundary", range(len(STEPS)))
def test_a_hint_at_any_task_boundary_of_a_running_sync_is_applied_before_the_run_ends(boundary):
    """Issue 12: a change (and its hint) arriving after the run read its side is covered: the gate makes the run
    go round again. The change lands between two tasks, as a webhook would."""
    from shared.domain.sync_requests import SyncRequests

    w = World()
    w.linked_pair("c1", company="Acme Plumbing", phone="602-555-0100")
    w.tick()
    engine = w.engine()
    workflows = FakeWorkflows()
    requests = SyncRequests(w.gate, w.runs, workflows)
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state, step, passes = {"tenant_id": "t1", "run_id": "r1"}, 0, 0
    while True:
        name = STEPS[step]
        state = getattr(engine, name)({**state, "cursor": state.get("cursor") or {"done": False}}
                                      if name != "start" else state)
        if name == "start" and state["stop"]:
            break
        if step == boundary and passes == 0:
            w.tick()
            client = w.platform.clients["c1"]
            w.platform.update_client("t1", "c1", contact=client.contact.__class__(phone="602-555-0777"))
            covered = requests.request("t1", "webhook")
            if name == "finish":  # the run already ended: the request starts the next one, nothing is dropped
                assert covered.started and [r for _, _, r, _ in workflows.started] == [covered.run.run_id]
                return
            assert not covered.started and covered.run.run_id == "r1"  # the running run covers it
        if name in ("sync_clients", "sync_sites", "push_invoices", "push_payments") and not state["cursor"]["done"]:
            continue
        if name == "finish":
            passes += 1
            if not state.get("again"):
                break
            step = 0
            continue
        step += 1
        state = {**state, "cursor": {"done": False}}
    assert w.runs.get("t1", "r1").status == "succeeded" and not workflows.started
    row = w.books.rows["Customer"][w.links.get("t1", "customer", "c1").qbo_id]
    assert row["PrimaryPhone"]["FreeFormNumber"] == "602-555-0777"
    assert w.gate.read("t1").holder is None


def test_many_updates_go_in_both_lanes_and_a_stale_sync_token_in_either_is_re_read_and_merged():
    from shared.domain import lanes

    w = World()
    rows = {f"c{n:03d}": w.linked_pair(f"c{n:03d}", company=f"Company {n:03d}")[1] for n in range(200)}
    w.tick()
    for n, fsp_id in enumerate(rows):
        w.platform.update_client("t1", fsp_id, company_name=f"Company {n:03d} LLC")
    w.tick()
    # Every 10th customer is edited in QuickBooks while the run is under way, just before our first write of it
    # (in whichever lane it goes): that write is answered 5010.
    racing = {row["Id"] for n, row in enumerate(rows.values()) if n % 10 == 0}
    real_update, real_batch = w.books.update, w.books.batch

    def edited_first(qbo_id):
        if qbo_id in racing:
            racing.discard(qbo_id)
            w.books.edit("Customer", qbo_id, PrimaryEmailAddr={"Address": "books@example.com"})

    def update(entity, body, request_id=None, sparse=True):
        edited_first(body["Id"])
        return real_update(entity, body, request_id, sparse)

    def batch(ops, request_id):
        for op in ops:
            edited_first(op.body["Id"])
        return real_batch(ops, request_id)

    w.books.update, w.books.batch = update, batch
    w.books.calls.clear()
    run = w.run()
    assert all(w.books.rows["Customer"][row["Id"]]["CompanyName"] == f"Company {n:03d} LLC"
               for n, row in enumerate(rows.values()))
    assert not racing and not w.errors.open()
    assert run.summary["counts"]["customers_updated_in_quickbooks"] == 200
    assert w.books.calls.count("update") >= lanes.singles_for(200) > 0  # the single lane carried some
    assert w.books.calls.count("read") == 20  # each raced one re-read once, in whichever lane it went
    assert all(w.books.rows["Customer"][row["Id"]].get("PrimaryEmailAddr") == {"Address": "books@example.com"}
               for n, row in enumerate(rows.values()) if n % 10 == 0)  # their QuickBooks edit was kept


def test_many_links_by_quickbooks_id_are_one_read_of_the_kind_and_a_few_are_one_query_each():
    from shared.domain.records import BY_QBO_QUERIES_AT_MOST, links_by_qbo

    class Counting(FakeLinkStore):
        def __init__(self):
            super().__init__()
            self.reads: list[str] = []

        def by_qbo(self, tenant_id, entity, qbo_id):
            self.reads.append("by_qbo")
            return super().by_qbo(tenant_id, entity, qbo_id)

        def all(self, tenant_id, entity):
            self.reads.append("all")
            return super().all(tenant_id, entity)

    links = Counting()
    for n in range(BY_QBO_QUERIES_AT_MOST + 10):
        links.put(Link("t1", "invoice", f"inv{n}", f"q{n}"))
    many = links_by_qbo(links, "t1", "invoice", [f"q{n}" for n in range(BY_QBO_QUERIES_AT_MOST + 10)] + ["q-none"])
    assert links.reads == ["all"] and len(many) == BY_QBO_QUERIES_AT_MOST + 10 and many["q3"].fsp_id == "inv3"
    links.reads.clear()
    few = links_by_qbo(links, "t1", "invoice", ["q1", "q2", "q-none"])
    assert links.reads == ["by_qbo"] * 3 and set(few) == {"q1", "q2"}


def test_updates_stay_in_batches_while_the_budget_has_room_and_the_run_keeps_the_split_it_chose():
    from shared.domain import lanes

    w = World()
    rows = {f"c{n:03d}": w.linked_pair(f"c{n:03d}", company=f"Company {n:03d}")[1] for n in range(200)}
    w.tick()
    for n, fsp_id in enumerate(rows):
        w.platform.update_client("t1", fsp_id, company_name=f"Company {n:03d} Inc")
    w.tick()
    w.books.pacing = lanes.Budget(10, 20, lanes.IDLE.batch_interval, lanes.IDLE.request_interval)
    w.books.calls.clear()
    run = w.run()
    assert run.summary["counts"]["customers_updated_in_quickbooks"] == 200
    assert w.books.calls.count("batch") == 7 and "update" not in w.books.calls  # 200 in 7 batches: the call bound
    kept = [rows for (run_id, name, _), rows in w.runs.chunks_by_name.items() if name.startswith("lanes-")]
    assert kept == [[0, 200]]  # the split, remembered for a retry of the task


def test_a_client_written_on_one_page_and_listed_again_on_a_later_one_is_not_reverted_by_the_cdc_snapshot(
        monkeypatch):
    """Edited on both sides (phone on the platform, email in QuickBooks): the first page merges it, PATCHes the email
    and updates the phone in QuickBooks. Our PATCH moves the client to the end of the platform's order, so a later
    page lists it again, while this run's CDC rows still hold the customer as it was before our update (older
    SyncToken, old phone). That older copy is not an edit made in QuickBooks: the platform's phone stays, and
    neither side is written again (measured in bench/steady_state.py: 28 pairs re-PATCHed every run)."""
    from shared.domain import sync_run
    from shared.fieldservice.models import Contact

    monkeypatch.setattr(sync_run, "PLATFORM_PAGE", 1)
    w = World()
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="555-0100")
    w.linked_pair("c2", company="Birch Electric")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0199"))
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryEmailAddr={"Address": "ap@acme.example"})
    w.tick()
    w.platform.update_client("t1", "c2", company_name="Birch Electric LLC")
    w.tick()
    w.platform.calls.clear()
    run = w.run()
    client, customer = w.platform.clients["c1"], w.books.rows["Customer"][row["Id"]]
    assert client.contact.phone == "555-0199" and client.contact.email == "ap@acme.example"
    assert customer["PrimaryPhone"]["FreeFormNumber"] == "555-0199"
    assert w.platform.calls.count("update") == 1 and run.summary["counts"]["clients_updated_on_platform"] == 1
    assert w.platform.calls.count("list") >= 3  # c1, c2, then c1 again: the case this test is about
    w.tick()
    w.platform.calls.clear()
    w.books.calls.clear()
    w.run("r2")
    assert "update" not in w.platform.calls and w.books.calls == ["cdc"]


def test_records_applied_at_the_cursor_instant_are_not_listed_again_but_any_change_is():
    """`updated_since` is inclusive: the cursor keeps the ids applied at exactly its instant, so the next run does
    not judge them again (a quiet run reads nothing it need not, e.g. no Preferences for the newest invoice). A
    record changed since has a later `updated_at`; another record stamped at the very same instant is not one of
    those ids: both are listed."""
    from dataclasses import replace

    w = World()
    _, acme = w.linked_pair("c1", company="Acme Plumbing")
    _, birch = w.linked_pair("c2", company="Birch Electric")
    w.tick()
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing LLC")
    edge = w.now
    w.tick()
    w.run()  # lists both (the first cursor is onboarding's start), applies c1's change
    assert w.cursors.items["fsp:clients"] == edge and w.cursors.ids["fsp:clients"] == {"c1"}
    w.tick()
    assert w.run("r2").summary["counts"].get("platform_client_changes", 0) == 0
    assert w.cursors.items["fsp:clients"] == edge and w.cursors.ids["fsp:clients"] == {"c1"}
    w.platform.clients["c2"] = replace(w.platform.clients["c2"], company_name="Birch Electric LLC", updated_at=edge)
    w.tick()
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing Inc")
    w.tick()
    third = w.run("r3")
    assert third.summary["counts"]["platform_client_changes"] == 2
    assert w.books.rows["Customer"][acme["Id"]]["CompanyName"] == "Acme Plumbing Inc"
    assert w.books.rows["Customer"][birch["Id"]]["CompanyName"] == "Birch Electric LLC"
    assert w.cursors.ids["fsp:clients"] == {"c1"} and w.cursors.items["fsp:clients"] > edge


def test_the_ids_kept_at_a_cursor_instant_include_the_stored_ones_when_a_run_reaches_the_same_instant():
    from dataclasses import replace

    w = World()
    w.linked_pair("c1", company="Acme Plumbing")
    w.linked_pair("c2", company="Birch Electric")
    w.tick()
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing LLC")
    edge = w.now
    w.tick()
    w.run()
    w.platform.clients["c2"] = replace(w.platform.clients["c2"], company_name="Birch Electric LLC", updated_at=edge)
    w.tick()
    w.run("r2")
    assert w.cursors.items["fsp:clients"] == edge and w.cursors.ids["fsp:clients"] == {"c1", "c2"}
    w.tick()
    assert w.run("r3").summary["counts"].get("platform_client_changes", 0) == 0


def test_a_platform_page_reads_the_links_only_of_customers_its_new_clients_could_match():
    """After onboarding CDC reports thousands of customers; a page with a new client must not read every one's link
    (at 10,000 x 10,000 that read, repeated for every page, kept the first run after onboarding from finishing).
    Only customers sharing a name key with a page's new clients can match or conflict with them."""
    from shared.domain.records import BY_QBO_QUERIES_AT_MOST

    class Counting(FakeLinkStore):
        def __init__(self):
            super().__init__()
            self.reads: list[str] = []

        def by_qbo(self, tenant_id, entity, qbo_id):
            self.reads.append("by_qbo")
            return super().by_qbo(tenant_id, entity, qbo_id)

        def all(self, tenant_id, entity):
            self.reads.append("all")
            return super().all(tenant_id, entity)

    w = World()
    w.links = Counting()
    pairs = [w.linked_pair(f"c{n:03d}", company=f"Company {n:03d}") for n in range(BY_QBO_QUERIES_AT_MOST + 20)]
    w.tick()
    for _, row in pairs:
        w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0111"})
    twin = w.books.add("Customer", {"DisplayName": "Zephyr Heating", "CompanyName": "Zephyr Heating", "Active": True})
    w.platform.add_client("new1", company="Zephyr Heating")
    w.tick()
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.start({"tenant_id": "t1", "run_id": "r1"})
    w.links.reads.clear()
    state = engine.sync_clients({**state, "cursor": {"done": False}})
    assert "all" not in w.links.reads  # the platform page: the namesake's link only
    assert w.links.get("t1", "customer", "new1").qbo_id == twin["Id"]  # matched, as before


def test_a_runs_client_writes_fill_whole_batches_across_platform_pages_and_its_new_names_are_looked_up_once(
        monkeypatch):
    """Each platform page used to send its own updates and creates, each set ending in a part-full batch, and look
    up its own new clients' names (bench/steady_state.py: 21 batches for 585 writes, 3 name queries). The pages
    keep their writes for the clients step's last task: QuickBooks gets full batches and one name lookup, and a
    client a later page lists again (our own PATCH moved it) is updated there once."""
    from shared.domain import sync_run
    from shared.fieldservice.models import Contact

    monkeypatch.setattr(sync_run, "PLATFORM_PAGE", 20)
    w = World()
    rows = {}
    for n in range(45):
        _, rows[n] = w.linked_pair(f"c{n:02d}", company=f"Linked Co {n:02d}", phone=f"555-01{n:02d}")
    w.tick()
    for n in range(45):
        w.platform.update_client("t1", f"c{n:02d}", contact=Contact(phone=f"480-555-01{n:02d}"))
    w.books.edit("Customer", rows[0]["Id"], PrimaryEmailAddr={"Address": "ap@linked.example"})  # c00: both sides
    for n in range(25):
        w.platform.add_client(f"n{n:02d}", company=f"New Co {n:02d}")
    w.tick()
    sizes = []
    batch = w.books.batch
    monkeypatch.setattr(w.books, "batch", lambda ops, request_id: sizes.append(len(ops)) or batch(ops, request_id))
    w.books.calls.clear()
    run = w.run()
    counts = run.summary["counts"]
    assert sorted(sizes, reverse=True) == [30, 25, 15]  # 45 updates and 25 creates, not a part-full set per page
    assert w.books.calls.count("query") == 1
    assert counts["customers_updated_in_quickbooks"] == 45 and counts["customers_created_in_quickbooks"] == 25
    assert all(w.books.rows["Customer"][rows[n]["Id"]]["PrimaryPhone"]["FreeFormNumber"] == f"480-555-01{n:02d}"
               for n in range(45))
    assert w.platform.clients["c00"].contact.email == "ap@linked.example"
    assert len([r for r in w.books.rows["Customer"].values() if r["DisplayName"].startswith("New Co")]) == 25
    w.tick()
    w.books.calls.clear()
    w.platform.calls.clear()
    w.run("r2")
    assert w.books.calls == ["cdc"] and "update" not in w.platform.calls


def _edited_on_the_platform_and_new(w, edited: int, new: int) -> dict[int, dict]:
    """`edited` linked pairs whose phone then changed on the platform, and `new` new platform clients: the
    QuickBooks customers of the pairs, by number."""
    from shared.fieldservice.models import Contact

    rows = {n: w.linked_pair(f"c{n:02d}", company=f"Linked Co {n:02d}", phone=f"555-01{n:02d}")[1]
            for n in range(edited)}
    w.tick()
    for n in range(edited):
        w.platform.update_client("t1", f"c{n:02d}", contact=Contact(phone=f"480-555-01{n:02d}"))
    for n in range(new):
        w.platform.add_client(f"n{n:02d}", company=f"New Co {n:02d}")
    w.tick()
    return rows


def _assert_updated_once_and_created(w, rows: dict[int, dict], new: int) -> None:
    """Each edited pair's customer updated once (SyncToken 1) with the new phone; each new client created once."""
    for n, row in rows.items():
        customer = w.books.rows["Customer"][row["Id"]]
        assert customer["SyncToken"] == "1" and customer["PrimaryPhone"]["FreeFormNumber"] == f"480-555-01{n:02d}"
    names = sorted(r["DisplayName"] for r in w.books.rows["Customer"].values() if r["DisplayName"].startswith("New"))
    assert names == [f"New Co {n:02d}" for n in range(new)] and not w.errors.entries


def test_a_retried_client_page_rewrites_its_own_run_chunk_and_the_last_task_sends_each_write_once(monkeypatch):
    """Step Functions re-runs a task with the same input after a timeout or a lost answer, so a platform page can
    run twice (decision 49). The retry keeps its writes under the page's own chunk, in place of the first
    attempt's; the step's last task then sends each update and each create once. (`ClientSync.resume` keeps one
    write per client as well, so an appended copy would still go once: the chunk count is what shows the
    rewrite.)"""
    from shared.domain import sync_run

    monkeypatch.setattr(sync_run, "PLATFORM_PAGE", 3)
    w = World()
    rows = _edited_on_the_platform_and_new(w, edited=4, new=2)
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.sync_items({**engine.start({"tenant_id": "t1", "run_id": "r1"}), "cursor": {"done": False}})
    page_one = json.dumps({**state, "cursor": {"done": False}})  # a task's input, as Step Functions keeps it
    first = engine.sync_clients(json.loads(page_one))
    retried = engine.sync_clients(json.loads(page_one))  # the same input again, as a retry sends it
    assert retried["cursor"] == first["cursor"] and retried["cursor"]["step"] == "platform"
    assert not w.books.rows["Customer"].keys() - {r["Id"] for r in rows.values()}  # pages write no QuickBooks
    state = retried
    while not state["cursor"]["done"]:
        state = engine.sync_clients(state)
    carried = w.runs.chunks("t1", "r1", f"carried{state['pass']}")
    assert len(carried) == 2  # one chunk per page: the retry took its page's place
    assert w.books.calls.count("batch") == 2  # one set of updates and one of creates
    _assert_updated_once_and_created(w, rows, new=2)
    counts = state["counts"]
    assert counts["customers_updated_in_quickbooks"] == 4 and counts["customers_created_in_quickbooks"] == 2


def test_the_clients_step_sends_its_carried_writes_a_task_share_at_a_time_and_a_retried_send_duplicates_nothing(
        monkeypatch):
    """A run's carried writes used to go out in the step's one last task: 10,000 new clients at QuickBooks' limits
    outlived its 330 s timeout and were retried (bench/fairness.py). The step's last tasks now send at most
    WRITES_PER_TASK each, creates first, and keep the rest for the next; a retried send (the same input again)
    sends nothing twice."""
    from shared.domain import sync_run

    monkeypatch.setattr(sync_run, "WRITES_PER_TASK", 10)
    w = World()
    rows = _edited_on_the_platform_and_new(w, edited=12, new=15)
    sent: list[int] = []
    batch = w.books.batch
    monkeypatch.setattr(w.books, "batch", lambda ops, request_id: sent.append(len(ops)) or batch(ops, request_id))
    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    state = engine.sync_items({**engine.start({"tenant_id": "t1", "run_id": "r1"}), "cursor": {"done": False}})
    state = {**state, "cursor": {"done": False}}
    per_task = []
    while not state["cursor"]["done"]:
        before = len(sent)
        task_input = json.dumps(state)
        state = engine.sync_clients(json.loads(task_input))
        per_task.append(sum(sent[before:]))
        if len(per_task) == 2:  # the first sending task's answer is lost: Step Functions runs it again
            before = len(sent)
            retried = engine.sync_clients(json.loads(task_input))
            assert retried["cursor"] == state["cursor"] and sent[before:] == []  # what it sent is linked
            state = retried
    assert per_task == [0, 10, 10, 7]  # the page sends nothing; then 15 creates and 12 updates, 10 a task
    shares = [w.runs.chunks("t1", "r1", f"carried{state['pass']}-send{n}") for n in (1, 2, 3)]
    assert [[len(chunk) for chunk in share] for share in shares] == [[10], [7], []]  # kept once, one per task
    _assert_updated_once_and_created(w, rows, new=15)
    counts = state["counts"]
    assert counts["customers_updated_in_quickbooks"] == 12 and counts["customers_created_in_quickbooks"] == 15


class _MoneyBooks(FakeBooks):
    """FakeBooks whose invoices follow FakeMoneyQuickBooks' rules (SyncTokens, payments moving balances), on the
    same Invoice rows its CDC reports."""

    def __init__(self, clock):
        from tests.fakes import FakeMoneyQuickBooks

        super().__init__(clock)
        self.money = FakeMoneyQuickBooks()
        self.money.invoices = self.rows["Invoice"]

    def push_invoices(self, drafts, request_id, single=False):
        self.calls.append("single" if single else "batch")
        results = self.money.push_invoices(drafts, request_id, single)
        for r in results:
            if r.invoice is not None:
                self._stamp(self.rows["Invoice"][r.invoice.qbo_id])
        return results

    def open_balances(self, qbo_ids):
        self.calls.append("query")
        return self.money.open_balances(qbo_ids)

    def enter_payment(self, invoice_id, amount):
        self.money.enter_payment(invoice_id, amount)
        self._stamp(self.rows["Invoice"][invoice_id])


def test_an_invoice_whose_payments_moved_its_sync_token_is_updated_with_the_token_this_passs_cdc_read():
    """The money benchmark's edited run made 8 batches and a query for 120 writes: the invoices' SyncTokens moved
    when the previous run's payments were applied, QuickBooks' invoice changes are applied only after the payments
    step, so every edit was answered 5010, re-read and sent again. The pass's CDC had read the new tokens."""
    from dataclasses import replace

    from tests.fakes import FakeMoneyPlatform

    w = World()
    w.books = _MoneyBooks(w.clock)
    w.settings = SyncSettings.model_validate({"invoices": {"enabled": True, "income_account_id": "79",
                                                           "expense_account_id": "80"}})
    w.links.put(Link("t1", "customer", "cli_1", "58"))
    w.links.put(Link("t1", "item", "itm_1", "5"))
    money = FakeMoneyPlatform()

    def put_invoice(invoice_id, amounts):
        w.platform.invoices[invoice_id] = replace(money.put_invoice(invoice_id, amounts), updated_at=w.now)

    def update_invoice(tenant_id, invoice_id, **changes):  # QuickBooks' DocNumber written back
        w.platform.invoices[invoice_id] = replace(w.platform.invoices[invoice_id], **changes, updated_at=w.now)

    w.platform.update_invoice = update_invoice
    for i in ("inv_1", "inv_2"):
        put_invoice(i, ("100.00",))
    w.tick()
    assert w.run().status == "succeeded" and len(w.books.rows["Invoice"]) == 2
    w.tick()
    for i in ("inv_1", "inv_2"):
        w.books.enter_payment(w.links.get("t1", "invoice", i).qbo_id, Decimal("40.00"))
        put_invoice(i, ("125.00",))
    w.tick()
    w.books.calls.clear()
    run = w.run("r2")
    assert run.status == "succeeded" and run.summary["counts"]["invoices_updated_in_quickbooks"] == 2
    assert w.books.calls == ["cdc", "preferences", "batch"]  # not batch, query (5010 re-read), batch
    assert {r["Balance"] for r in w.books.rows["Invoice"].values()} == {Decimal("85.00")}
    # The pass's CDC rows (older than our updates) applied at the end of the payments step leave the links as our
    # updates left them: QuickBooks' current token and balance.
    for i in ("inv_1", "inv_2"):
        link = w.links.get("t1", "invoice", i)
        row = w.books.rows["Invoice"][link.qbo_id]
        assert (link.sync_token, link.extra["balance"]) == (row["SyncToken"], str(row["Balance"]))


def test_a_new_client_already_in_quickbooks_under_its_name_is_linked_instead_of_created():
    w = World(direction="platform_master")  # QuickBooks' own customers are not copied to the platform
    acme = w.books.add("Customer", {"DisplayName": "Acme Plumbing", "CompanyName": "Acme Plumbing", "Active": True})
    w.run()
    w.tick()
    w.platform.add_client("c1", company="Acme Plumbing")
    w.tick()
    w.run("r2")
    assert w.links.get("t1", "customer", "c1").qbo_id == acme["Id"] and len(w.books.rows["Customer"]) == 1


def test_a_new_client_without_any_name_is_logged_and_not_sent():
    w = World()
    w.platform.add_client("c1")
    w.tick()
    w.run()
    assert w.errors.open()["client#c1"].code == "no_name" and not w.books.rows["Customer"]


def test_a_new_client_that_may_be_a_new_quickbooks_customer_is_not_created_there_and_is_held_for_the_admin():
    w = World()
    w.platform.add_client("c1", company="Zed Roofing", email="a@zed.com", phone="4805550001")
    w.books.add("Customer", {"DisplayName": "Zed Roofing", "CompanyName": "Zed Roofing", "Active": True,
                             "PrimaryEmailAddr": {"Address": "b@zed.com"},
                             "PrimaryPhone": {"FreeFormNumber": "4805550002"}})
    w.tick()
    w.run()
    assert w.errors.open()["client#c1"].code == "possible_duplicate"
    assert len(w.books.rows["Customer"]) == 1 and w.links.get("t1", "customer", "c1") is None
    assert list(w.platform.clients) == ["c1"]  # nor is the customer created on the platform: the admin decides



def test_a_pass_holds_what_onboarding_left_in_conflict_and_reads_no_conflicts_when_onboarding_left_none():
    w = World()
    w.runs.put_chunk("t1", "onb", "conflicts", 0, [{"qbo_ids": ["q9"], "fsp_ids": ["c1"], "reason": "ambiguous"}])
    w.platform.add_client("c1", company="Zed Roofing")
    w.tick()
    w.run()
    assert w.links.get("t1", "customer", "c1") is None and not w.books.rows.get("Customer")  # held for the admin
    read, chunks = [], w.runs.chunks
    w.runs.chunks = lambda tenant, run, name: (read.append(name), chunks(tenant, run, name))[1]
    w.connections.save(Connection("t1", "connected", realm_id="realm-1",
                                  onboarding={"status": "completed", "run_id": "onb2", "conflicts": 0}))
    w.platform.add_client("c2", company="Able Electric")
    w.tick()
    w.run("r2")
    assert "conflicts" not in read and w.links.get("t1", "customer", "c2") is not None


# (direction, field edited in QuickBooks, what the platform edit changes; then what each side holds in the end)
_EDITS_ON_BOTH_SIDES = {
    "other_fields": ("two_way", "email", "phone", {"email": "office@acme.example", "phone": "602-555-0777"},
                     {"email": "office@acme.example", "phone": "602-555-0777"}),
    "the_same_field": ("two_way", "phone", "phone", {"email": None, "phone": "602-555-0777"},
                       {"email": None, "phone": "602-555-0777"}),  # the newer edit (the platform's) wins
    "a_field_not_synced": ("two_way", "email", "nothing_synced", {"email": "office@acme.example",
                                                                  "phone": "602-555-0100"},
                           {"email": "office@acme.example", "phone": "602-555-0100"}),
    "quickbooks_master": ("quickbooks_master", "email", "phone", {"email": "office@acme.example",
                                                                  "phone": "602-555-0777"},
                          {"email": "office@acme.example", "phone": "602-555-0100"}),
}


@pytest.mark.parametrize("case", _EDITS_ON_BOTH_SIDES)
@pytest.mark.parametrize("moment", ["after_the_page", "after_the_clients_step", "after_the_run"])
def test_a_client_edited_on_the_platform_after_its_page_was_listed_keeps_its_customers_quickbooks_edit(
        moment, case):
    """A customer edited in QuickBooks before a run whose pages do not list its client (nothing changed it since
    the cursor); the client is edited on the platform while the run goes on: after the clients step listed its page
    and before the step's QuickBooks part, after that part, or after the run. Its updated_at is then past the
    platform cursor, yet no page saw that version nor merged the QuickBooks edit, and the next run's CDC no longer
    reports that edit (its cursor moved past it). Each edit must end where a run that saw both would put it: on
    both sides (two-way), the newer of two edits of one field (the platform's), a platform edit of a field the sync
    does not carry (it only moves updated_at) losing nothing of QuickBooks', QuickBooks-master keeping the
    platform's edit on the platform."""
    from shared.fieldservice.models import Contact

    direction, books_field, platform_edit, on_platform, in_books = _EDITS_ON_BOTH_SIDES[case]
    w = World(direction)
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="602-555-0100")
    w.tick()
    w.run("r0")  # settles the pair: the platform cursor sits at the client's instant, with its id
    w.tick(5)
    w.books.edit("Customer", row["Id"], **({"PrimaryPhone": {"FreeFormNumber": "602-555-0111"}}
                                           if books_field == "phone" else
                                           {"PrimaryEmailAddr": {"Address": "office@acme.example"}}))
    w.tick(5)  # the run starts past the QuickBooks cursor's overlap: the next run's CDC leaves the edit out

    def edit_on_the_platform():
        w.tick()
        contact = w.platform.clients["c1"].contact
        changes = {} if platform_edit == "nothing_synced" else {  # the fake's update moves updated_at either way
            "contact": Contact(contact.first_name, contact.last_name, contact.email, "602-555-0777")}
        w.platform.update_client("t1", "c1", **changes)
        w.tick()

    engine = w.engine()
    sync_clients, sync_sites = engine.sync_clients, engine.sync_sites

    def clients_task(state):
        step = (state.get("cursor") or {}).get("step", "platform")
        state = sync_clients(state)
        if moment == "after_the_page" and step == "platform" and state["cursor"]["step"] == "quickbooks":
            edit_on_the_platform()
        return state

    def sites_task(state):
        if moment == "after_the_clients_step" and not (state.get("cursor") or {}).get("next"):
            edit_on_the_platform()
        return sync_sites(state)

    engine.sync_clients, engine.sync_sites = clients_task, sites_task
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    walk(engine, engine.start({"tenant_id": "t1", "run_id": "r1"}))
    assert w.runs.get("t1", "r1").status == "succeeded"
    if moment == "after_the_run":
        edit_on_the_platform()
    for run_id in ("r2", "r3"):  # the next run, and one after it that finds everything in step
        w.tick(5)
        assert w.run(run_id).status == "succeeded"
    client, customer = w.platform.clients["c1"], customer_values(customer_state(w.books.rows["Customer"][row["Id"]]))
    assert {"email": client.contact.email, "phone": client.contact.phone} == on_platform
    assert {"email": customer["email"], "phone": customer["phone"]} == in_books
    assert not w.errors.entries
