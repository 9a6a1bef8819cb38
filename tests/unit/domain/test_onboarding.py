"""Onboarding's tasks with fakes (shared/domain/onboarding.py), driven in the state machine's order: both lists are
loaded page by page, matched pairs are linked, what is missing is created on the other side once, and what cannot be
done is logged for the record instead of stopping the run. The plan's own rules are in test_onboarding_plan.py."""

from datetime import UTC, datetime

import pytest

from shared.domain import onboarding
from shared.domain.connections import Connection
from shared.domain.onboarding import Deps, Onboarding, separate_link
from shared.domain.records import Link, SyncRun
from shared.domain.settings import SyncSettings
from shared.fieldservice.errors import Unavailable, ValidationFailed
from shared.fieldservice.models import Address
from shared.quickbooks.port import CustomerResult, Fault
from tests.fakes import FakeBooks, FakeConnections, FakeErrorLog, FakeLinkStore, FakePlatform, FakeRunStore

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PHOENIX = {"Line1": "1 Main St", "City": "Phoenix", "CountrySubDivisionCode": "AZ", "PostalCode": "85001",
           "Country": "US"}


class World:
    def __init__(self, **settings):
        self.books, self.platform = FakeBooks(lambda: T0), FakePlatform(lambda: T0)
        self.links, self.runs, self.errors, self.connections = (FakeLinkStore(), FakeRunStore(), FakeErrorLog(),
                                                                FakeConnections())
        self.connections.save(Connection("t1", "connected", realm_id="realm-1"))
        self.runs.create(SyncRun("t1", "onb", "onboarding", "running", T0))
        self.settings = SyncSettings.model_validate(settings)

    def engine(self):
        return Onboarding(Deps("t1", lambda: self.books, self.platform, self.links, self.runs, self.errors,
                               self.settings, self.connections))

    def customer(self, name, **fields):
        return self.books.add("Customer", {"DisplayName": name, "Active": True, **fields})

    def client(self, client_id, company, email=None, active=True):
        return self.platform.add_client(client_id, company=company, email=email, active=active)

    def link_of(self, entity, fsp_id):
        link = self.links.get("t1", entity, fsp_id)
        return link.qbo_id if link else None

    def errors_by_id(self):
        return {e.entity_id: e for e in self.errors.entries.values()}

    def run(self, until=None):
        """Every task in the state machine's order, each looped until its cursor says done (onboarding.asl.json)."""
        engine = self.engine()
        state = engine.enable({"tenant_id": "t1", "run_id": "onb"})
        for task in ("load_quickbooks_customers", "load_platform_clients", "match", "create_in_quickbooks",
                     "create_on_platform", "sync_sites"):
            if task == until:
                return engine, state
            if task == "match":
                state = engine.match(state)
                continue
            state = {**state, "cursor": {"task": task, "done": False}}
            while not state["cursor"]["done"]:
                state = getattr(engine, task)(state)
        return engine, engine.summarize(state)


def test_onboarding_links_the_matching_pair_and_creates_each_sides_missing_customer_once():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing", PrimaryEmailAddr={"Address": "office@acme.com"})
    gamma = w.customer("Gamma Roofing", CompanyName="Gamma Roofing")
    w.client("c1", "Acme Plumbing", email="office@acme.com")
    w.client("c2", "Beta Heating")
    _, state = w.run()
    assert w.link_of("customer", "c1") == acme["Id"]
    beta = w.books.rows["Customer"][w.link_of("customer", "c2")]
    assert beta["DisplayName"] == "Beta Heating"
    (created,) = [c for c in w.platform.clients.values() if c.id not in ("c1", "c2")]
    assert created.company_name == "Gamma Roofing" and w.link_of("customer", created.id) == gamma["Id"]
    assert len(w.books.rows["Customer"]) == 3 and len(w.platform.clients) == 3
    counts = state["summary"]["counts"]
    assert (counts["clients_matched"], counts["customers_created_in_quickbooks"],
            counts["clients_created_on_platform"]) == (1, 1, 1)
    assert w.runs.get("t1", "onb").status == "succeeded"
    assert w.connections.get("t1").onboarding == {"status": "completed", "run_id": "onb", "conflicts": 0}


