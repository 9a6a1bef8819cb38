"""PaymentSync with fakes: platform payments to QuickBooks (method, balances, edits, deletions, waiting) and payments
entered in QuickBooks to the platform."""

from decimal import Decimal

import pytest

from shared.domain.payments import PaymentSync
from shared.quickbooks.errors import Unavailable
from shared.quickbooks.shapes import payment_state
from tests.unit.domain.test_invoice_sync import World


class Money(World):
    def payments(self):
        from shared.domain.onboarding import Deps

        deps = Deps(tenant_id="t1", quickbooks=lambda: self.qb, platform=self.platform, links=self.links, runs=None,
                    errors=None, settings=self.settings, connections=None)
        return PaymentSync(deps, self.log, new_id=lambda: f"attempt-{next(self.ids)}")

    def pay(self, *payment_ids):
        self.payments().push([self.platform.payments[i] for i in payment_ids])

    def qbo_payment(self, payment_id):
        return self.qb.payments[self.links.get("t1", "payment", payment_id).qbo_id]


def _synced(amount="216.00", invoice_id="inv_1"):
    w = Money()
    w.platform.put_invoice(invoice_id, amounts=(amount,))
    w.push(invoice_id)
    return w


def test_a_partial_payment_is_applied_deposited_and_paid_with_its_method_found_or_created_once():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00", method="credit_card")
    w.platform.put_payment("pay_2", "inv_1", "50.00", method="credit_card")
    w.pay("pay_1", "pay_2")
    p = w.qbo_payment("pay_1")
    assert p["applied"] == ((w.link("inv_1").qbo_id, Decimal("100.00")),) and p["DepositTo"] == "35"
    assert p["method"] == w.qbo_payment("pay_2")["method"] == w.qb.methods["Credit Card"]
    assert [k for k, _ in w.qb.calls].count("payment_method") == 1
    assert w.qbo("inv_1")["Balance"] == Decimal("66.00")
    w.platform.put_payment("pay_3", "inv_1", "10.00", method="credit_card")
    w.pay("pay_3")  # a later run: the method is linked, no lookup
    assert [k for k, _ in w.qb.calls].count("payment_method") == 1


def test_open_balances_are_one_query_per_call_and_an_overpayment_keeps_the_rest_as_credit():
    w = _synced("100.00")
    w.platform.put_payment("pay_1", "inv_1", "60.00")
    w.platform.put_payment("pay_2", "inv_1", "60.00")  # 20.00 more than is owed
    w.pay("pay_1", "pay_2")
    assert [c for c in w.qb.calls if c[0] == "query"] == [("query", 1)]
    assert w.qbo("inv_1")["Balance"] == 0 and not w.log.errors
    assert sum(a for _, a in w.qbo_payment("pay_2")["applied"]) == Decimal("40.00")
    assert w.qbo_payment("pay_2")["TotalAmt"] == Decimal("60.00")
    assert w.log.counts["payments_with_unapplied_credit"] == 1


def test_edits_and_deletions_of_platform_payments_reach_quickbooks():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    qbo_id = w.links.get("t1", "payment", "pay_1").qbo_id
    w.platform.put_payment("pay_1", "inv_1", "120.00")
    w.pay("pay_1")
    assert w.qb.payments[qbo_id]["TotalAmt"] == Decimal("120.00") and w.qbo("inv_1")["Balance"] == Decimal("96.00")
    w.platform.put_payment("pay_1", "inv_1", "120.00", deleted=True)
    w.pay("pay_1")
    assert qbo_id not in w.qb.payments and w.qbo("inv_1")["Balance"] == Decimal("216.00")
    w.pay("pay_1")  # deleted and gone: nothing to do
    assert w.links.get("t1", "payment", "pay_1") is None


def test_a_payment_waiting_for_its_invoice_says_so_and_syncs_when_the_invoice_does():
    w = Money()
    w.platform.put_invoice("inv_1", status="approved")
    w.platform.put_payment("pay_1", "inv_1", "50.00")
    w.pay("pay_1")
    assert w.log.errors[("payment", "pay_1")]["code"] == "waiting_for_invoice"
    assert w.log.errors[("payment", "pay_1")]["waits_for"] == "invoice#inv_1"  # what the run waits on
    w.platform.put_invoice("inv_1", status="ready_for_sync")
    w.push("inv_1")
    w.pay("pay_1")
    assert ("payment", "pay_1") not in w.log.errors and w.qbo_payment("pay_1")["TotalAmt"] == Decimal("50.00")


