"""The money path on the local stack (issue 11): invoices and payments through their whole life, checked in both
emulators' own state. Each test drives the admin API, a platform user (emulator control API) and a QuickBooks user
(the QuickBooks API with a token of its own)."""

from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration


def _client_and_item(driver, tenant, realm):
    from shared.runtime import runtime

    links = runtime().sync_deps(tenant).links
    client = next(c for c in driver.platform_records(tenant, "clients")
                  if c["active"] and (link := links.get(tenant, "customer", c["id"])) and link.qbo_id)
    item = next(i for i in driver.platform_records(tenant, "items") if i["active"])
    return client, item, links.get(tenant, "customer", client["id"]).qbo_id


def _invoice(driver, tenant, invoice_id, client, item, prices, tax="0.00", status="ready_for_sync", number=None):
    body = {"id": invoice_id, "client_id": client["id"], "status": status, "issued_on": "2026-11-02",
            "tax_total": tax, "lines": [{"item_id": item["id"], "description": "Service", "quantity": "1",
                                         "unit_price": p, "taxable": True} for p in prices]}
    if number:
        body["number"] = number
    return driver.platform_put(tenant, "invoices", body)


def _by_note(driver, realm):
    return {i["PrivateNote"]: i for i in driver.quickbooks_entities(realm, "Invoice")}


def _platform(driver, tenant, kind, record_id):
    return next(r for r in driver.platform_records(tenant, kind) if r["id"] == record_id)


def _errors(driver, tenant):
    return {(e["entity"], e["entity_id"]): e for e in driver.admin("GET", "/admin/errors", tenant).json()["items"]}


