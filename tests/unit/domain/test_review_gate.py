"""Review mode in the sync engine (shared/domain/review_gate.py) with fakes: held changes write nothing to either
side and still move the cursors; approved entries sync once at the next run, in their newest state, and are reported;
"Keep checked" entries come back at the next run, "Clear unchecked" ones only when they change; failures land in the
failed list and the error log; turning review mode off releases what still waits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.domain.clients import baseline, client_values, customer_values, fingerprints
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


def _held(queue):
    return {h.entry.entity_id: h.entry.change for h in queue.waiting("t1")}


def test_money_records_that_write_nothing_are_not_held_and_voids_and_deletions_of_synced_ones_are():
    w = MoneyWorld()
    w.links.put(Link("t1", "invoice", "inv_1", "130"))
    voided = w.platform.put_invoice("inv_1", status="void")
    never_sent_void = w.platform.put_invoice("inv_2", status="void")
    zero = w.platform.put_invoice("inv_3", amounts=("0.00",))
    w.links.put(Link("t1", "invoice", "inv_4", extra={"attempt": {"id": "a1"}}))  # a write already under way
    in_flight = w.platform.put_invoice("inv_4", number="1004")
    w.links.put(Link("t1", "invoice", "inv_5", "135", extra={"voided": True}))  # voided in QuickBooks: sends nothing
    gone = w.platform.put_invoice("inv_5", number="1005")
    through = w.gate().admit("export", "invoice", [voided, never_sent_void, zero, in_flight, gone])
    assert [i.id for i in through] == ["inv_2", "inv_3", "inv_4", "inv_5"]
    assert _held(w.queue) == {"inv_1": "void"}

    w.links.put(Link("t1", "payment", "pay_1", "140"))
    deleted = w.platform.put_payment("pay_1", "inv_1", "10.00", deleted=True)
    never_sent = w.platform.put_payment("pay_2", "inv_1", "10.00", deleted=True)
    w.links.put(Link("t1", "payment", "pay_3", extra={"attempt": {"id": "a2"}}))
    in_flight = w.platform.put_payment("pay_3", "inv_1", "5.00")
    w.platform.put_invoice("inv_6", number="1006")
    w.links.put(Link("t1", "invoice", "inv_6", "136", extra={"voided": True}))
    on_voided = w.platform.put_payment("pay_4", "inv_6", "5.00")  # its invoice was voided in QuickBooks
    through = w.gate().admit("export", "payment", [deleted, never_sent, in_flight, on_voided])
    assert [p.id for p in through] == ["pay_2", "pay_3", "pay_4"]
    assert _held(w.queue)["pay_1"] == "delete"


def test_a_synced_payment_unchanged_since_is_not_held_and_a_changed_one_is():
    from shared.domain.payments import _fp

    w = MoneyWorld()
    w.platform.put_invoice("inv_1", number="1001")
    w.links.put(Link("t1", "invoice", "inv_1", "130"))
    same = w.platform.put_payment("pay_1", "inv_1", "40.00")
    w.links.put(Link("t1", "payment", "pay_1", "140", fingerprint=_fp(same)))
    changed = w.platform.put_payment("pay_2", "inv_1", "50.00")
    w.links.put(Link("t1", "payment", "pay_2", "141", fingerprint="before"))
    assert w.gate().admit("export", "payment", [same, changed]) == [same]
    assert _held(w.queue) == {"pay_2": "update"}


def test_quickbooks_invoices_that_write_nothing_to_the_platform_are_not_held():
    w = MoneyWorld()
    w.links.put(Link("t1", "invoice", "inv_1", "130", sync_token="2", extra={"balance": "0"}))
    w.links.put(Link("t1", "invoice", "inv_2", "131", sync_token="1"))
    w.links.put(Link("t1", "invoice", "inv_3", "132", sync_token="1", state="pending"))
    unchanged = invoice_state({"Id": "130", "SyncToken": "2", "TotalAmt": "100.00", "Balance": "0"})
    voided = invoice_state({"Id": "131", "SyncToken": "2", "TotalAmt": "0", "Balance": "0"})  # voided: nothing owed
    pending = invoice_state({"Id": "132", "SyncToken": "2", "TotalAmt": "100.00", "Balance": "0"})
    unlinked = invoice_state({"Id": "133", "SyncToken": "0", "TotalAmt": "100.00", "Balance": "0"})
    records = [unchanged, voided, pending, unlinked]
    assert w.gate().admit("import", "invoice", records) == records and not w.queue.waiting("t1")


def _qbo_payment(qbo_id, token="0", applied=(("130", "40.00"),), deleted=False):
    from shared.quickbooks.shapes import payment_state

    row = {"Id": qbo_id, "SyncToken": token, "TotalAmt": "40.00", "UnappliedAmt": "0",
           "CustomerRef": {"value": "58", "name": "Acme"},
           "Line": [{"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in applied]}
    if deleted:
        row = {"Id": qbo_id, "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-01T12:00:00Z"}}
    return payment_state(row)


def test_a_payment_received_in_quickbooks_on_a_synced_invoice_is_held_and_ones_that_write_nothing_are_not():
    w = MoneyWorld()
    w.links.put(Link("t1", "invoice", "inv_1", "130"))
    new = _qbo_payment("150")
    elsewhere = _qbo_payment("151", applied=(("999", "40.00"),))  # on an invoice the platform does not have
    w.links.put(Link("t1", "payment", "pay_1", "152", sync_token="0"))  # ours, sent from the platform
    echo = _qbo_payment("152", token="1")
    w.links.put(Link("t1", "payment", "pay_2", "153", sync_token="3", extra={"origin": "quickbooks"}))
    unchanged = _qbo_payment("153", token="3")
    edited = _qbo_payment("154", token="4")
    w.links.put(Link("t1", "payment", "pay_3", "154", sync_token="3", extra={"origin": "quickbooks"}))
    w.links.put(Link("t1", "payment", "pay_4", "155", sync_token="0", state="pending", extra={"origin": "quickbooks"}))
    pending = _qbo_payment("155", token="1")
    through = w.gate().admit("import", "payment", [new, elsewhere, echo, unchanged, edited, pending])
    assert [p.qbo_id for p in through] == ["151", "152", "153", "155"]
    assert _held(w.queue) == {"150": "create", "154": "update"}


def test_a_quickbooks_payment_deleted_there_is_held_only_when_it_came_from_quickbooks():
    w = MoneyWorld()
    w.links.put(Link("t1", "payment", "pay_1", "160", extra={"origin": "quickbooks"}))
    w.links.put(Link("t1", "payment", "pay_2", "161"))  # ours: its deletion in QuickBooks is only flagged
    theirs, ours = _qbo_payment("160", deleted=True), _qbo_payment("161", deleted=True)
    assert w.gate().admit("import", "payment", [theirs, ours]) == [ours]
    assert _held(w.queue) == {"160": "delete"}


class GateWorld:
    """The gate alone over customers, sites and items, with the engine's fakes."""

    def __init__(self, **settings):
        self.books, self.platform = FakeBooks(lambda: T0), FakePlatform(lambda: T0)
        self.links, self.errors, self.queue, self.log = FakeLinkStore(), FakeErrorLog(), FakeReviewQueue(), \
            FakeRunLog()
        self.settings = SyncSettings.model_validate({"review_mode": True, **settings})

    def gate(self, approved=()):
        deps = Deps("t1", lambda: self.books, self.platform, self.links, None, self.errors, self.settings, None)
        return ReviewGate(deps, self.queue, self.log, list(approved))


