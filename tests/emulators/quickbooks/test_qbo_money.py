"""The money section of the adapter against the emulator over HTTP: batched invoice writes (create, update, void),
open balances, stated tax and automated sales tax, payment methods, payments deleted."""

from datetime import date
from decimal import Decimal

import requests

from shared.quickbooks.port import InvoiceDraft, PaymentDraft, SalesLine
from tests.emulators.quickbooks.test_qbo_entities import _items, find


def _draft(company, bid, price="100.00", **extra):
    labor = _items(company)["Filter Cartridge"]  # taxable
    customer = find(company, "Customer", "Jeff's Jalopies")
    return InvoiceDraft(bid, customer_id=customer["Id"], txn_date=date(2026, 11, 2), private_note=f"bench {bid}",
                        lines=(SalesLine(labor["Id"], Decimal("1"), Decimal(price), Decimal(price), "Filter", "TAX"),),
                        **extra)


def test_stated_tax_is_honoured_and_a_code_alone_computes_it(company):
    a = company.adapter
    results = a.push_invoices([_draft(company, "1", txn_tax_code_id="2", total_tax=Decimal("8.25")),
                               _draft(company, "2", txn_tax_code_id="2"),
                               _draft(company, "3")], "money-tax-1")
    totals = [r.invoice.total for r in results]
    assert totals == [Decimal("108.25"), Decimal("108.00"), Decimal("100.00")]
    assert a.push_invoices([_draft(company, "1")], "money-tax-1")[0].invoice.qbo_id == results[0].invoice.qbo_id


def test_automated_sales_tax_assigns_its_code_and_honours_a_stated_amount(company):
    requests.put(f"{company.url}/_emulator/realms/{company.realm}/preferences",
                 json={"TaxPrefs": {"PartnerTaxEnabled": True}}).raise_for_status()
    assert company.adapter.money_prefs().automated_sales_tax is True
    computed, stated = company.adapter.push_invoices([_draft(company, "1"),
                                                      _draft(company, "2", total_tax=Decimal("7.77"))], "money-ast-1")
    assert computed.invoice.tax == Decimal("8.00") and stated.invoice.tax == Decimal("7.77")


def test_update_void_balances_and_payments(company):
    a = company.adapter
    created = a.push_invoices([_draft(company, "1"), _draft(company, "2")], "money-life-1")
    one, two = (r.invoice for r in created)
    updated = a.push_invoices([_draft(company, "1", price="216.00", qbo_id=one.qbo_id, sync_token=one.sync_token),
                               InvoiceDraft("2", qbo_id=two.qbo_id, sync_token=two.sync_token, void=True)],
                              "money-life-2")
    assert updated[0].invoice.total == Decimal("216.00") and updated[0].invoice.qbo_id == one.qbo_id
    assert updated[1].invoice.voided and updated[1].invoice.total == 0
    stale = a.push_invoices([_draft(company, "1", qbo_id=one.qbo_id, sync_token=one.sync_token)], "money-life-3")
    assert stale[0].fault.code == "5010"
    check = a.payment_method_id("Check", False, "money-pm-1")
    card = a.payment_method_id("Credit Card", True, "money-pm-2")
    assert a.payment_method_id("Credit Card", True, "money-pm-3") == card != check
    balances = a.open_balances([one.qbo_id, two.qbo_id])
    paid = a.push_payments([PaymentDraft("1", customer_id=balances[one.qbo_id].customer_id, total=Decimal("50.00"),
                                         txn_date=date(2026, 11, 5), applied=((one.qbo_id, Decimal("50.00")),),
                                         deposit_account_id="35", method_id=card)], "money-pay-1")[0].payment
    assert a.open_balances([one.qbo_id])[one.qbo_id].balance == Decimal("166.00") and paid.method_id == card
    gone = a.push_payments([PaymentDraft("1", qbo_id=paid.qbo_id, sync_token=paid.sync_token, delete=True)],
                           "money-pay-2")
    assert gone[0].fault is None and a.open_balances([one.qbo_id])[one.qbo_id].balance == Decimal("216.00")


def test_the_single_lane_creates_updates_voids_and_deletes_as_a_batch_item_would(company):
    """Each money write as its own request (shared/domain/lanes.py): replayed by its requestid, a stale SyncToken
    and a refusal answered as the record's fault, void and delete through `?operation=`; the emulator's log shows
    single requests, not batches."""
    a = company.adapter
    requests.delete(f"{company.url}/_emulator/requests")
    [created] = a.push_invoices([_draft(company, "1")], "money-single-1", single=True)
    one = created.invoice
    assert a.push_invoices([_draft(company, "1")], "money-single-1", single=True)[0].invoice.qbo_id == one.qbo_id
    [updated] = a.push_invoices([_draft(company, "1", price="216.00", qbo_id=one.qbo_id, sync_token=one.sync_token)],
                                "money-single-2", single=True)
    assert updated.invoice.total == Decimal("216.00")
    [stale] = a.push_invoices([_draft(company, "1", qbo_id=one.qbo_id, sync_token=one.sync_token)],
                              "money-single-3", single=True)
    assert stale.fault.code == "5010" and stale.invoice is None
    [refused] = a.push_invoices([InvoiceDraft("1", customer_id="999999", txn_date=date(2026, 11, 2),
                                              lines=_draft(company, "1").lines)], "money-single-4", single=True)
    assert refused.invoice is None and refused.fault.code
    balances = a.open_balances([one.qbo_id])
    [paid] = a.push_payments([PaymentDraft("1", customer_id=balances[one.qbo_id].customer_id, total=Decimal("16.00"),
                                           txn_date=date(2026, 11, 5), applied=((one.qbo_id, Decimal("16.00")),),
                                           deposit_account_id="35")], "money-single-5", single=True)
    assert a.open_balances([one.qbo_id])[one.qbo_id].balance == Decimal("200.00")
    [gone] = a.push_payments([PaymentDraft("1", qbo_id=paid.payment.qbo_id, sync_token=paid.payment.sync_token,
                                           delete=True)], "money-single-6", single=True)
    assert gone.fault is None and a.open_balances([one.qbo_id])[one.qbo_id].balance == Decimal("216.00")
    current = a.open_balances([one.qbo_id])[one.qbo_id]
    [voided] = a.push_invoices([InvoiceDraft("1", qbo_id=one.qbo_id, sync_token=current.sync_token, void=True)],
                               "money-single-7", single=True)
    assert voided.invoice.voided and voided.invoice.total == 0
    kinds = [e["kind"] for e in requests.get(f"{company.url}/_emulator/requests",
                                             params={"realm": company.realm}).json()["log"]]
    assert "batch" not in kinds and {"create", "update", "void", "delete"} <= set(kinds)