def test_quickbooks_customers_are_loaded_page_after_page_until_a_short_page(monkeypatch):
    monkeypatch.setattr(onboarding, "MAX_PAGE", 2)
    w = World()
    for i in range(5):
        w.customer(f"Customer {i}", Active=i != 4)  # an inactive one too: its name still blocks a DisplayName
    engine = w.engine()
    state = {**engine.enable({"tenant_id": "t1", "run_id": "onb"}), "cursor": {"done": False}}
    pages = 0
    while not state["cursor"]["done"]:
        state, pages = engine.load_quickbooks_customers(state), pages + 1
    assert pages == 3 and state["counts"]["quickbooks_customers_loaded"] == 5
    assert len(engine._rows(state, "qbo")) == 5


def test_platform_clients_and_then_their_sites_are_loaded_page_after_page(monkeypatch):
    monkeypatch.setattr(onboarding, "MAX_PAGE", 1)
    w = World()
    w.client("c1", "Acme Plumbing")
    w.client("c2", "Beta Heating")
    w.platform.create_site("t1", _site_draft("c1", "Yard"))
    engine = w.engine()
    state = {**engine.enable({"tenant_id": "t1", "run_id": "onb"}), "cursor": {"done": False}}
    while not state["cursor"]["done"]:
        state = engine.load_platform_clients(state)
    assert (state["counts"]["platform_clients_loaded"], state["counts"]["platform_sites_loaded"]) == (2, 1)
    assert [r["id"] for r in engine._rows(state, "fsp_clients")] == ["c1", "c2"]
    assert [r["id"] for r in engine._rows(state, "fsp_sites")] == ["s1"]


def _site_draft(client_id, name, line1="9 Dock Rd"):
    from shared.fieldservice.models import SiteDraft

    return SiteDraft(client_id, name, Address(line1, None, "Mesa", "AZ", "85201", "US"))


def test_a_pair_already_linked_keeps_its_link_and_baseline_when_onboarding_runs_again():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing")
    w.client("c1", "Acme Plumbing")
    kept = Link("t1", "customer", "c1", acme["Id"], sync_token="0", extra={"fp": {"p": {"kept": 1}, "q": {}}})
    w.links.put(kept)
    _, state = w.run()
    assert w.links.get("t1", "customer", "c1") is kept
    assert state["summary"]["counts"]["clients_matched"] == 1 and len(w.books.rows["Customer"]) == 1


def test_a_new_match_is_linked_with_both_sides_values_as_its_baseline_and_the_evidence():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing", PrimaryEmailAddr={"Address": "office@acme.com"})
    w.client("c1", "Acme Plumbing", email="office@acme.com")
    w.run()
    link = w.links.get("t1", "customer", "c1")
    assert link.sync_token == acme["SyncToken"] and "email" in link.extra["evidence"]
    assert link.extra["fp"]["p"] and link.extra["fp"]["q"]


def test_a_conflict_is_held_for_the_admin_and_nothing_is_created_for_either_record():
    w = World()
    w.customer("Zed Roofing", CompanyName="Zed Roofing", PrimaryEmailAddr={"Address": "a@zed.com"})
    w.client("c1", "Zed Roofing", email="b@zed.com")
    _, state = w.run()
    assert state["summary"]["conflicts"] == 1 and state["summary"]["counts"]["conflicts"] == 1
    assert w.connections.get("t1").onboarding["conflicts"] == 1  # what each sync pass after it knows to hold
    assert w.link_of("customer", "c1") is None
    assert len(w.books.rows["Customer"]) == 1 and len(w.platform.clients) == 1


def test_a_pair_the_admin_kept_separate_is_not_held_again_and_each_is_created_on_the_other_side():
    w = World()
    zed = w.customer("Zed Roofing", CompanyName="Zed Roofing", PrimaryEmailAddr={"Address": "a@zed.com"})
    w.client("c1", "Zed Roofing", email="b@zed.com")
    w.links.put(separate_link("t1", zed["Id"], "c1"))
    _, state = w.run()
    assert state["summary"]["conflicts"] == 0 and state["summary"]["counts"]["conflicts_kept_separate"] == 1
    assert w.link_of("customer", "c1") not in (None, zed["Id"])  # its own QuickBooks customer, under another name
    assert len(w.books.rows["Customer"]) == 2 and len(w.platform.clients) == 2


def test_a_client_the_plan_cannot_send_is_logged_as_skipped():
    w = World()
    w.client("c1", None)  # no company, no contact name: QuickBooks needs a DisplayName
    _, state = w.run()
    assert w.errors_by_id()["c1"].code == "no_name" and state["summary"]["counts"]["skipped"] == 1
    assert not w.books.rows["Customer"]