def test_quickbooks_items_for_the_platform_are_held_and_categories_deleted_and_nameless_ones_are_not():
    from dataclasses import replace

    from shared.quickbooks.shapes import item_state

    w = GateWorld(items={"enabled": True})
    new = item_state(w.books.add("Item", {"Name": "Drain Clean", "Type": "Service", "UnitPrice": "95.00"}))
    linked = item_state(w.books.add("Item", {"Name": "Water Heater", "Type": "NonInventory"}))
    w.links.put(Link("t1", "item", "i1", linked.qbo_id))
    category = item_state(w.books.add("Item", {"Name": "Plumbing", "Type": "Category"}))
    nameless = item_state(w.books.add("Item", {"Name": "", "Type": "Service"}))
    deleted = replace(item_state(w.books.add("Item", {"Name": "Gone", "Type": "Service"})), deleted=True)
    through = w.gate().admit("import", "item", [new, linked, category, nameless, deleted])
    assert through == [category, nameless, deleted]
    assert _held(w.queue) == {new.qbo_id: "create", linked.qbo_id: "update"}


def test_an_inactive_platform_item_is_not_held():
    w = GateWorld(items={"enabled": True, "direction": "platform_to_quickbooks"})
    inactive = w.platform.add_item("i1", "Old", active=False)
    active = w.platform.add_item("i2", "New", price="5.00")
    linked = w.platform.add_item("i3", "Linked", price="7.00")
    w.links.put(Link("t1", "item", "i3", "5"))
    assert w.gate().admit("export", "item", [inactive, active, linked]) == [inactive]
    assert _held(w.queue) == {"i2": "create", "i3": "update"}


