"""InvoiceSync with fakes: batches, attempts and request ids, lifecycle, numbering, tax, QuickBooks -> platform."""

from dataclasses import replace
from decimal import Decimal
from itertools import count

import pytest

from shared.domain.invoices import InvoiceSync
from shared.domain.onboarding import Deps
from shared.domain.records import Link
from shared.domain.settings import SyncSettings
from shared.quickbooks.errors import Unavailable
from shared.quickbooks.shapes import invoice_state
from tests.fakes import FakeLinkStore, FakeMoneyPlatform, FakeMoneyQuickBooks, FakeRunLog


def _settings(**invoices):
    return SyncSettings.model_validate({
        "invoices": {"enabled": True, "income_account_id": "79", "expense_account_id": "80", **invoices},
        "payments": {"enabled": True, "deposit_account_id": "35"}})


class World:
    def __init__(self, qb=None, **invoice_settings):
        self.qb = qb or FakeMoneyQuickBooks()
        self.platform, self.links, self.log = FakeMoneyPlatform(), FakeLinkStore(), FakeRunLog()
        self.links.put(Link("t1", "customer", "cli_1", "58"))
        self.links.put(Link("t1", "item", "itm_1", "5"))
        self.ids = count(1)
        self.settings = _settings(**invoice_settings)

    def sync(self):
        deps = Deps(tenant_id="t1", quickbooks=lambda: self.qb, platform=self.platform, links=self.links, runs=None,
                    errors=None, settings=self.settings, connections=None)
        return InvoiceSync(deps, self.log, new_id=lambda: f"attempt-{next(self.ids)}")

    def push(self, *invoice_ids):
        self.sync().push([self.platform.invoices[i] for i in invoice_ids])

    def link(self, invoice_id):
        return self.links.get("t1", "invoice", invoice_id)

    def qbo(self, invoice_id):
        return self.qb.invoices[self.link(invoice_id).qbo_id]


def _batches(qb):
    return [n for kind, n in qb.calls if kind == "batch"]


def test_creates_go_30_to_a_batch_and_quickbooks_numbers_are_written_back():
    w = World()
    ids = [f"inv_{i:03d}" for i in range(65)]
    for i in ids:
        w.platform.put_invoice(i)
    w.push(*ids)
    assert _batches(w.qb) == [30, 30, 5]
    assert len(w.qb.invoices) == 65 and w.log.counts["invoices_created_in_quickbooks"] == 65
    numbers = {w.platform.invoices[i].external_number for i in ids}
    assert numbers == {d["DocNumber"] for d in w.qb.invoices.values()} and len(numbers) == 65
    assert all(w.link(i).request_id is None and "attempt" not in w.link(i).extra for i in ids)
    w.push(*ids)  # nothing changed: nothing sent
    assert _batches(w.qb) == [30, 30, 5]


def test_only_ready_invoices_are_created_but_a_paid_linked_one_still_updates():
    w = World()
    w.platform.put_invoice("inv_d", status="approved")
    w.platform.put_invoice("inv_p", status="paid")
    w.platform.put_invoice("inv_1")
    w.push("inv_d", "inv_p", "inv_1")
    assert len(w.qb.invoices) == 1 and w.link("inv_d") is None and w.link("inv_p") is None
    w.platform.put_invoice("inv_1", amounts=("90.00",), status="paid")
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == Decimal("90.00")


def test_a_zero_invoice_waits_until_it_has_an_amount():
    w = World()
    w.platform.put_invoice("inv_0", amounts=("0.00",))
    w.push("inv_0")
    assert not w.qb.invoices and w.log.counts["invoices_skipped_zero"] == 1
    w.platform.put_invoice("inv_0", amounts=("40.00",))
    w.push("inv_0")
    assert w.qbo("inv_0")["TotalAmt"] == Decimal("40.00")


