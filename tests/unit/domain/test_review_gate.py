"""Review mode in the sync engine (shared/domain/review_gate.py) with fakes: held changes write nothing to either
side and still move the cursors; approved entries sync once at the next run, in their newest state, and are reported;
"Keep checked" entries come back at the next run, "Clear unchecked" ones only when they change; failures land in the
failed list and the error log; turning review mode off releases what still waits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.domain.clients import baseline, client_values, customer_values
from shared.domain.connections import Connection
from shared.domain.onboarding import Deps
from shared.domain.records import Link, SyncRun
from shared.domain.review import ReviewEntry, State
from shared.domain.review_gate import ReviewGate
from shared.domain.settings import SyncSettings
from shared.domain.sync_run import SyncEngine
from shared.fieldservice.models import Address, Contact
from shared.quickbooks.port import MoneyPrefs
from shared.quickbooks.shapes import customer_state, invoice_state
from tests.fakes import (
    FakeBooks,
    FakeConnections,
    FakeCursors,
    FakeErrorLog,
    FakeLinkStore,
    FakeMoneyPlatform,
    FakePlatform,
    FakeReviewQueue,
    FakeRunLog,
    FakeRunStore,
    FakeSyncGate,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WRITES = {"batch", "create", "update"}


class World:
    def __init__(self, review_mode=True, **settings):
        self.now = T0
        self.books, self.platform = FakeBooks(self.clock), FakePlatform(self.clock)
        self.links, self.runs, self.errors = FakeLinkStore(), FakeRunStore(), FakeErrorLog()
        self.cursors, self.gate, self.connections = FakeCursors(), FakeSyncGate(lambda: 0.0), FakeConnections()
        self.queue = FakeReviewQueue(self.clock)
        self.runs.create(SyncRun("t1", "onb", "onboarding", "succeeded", T0))
        self.connections.save(Connection("t1", "connected", realm_id="realm-1",
                                         onboarding={"status": "completed", "run_id": "onb"}))
        self.settings = SyncSettings.model_validate({"review_mode": review_mode, **settings})
        self.n = 0

    def clock(self):
        return self.now

    def tick(self, minutes=1):
        self.now += timedelta(minutes=minutes)

    def engine(self):
        deps = Deps("t1", lambda: self.books, self.platform, self.links, self.runs, self.errors, self.settings,
                    self.connections)
        return SyncEngine(deps, self.gate, self.cursors, self.clock, review=self.queue)

    def linked_pair(self, fsp_id, company, phone="555-0100"):
        client = self.platform.add_client(fsp_id, company=company, phone=phone)
        row = self.books.add("Customer", {"DisplayName": company, "CompanyName": company,
                                          "PrimaryPhone": {"FreeFormNumber": phone}, "Active": True})
        self.links.put(Link("t1", "customer", fsp_id, row["Id"], sync_token=row["SyncToken"],
                            extra={"fp": baseline(client_values(client), customer_values(customer_state(row)))}))
        return client, row

    def run(self):
        self.n += 1
        run_id = f"r{self.n}"
        engine = self.engine()
        self.runs.create(SyncRun("t1", run_id, "sync", "running", self.now))
        state = engine.start({"tenant_id": "t1", "run_id": run_id})
        while not state["stop"]:
            state = engine.sync_items({**state, "cursor": {"done": False}})
            for step in ("sync_clients", "sync_sites"):
                state = {**state, "cursor": {"done": False}}
                while not state["cursor"]["done"]:
                    state = getattr(engine, step)(state)
            state = engine.finish(state)
            if state.get("again"):
                state = engine.start(state)
        self.tick()
        return self.runs.get("t1", run_id)

    def waiting(self):
        return {(h.entry.side, h.entry.entity_id): h.entry for h in self.queue.waiting("t1")}

    def decide(self, state, *entity_ids):
        for held in self.queue.waiting("t1"):
            if not entity_ids or held.entry.entity_id in entity_ids:
                assert self.queue.decide("t1", held.entry, state, "admin")

    def results(self, outcome):
        return [r.entry.entity_id for _, r in self.queue.log if r.outcome == outcome]

    def writes(self):
        return [c for c in self.books.calls if c in WRITES] + [c for c in self.platform.calls if c in WRITES]


def _four_changes(w):
    """A platform edit and a QuickBooks edit on linked pairs, a new client and a new customer."""
    w.linked_pair("c1", "Acme Plumbing")
    _, row2 = w.linked_pair("c2", "Birch Electric")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0199"))
    w.books.edit("Customer", row2["Id"], PrimaryPhone={"FreeFormNumber": "555-0222"})
    w.platform.add_client("c3", company="Cedar Roofing")
    w.books.add("Customer", {"DisplayName": "Dune Landscaping", "CompanyName": "Dune Landscaping", "Active": True})
    w.tick()
    w.books.calls.clear()
    w.platform.calls.clear()
    return row2


def test_nothing_is_written_to_either_side_while_held_and_the_cursors_still_move():
    w = World()
    row2 = _four_changes(w)
    before_books = {k: dict(v) for k, v in w.books.rows["Customer"].items()}
    before_clients = dict(w.platform.clients)
    run = w.run()
    assert run.status == "succeeded"
    assert w.writes() == []
    assert w.books.rows["Customer"] == before_books and w.platform.clients == before_clients
    held = w.waiting()
    assert {k: (e.change, e.name) for k, e in held.items()} == {
        ("export", "c1"): ("update", "Acme Plumbing"), ("export", "c3"): ("create", "Cedar Roofing"),
        ("import", row2["Id"]): ("update", "Birch Electric"),
        ("import", next(i for i, r in w.books.rows["Customer"].items() if r["DisplayName"] == "Dune Landscaping")):
            ("create", "Dune Landscaping")}
    assert all(e.version for e in held.values())
    assert w.cursors.items["fsp:clients"] >= T0 and "qbo:Customer" in w.cursors.items
    assert run.summary["counts"]["review_held_export"] == 2 and run.summary["counts"]["review_held_import"] == 2


def test_approved_entries_sync_once_at_the_next_run_and_are_reported_succeeded():
    w = World()
    row2 = _four_changes(w)
    w.run()
    w.decide(State.APPROVED)
    assert w.writes() == []  # pending until the next run
    w.run()
    c1 = w.links.get("t1", "customer", "c1")
    assert w.books.rows["Customer"][c1.qbo_id]["PrimaryPhone"]["FreeFormNumber"] == "555-0199"
    assert w.platform.clients["c2"].contact.phone == "555-0222"
    assert w.links.get("t1", "customer", "c3").qbo_id  # created in QuickBooks
    assert any(c.company_name == "Dune Landscaping" for c in w.platform.clients.values())
    dune = next(i for i, r in w.books.rows["Customer"].items() if r["DisplayName"] == "Dune Landscaping")
    assert sorted(w.results("succeeded")) == sorted(["c1", "c3", row2["Id"], dune])
    assert w.queue.approved("t1") == []
    # The next run finds only the echoes of those writes: nothing is written again, nothing is held.
    w.books.calls.clear()
    w.platform.calls.clear()
    w.run()
    assert w.writes() == [] and w.waiting() == {} and len(w.queue.log) == 4


def test_a_record_changed_again_after_approval_syncs_its_newest_state():
    w = World()
    _, row = w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0199"))
    w.tick()
    w.run()
    w.decide(State.APPROVED)
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0777"))
    w.tick()
    w.run()
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0777"
    assert w.results("succeeded") == ["c1"] and w.waiting() == {}


def test_an_approved_entry_no_change_brings_back_is_re_read_and_synced_through_the_normal_rules():
    w = World()
    _, row = w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0333"})
    w.tick(10)  # the next cursor is past its overlap with this edit
    w.run()
    w.decide(State.APPROVED)
    w.books.calls.clear()
    w.run()  # CDC no longer reports the customer (the cursor moved): it is read again
    assert "read" in w.books.calls
    assert w.platform.clients["c1"].contact.phone == "555-0333"
    assert w.results("succeeded") == [row["Id"]]


def test_kept_entries_come_back_at_the_next_run_cleared_ones_only_when_they_change():
    w = World()
    w.linked_pair("c1", "Acme Plumbing")
    w.linked_pair("c2", "Birch Electric")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0101"))
    w.platform.update_client("t1", "c2", contact=Contact(phone="555-0202"))
    w.tick()
    w.run()
    w.decide(State.KEPT, "c1")
    w.decide(State.CLEARED, "c2")
    assert w.waiting() == {}
    w.run()  # nothing changed: the kept entry is back in the list, the cleared one is not
    assert set(w.waiting()) == {("export", "c1")}
    assert w.queue.items[("t1", "export", "customer", "c2")].state == State.CLEARED
    w.run()
    assert set(w.waiting()) == {("export", "c1")}
    w.platform.update_client("t1", "c2", contact=Contact(phone="555-0203"))
    w.tick()
    w.books.calls.clear()
    w.platform.calls.clear()
    w.run()  # changed again: a new version, so it waits again
    assert set(w.waiting()) == {("export", "c1"), ("export", "c2")}
    assert w.writes() == []


def test_a_failed_approved_entry_lands_in_the_failed_list_and_the_error_log():
    w = World()
    row = w.books.add("Customer", {"DisplayName": "Elm Works", "CompanyName": "Elm Works", "Active": True,
                                   "BillAddr": {"Line1": "1 Main St", "City": "Phoenix", "PostalCode": "85001",
                                                "Country": "US"}})
    w.tick()
    w.run()
    assert set(w.waiting()) == {("import", row["Id"])}
    w.decide(State.APPROVED)
    w.run()
    assert w.results("failed") == [row["Id"]] and w.results("succeeded") == []
    failed = next(r for _, r in w.queue.log if r.outcome == "failed")
    entry = w.errors.get("t1", f"customer#{row['Id']}")
    assert entry is not None and not entry.resolved and failed.message.startswith(f"{entry.code}: ")
    assert not any(c.company_name == "Elm Works" for c in w.platform.clients.values())


def test_an_approved_entry_whose_record_is_gone_fails_with_the_platform_message():
    from shared.fieldservice.errors import NotFound

    w = World()
    w.platform.add_client("c9", company="Gone Ltd")
    w.tick()
    w.run()
    w.decide(State.APPROVED)

    def gone(tenant_id, client_id):
        raise NotFound("client not found", code="not_found", status=404)

    del w.platform.clients["c9"]
    w.platform.get_client = gone
    w.run()
    assert w.results("failed") == ["c9"]
    assert w.errors.get("t1", "client#c9").code == "not_found"


def test_review_mode_off_writes_at_once_and_releases_what_still_waits():
    w = World()
    _, row = w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0199"))
    w.tick()
    w.run()
    assert set(w.waiting()) == {("export", "c1")}
    w.settings = SyncSettings.model_validate({"review_mode": False})
    w.run()
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0199"
    assert w.results("succeeded") == ["c1"] and w.queue.count("t1", State.WAITING) == 0
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0200"))
    w.tick()
    w.run()  # off: straight through, nothing held
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0200"
    assert w.waiting() == {}


def test_echoes_and_unchanged_records_are_never_held():
    w = World(clients={"direction": "two_way"})
    w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", company_name="Acme Plumbing")  # touched, nothing that syncs changed
    w.platform.add_client("c2", company="Inactive Co", active=False)  # an inactive new client is never created
    w.tick()
    w.run()
    assert w.waiting() == {}


# -- the money records' rules, through the gate alone ---------------------------------------------------------

class MoneyWorld:
    def __init__(self):
        self.platform, self.links, self.queue, self.log = FakeMoneyPlatform(), FakeLinkStore(), FakeReviewQueue(), \
            FakeRunLog()
        self.links.put(Link("t1", "customer", "cli_1", "58"))
        self.settings = SyncSettings.model_validate({
            "review_mode": True,
            "invoices": {"enabled": True, "income_account_id": "79", "expense_account_id": "80"},
            "payments": {"enabled": True, "deposit_account_id": "35"}})

    def gate(self, approved=()):
        deps = Deps("t1", lambda: None, self.platform, self.links, None, FakeErrorLog(), self.settings, None)
        return ReviewGate(deps, self.queue, self.log, list(approved), prefs=MoneyPrefs)


def test_invoices_and_payments_are_held_by_number_and_amount_and_a_synced_version_goes_through():
    from shared.domain.invoices import InvoiceSync

    w = MoneyWorld()
    new = w.platform.put_invoice("inv_1", number="1001")
    draft = w.platform.put_invoice("inv_2", status="draft")
    synced = w.platform.put_invoice("inv_3", number="1003")
    fp = InvoiceSync(w.gate().d, FakeRunLog(), prefs=MoneyPrefs())._fingerprint(synced, {"cli_1": Link(
        "t1", "customer", "cli_1", "58")}, {})
    w.links.put(Link("t1", "invoice", "inv_3", "130", fingerprint=fp))
    waiting = w.platform.put_invoice("inv_4", client_id="cli_9")  # its client is not in QuickBooks
    through = w.gate().admit("export", "invoice", [new, draft, synced, waiting])
    # A draft never syncs, an unchanged version is an echo, one waiting for its client is only recorded.
    assert [i.id for i in through] == ["inv_2", "inv_3", "inv_4"]
    (held,) = w.queue.waiting("t1")
    assert (held.entry.name, held.entry.change) == ("Invoice 1001", "create")
    payment = w.platform.put_payment("pay_1", "inv_3", "40.00")
    waiting = w.platform.put_payment("pay_2", "inv_1", "10.00")  # its invoice is not in QuickBooks: nothing written
    assert w.gate().admit("export", "payment", [payment, waiting]) == [waiting]
    assert any(h.entry.name == f"Payment {Decimal('40.00')} on invoice inv_3" for h in w.queue.waiting("t1"))
    approved = ReviewEntry("export", "invoice", "inv_1", "Invoice 1001", "create", held.entry.version)
    assert [i.id for i in w.gate([approved]).admit("export", "invoice", [])] == ["inv_1"]  # re-read when approved


def test_a_paid_invoice_in_quickbooks_is_held_its_balance_alone_is_not():
    w = MoneyWorld()
    w.links.put(Link("t1", "invoice", "inv_1", "130", sync_token="1", extra={"balance": "100.00"}))
    w.links.put(Link("t1", "invoice", "inv_2", "131", sync_token="1", extra={"balance": "100.00"}))
    paid = invoice_state({"Id": "130", "SyncToken": "2", "TotalAmt": "100.00", "Balance": "0", "DocNumber": "1001"})
    part = invoice_state({"Id": "131", "SyncToken": "2", "TotalAmt": "100.00", "Balance": "60.00",
                          "DocNumber": "1002"})
    through = w.gate().admit("import", "invoice", [paid, part])
    assert [i.qbo_id for i in through] == ["131"]
    (held,) = w.queue.waiting("t1")
    assert held.entry.name == "Invoice 1001 (paid)" and held.entry.side == "import"


def test_an_address_client_change_is_one_entry_named_for_the_client():
    w = World()
    w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", billing_address=Address("1 Main St", None, "Phoenix", "AZ", "85001", "US"))
    w.tick()
    w.run()
    assert {k: e.name for k, e in w.waiting().items()} == {("export", "c1"): "Acme Plumbing"}


def test_an_admins_retry_from_the_error_log_syncs_without_another_review():
    from shared.domain.records import ErrorEntry

    w = World()
    _, row = w.linked_pair("c1", "Acme Plumbing")
    w.tick()
    w.platform.update_client("t1", "c1", contact=Contact(phone="555-0199"))
    w.tick(10)
    w.errors.record(ErrorEntry("t1", "client", "c1", "to_quickbooks", "6000", "refused", retry_requested=True))
    w.run()
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == "555-0199"
    assert w.waiting() == {}


def test_items_flowing_to_quickbooks_are_held_on_their_first_pass_and_sync_once_approved():
    from shared.fieldservice.models import Item, ItemType

    w = World(items={"enabled": True, "direction": "platform_to_quickbooks", "income_account_id": "79",
                     "expense_account_id": "80"})
    w.platform.items["i1"] = Item("i1", "Drain Clean", ItemType.SERVICE, None, None, Decimal("95.00"), None, True,
                                  True, T0, T0)
    w.tick()
    w.run()
    assert w.books.rows["Item"] == {} and {k: e.change for k, e in w.waiting().items()} == {("export", "i1"): "create"}
    w.decide(State.APPROVED)
    w.run()
    assert [r["Name"] for r in w.books.rows["Item"].values()] == ["Drain Clean"]
    assert w.results("succeeded") == ["i1"] and w.waiting() == {}


def test_many_quickbooks_changes_are_judged_from_one_read_of_the_links():
    w = World()
    pairs = [w.linked_pair(f"c{i}", f"Company {i}") for i in range(55)]
    w.tick()
    for _, row in pairs[:5]:
        w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": "555-0999"})
    w.books.edit("Customer", pairs[5][1]["Id"], Notes="not a synced field")  # a change that syncs nothing
    w.tick()
    w.run()
    assert sorted(k[1] for k in w.waiting()) == sorted(row["Id"] for _, row in pairs[:5])
    assert w.writes() == []