def _enter_payment(driver, realm, qbo_invoice, amount):
    body = {"CustomerRef": {"value": qbo_invoice["CustomerRef"]["value"]}, "TotalAmt": amount,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": qbo_invoice["Id"], "TxnType": "Invoice"}]}]}
    return driver.quickbooks_call(realm, "POST", "payment", body)["Payment"]


def test_an_invoice_through_its_life_and_payments_both_ways(local_stack, onboard):
    _, driver = local_stack
    tenant = "t-money-life"
    _, realm = onboard(tenant, f"Money {tenant}", seed=41, clients=10)
    client, item, _ = _client_and_item(driver, tenant, realm)
    _invoice(driver, tenant, "inv_m1", client, item, ["100.00"], tax="8.00")
    _invoice(driver, tenant, "inv_m2", client, item, ["50.00"])
    _invoice(driver, tenant, "inv_m3", client, item, ["0.00"])
    assert driver.sync_now(tenant)["status"] == "succeeded"

    notes = _by_note(driver, realm)
    m1 = notes["Platform invoice inv_m1"]
    assert Decimal(str(m1["TotalAmt"])) == Decimal("108.00")  # platform-stated tax arrives to the cent
    assert _platform(driver, tenant, "invoices", "inv_m1")["external_number"] == m1["DocNumber"]
    assert "Platform invoice inv_m3" not in notes  # never at $0

    # Edited after sync (100.00 -> 200.00 + 16.00 tax), voided, and the $0 one gains an amount.
    _invoice(driver, tenant, "inv_m1", client, item, ["120.00", "80.00"], tax="16.00")
    driver.platform_put(tenant, "invoices", {**_platform(driver, tenant, "invoices", "inv_m2"), "status": "void"})
    _invoice(driver, tenant, "inv_m3", client, item, ["40.00"])
    assert driver.sync_now(tenant)["status"] == "succeeded"
    invoices = {i["Id"]: i for i in driver.quickbooks_entities(realm, "Invoice")}
    edited = invoices[m1["Id"]]
    assert Decimal(str(edited["TotalAmt"])) == Decimal("216.00") and int(edited["SyncToken"]) > int(m1["SyncToken"])
    m2 = next(i for i in driver.quickbooks_entities(realm, "Invoice") if i["DocNumber"] ==
              _platform(driver, tenant, "invoices", "inv_m2")["external_number"])
    assert m2["PrivateNote"] == "Voided" and Decimal(str(m2["TotalAmt"])) == 0
    assert Decimal(str(_by_note(driver, realm)["Platform invoice inv_m3"]["TotalAmt"])) == Decimal("40.00")

    # A partial payment entered in QuickBooks reaches the platform; the invoice stays open there.
    _enter_payment(driver, realm, edited, Decimal("100.00"))
    assert driver.sync_now(tenant)["status"] == "succeeded"
    m1_platform = _platform(driver, tenant, "invoices", "inv_m1")
    assert (m1_platform["amount_paid"], m1_platform["balance"], m1_platform["status"]) == \
        ("100.00", "116.00", "ready_for_sync")
    recorded = [p for p in driver.platform_records(tenant, "payments") if p["invoice_id"] == "inv_m1"]
    assert [p["amount"] for p in recorded] == ["100.00"]
    qbo_payments = [p for p in driver.quickbooks_entities(realm, "Payment")
                    if any(link["TxnId"] == m1["Id"] for line in p["Line"] for link in line["LinkedTxn"])]
    assert len(qbo_payments) == 1  # the platform's copy did not come back as a second QuickBooks payment

    # The rest paid in QuickBooks: paid on the platform, because its own balance is now zero too.
    _enter_payment(driver, realm, edited, Decimal("116.00"))
    assert driver.sync_now(tenant)["status"] == "succeeded"
    m1_platform = _platform(driver, tenant, "invoices", "inv_m1")
    assert (m1_platform["balance"], m1_platform["status"]) == ("0.00", "paid")

    # A payment whose invoice cannot sync yet says what it waits for, and syncs (resolved) when the invoice does.
    _invoice(driver, tenant, "inv_m4", client, item, ["75.00"], status="approved")
    driver.platform_put(tenant, "payments", {"id": "pay_m4", "invoice_id": "inv_m4", "amount": "25.00",
                                             "paid_on": "2026-11-10", "method": "check"})
    assert driver.sync_now(tenant)["status"] == "succeeded"
    assert _errors(driver, tenant)[("payment", "pay_m4")]["code"] == "waiting_for_invoice"
    driver.platform_put(tenant, "invoices", {**_platform(driver, tenant, "invoices", "inv_m4"),
                                             "status": "ready_for_sync"})
    assert driver.sync_now(tenant)["status"] == "succeeded"
    assert ("payment", "pay_m4") not in _errors(driver, tenant)
    m4 = _by_note(driver, realm)["Platform invoice inv_m4"]
    assert Decimal(str(m4["Balance"])) == Decimal("50.00")
    method = next(p for p in driver.quickbooks_entities(realm, "Payment")
                  if p.get("PrivateNote") == "Platform payment pay_m4")["PaymentMethodRef"]
    assert method["name"] == "Check"  # the platform's method, found by name among QuickBooks' own

    # Edits and deletions of platform payments reach QuickBooks.
    driver.platform_put(tenant, "payments", {**_platform(driver, tenant, "payments", "pay_m4"), "amount": "30.00"})
    assert driver.sync_now(tenant)["status"] == "succeeded"
    edited_payment = next(p for p in driver.quickbooks_entities(realm, "Payment")
                          if p.get("PrivateNote") == "Platform payment pay_m4")
    assert Decimal(str(edited_payment["TotalAmt"])) == Decimal("30.00")
    assert Decimal(str(_by_note(driver, realm)["Platform invoice inv_m4"]["Balance"])) == Decimal("45.00")
    driver.http.delete(f"{driver.urls['fieldservice']}/_emulator/tenants/{tenant}/records/payments/pay_m4")
    assert driver.sync_now(tenant)["status"] == "succeeded"
    assert not [p for p in driver.quickbooks_entities(realm, "Payment") if p["Id"] == edited_payment["Id"]]
    assert Decimal(str(_by_note(driver, realm)["Platform invoice inv_m4"]["Balance"])) == Decimal("75.00")


def test_refused_then_fixed_clear_id_and_custom_numbers(local_stack, onboard):
    _, driver = local_stack
    tenant = "t-money-ids"
    _, realm = onboard(tenant, f"Money {tenant}", seed=42, clients=10,
                       prefs={"SalesFormsPrefs": {"CustomTxnNumbers": True}})
    client, item, customer_id = _client_and_item(driver, tenant, realm)
    customer = driver.quickbooks_call(realm, "GET", f"customer/{customer_id}")["Customer"]
    driver.quickbooks_call(realm, "POST", "customer", {"Id": customer_id, "SyncToken": customer["SyncToken"],
                                                       "sparse": True, "Active": False})
    _invoice(driver, tenant, "inv_r1", client, item, ["90.00"], number="R-501")
    assert driver.sync_now(tenant)["status"] == "succeeded"
    entry = _errors(driver, tenant)[("invoice", "inv_r1")]
    assert entry["code"].isdigit()  # QuickBooks' own code for the refusal
    assert "Platform invoice inv_r1" not in _by_note(driver, realm)

    customer = driver.quickbooks_call(realm, "GET", f"customer/{customer_id}")["Customer"]
    driver.quickbooks_call(realm, "POST", "customer", {"Id": customer_id, "SyncToken": customer["SyncToken"],
                                                       "sparse": True, "Active": True})
    # The entry's own advice: make the customer active again, then Retry. A refused create is not re-sent by every
    # run on its own (that would be a retry loop); the admin's Retry makes the next run a new attempt, with a new
    # request id, not a replay of the refusal.
    retried = driver.admin("POST", f"/admin/errors/{entry['id']}/retry", tenant)
    assert retried.status_code == 202, retried.text
    assert driver.sync_now(tenant)["status"] == "succeeded"
    created = _by_note(driver, realm)["Platform invoice inv_r1"]
    assert created["DocNumber"] == "R-501"  # custom transaction numbers on: the platform's number
    assert ("invoice", "inv_r1") not in _errors(driver, tenant)

    # Deleted in QuickBooks, then "Clear ID" and a sync: exactly one new QuickBooks invoice.
    driver.quickbooks_call(realm, "POST", "invoice", {"Id": created["Id"], "SyncToken": created["SyncToken"]},
                           params={"operation": "delete"})
    before = len(driver.quickbooks_entities(realm, "Invoice"))
    assert driver.admin("POST", "/admin/links/invoice/inv_r1/clear", tenant, json={"confirm": True}).status_code == 200
    run = driver.sync_now(tenant)
    assert run["status"] == "succeeded"
    again = [i for i in driver.quickbooks_entities(realm, "Invoice") if i["PrivateNote"] == "Platform invoice inv_r1"]
    assert len(again) == 1 and again[0]["Id"] != created["Id"]
    assert len(driver.quickbooks_entities(realm, "Invoice")) == before + 1

    # The same number on another platform invoice: one entry with the documented rule, no retry loop.
    _invoice(driver, tenant, "inv_r2", client, item, ["30.00"], number="R-501")
    assert driver.sync_now(tenant)["status"] == "succeeded"
    entry = _errors(driver, tenant)[("invoice", "inv_r2")]
    assert entry["code"] == "6140" and "R-501" in entry["detail"]

    # "QuickBooks computes" tax: the line tax codes and the chosen code go, QuickBooks' tax comes back.
    driver.settings(tenant, {"invoices": {"tax_mode": "quickbooks", "tax_code_id": "2"}})
    _invoice(driver, tenant, "inv_r3", client, item, ["100.00"], number="R-777")
    assert driver.sync_now(tenant)["status"] == "succeeded"
    r3 = _by_note(driver, realm)["Platform invoice inv_r3"]
    platform_r3 = _platform(driver, tenant, "invoices", "inv_r3")
    assert Decimal(str(r3["TxnTaxDetail"]["TotalTax"])) == Decimal(platform_r3["tax_total"]) == Decimal("8.00")
    assert Decimal(platform_r3["total"]) == Decimal(str(r3["TotalAmt"])) == Decimal("108.00")


def test_faults_lose_and_duplicate_nothing(local_stack, onboard):
    stack, driver = local_stack
    tenant = "t-money-faults"
    # Onboarding's Sync Now settles what onboarding and its webhooks started, so the faults meet fresh work.
    _, realm = onboard(tenant, "Money faults", seed=43, clients=20)
    fresh = [i for i in driver.platform_records(tenant, "invoices")
             if i["status"] in ("draft", "approved") and Decimal(str(i["total"])) > 0][:35]
    assert fresh
    for invoice in fresh:
        driver.platform_put(tenant, "invoices", {**invoice, "status": "ready_for_sync"})
    driver.platform_api("POST", tenant, "clients", {"company_name": "Faulty Weather Heating"})  # a name query
    faults = f"{stack.qbo_url}/_emulator/faults"
    # QuickBooks commits a batch and the answer is lost (503, then a dropped connection: the task dies mid-batch),
    # plus throttling and a plain 5xx on the way.
    for fault in ({"path_contains": "batch", "kind": "after_commit", "status": 503, "count": 1},
                  {"path_contains": "batch", "kind": "after_commit", "status": 503, "then": "drop", "count": 1},
                  {"path_contains": "batch", "status": 429, "count": 2},
                  {"path_contains": "query", "status": 502, "count": 1}):
        assert driver.http.post(faults, json={"realm": realm, **fault}).status_code == 201
    run = driver.sync_now(tenant)
    assert run["status"] == "succeeded", run
    assert not driver.http.get(faults).json()["data"]  # every fault was met
    qbo = driver.quickbooks_entities(realm, "Invoice")
    notes = [i["PrivateNote"] for i in qbo]
    assert len(notes) == len(set(notes))
    pushed = [i for i in driver.platform_records(tenant, "invoices") if i.get("external_number")]
    assert len(pushed) == len(qbo) > 0
    payments = [p.get("PrivateNote") for p in driver.quickbooks_entities(realm, "Payment")]
    assert len(payments) == len(set(payments)) > 0
    transient = [e for e in _errors(driver, tenant).values() if e["code"] in ("10000", "429", "503", "502")]
    assert not transient