def test_an_edit_after_sync_is_an_update_with_the_sync_token():
    w = World()
    w.platform.put_invoice("inv_1", amounts=("100.00",))
    w.push("inv_1")
    first = w.qbo("inv_1")
    w.platform.put_invoice("inv_1", amounts=("100.00", "116.00"))
    w.push("inv_1")
    after = w.qbo("inv_1")
    assert after["Id"] == first["Id"] and after["TotalAmt"] == Decimal("216.00") and after["SyncToken"] == "1"
    assert len(w.qb.invoices) == 1 and w.log.counts["invoices_updated_in_quickbooks"] == 1


def test_a_stale_sync_token_is_reread_and_the_update_retried_once():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    qbo_id = w.link("inv_1").qbo_id
    w.qb.invoices[qbo_id] = dict(w.qb.invoices[qbo_id], SyncToken="7")  # edited in QuickBooks meanwhile
    w.platform.put_invoice("inv_1", amounts=("216.00",))
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == Decimal("216.00") and not w.log.errors
    assert ("query", 1) in w.qb.calls  # the re-read is one query, not one read per invoice


def test_sync_tokens_quickbooks_reported_in_the_pass_go_out_at_once_instead_of_after_a_5010():
    """bench/money.py's edited run: the payments we applied moved the invoices' SyncTokens, and the pass's CDC read
    the new ones. The edit and the void go in one batch with them: no 5010, no re-read query, no second batch."""
    w = World()
    for i in ("inv_1", "inv_2", "inv_3"):
        w.platform.put_invoice(i)
    w.sync().push([w.platform.invoices[i] for i in ("inv_1", "inv_2", "inv_3")],
                  reported=lambda: pytest.fail("read although only creates were planned"))
    w.qb.enter_payment(w.link("inv_1").qbo_id, Decimal("40.00"))  # its SyncToken moves with its balance
    w.qb.invoices[w.link("inv_2").qbo_id]["SyncToken"] = "4"  # edited in QuickBooks
    w.qb.invoices[w.link("inv_3").qbo_id]["SyncToken"] = "2"
    w.links.put(replace(w.link("inv_3"), sync_token="2"))  # ... and our own later write already knows it
    reported = {w.link(i).qbo_id: t for i, t in (("inv_1", w.qbo("inv_1")["SyncToken"]), ("inv_2", "4"),
                                                 ("inv_3", "1"))}  # inv_3's row is older than its link
    w.platform.put_invoice("inv_1", amounts=("125.00",))
    w.platform.put_invoice("inv_2", status="void")
    w.platform.put_invoice("inv_3", amounts=("90.00",))
    w.qb.calls.clear()
    w.sync().push([w.platform.invoices[i] for i in ("inv_1", "inv_2", "inv_3")], reported=lambda: reported)
    assert [c for c in w.qb.calls if c[0] != "preferences"] == [("batch", 3)] and not w.log.errors
    assert w.qbo("inv_1")["Balance"] == Decimal("85.00") and w.qbo("inv_2")["PrivateNote"] == "Voided"
    assert w.qbo("inv_3")["TotalAmt"] == Decimal("90.00")


def test_a_platform_void_voids_the_quickbooks_invoice_once():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    w.platform.put_invoice("inv_1", status="void")
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == 0 and w.qbo("inv_1")["PrivateNote"] == "Voided"
    sent = len(_batches(w.qb))
    w.push("inv_1")
    assert len(_batches(w.qb)) == sent and w.log.counts["invoices_voided_in_quickbooks"] == 1


@pytest.mark.parametrize("code", ["6540", "6210"])
def test_a_change_quickbooks_refuses_is_one_entry_with_the_fix_and_no_retry_loop(code):
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    w.qb.refuse[w.link("inv_1").qbo_id] = (code, "Refused")
    w.platform.put_invoice("inv_1", amounts=("150.00",))
    w.push("inv_1")
    entry = w.log.errors[("invoice", "inv_1")]
    assert entry["code"] == code and "Retry" in entry["detail"]
    sent = len(_batches(w.qb))
    w.push("inv_1")  # the same version again: not re-sent by itself
    assert len(_batches(w.qb)) == sent
    del w.qb.refuse[w.link("inv_1").qbo_id]
    w.platform.put_invoice("inv_1", amounts=("151.00",))  # a new version is a new attempt
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == Decimal("151.00") and ("invoice", "inv_1") not in w.log.errors