def test_a_new_site_is_held_as_a_create_an_unchanged_synced_one_and_an_inactive_new_one_are_not():
    from shared.domain.sites import SiteSync, _site_fingerprint
    from shared.fieldservice.models import SiteDraft

    w = GateWorld()
    w.platform.add_client("c1", company="Acme", address=Address("1 Main", None, "Phoenix", "AZ", "85001", "US"))
    yard = Address("9 Dock Rd", None, "Mesa", None, "85201", None)
    new = w.platform.create_site("t1", SiteDraft("c1", "Yard", yard))
    inactive = w.platform.create_site("t1", SiteDraft("c1", "Old Yard", yard, active=False))
    synced = w.platform.create_site("t1", SiteDraft("c1", "Shop", yard))
    changed = w.platform.create_site("t1", SiteDraft("c1", "Office", yard))
    fp = _site_fingerprint(SiteSync(w.gate().d, FakeRunLog(), lambda rows: 0)._compact(synced, {}))
    w.links.put(Link("t1", "site", synced.id, "70", fingerprint=fp))
    w.links.put(Link("t1", "site", changed.id, "71", fingerprint="before"))
    through = w.gate().admit("export", "site", [new, inactive, synced, changed])
    assert through == [inactive, synced]
    assert _held(w.queue) == {new.id: "create", changed.id: "update"}
    assert w.queue.waiting("t1")[0].entry.name in ("Yard", "Office")


def test_a_site_whose_client_cannot_be_read_is_not_held_the_site_step_logs_it():
    from shared.fieldservice.errors import NotFound
    from shared.fieldservice.models import SiteDraft

    w = GateWorld()
    site = w.platform.create_site("t1", SiteDraft("c-gone", "Yard", Address("9 Dock Rd", None, "Mesa", None,
                                                                            "85201", None)))

    def gone(tenant_id, client_id):
        raise NotFound("no such client", code="not_found", status=404)

    w.platform.get_client = gone
    assert w.gate().admit("export", "site", [site]) == [site] and not w.queue.waiting("t1")


def test_quickbooks_customers_that_write_nothing_to_the_platform_are_not_held():
    from dataclasses import replace

    w = GateWorld()
    deleted = replace(customer_state(w.books.add("Customer", {"DisplayName": "Gone"})), deleted=True)
    parent = w.books.add("Customer", {"DisplayName": "Acme"})
    job = customer_state(w.books.add("Customer", {"DisplayName": "Acme:Yard", "Job": True,
                                                  "ParentRef": {"value": parent["Id"]}}))
    pending = customer_state(w.books.add("Customer", {"DisplayName": "Pending", "CompanyName": "Pending Co"}))
    before = fingerprints(customer_values(customer_state({"Id": "0", "DisplayName": "Before", "CompanyName": "B"})))
    w.links.put(Link("t1", "customer", "c1", pending.qbo_id, sync_token="-1", state="pending",
                     extra={"fp": {"q": before}}))  # a write to QuickBooks under way: its answer settles it
    assert w.gate().admit("import", "customer", [deleted, job, pending]) == [deleted, job, pending]
    assert not w.queue.waiting("t1")
    w.links.put(Link("t1", "customer", "c1", pending.qbo_id, sync_token="-1", extra={"fp": {"q": before}}))
    assert w.gate().admit("import", "customer", [pending]) == [] and _held(w.queue) == {pending.qbo_id: "update"}