def test_a_client_named_like_a_vendor_is_created_under_an_adjusted_name_instead_of_failing():
    w = World()
    w.books.vendor_names = ["Acme Plumbing"]
    w.client("c1", "Acme Plumbing")
    w.run()
    created = w.books.rows["Customer"][w.link_of("customer", "c1")]
    assert created["DisplayName"] != "Acme Plumbing" and not w.errors.entries


def test_a_client_quickbooks_refuses_in_a_batch_is_logged_and_left_unlinked_for_a_later_run():
    w = World()
    w.client("c1", "Acme Plumbing")
    w.client("c2", "Beta Heating")
    create = w.books.create_customers

    def refuse_acme(drafts, request_id):
        results = create([d for d in drafts if d.display_name != "Acme Plumbing"], request_id)
        refused = [CustomerResult("0", fault=Fault("6000", "A business validation error has occurred", "bad"))]
        return refused + [CustomerResult(str(int(r.bid) + 1), r.customer, r.fault) for r in results]

    w.books.create_customers = refuse_acme
    _, state = w.run()
    assert "query" not in w.books.calls[w.books.calls.index("batch"):]  # only a 6240 is looked up by name
    error = w.errors_by_id()["c1"]
    assert (error.entity, error.direction, error.code) == ("client", "to_quickbooks", "6000")
    assert w.links.get("t1", "customer", "c1") is None  # no pending link left: the next run sends it again
    assert w.link_of("customer", "c2") and state["summary"]["counts"]["customers_created_in_quickbooks"] == 1


def test_a_customer_someone_else_created_under_the_same_name_meanwhile_is_not_taken_for_ours():
    w = World()
    w.client("c1", "Acme Plumbing", email="office@acme.com")
    engine, state = w.run(until="create_in_quickbooks")
    w.customer("Acme Plumbing", PrimaryEmailAddr={"Address": "someone@else.com"})  # after matching, before creating
    state = engine.create_in_quickbooks({**state, "cursor": {"done": False}})
    assert w.errors_by_id()["c1"].code == "6240" and w.links.get("t1", "customer", "c1") is None


def test_a_customer_the_platform_refuses_is_logged_under_its_quickbooks_id_and_the_others_are_created():
    w = World()
    refused = w.customer("A Refused", CompanyName="A Refused")
    w.customer("B Fine", CompanyName="B Fine")
    create = w.platform.create_client

    def refuse_first(tenant_id, draft, *, idempotency_key=None):
        if draft.company_name == "A Refused":
            raise ValidationFailed("company_name is reserved", status=422)
        return create(tenant_id, draft, idempotency_key=idempotency_key)

    w.platform.create_client = refuse_first
    _, state = w.run()
    error = w.errors_by_id()[refused["Id"]]
    assert (error.entity, error.direction, error.code) == ("customer", "to_platform", "validation_failed")
    assert state["summary"]["counts"]["clients_created_on_platform"] == 1 and len(w.platform.clients) == 1


def test_a_platform_outage_while_creating_customers_there_pauses_the_run_and_logs_nothing_against_them():
    """A 5xx after the adapter's retries is the platform's, not the customer's: the task raises (run_task makes it
    Throttled, the state machine backs off) and the retried task creates it under the same idempotency key."""
    w = World()
    w.customer("Outage Roofing", CompanyName="Outage Roofing")
    engine, state = w.run(until="create_on_platform")
    create = w.platform.create_client
    w.platform.create_client = lambda *a, **k: (_ for _ in ()).throw(Unavailable("platform down", status=503))
    with pytest.raises(Unavailable):
        engine.create_on_platform({**state, "cursor": {"done": False}})
    assert not w.errors_by_id()
    w.platform.create_client = create
    engine.create_on_platform({**state, "cursor": {"done": False}})
    assert [c.company_name for c in w.platform.clients.values()] == ["Outage Roofing"]


def test_a_retried_platform_create_task_answers_with_the_clients_it_already_created():
    w = World()
    w.customer("Gamma Roofing", CompanyName="Gamma Roofing")
    engine, state = w.run(until="create_on_platform")
    first = engine.create_on_platform({**state, "cursor": {"done": False}})
    again = engine.create_on_platform({**state, "cursor": {"done": False}})  # the task retried after a timeout
    assert len(w.platform.clients) == 1
    assert first["counts"]["clients_created_on_platform"] >= 1 and again["cursor"]["done"]