def test_after_a_refusal_the_next_attempt_has_a_new_request_id_and_succeeds():
    w = World()
    w.platform.put_invoice("inv_1")
    w.qb.refuse["Platform invoice inv_1"] = ("6000", "Business Validation Error")
    w.push("inv_1")
    assert w.log.errors[("invoice", "inv_1")]["code"] == "6000" and not w.qb.invoices
    del w.qb.refuse["Platform invoice inv_1"]  # the cause fixed in QuickBooks; the run (or Retry) tries again
    w.push("inv_1")
    assert len(w.qb.invoices) == 1 and ("invoice", "inv_1") not in w.log.errors


def test_clear_id_then_sync_creates_exactly_one_new_invoice():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    old = w.link("inv_1").qbo_id
    del w.qb.invoices[old]  # deleted in QuickBooks
    w.links.clear("t1", "invoice", "inv_1")  # the admin's Clear ID
    w.push("inv_1")
    assert list(w.qb.invoices) != [old] and len(w.qb.invoices) == 1
    assert w.link("inv_1").qbo_id in w.qb.invoices


def test_a_crash_after_quickbooks_committed_a_batch_replays_it_instead_of_writing_again():
    w = World()
    ids = [f"inv_{i}" for i in range(40)]
    for i in ids:
        w.platform.put_invoice(i)
    w.qb.crash_after_commit = 1
    with pytest.raises(Unavailable):
        w.push(*ids)
    assert len(w.qb.invoices) == 30 and all("attempt" in w.link(i).extra for i in ids[:30])
    w.push(*reversed(ids))  # the retried task, its members in another order
    assert len(w.qb.invoices) == 40
    assert len({w.link(i).qbo_id for i in ids}) == 40 and not w.log.errors


def test_custom_numbers_send_the_platform_number_and_a_duplicate_is_one_entry_with_the_rule():
    w = World(qb=FakeMoneyQuickBooks(custom_numbers=True))
    w.platform.put_invoice("inv_1", number="A-100")
    w.platform.put_invoice("inv_2", number="A-100")
    w.push("inv_1")
    assert w.qbo("inv_1")["DocNumber"] == "A-100"
    w.push("inv_2")
    entry = w.log.errors[("invoice", "inv_2")]
    assert entry["code"] == "6140" and "A-100" in entry["detail"] and w.link("inv_2") is None


def test_an_invoice_waiting_for_its_client_says_so_and_syncs_when_the_client_does():
    w = World()
    w.platform.put_invoice("inv_1", client_id="cli_2")
    w.push("inv_1")
    assert w.log.errors[("invoice", "inv_1")]["code"] == "waiting_for_client"
    w.links.put(Link("t1", "customer", "cli_2", "59"))
    w.push("inv_1")
    assert ("invoice", "inv_1") not in w.log.errors and w.qbo("inv_1")["CustomerRef"]["value"] == "59"


def test_platform_stated_tax_makes_the_quickbooks_total_the_platform_total():
    w = World(tax_mode="platform", tax_code_id="2")
    w.platform.put_invoice("inv_1", amounts=("100.00",), tax="8.25")
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == w.platform.invoices["inv_1"].total == Decimal("108.25")


def test_quickbooks_computed_tax_is_written_back_to_the_platform():
    w = World(tax_mode="quickbooks", tax_code_id="2")
    w.platform.put_invoice("inv_1", amounts=("100.00",))
    w.push("inv_1")
    assert w.platform.invoices["inv_1"].tax_total == Decimal("8.00")
    assert w.platform.invoices["inv_1"].total == w.qbo("inv_1")["TotalAmt"] == Decimal("108.00")
    sent = len(_batches(w.qb))
    w.push("inv_1")  # the write-back is not an edit to send again
    assert len(_batches(w.qb)) == sent