def test_a_crash_after_a_committed_payment_batch_writes_nothing_twice():
    w = _synced("5000.00")
    for i in range(35):
        w.platform.put_payment(f"pay_{i}", "inv_1", "10.00")
    w.qb.crash_after_commit = 1
    with pytest.raises(Unavailable):
        w.pay(*[f"pay_{i}" for i in range(35)])
    w.pay(*[f"pay_{i}" for i in range(35)])
    assert len(w.qb.payments) == 35 and w.qbo("inv_1")["Balance"] == Decimal("4650.00")


def test_payments_entered_in_quickbooks_reach_the_platform_and_paid_follows_the_platform_balance():
    w = _synced()
    qbo_invoice = w.link("inv_1").qbo_id
    partial = w.qb.enter_payment(qbo_invoice, Decimal("100.00"))
    w.payments().quickbooks_changed([w.qb.read_payment(partial)])
    inv = w.platform.invoices["inv_1"]
    assert inv.amount_paid == Decimal("100.00") and inv.balance == Decimal("116.00") and inv.status.value != "paid"
    w.payments().quickbooks_changed([w.qb.read_payment(partial)])  # CDC again: recorded once
    assert w.platform.invoices["inv_1"].amount_paid == Decimal("100.00")
    rest = w.qb.enter_payment(qbo_invoice, Decimal("116.00"))
    w.payments().quickbooks_changed([w.qb.read_payment(rest)])
    assert w.platform.invoices["inv_1"].status.value == "paid"
    # the platform now lists these payments as changed: they are ours already, nothing goes back to QuickBooks
    before = len(w.qb.payments)
    w.pay(*w.platform.payments)
    assert len(w.qb.payments) == before


def test_our_own_payments_coming_back_through_cdc_change_nothing_on_the_platform():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    w.payments().quickbooks_changed([w.qb.read_payment(w.links.get("t1", "payment", "pay_1").qbo_id)])
    assert len(w.platform.payments) == 1


def test_a_quickbooks_payment_deleted_there_is_deleted_on_the_platform():
    w = _synced()
    qbo_payment = w.qb.enter_payment(w.link("inv_1").qbo_id, Decimal("100.00"))
    w.payments().quickbooks_changed([w.qb.read_payment(qbo_payment)])
    w.payments().quickbooks_changed([payment_state({"Id": qbo_payment, "status": "Deleted"})])
    assert w.platform.invoices["inv_1"].balance == Decimal("216.00")


def test_many_of_our_own_payments_coming_back_are_looked_up_in_one_paged_read(monkeypatch):
    w = _synced("10000.00")
    ids = [f"pay_{i:03d}" for i in range(60)]
    for i in ids:
        w.platform.put_payment(i, "inv_1", "10.00")
    w.pay(*ids)
    queries = []
    real = w.links.by_qbo
    monkeypatch.setattr(w.links, "by_qbo", lambda *a: queries.append(a) or real(*a))
    w.payments().quickbooks_changed([w.qb.read_payment(w.links.get("t1", "payment", i).qbo_id) for i in ids])
    assert queries == [] and len(w.platform.payments) == 60


def test_a_big_payment_push_uses_both_lanes_when_paced_and_a_crash_in_either_writes_nothing_twice():
    from shared.domain import lanes

    w = _synced("50000.00")
    w.qb.pacing = lanes.PACED
    ids = [f"pay_{i:03d}" for i in range(200)]
    for i in ids:
        w.platform.put_payment(i, "inv_1", "10.00")
    w.qb.crash_after_commit = 3  # three calls in a row write, then lose their answer: a batch, then singles
    for attempt in range(4):  # the task and its retries; each replays what was written and goes one call further
        try:
            w.pay(*ids)
            break
        except Unavailable:
            assert attempt < 3
    assert ("single", 1) in w.qb.calls and ("batch", 30) in w.qb.calls
    assert len(w.qb.payments) == 200 and w.qbo("inv_1")["Balance"] == Decimal("48000.00")


def test_a_new_payment_quickbooks_refuses_is_logged_and_left_unlinked_so_it_is_sent_again():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.qb.refuse["Platform payment pay_1"] = ("6000", "A business validation error has occurred")
    w.pay("pay_1")
    assert w.log.errors[("payment", "pay_1")]["code"] == "6000" and w.links.get("t1", "payment", "pay_1") is None
    assert w.log.counts["payments_refused_by_quickbooks"] == 1
    del w.qb.refuse["Platform payment pay_1"]
    w.pay("pay_1")
    assert w.links.get("t1", "payment", "pay_1").qbo_id and ("payment", "pay_1") not in w.log.errors