def test_a_quickbooks_job_with_a_service_address_becomes_a_site_of_its_parents_client():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing", BillAddr=PHOENIX)
    job = w.customer("Acme Plumbing:Yard", Job=True, ParentRef={"value": acme["Id"]},
                     ShipAddr={"Line1": "9 Dock Rd", "City": "Mesa", "PostalCode": "85201"})
    w.client("c1", "Acme Plumbing")
    _, state = w.run()
    (site,) = w.platform.sites.values()
    assert site.client_id == "c1" and site.address.state == "AZ"  # the parent's state, by default
    link = w.links.get("t1", "site", site.id)
    assert link.qbo_id == job["Id"] and link.extra["held"]["active"] is True
    assert state["summary"]["counts"]["sites_created_on_platform"] == 1


def test_a_job_whose_parent_could_not_reach_the_platform_is_logged_instead_of_becoming_an_orphan_site():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing", BillAddr=PHOENIX)
    job = w.customer("Acme Plumbing:Yard", Job=True, ParentRef={"value": acme["Id"]},
                     ShipAddr={"Line1": "9 Dock Rd", "City": "Mesa", "PostalCode": "85201"})

    def refuse(tenant_id, draft, *, idempotency_key=None):
        raise ValidationFailed("refused", status=422)

    w.platform.create_client = refuse
    w.run()
    assert w.errors_by_id()[job["Id"]].code == "parent_not_linked" and not w.platform.sites


def test_a_site_of_a_linked_client_becomes_a_sub_customer_under_its_customer():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing")
    w.client("c1", "Acme Plumbing")
    w.platform.create_site("t1", _site_draft("c1", "Yard"))
    _, state = w.run()
    row = w.books.rows["Customer"][w.link_of("site", "s1")]
    assert row["Job"] is True and row["ParentRef"] == {"value": acme["Id"]}
    assert state["summary"]["counts"]["sub_customers_created_in_quickbooks"] == 1


def test_a_site_whose_client_did_not_reach_quickbooks_is_logged_instead_of_becoming_a_top_level_customer():
    w = World()
    w.client("c1", "Acme Plumbing")
    w.platform.create_site("t1", _site_draft("c1", "Yard"))
    create = w.books.create_customers

    def refuse_clients(drafts, request_id):
        if any(not d.job for d in drafts):
            return [CustomerResult(str(i), fault=Fault("6000", "refused")) for i in range(len(drafts))]
        return create(drafts, request_id)

    w.books.create_customers = refuse_clients
    w.run()
    assert w.errors_by_id()["s1"].code == "parent_not_linked" and not w.books.rows["Customer"]


def test_a_failed_onboarding_marks_the_run_and_the_connection_failed():
    w = World()
    engine = w.engine()
    state = {"tenant_id": "t1", "run_id": "onb", "counts": {"clients_matched": 2},
             "error": {"Error": "Unavailable", "Cause": '{"errorMessage": "QuickBooks is down"}'}}
    engine.record_failure(state)
    run = w.runs.get("t1", "onb")
    assert run.status == "failed" and run.summary["error"] == {"type": "Unavailable", "message": "QuickBooks is down"}
    assert w.connections.get("t1").onboarding == {"status": "failed", "run_id": "onb"}


def test_creates_in_quickbooks_are_spread_over_tasks_each_a_checkpoint_and_each_client_is_sent_once(monkeypatch):
    monkeypatch.setattr(onboarding, "ROWS_PER_TASK", 2)
    w = World()
    for i in range(3):
        w.client(f"c{i}", f"Client {i}")
    engine, state = w.run(until="create_in_quickbooks")
    state = engine.create_in_quickbooks({**state, "cursor": {"done": False}})
    assert state["cursor"] == {"done": False, "index": 2} and len(w.books.rows["Customer"]) == 2
    state = engine.create_in_quickbooks(state)
    assert state["cursor"]["done"] and len(w.books.rows["Customer"]) == 3
    assert all(w.link_of("customer", f"c{i}") for i in range(3))


def test_a_quickbooks_job_at_a_platform_sites_address_is_linked_to_it_and_nothing_is_created():
    w = World()
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing")
    job = w.customer("Acme Plumbing:Yard", Job=True, ParentRef={"value": acme["Id"]},
                     ShipAddr={"Line1": "9 Dock Rd", "City": "Mesa", "PostalCode": "85201"})
    w.client("c1", "Acme Plumbing")
    w.platform.create_site("t1", _site_draft("c1", "Yard"))
    _, state = w.run()
    assert w.link_of("site", "s1") == job["Id"] and state["summary"]["counts"]["sites_matched"] == 1
    assert len(w.platform.sites) == 1 and len(w.books.rows["Customer"]) == 2