def test_per_region_tax_codes_and_automated_sales_tax():
    w = World(tax_mode="platform", tax_code_id="2", tax_codes_by_region={"AZ": "9"})
    assert w.sync() is not None
    from shared.domain.tax import plan_tax
    from shared.quickbooks.port import MoneyPrefs

    invoice = w.platform.put_invoice("inv_1", tax="8.00")
    assert plan_tax(invoice, w.settings, MoneyPrefs(), "AZ").txn_tax_code_id == "9"
    assert plan_tax(invoice, w.settings, MoneyPrefs(), "CA").txn_tax_code_id == "2"
    ast = plan_tax(invoice, w.settings, MoneyPrefs(automated_sales_tax=True), "AZ")
    assert ast.txn_tax_code_id is None and ast.total_tax == Decimal("8.00")  # AST honours the stated amount


def test_quickbooks_changes_mark_paid_only_when_the_platform_balance_is_zero():
    w = World()
    w.platform.put_invoice("inv_1", amounts=("216.00",))
    w.push("inv_1")
    qbo_id = w.link("inv_1").qbo_id
    w.sync().quickbooks_changed([invoice_state(w.qbo("inv_1"))])  # our own write coming back
    assert not w.platform.updates[1:]
    w.qb.enter_payment(qbo_id, Decimal("216.00"))
    w.sync().quickbooks_changed([invoice_state(w.qb.invoices[qbo_id])])
    assert w.platform.invoices["inv_1"].status.value == "ready_for_sync"  # 216.00 still open on the platform
    w.platform.put_payment("pay_1", "inv_1", "216.00")
    w.qb.invoices[qbo_id] = dict(w.qb.invoices[qbo_id], SyncToken="9")
    w.sync().quickbooks_changed([invoice_state(w.qb.invoices[qbo_id])])
    assert w.platform.invoices["inv_1"].status.value == "paid"


def test_an_invoice_deleted_in_quickbooks_is_an_entry_and_never_silently_recreated():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    qbo_id = w.link("inv_1").qbo_id
    del w.qb.invoices[qbo_id]
    w.sync().quickbooks_changed([invoice_state({"Id": qbo_id, "status": "Deleted"})])
    assert w.log.errors[("invoice", "inv_1")]["code"] == "deleted_in_quickbooks"
    w.platform.put_invoice("inv_1", amounts=("120.00",))
    w.push("inv_1")
    assert not w.qb.invoices


def test_a_link_written_before_the_attempt_field_existed_still_updates():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    link = w.link("inv_1")
    w.links.put(replace(link, fingerprint=None, extra={"doc_number": "1001"}))  # linked by the first sync
    w.platform.put_invoice("inv_1", amounts=("130.00",))
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == Decimal("130.00")


def test_retry_lets_the_refused_version_go_again_with_a_new_request_id():
    from shared.domain.attempts import clear_refusal

    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    qbo_id = w.link("inv_1").qbo_id
    w.qb.refuse[qbo_id] = ("6540", "Deposited Transaction cannot be changed")
    w.platform.put_invoice("inv_1", amounts=("150.00",))
    w.push("inv_1")
    del w.qb.refuse[qbo_id]  # the deposit undone in QuickBooks; the admin presses Retry
    assert clear_refusal(w.links, "t1", "invoice", "inv_1") and not clear_refusal(w.links, "t1", "invoice", "inv_1")
    w.push("inv_1")
    assert w.qbo("inv_1")["TotalAmt"] == Decimal("150.00") and ("invoice", "inv_1") not in w.log.errors