def test_a_refused_edit_is_not_sent_again_until_the_payment_changes():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    w.platform.put_payment("pay_1", "inv_1", "110.00")
    w.qb.refuse["Platform payment pay_1"] = ("6000", "A business validation error has occurred")
    w.pay("pay_1")
    assert w.log.errors[("payment", "pay_1")]["code"] == "6000"
    calls = len(w.qb.calls)
    w.pay("pay_1")  # the same refused version: nothing to send
    assert len(w.qb.calls) == calls
    del w.qb.refuse["Platform payment pay_1"]
    w.platform.put_payment("pay_1", "inv_1", "120.00")
    w.pay("pay_1")
    assert w.qbo_payment("pay_1")["TotalAmt"] == Decimal("120.00")


def test_an_edit_answered_with_a_stale_sync_token_is_read_again_and_sent_once_more():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    w.qbo_payment("pay_1")["SyncToken"] = "7"  # deposited in QuickBooks since: its SyncToken moved on
    w.platform.put_payment("pay_1", "inv_1", "110.00")
    w.pay("pay_1")
    assert w.qbo_payment("pay_1")["TotalAmt"] == Decimal("110.00") and not w.log.errors
    assert w.links.get("t1", "payment", "pay_1").sync_token == "8"


def test_a_payment_on_an_invoice_voided_in_quickbooks_is_not_sent_and_says_what_to_do():
    w = _synced()
    link = w.link("inv_1")
    link.extra["voided"] = True
    w.links.put(link)
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    error = w.log.errors[("payment", "pay_1")]
    assert error["code"] == "invoice_void_in_quickbooks" and "Clear ID" in error["detail"]
    assert not w.qb.payments


def test_a_platform_payment_deleted_in_quickbooks_is_flagged_and_left_on_the_platform():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    qbo_id = w.links.get("t1", "payment", "pay_1").qbo_id
    w.payments().quickbooks_changed([payment_state({"Id": qbo_id, "status": "Deleted"})])
    assert w.log.errors[("payment", "pay_1")]["code"] == "deleted_in_quickbooks"
    assert "pay_1" in w.platform.payments and w.platform.payments["pay_1"].deleted_at is None


def test_our_payment_changed_in_quickbooks_leaves_the_platform_record_as_the_source():
    w = _synced()
    w.platform.put_payment("pay_1", "inv_1", "100.00")
    w.pay("pay_1")
    qbo_id = w.links.get("t1", "payment", "pay_1").qbo_id
    w.qb.payments[qbo_id]["SyncToken"] = "3"  # e.g. deposited in QuickBooks
    before = dict(w.platform.payments)
    w.payments().quickbooks_changed([w.qb.read_payment(qbo_id)])
    assert w.platform.payments == before and w.links.get("t1", "payment", "pay_1").sync_token == "3"


def test_a_payment_edited_in_quickbooks_updates_its_platform_payment_with_the_platforms_method():
    from shared.domain.records import Link

    w = _synced()
    w.links.put(Link("t1", "payment_method", "cash", "1"))  # QuickBooks' "Cash" (id 1), linked by an earlier push
    qbo_id = w.qb.enter_payment(w.link("inv_1").qbo_id, Decimal("100.00"))
    w.payments().quickbooks_changed([w.qb.read_payment(qbo_id)])
    (payment,) = w.platform.payments.values()
    assert payment.method == "cash"
    w.qb.payments[qbo_id].update(TotalAmt=Decimal("80.00"), applied=((w.link("inv_1").qbo_id, Decimal("80.00")),),
                                 SyncToken="1")
    w.payments().quickbooks_changed([w.qb.read_payment(qbo_id)])
    (payment,) = w.platform.payments.values()
    assert payment.amount == Decimal("80.00") and w.log.counts["payments_updated_on_platform"] == 1
    assert w.platform.invoices["inv_1"].balance == Decimal("136.00")


def test_a_quickbooks_payment_whose_link_is_still_settling_is_left_to_our_write():
    from shared.domain.records import Link

    w = _synced()
    qbo_id = w.qb.enter_payment(w.link("inv_1").qbo_id, Decimal("100.00"))
    w.links.put(Link("t1", "payment", "pay_9", qbo_id, extra={"origin": "quickbooks", "attempt": {"id": "a1"}}))
    w.payments().quickbooks_changed([w.qb.read_payment(qbo_id)])
    assert not w.platform.payments