def test_a_site_whose_clients_quickbooks_create_is_still_pending_waits_instead_of_going_without_a_parent():
    w = World()
    w.client("c1", "Acme Plumbing")
    w.platform.create_site("t1", _site_draft("c1", "Yard"))
    engine, state = w.run(until="create_in_quickbooks")
    w.links.put(Link("t1", "customer", "c1", request_id="rid", state="pending"))  # sent, not answered yet
    state = {**state, "cursor": {"done": False}}
    while not state["cursor"]["done"]:
        state = engine.sync_sites(state)
    assert w.errors_by_id()["s1"].code == "parent_not_linked" and not w.books.rows["Customer"]


def test_a_single_create_quickbooks_refuses_is_logged_for_its_client_and_the_rest_of_the_set_still_goes():
    from shared.quickbooks.errors import BusinessValidation

    w = World()
    for i in range(430):  # enough that the batch lane would make the set wait: some go as single creates
        w.client(f"c{i:03d}", f"Client {i:03d}")
    create, refused = w.books.create_customer, []

    def refuse_the_first_single(draft, request_id):
        if not refused:
            refused.append(draft.display_name)
            raise BusinessValidation("6000", "A business validation error has occurred", "bad", 400)
        return create(draft, request_id)

    w.books.create_customer = refuse_the_first_single
    _, state = w.run()
    (client_id,) = [c.id for c in w.platform.clients.values() if c.company_name == refused[0]]
    error = w.errors_by_id()[client_id]
    assert (error.code, error.direction) == ("6000", "to_quickbooks")
    assert w.links.get("t1", "customer", client_id) is None
    assert state["summary"]["counts"]["customers_created_in_quickbooks"] == 429


def _acme_with_jobs(w, n):
    acme = w.customer("Acme Plumbing", CompanyName="Acme Plumbing", BillAddr=PHOENIX)
    w.client("c1", "Acme Plumbing")
    return [w.customer(f"Acme Plumbing:Yard {i}", Job=True, ParentRef={"value": acme["Id"]},
                       ShipAddr={"Line1": f"{i} Dock Rd", "City": "Mesa", "PostalCode": "85201"}) for i in range(n)]


def test_a_job_the_platform_refuses_as_a_site_is_logged_and_left_unlinked():
    w = World()
    (job,) = _acme_with_jobs(w, 1)

    def refuse(tenant_id, draft, *, idempotency_key=None):
        raise ValidationFailed("address is invalid", status=422)

    w.platform.create_site = refuse
    _, state = w.run()
    error = w.errors_by_id()[job["Id"]]
    assert (error.entity, error.code) == ("sub_customer", "validation_failed") and not w.links.all("t1", "site")
    assert state["summary"]["counts"]["sites_created_on_platform"] == 0


def test_sites_from_quickbooks_jobs_are_created_a_bounded_number_per_task(monkeypatch):
    monkeypatch.setattr(onboarding, "PLATFORM_CREATES_PER_TASK", 1)
    w = World()
    _acme_with_jobs(w, 2)
    engine, state = w.run(until="sync_sites")
    state = engine.sync_sites({**state, "cursor": {"done": False}})
    assert len(w.platform.sites) == 1 and state["cursor"] == {"done": False, "index": 1}
    state = engine.sync_sites(state)
    assert len(w.platform.sites) == 2 and state["cursor"]["step"] == "to_qbo"


def test_when_the_run_is_seen_finished_the_connection_already_says_how_onboarding_ended():
    """Sync Now (or a webhook hint) right after the page shows onboarding succeeded must find the connection
    onboarded: the run record was finished first, and a sync run started in between was skipped."""
    for ending, status in (("summarize", "completed"), ("record_failure", "failed")):
        w = World()
        w.client("c1", "Acme Plumbing")
        seen: list = []
        finish = w.runs.finish

        def finish_and_look(tenant_id, run_id, run_status, summary, w=w, seen=seen, finish=finish):
            seen.append((w.connections.get("t1").onboarding or {}).get("status"))
            finish(tenant_id, run_id, run_status, summary)

        w.runs.finish = finish_and_look
        engine, state = w.run(until="sync_sites")
        getattr(engine, ending)(state)
        assert seen == [status]