def test_a_pass_rereading_many_of_our_own_invoices_finds_their_links_in_one_paged_read(monkeypatch):
    """Issue 12: every pass re-reads the last 2 minutes of CDC, so after a burst of writes each pass met ~400 of our
    own invoices and payments again with one GSI query each (80% of a 30 s pass on the local stack)."""
    w = World()
    ids = [f"inv_{i:03d}" for i in range(60)]
    for i in ids:
        w.platform.put_invoice(i)
    w.push(*ids)
    updates = len(w.platform.updates)
    queries = []
    real = w.links.by_qbo
    monkeypatch.setattr(w.links, "by_qbo", lambda *a: queries.append(a) or real(*a))
    w.sync().quickbooks_changed([invoice_state(w.qbo(i)) for i in ids])
    assert queries == [] and len(w.platform.updates) == updates  # echoes: nothing written back
    w.sync().quickbooks_changed([invoice_state(w.qbo("inv_001"))])  # a few rows: a query each, no full read
    assert len(queries) == 1


def test_a_big_push_takes_the_single_lane_only_when_the_batch_budget_would_make_it_wait():
    from shared.domain import lanes

    ids = [f"inv_{i:03d}" for i in range(400)]
    roomy = World()
    roomy.qb.pacing = lanes.Budget(20, 40, lanes.IDLE.batch_interval, lanes.IDLE.request_interval)
    for i in ids:
        roomy.platform.put_invoice(i)
    roomy.push(*ids)
    assert [kind for kind, _ in roomy.qb.calls if kind in ("batch", "single")] == ["batch"] * 14  # the call bound
    spent = World()
    spent.qb.pacing = lanes.PACED  # the company is already being paced: batches would wait
    for i in ids:
        spent.platform.put_invoice(i)
    spent.push(*ids)
    singles = lanes.singles_for(400, lanes.PACED)
    assert [n for kind, n in spent.qb.calls if kind == "single"] == [1] * singles and singles > 0
    assert sum(n for kind, n in spent.qb.calls if kind == "batch") == 400 - singles
    assert len(spent.qb.invoices) == 400 and spent.log.counts["invoices_created_in_quickbooks"] == 400


def test_a_crash_in_the_single_lane_resends_the_same_single_request_whatever_the_budget_shows_then():
    from shared.domain import lanes

    w = World()
    w.qb.pacing = lanes.PACED
    ids = [f"inv_{i:03d}" for i in range(200)]
    for i in ids:
        w.platform.put_invoice(i)
    real, lost = w.qb.push_invoices, []

    def push_invoices(drafts, request_id, single=False):
        answer = real(drafts, request_id, single)
        if single and not lost:  # the first single request wrote in QuickBooks, then its answer was lost
            lost.append(request_id)
            raise Unavailable("10000", "connection dropped", "", None)
        return answer

    w.qb.push_invoices = push_invoices
    with pytest.raises(Unavailable):
        w.push(*ids)
    assert [kind for kind, _ in w.qb.calls if kind in ("batch", "single")] == ["batch", "single"]
    # The first batch's answer was recorded; every other write's attempt and lane were recorded before any call.
    lanes_kept = [w.link(i).extra["attempt"].get("lane", "batch") for i in ids if "attempt" in w.link(i).extra]
    assert len(lanes_kept) == 170 and set(lanes_kept) == {"batch", "single"}
    w.qb.pacing, w.qb.calls = lanes.IDLE, []  # the retry finds the budget back: it still resends as it was sent
    w.push(*ids)
    sent = [kind for kind, _ in w.qb.calls if kind in ("batch", "single")]
    assert sent.count("single") == lanes.singles_for(200, lanes.PACED)  # the same split as the first attempt's
    assert sent[0] == "single"  # the lost one resent first, as a single request under its id: replayed
    assert len(w.qb.invoices) == 200 and len({w.link(i).qbo_id for i in ids}) == 200 and not w.log.errors