def test_platform_clients_are_not_held_when_quickbooks_is_the_master_or_their_link_writes_nothing():
    w = GateWorld(clients={"direction": "quickbooks_master"})
    client = w.platform.add_client("c1", company="Acme", phone="555-0100")
    new = w.platform.add_client("c2", company="Birch")
    w.links.put(Link("t1", "customer", "c1", "58", extra={"fp": {"p": fingerprints(client_values(new))}}))
    assert w.gate().admit("export", "customer", [client, new]) == [client, new] and not w.queue.waiting("t1")

    w = GateWorld()
    gone = w.platform.add_client("c3", company="Cedar")
    before = fingerprints(client_values(w.platform.add_client("c4", company="Cedar Roofing")))  # edited since
    w.links.put(Link("t1", "customer", "c3", "59", extra={"deleted_in_quickbooks": True, "fp": {"p": before}}))
    assert w.gate().admit("export", "customer", [gone]) == [gone] and not w.queue.waiting("t1")
    w.links.put(Link("t1", "customer", "c3", "59", extra={"fp": {"p": before}}))
    assert w.gate().admit("export", "customer", [gone]) == [] and _held(w.queue) == {"c3": "update"}


def test_an_approved_entry_quickbooks_refuses_to_read_fails_with_its_code_and_throttling_keeps_it_approved():
    import pytest

    from shared.quickbooks.errors import NotFoundOrInactive, Throttled

    w = GateWorld()
    entry = ReviewEntry("import", "customer", "77", "Acme", "update", "v1")
    w.queue.hold("t1", [entry])
    w.queue.decide("t1", entry, State.APPROVED, "admin")
    w.books.fail_next = [Throttled("3001", "ThrottleExceeded")]
    with pytest.raises(Throttled):
        w.gate([entry]).admit("import", "customer", [])
    assert [e.entity_id for e in w.queue.approved("t1")] == ["77"]
    w.books.fail_next = [NotFoundOrInactive("610", "Object Not Found", "deleted", 400)]
    assert w.gate([entry]).admit("import", "customer", []) == []
    assert w.log.errors[("customer", "77")]["code"] == "610"
    assert w.queue.approved("t1") == [] and w.queue.log[-1][1].outcome == State.FAILED


def test_an_approved_change_the_settings_no_longer_sync_is_reported_failed_with_why():
    w = GateWorld(invoices={"enabled": False}, sites={"enabled": False})
    entries = [ReviewEntry("export", "invoice", "inv_1", "Invoice 1", "create", "v1"),
               ReviewEntry("export", "site", "s1", "Yard", "create", "v1"),
               ReviewEntry("export", "payment", "pay_1", "Payment", "create", "v1"),
               ReviewEntry("import", "item", "5", "Drain", "create", "v1")]
    for e in entries:
        w.queue.hold("t1", [e])
        w.queue.decide("t1", e, State.APPROVED, "admin")
    w.gate(entries).report()
    outcomes = {r.entry.entity_id: (r.outcome, r.message) for _, r in w.queue.log}
    assert {k: o for k, (o, _) in outcomes.items()} == {e.entity_id: State.FAILED for e in entries}
    assert all("no longer send" in m for _, m in outcomes.values())


def test_a_paid_in_quickbooks_approval_fails_with_the_error_logged_against_the_platform_invoice():
    from shared.domain.records import ErrorEntry

    w = GateWorld(invoices={"enabled": True, "income_account_id": "79", "expense_account_id": "80"})
    w.links.put(Link("t1", "invoice", "inv_1", "130"))
    w.errors.record(ErrorEntry("t1", "invoice", "inv_1", "to_platform", "invalid_status", "Invoice is void"))
    entry = ReviewEntry("import", "invoice", "130", "Invoice 1001 (paid)", "update", "v1")
    w.queue.hold("t1", [entry])
    w.queue.decide("t1", entry, State.APPROVED, "admin")
    w.gate([entry]).report()
    (_, result), = w.queue.log
    assert (result.outcome, result.message) == (State.FAILED, "invalid_status: Invoice is void")


def test_with_job_locations_a_synced_invoice_at_its_site_is_judged_with_the_sites_link_and_not_held():
    from shared.domain.invoices import InvoiceSync

    w = MoneyWorld()
    w.settings = SyncSettings.model_validate({**w.settings.model_dump(), "invoices": {
        **w.settings.invoices.model_dump(), "job_locations": True}})
    invoice = w.platform.put_invoice("inv_1", number="1001", site_id="s1")
    site = Link("t1", "site", "s1", "70")
    w.links.put(site)
    fp = InvoiceSync(w.gate().d, FakeRunLog(), prefs=MoneyPrefs())._fingerprint(
        invoice, {"cli_1": w.links.get("t1", "customer", "cli_1")}, {"s1": site})
    w.links.put(Link("t1", "invoice", "inv_1", "130", fingerprint=fp))
    assert w.gate().admit("export", "invoice", [invoice]) == [invoice] and not w.queue.waiting("t1")