@pytest.mark.parametrize("custom_numbers", [False, True])
def test_an_invoice_unchanged_since_its_push_is_known_without_reading_the_preferences(custom_numbers):
    """Our own mark-paid PATCH brings a pushed invoice back in the next run's listing: that run must not read
    QuickBooks' preferences to find it unchanged. A change the push sends still reads them."""
    w = World(qb=FakeMoneyQuickBooks(custom_numbers=custom_numbers))
    w.platform.put_invoice("inv_1", number="A-100")
    w.push("inv_1")
    w.qb.calls.clear()
    w.platform.put_invoice("inv_1", number="A-100", status="paid")  # the echo: status is not what the push sends
    w.push("inv_1")
    assert w.qb.calls == [] and w.log.counts["invoices_unchanged"] == 1
    w.platform.put_invoice("inv_1", number="A-101", amounts=("90.00",), status="paid")
    w.push("inv_1")
    assert ("preferences", 1) in w.qb.calls and w.qbo("inv_1")["TotalAmt"] == Decimal("90.00")


def _unlinked_item(w, name="Drain Clean", type="service"):
    w.links.clear("t1", "item", "itm_1")  # the invoice's line item has not been synced yet
    w.platform.add_item("itm_1", name, type=type, price="95.00")


def test_an_invoice_item_found_in_quickbooks_by_name_is_linked_and_not_created():
    from shared.quickbooks.port import ItemState

    w = World()
    _unlinked_item(w, "Drain: Clean")
    w.qb.items["9"] = ItemState("9", "0", "Drain- Clean", "Service")  # QuickBooks names cannot hold ':'
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    assert w.links.get("t1", "item", "itm_1").qbo_id == "9" and list(w.qb.items) == ["9"]
    assert ("create_item", 1) not in w.qb.calls and w.link("inv_1").qbo_id


@pytest.mark.parametrize("type, kind", [("service", "Service"), ("equipment", "NonInventory")])
def test_an_invoice_item_missing_in_quickbooks_is_created_once_with_the_invoice_accounts(type, kind):
    w = World()
    _unlinked_item(w, type=type)
    w.platform.put_invoice("inv_1")
    w.platform.put_invoice("inv_2")
    w.push("inv_1", "inv_2")
    (item,) = w.qb.items.values()
    assert (item.name, item.kind, item.unit_price) == ("Drain Clean", kind, Decimal("95.00"))
    assert w.links.get("t1", "item", "itm_1").qbo_id == item.qbo_id and w.link("inv_2").qbo_id
    assert w.qb.calls.count(("create_item", 1)) == w.qb.calls.count(("items_query", 1)) == 1  # looked up once


def test_when_items_flow_from_quickbooks_an_invoice_never_creates_one_there():
    w = World()
    w.settings = SyncSettings.model_validate({**w.settings.model_dump(), "items": {"enabled": True}})
    _unlinked_item(w)
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    assert w.log.errors[("invoice", "inv_1")]["code"] == "item_not_in_quickbooks"
    assert not w.qb.items and not w.qb.invoices and w.link("inv_1") is None


def test_an_invoice_voided_in_quickbooks_is_flagged_once_and_the_platform_invoice_left_as_it_is():
    w = World()
    w.platform.put_invoice("inv_1")
    w.push("inv_1")
    link = w.link("inv_1")
    voided = invoice_state({"Id": link.qbo_id, "SyncToken": "5", "TotalAmt": "0", "Balance": "0",
                            "PrivateNote": "Voided", "DocNumber": "1001"})
    w.sync().quickbooks_changed([voided])
    assert w.log.errors[("invoice", "inv_1")]["code"] == "voided_in_quickbooks" and w.link("inv_1").extra["voided"]
    assert all(changes.get("status") != "void" for _, changes in w.platform.updates)
    w.log.errors.clear()
    w.sync().quickbooks_changed([voided])  # CDC again: flagged once
    assert not w.log.errors
    w.platform.put_invoice("inv_1", amounts=("150.00",))  # edited on the platform: QuickBooks keeps it voided
    calls = len(w.qb.calls)
    w.push("inv_1")
    assert len(w.qb.calls) == calls
