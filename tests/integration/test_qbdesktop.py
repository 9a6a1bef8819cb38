"""QuickBooks Desktop end to end on the local stack: the Web Connector simulator (zeep, Intuit's WSDL) polls our
/qbwc endpoint through the gateway; both sides are checked against the emulators' own state (docs/qbdesktop.md)."""

import os
import time

import pytest
import requests

from tests.emulators.qbdesktop.helpers import message_set

pytestmark = pytest.mark.integration
TENANT = "desk"
# The steps build on each other (one company file, one Web Connector), so one module fixture runs them all in order
# and each test reports its own step. `make test` hands xdist whole modules (--dist loadfile), so the story runs once.
STEPS = []


def step(fn):
    STEPS.append(fn)
    return fn


def _client(cid, company, state="AZ", active=True):
    return {"id": cid, "company_name": company,
            "contact": {"first_name": None, "last_name": None, "email": f"{cid}@example.com", "phone": None},
            "billing_address": {"line1": f"{cid} Main St", "line2": None, "city": "Phoenix", "state": state,
                                "postal_code": "85001", "country": "US"},
            "active": active, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}


def _invoice(iid, client_id, status, price, number):
    return {"id": iid, "number": number, "external_number": None, "client_id": client_id, "site_id": None,
            "job_id": None, "job_type_id": None, "status": status, "issued_on": "2026-11-20",
            "due_on": "2026-12-20", "currency": "USD",
            "lines": [{"id": "1", "item_id": None, "description": "Tune-up", "quantity": "2", "unit_price": price,
                       "amount": str(2 * float(price)) if price != "0.00" else "0.00", "taxable": False}],
            "subtotal": "0", "tax_total": "0.00", "total": "0", "amount_paid": "0.00", "balance": "0",
            "memo": None, "created_at": "2026-11-20T00:00:00Z", "updated_at": "2026-11-20T00:00:00Z"}


PLATFORM = {
    "clients": [_client("cli_acme", "Acme Heating"), _client("cli_bolt", "Bolt Plumbing")],
    "invoices": [_invoice("inv_ready", "cli_acme", "ready_for_sync", "50.00", "P-1"),
                 _invoice("inv_zero", "cli_acme", "ready_for_sync", "0.00", "P-2"),
                 _invoice("inv_draft", "cli_bolt", "draft", "30.00", "P-3")],
}
QUICKBOOKS = (
    "<CustomerAddRq><CustomerAdd><Name>Carefree</Name><CompanyName>Carefree</CompanyName><BillAddress>"
    "<Addr1>1 Desert Way</Addr1><City>Carefree</City><State>AZ</State><PostalCode>85377</PostalCode></BillAddress>"
    "</CustomerAdd></CustomerAddRq>"
    "<CustomerAddRq><CustomerAdd><Name>North Yard</Name><ParentRef><FullName>Carefree</FullName></ParentRef>"
    "<ShipAddress><Addr1>9 North Rd</Addr1><City>Carefree</City><State>AZ</State><PostalCode>85377</PostalCode>"
    "</ShipAddress></CustomerAdd></CustomerAddRq>"
    "<CustomerAddRq><CustomerAdd><Name>South Yard</Name><ParentRef><FullName>Carefree</FullName></ParentRef>"
    "<ShipAddress><Addr1>4 South Rd</Addr1><City>Carefree</City><State>AZ</State><PostalCode>85377</PostalCode>"
    "</ShipAddress></CustomerAdd></CustomerAddRq>"
    "<CustomerAddRq><CustomerAdd><Name>Old Co</Name><IsActive>false</IsActive><CompanyName>Old Co</CompanyName>"
    "</CustomerAdd></CustomerAddRq>"
    "<CustomerAddRq><CustomerAdd><Name>Stateless LLC</Name><CompanyName>Stateless LLC</CompanyName><BillAddress>"
    "<Addr1>5 Nowhere</Addr1><City>Tucson</City><PostalCode>85701</PostalCode></BillAddress></CustomerAdd>"
    "</CustomerAddRq>"
)


@pytest.fixture(scope="module")
def desktop(local_stack):
    stack, driver = local_stack
    qbd = stack.qbd_url
    driver.create_tenant(TENANT, PLATFORM)
    assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(QUICKBOOKS), timeout=30).status_code == 200
    created = driver.admin("POST", "/admin/desktop/connect", TENANT)
    assert created.status_code == 201, created.text
    login = created.json()
    qwc = driver.admin("GET", "/admin/desktop/qwc", TENANT)
    assert qwc.status_code == 200 and qwc.headers["Content-Type"].startswith("application/x-qwc")
    assert "<AppURL>https://" in qwc.text and f"<UserName>{login['user_name']}</UserName>" in qwc.text
    assert "<RunEveryNMinutes>60</RunEveryNMinutes>" in qwc.text
    # Before the Web Connector ever ran, QuickBooks' accounts are unknown: an account id cannot be checked yet.
    early = put_settings(driver, {"invoices": {"enabled": True, "income_account_id": "80000001-1"}})
    assert early.status_code == 422 and "Web Connector" in early.text, early.text
    registered = requests.post(f"{qbd}/_emulator/connector", json={
        "qwc": qwc.text, "password": login["password"], "app_url_override": f"{stack.gateway_url}/qbwc"},
        timeout=30)
    assert registered.status_code == 200, registered.text
    first = session(qbd)  # the first poll reads the accounts, classes and vendors for the settings page
    assert first["outcome"].startswith("OK"), first
    accounts = driver.admin("GET", "/admin/quickbooks/accounts", TENANT)
    assert accounts.status_code == 200, accounts.text
    ids = {a["Name"]: a["Id"] for a in accounts.json()["items"]} if isinstance(accounts.json(), dict) else \
        {a["Name"]: a["Id"] for a in accounts.json()}
    saved = put_settings(driver, {"invoices": {"enabled": True, "income_account_id": ids["Services"]}})
    assert saved.status_code == 200, saved.text
    return stack, driver, qbd, login, ids


def put_settings(driver, changes):
    """PUT /admin/settings with `changes` merged section by section into what is saved (the settings page's way)."""
    current = driver.admin("GET", "/admin/settings", TENANT).json()
    body = {k: dict(v) if isinstance(v, dict) else v for k, v in current["settings"].items()}
    for section, values in changes.items():
        body[section] = {**body.get(section, {}), **values} if isinstance(values, dict) else values
    return driver.admin("PUT", "/admin/settings", TENANT, json={"settings": body, "version": current["version"]})


def session(qbd):
    body = requests.post(f"{qbd}/_emulator/connector/run", timeout=300).json()
    return body


def qb_state(qbd):
    return requests.get(f"{qbd}/_emulator/state", timeout=30).json()


def customers(qbd):
    return {c["FullName"]: c for c in qb_state(qbd)["lists"]["Customer"]}


@step
def nothing_queued_before_onboarding_is_a_none_answer(desktop):
    _, _, qbd, *_ = desktop
    assert session(qbd)["outcome"] == "No Data Exchange"


@step
def onboarding_through_the_web_connector_brings_both_sides_into_agreement(desktop):
    _, driver, qbd, *_ = desktop
    run = driver.admin("POST", "/admin/desktop/onboard", TENANT)
    assert run.status_code == 202 and run.json()["phase"] == "Pending until the Web Connector runs"
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    ops = [c["op"] for c in log["calls"]]
    assert ops[:3] == ["serverVersion", "clientVersion", "authenticate"] and ops[-1] == "closeConnection"
    history = driver.admin("GET", f"/admin/sync-runs/{run.json()['run_id']}", TENANT).json()
    assert history["status"] == "succeeded" and history["percent"] == 100, history
    book = customers(qbd)
    # Platform clients missing in QuickBooks were added; nothing twice.
    assert {"Acme Heating", "Bolt Plumbing"} <= set(book)
    assert sum(1 for name in book if name.startswith("Acme Heating")) == 1
    clients = {c["company_name"]: c for c in driver.platform_records(TENANT, "clients")}
    # Carefree's jobs are its locations: one client with two sites, never three clients (IndusTrack seed).
    assert "Carefree" in clients and "North Yard" not in clients and "South Yard" not in clients
    sites = [s for s in driver.platform_records(TENANT, "sites") if s["client_id"] == clients["Carefree"]["id"]]
    assert sorted(s["address"]["line1"] for s in sites) == ["4 South Rd", "9 North Rd"]
    # Inactive stays inactive: an inactive QuickBooks customer is not brought over as an active client.
    assert "Old Co" not in clients or clients["Old Co"]["active"] is False
    # The missing-state message, in the error log with nothing created.
    assert "Stateless LLC" not in clients
    errors = driver.admin("GET", "/admin/errors", TENANT).json()
    messages = [e["message"] for e in errors.get("errors", errors.get("items", []))]
    assert any("unknown State" in m for m in messages), errors


@step
def a_sync_pushes_only_ready_non_zero_invoices_and_takes_quickbooks_numbers(desktop):
    _, driver, qbd, *_ = desktop
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    invoices = qb_state(qbd)["transactions"]["Invoice"]
    assert len(invoices) == 1  # the $0 and the draft invoice stay behind
    (qb_invoice,) = invoices
    assert qb_invoice["CustomerRef"]["FullName"] == "Acme Heating" and qb_invoice["Subtotal"] == "100.00"
    platform = {i["id"]: i for i in driver.platform_records(TENANT, "invoices")}
    assert platform["inv_ready"]["external_number"] == qb_invoice["RefNumber"]
    assert platform["inv_zero"]["external_number"] is None and platform["inv_draft"]["external_number"] is None


@step
def a_payment_recorded_in_quickbooks_marks_the_platform_invoice_paid(desktop):
    _, driver, qbd, *_ = desktop
    (qb_invoice,) = qb_state(qbd)["transactions"]["Invoice"]
    pay = (f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><ListID>{qb_invoice['CustomerRef']['ListID']}"
           f"</ListID></CustomerRef><TotalAmount>100.00</TotalAmount><AppliedToTxnAdd><TxnID>{qb_invoice['TxnID']}"
           "</TxnID><PaymentAmount>100.00</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>")
    assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(pay), timeout=30).status_code == 200
    session(qbd)
    platform = {i["id"]: i for i in driver.platform_records(TENANT, "invoices")}
    assert platform["inv_ready"]["status"] == "paid"


@step
def a_session_cut_after_quickbooks_applied_an_add_creates_nothing_twice(desktop):
    stack, driver, qbd, *_ = desktop
    load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                         json={"invoices": [_invoice("inv_cut", "cli_bolt", "ready_for_sync", "20.00", "P-4")]},
                         timeout=30)
    assert load.status_code in (200, 201), load.text
    requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "cut_after_apply", "match": "InvoiceAdd"},
                  timeout=30)
    os.environ["QBWC_SESSION_LEASE_SECONDS"] = "1"
    try:
        cut = session(qbd)
        assert cut["outcome"].startswith("session cut"), cut
        assert len(qb_state(qbd)["transactions"]["Invoice"]) == 2  # QuickBooks applied it
        time.sleep(1.5)  # the abandoned session's lease runs out
        again = session(qbd)
        assert again["outcome"].startswith("OK"), again
    finally:
        os.environ.pop("QBWC_SESSION_LEASE_SECONDS", None)
    invoices = qb_state(qbd)["transactions"]["Invoice"]
    assert len(invoices) == 2  # looked up by its ExternalGUID and adopted, not added again
    platform = {i["id"]: i for i in driver.platform_records(TENANT, "invoices")}
    bolt = next(i for i in invoices if i["CustomerRef"]["FullName"] == "Bolt Plumbing")
    assert platform["inv_cut"]["external_number"] == bolt["RefNumber"]


@step
def a_platform_edit_after_sync_and_a_platform_void_reach_the_quickbooks_invoice(desktop):
    stack, driver, qbd, *_ = desktop
    load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                         json={"invoices": [_invoice("inv_edit", "cli_acme", "ready_for_sync", "15.00", "P-6")]},
                         timeout=30)
    assert load.status_code in (200, 201), load.text
    known = {i["TxnID"] for i in qb_state(qbd)["transactions"]["Invoice"]}
    assert session(qbd)["outcome"].startswith("OK")
    (txn_id,) = {i["TxnID"] for i in qb_state(qbd)["transactions"]["Invoice"]} - known
    count = len(known) + 1
    invoice = next(i for i in driver.platform_records(TENANT, "invoices") if i["id"] == "inv_edit")
    line = {**invoice["lines"][0], "unit_price": "35.00", "amount": "70.00"}
    driver.platform_put(TENANT, "invoices", {**invoice, "lines": [line], "subtotal": "70.00", "total": "70.00",
                                             "balance": "70.00", "memo": "second visit"})
    assert session(qbd)["outcome"].startswith("OK")
    edited = next(i for i in qb_state(qbd)["transactions"]["Invoice"] if i["TxnID"] == txn_id)
    assert (edited["Subtotal"], edited["Memo"]) == ("70.00", "second visit"), edited
    assert len(qb_state(qbd)["transactions"]["Invoice"]) == count  # the same invoice changed, nothing added
    invoice = next(i for i in driver.platform_records(TENANT, "invoices") if i["id"] == "inv_edit")
    driver.platform_put(TENANT, "invoices", {**invoice, "status": "void"})
    assert session(qbd)["outcome"].startswith("OK")
    voided = next(i for i in qb_state(qbd)["transactions"]["Invoice"] if i["TxnID"] == txn_id)
    assert voided["Subtotal"] == "0.00" and voided["Memo"].startswith("VOID:"), voided
    assert voided["RefNumber"] == edited["RefNumber"]
    platform = next(i for i in driver.platform_records(TENANT, "invoices") if i["id"] == "inv_edit")
    assert platform["status"] == "void"  # the voided invoice's zero balance did not mark it paid


@step
def a_session_still_running_makes_the_next_one_busy(desktop):
    stack, driver, qbd, *_ = desktop
    requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                  json={"invoices": [_invoice("inv_busy", "cli_bolt", "ready_for_sync", "10.00", "P-5")]},
                  timeout=30)
    requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "cut_after_apply", "match": "InvoiceAdd"},
                  timeout=30)
    os.environ["QBWC_SESSION_LEASE_SECONDS"] = "4"
    try:
        assert session(qbd)["outcome"].startswith("session cut")
        busy = session(qbd)  # within the lease of the session QBWC lost
        assert busy["outcome"] == "Application Busy"
        assert [c["op"] for c in busy["calls"]][-1] == "closeConnection"
        time.sleep(4.5)
        assert session(qbd)["outcome"].startswith("OK")  # the lease ran out: the next poll goes ahead
    finally:
        os.environ.pop("QBWC_SESSION_LEASE_SECONDS", None)
    bolt = [i["Subtotal"] for i in qb_state(qbd)["transactions"]["Invoice"]
            if i["CustomerRef"]["FullName"] == "Bolt Plumbing"]
    assert sorted(bolt) == ["20.00", "40.00"]  # inv_busy (2 x 10.00) once, inv_cut (2 x 20.00) once


@step
def a_wrong_password_is_not_a_valid_user_and_changes_nothing(desktop):
    _, _, qbd, login, _ = desktop
    before = qb_state(qbd)
    requests.post(f"{qbd}/_emulator/connector/password", json={"password": "wrong"}, timeout=30)
    try:
        log = session(qbd)
    finally:
        requests.post(f"{qbd}/_emulator/connector/password", json={"password": login["password"]}, timeout=30)
    assert log["outcome"] == "Invalid password for username"
    assert log["calls"][2]["result"][1] == "nvu"
    assert qb_state(qbd) == before


@step
def quickbooks_not_running_is_reported_and_the_session_ends(desktop):
    _, driver, qbd, *_ = desktop
    requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "connection_error"}, timeout=30)
    log = session(qbd)
    assert log["outcome"] == "Could not start QuickBooks."
    assert [c for c in log["calls"] if c["op"] == "connectionError"][0]["result"] == "done"
    status = driver.admin("GET", "/admin/desktop/status", TENANT).json()
    assert "Could not start QuickBooks." in status["last_error"]


@step
def bad_soap_is_a_fault_and_changes_nothing(desktop):
    stack, _, qbd, *_ = desktop
    before = qb_state(qbd)
    for body in (b"not xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
                 b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
                 b'<drop xmlns="http://developer.intuit.com/"/></soap:Body></soap:Envelope>'):
        response = requests.post(f"{stack.gateway_url}/qbwc", data=body,
                                 headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        assert response.status_code == 500 and b"<faultcode>soap:Client</faultcode>" in response.content
    wsdl = requests.get(f"{stack.gateway_url}/qbwc?wsdl", timeout=30)
    assert wsdl.status_code == 200 and f'location="{stack.gateway_url}/qbwc"' in wsdl.text
    assert qb_state(qbd) == before


@step
def a_client_made_inactive_goes_inactive_in_quickbooks_after_a_stale_edit_sequence_is_re_read(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService

    stack, driver, qbd, *_ = desktop
    HttpFieldService(stack.fsp_url, FSP_API_KEY).update_client(TENANT, "cli_bolt", active=False)
    bolt = customers(qbd)["Bolt Plumbing"]
    # A QuickBooks user saves Bolt after our session read it and before our Mod: the EditSequence is out of date.
    edit = (f"<CustomerModRq><CustomerMod><ListID>{bolt['ListID']}</ListID><EditSequence>{bolt['EditSequence']}"
            "</EditSequence><Phone>555-0199</Phone></CustomerMod></CustomerModRq>")
    fault = requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "edit_before", "match": "CustomerModRq",
                                                                     "qbxml": edit}, timeout=30)
    assert fault.status_code == 201, fault.text
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    answers = [c["response"] for c in log["calls"] if c["op"] == "receiveResponseXML"]
    mods = [a for a in answers if "<CustomerModRs" in a]
    assert 'statusCode="3200"' in mods[0] and 'statusCode="0"' in mods[-1]  # stale, re-read, retried
    assert any("<CustomerQueryRs" in a and bolt["ListID"] in a for a in answers)
    after = customers(qbd)["Bolt Plumbing"]
    assert after["IsActive"] == "false" and after["Phone"] == "555-0199"  # the user's edit kept
    assert session(qbd)["outcome"].startswith("OK")
    assert customers(qbd)["Bolt Plumbing"]["EditSequence"] == after["EditSequence"]  # nothing sent again
    # The user's QuickBooks edit came back to the platform by the same field merge (FromModifiedDate pull).
    platform = {c["id"]: c for c in driver.platform_records(TENANT, "clients")}
    assert platform["cli_bolt"]["contact"]["phone"] == "555-0199" and platform["cli_bolt"]["active"] is False


@step
def a_platform_edit_reaches_quickbooks_and_a_quickbooks_edit_the_platform(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService
    from shared.fieldservice.models import Address

    stack, driver, qbd, *_ = desktop
    HttpFieldService(stack.fsp_url, FSP_API_KEY).update_client(
        TENANT, "cli_acme", billing_address=Address(line1="77 New Rd", city="Tempe", state="AZ", postal_code="85281",
                                                    country="US"))
    acme = customers(qbd)["Acme Heating"]
    edit = (f"<CustomerModRq><CustomerMod><ListID>{acme['ListID']}</ListID><EditSequence>{acme['EditSequence']}"
            "</EditSequence><Email>billing@acme.example</Email></CustomerMod></CustomerModRq>")
    assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(edit), timeout=30).status_code == 200
    added = ("<CustomerAddRq><CustomerAdd><Name>Zed Pools</Name><CompanyName>Zed Pools</CompanyName><BillAddress>"
             "<Addr1>2 Pool Ln</Addr1><City>Mesa</City><State>AZ</State><PostalCode>85201</PostalCode></BillAddress>"
             "</CustomerAdd></CustomerAddRq>")
    assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(added), timeout=30).status_code == 200
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    sent = [c.get("request", "") for c in log["calls"] if c["op"] == "sendRequestXML"]
    assert any("<FromModifiedDate>" in r for r in sent if "<CustomerQueryRq" in r)  # only what changed
    after = customers(qbd)["Acme Heating"]
    assert after["BillAddress"]["Addr1"] == "77 New Rd" and after["Email"] == "billing@acme.example"
    clients = driver.platform_records(TENANT, "clients")
    acme_client = next(c for c in clients if c["id"] == "cli_acme")
    assert acme_client["contact"]["email"] == "billing@acme.example"
    assert sum(1 for c in clients if c["company_name"] == "Zed Pools") == 1  # a new QuickBooks customer, once
    session(qbd)
    assert sum(1 for c in driver.platform_records(TENANT, "clients") if c["company_name"] == "Zed Pools") == 1
    assert "Zed Pools" in customers(qbd) and sum(1 for n in customers(qbd) if n.startswith("Zed Pools")) == 1


@step
def fields_cleared_on_the_platform_are_cleared_in_quickbooks(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService
    from shared.fieldservice.models import Address, Contact

    stack, driver, qbd, *_ = desktop
    fsp = HttpFieldService(stack.fsp_url, FSP_API_KEY)
    fsp.update_client(TENANT, "cli_acme", billing_address=Address(
        line1="77 New Rd", line2="Unit 5", city="Tempe", state="AZ", postal_code="85281", country="US"))
    assert session(qbd)["outcome"].startswith("OK")
    assert customers(qbd)["Acme Heating"]["BillAddress"]["Addr2"] == "Unit 5"
    fsp.update_client(TENANT, "cli_acme", contact=Contact(email=None, phone=None), billing_address=Address(
        line1="77 New Rd", city="Tempe", state="AZ", postal_code="85281", country="US"))
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    (mod,) = [c["request"] for c in log["calls"] if c["op"] == "sendRequestXML" and "<CustomerModRq" in
              c.get("request", "")]
    assert "<Email />" in mod and "<Addr2 />" in mod  # empty elements: QuickBooks clears those fields
    after = customers(qbd)["Acme Heating"]
    assert "Email" not in after and "Addr2" not in after["BillAddress"] and after["BillAddress"]["Addr1"] == "77 New Rd"
    assert session(qbd)["outcome"].startswith("OK")
    acme = next(c for c in driver.platform_records(TENANT, "clients") if c["id"] == "cli_acme")
    assert acme["contact"]["email"] is None  # not written back from QuickBooks either


@step
def sites_and_jobs_added_after_onboarding_cross_over_and_a_site_edit_goes_out_as_a_job_mod(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService
    from shared.fieldservice.models import Address, SiteDraft

    stack, driver, qbd, *_ = desktop
    fsp = HttpFieldService(stack.fsp_url, FSP_API_KEY)
    site = fsp.create_site(TENANT, SiteDraft(client_id="cli_acme", name="Warehouse", address=Address(
        line1="8 Dock St", city="Tempe", state="AZ", postal_code="85281", country="US")))
    job = ("<CustomerAddRq><CustomerAdd><Name>East Yard</Name><ParentRef><FullName>Carefree</FullName></ParentRef>"
           "<ShipAddress><Addr1>2 East Rd</Addr1><City>Carefree</City><State>AZ</State><PostalCode>85377</PostalCode>"
           "</ShipAddress></CustomerAdd></CustomerAddRq>")
    assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(job), timeout=30).status_code == 200
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    sent = [c.get("request", "") for c in log["calls"] if c["op"] == "sendRequestXML"]
    look = next(i for i, r in enumerate(sent) if "<FullName>Acme Heating:Warehouse</FullName>" in r)
    assert look < next(i for i, r in enumerate(sent) if "<CustomerAddRq" in r)  # looked up before it is added
    warehouse = customers(qbd)["Acme Heating:Warehouse"]
    assert warehouse["ParentRef"]["FullName"] == "Acme Heating" and warehouse["ShipAddress"]["Addr1"] == "8 Dock St"
    clients = {c["company_name"]: c for c in driver.platform_records(TENANT, "clients")}
    east = [s for s in driver.platform_records(TENANT, "sites") if s["address"]["line1"] == "2 East Rd"]
    assert [s["client_id"] for s in east] == [clients["Carefree"]["id"]] and "East Yard" not in clients
    # The site edited on the platform; a QuickBooks user saves the job after our read: 3200, re-read, retried.
    fsp.update_site(TENANT, site.id, address=Address(line1="10 Dock St", city="Tempe", state="AZ",
                                                     postal_code="85281", country="US"))
    edit = (f"<CustomerModRq><CustomerMod><ListID>{warehouse['ListID']}</ListID><EditSequence>"
            f"{warehouse['EditSequence']}</EditSequence><Phone>555-0142</Phone></CustomerMod></CustomerModRq>")
    fault = requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "edit_before", "match": "CustomerModRq",
                                                                     "qbxml": edit}, timeout=30)
    assert fault.status_code == 201, fault.text
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    mods = [c["response"] for c in log["calls"] if c["op"] == "receiveResponseXML" and "<CustomerModRs" in
            c["response"]]
    assert 'statusCode="3200"' in mods[0] and 'statusCode="0"' in mods[-1], mods
    after = customers(qbd)["Acme Heating:Warehouse"]
    assert after["ShipAddress"]["Addr1"] == "10 Dock St" and after["Phone"] == "555-0142"
    assert session(qbd)["outcome"].startswith("OK")
    assert customers(qbd)["Acme Heating:Warehouse"]["EditSequence"] == after["EditSequence"]  # nothing sent again
    assert sum(1 for s in driver.platform_records(TENANT, "sites") if s["address"]["line1"] == "2 East Rd") == 1
    assert sum(1 for name in customers(qbd) if name.startswith("Acme Heating:Warehouse")) == 1


@step
def a_platform_payment_is_received_under_the_invoices_customer_and_applied_to_it(desktop):
    stack, driver, qbd, *_ = desktop
    saved = put_settings(driver, {"payments": {"enabled": True}})  # deposited where QuickBooks defaults (WORK)
    assert saved.status_code == 200, saved.text
    payment = {"id": "pay_1", "invoice_id": "inv_pay", "client_id": "cli_acme", "amount": "60.00",
               "paid_on": "2026-11-25", "method": "check", "reference": "CHK 1042",
               "created_at": "2026-11-25T00:00:00Z", "updated_at": "2026-11-25T00:00:00Z"}
    load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                         json={"invoices": [_invoice("inv_pay", "cli_acme", "ready_for_sync", "30.00", "P-6")],
                               "payments": [payment]}, timeout=30)
    assert load.status_code in (200, 201), load.text
    requests.post(f"{qbd}/_emulator/connector/faults", json={"kind": "cut_after_apply", "match": "ReceivePaymentAdd"},
                  timeout=30)
    os.environ["QBWC_SESSION_LEASE_SECONDS"] = "1"
    try:
        assert session(qbd)["outcome"].startswith("session cut")
        time.sleep(1.5)
        assert session(qbd)["outcome"].startswith("OK")
    finally:
        os.environ.pop("QBWC_SESSION_LEASE_SECONDS", None)
    state = qb_state(qbd)["transactions"]
    (qb_payment,) = [p for p in state["ReceivePayment"] if p.get("RefNumber") == "CHK 1042"]  # once, not twice
    applied = qb_payment["AppliedToTxnRet"]  # the emulator's JSON view: one child is an object, several a list
    applied = applied[0] if isinstance(applied, list) else applied
    invoice = next(i for i in state["Invoice"] if i["TxnID"] == applied["TxnID"])
    assert qb_payment["CustomerRef"]["FullName"] == "Acme Heating" and qb_payment["TotalAmount"] == "60.00"
    assert qb_payment["DepositToAccountRef"]["FullName"] == "Undeposited Funds"
    assert invoice["IsPaid"] == "true" and invoice["BalanceRemaining"] == "0.00"
    platform = {i["id"]: i for i in driver.platform_records(TENANT, "invoices")}
    assert platform["inv_pay"]["external_number"] == invoice["RefNumber"]


@step
def with_job_locations_an_invoice_and_its_payment_go_under_the_sites_quickbooks_job(desktop):
    stack, driver, qbd, *_ = desktop
    assert put_settings(driver, {"invoices": {"job_locations": True}}).status_code == 200
    try:
        clients = {c["company_name"]: c for c in driver.platform_records(TENANT, "clients")}
        carefree = clients["Carefree"]["id"]
        north = next(s for s in driver.platform_records(TENANT, "sites")
                     if s["client_id"] == carefree and s["address"]["line1"] == "9 North Rd")
        invoice = {**_invoice("inv_job", carefree, "ready_for_sync", "40.00", "P-7"), "site_id": north["id"]}
        payment = {"id": "pay_job", "invoice_id": "inv_job", "client_id": carefree, "amount": "80.00",
                   "paid_on": "2026-11-26", "method": "check", "reference": "CHK 2001",
                   "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z"}
        load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                             json={"invoices": [invoice], "payments": [payment]}, timeout=30)
        assert load.status_code in (200, 201), load.text
        assert session(qbd)["outcome"].startswith("OK")
        if not any(p.get("RefNumber") == "CHK 2001" for p in qb_state(qbd)["transactions"]["ReceivePayment"]):
            assert session(qbd)["outcome"].startswith("OK")  # the payment follows its invoice's link
        state = qb_state(qbd)["transactions"]
        (qb_invoice,) = [i for i in state["Invoice"] if i["Subtotal"] == "80.00"]
        assert qb_invoice["CustomerRef"]["FullName"] == "Carefree:North Yard"  # "Using Job Locations" (WORK)
        (qb_payment,) = [p for p in state["ReceivePayment"] if p.get("RefNumber") == "CHK 2001"]
        assert qb_payment["CustomerRef"]["FullName"] == "Carefree:North Yard"  # the payment under the job
    finally:
        assert put_settings(driver, {"invoices": {"job_locations": False}}).status_code == 200


@step
def payments_need_invoices_turned_on(desktop):
    _, driver, *_, ids = desktop
    before = driver.admin("GET", "/admin/settings", TENANT).json()
    refused = put_settings(driver, {"invoices": {"enabled": False}})
    assert refused.status_code == 422 and "payments.enabled" in refused.text
    assert driver.admin("GET", "/admin/settings", TENANT).json() == before  # nothing changed
    assert before["settings"]["payments"]["enabled"] is True
    assert before["settings"]["invoices"]["income_account_id"] == ids["Services"]
    # What Desktop cannot act on is refused, saying so: a second invoice account, tax codes.
    for changes, field in (({"invoices": {"expense_account_id": ids["Job Expenses"]}}, "invoices.expense_account_id"),
                           ({"invoices": {"tax_code_id": "TAX"}}, "invoices.tax_code_id")):
        answer = put_settings(driver, changes)
        assert answer.status_code == 422 and field in answer.text, answer.text
    unknown = put_settings(driver, {"color": "blue"})
    assert unknown.status_code == 422
    retried = driver.admin("POST", "/admin/desktop/retry", TENANT)
    assert retried.status_code == 200 and retried.json() == {"requeued": 0, "phase": "Up to date"}


@step
def job_types_are_refused_while_quickbooks_has_class_tracking_off(desktop):
    _, driver, qbd, *_ = desktop
    choice = {"job_types": {"enabled": True, "class_mapping": {"jt1": {"mode": "create"}}}}
    assert driver.admin("GET", "/admin/desktop/status", TENANT).json()["job_types_available"] is True
    requests.post(f"{qbd}/_emulator/preferences", json={"class_tracking": False}, timeout=30)
    try:
        session(qbd)  # the first call of a session carries the preferences
        assert driver.admin("GET", "/admin/desktop/status", TENANT).json()["job_types_available"] is False
        refused = put_settings(driver, choice)
        assert refused.status_code == 422 and "class tracking" in refused.text
    finally:
        requests.post(f"{qbd}/_emulator/preferences", json={"class_tracking": True}, timeout=30)
    session(qbd)
    assert put_settings(driver, choice).status_code == 200


@step
def equipment_goes_to_quickbooks_as_an_inventory_item_with_its_accounts(desktop):
    stack, driver, qbd, *_, ids = desktop
    item = {"id": "itm_comp", "name": "Compressor X", "type": "equipment", "description": "Compressor",
            "sku": None, "price": "900.00", "cost": None, "taxable": True, "active": True,
            "created_at": "2026-11-20T00:00:00Z", "updated_at": "2026-11-20T00:00:00Z"}
    load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load", json={"items": [item]}, timeout=30)
    assert load.status_code in (200, 201), load.text
    saved = put_settings(driver, {"items": {"enabled": True, "direction": "platform_to_quickbooks",
                                            "income_account_id": ids["Sales"],
                                            "expense_account_id": ids["Cost of Goods Sold"],
                                            "asset_account_id": ids["Inventory Asset"]}})
    assert saved.status_code == 200, saved.text
    assert session(qbd)["outcome"].startswith("OK")
    items = {i["FullName"]: i for i in qb_state(qbd)["lists"]["Item"]}
    compressor = items["Compressor X"]
    assert (compressor["IncomeAccountRef"]["FullName"], compressor["COGSAccountRef"]["FullName"],
            compressor["AssetAccountRef"]["FullName"]) == ("Sales", "Cost of Goods Sold", "Inventory Asset")
    session(qbd)
    assert sum(1 for i in qb_state(qbd)["lists"]["Item"] if i["FullName"] == "Compressor X") == 1


@step
def an_item_edited_on_the_platform_goes_out_as_the_mod_of_its_quickbooks_type(desktop):
    from decimal import Decimal

    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService

    stack, driver, qbd, *_ = desktop
    before = next(i for i in qb_state(qbd)["lists"]["Item"] if i["FullName"] == "Compressor X")
    HttpFieldService(stack.fsp_url, FSP_API_KEY).update_item(TENANT, "itm_comp", price=Decimal("950.00"),
                                                            description=None)
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    (mod,) = [c["request"] for c in log["calls"] if c["op"] == "sendRequestXML" and "ModRq" in c.get("request", "")]
    assert "<ItemInventoryModRq" in mod and f"<EditSequence>{before['EditSequence']}</EditSequence>" in mod
    after = next(i for i in qb_state(qbd)["lists"]["Item"] if i["FullName"] == "Compressor X")
    assert after["SalesPrice"] == "950.00" and "SalesDesc" not in after  # the cleared description is cleared
    assert after["COGSAccountRef"]["FullName"] == "Cost of Goods Sold"
    session(qbd)
    again = next(i for i in qb_state(qbd)["lists"]["Item"] if i["FullName"] == "Compressor X")
    assert again["EditSequence"] == after["EditSequence"]  # sent once



@step
def review_mode_holds_desktop_changes_until_approved_in_the_sync_wizard(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService

    stack, driver, qbd, *_ = desktop
    assert put_settings(driver, {"review_mode": True}).status_code == 200
    try:
        fsp = HttpFieldService(stack.fsp_url, FSP_API_KEY)
        acme = fsp.get_client(TENANT, "cli_acme")
        fsp.update_client(TENANT, "cli_acme", contact=type(acme.contact)(
            first_name=acme.contact.first_name, last_name=acme.contact.last_name, email="wizard@acme.example",
            phone=acme.contact.phone))
        load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load",
                             json={"invoices": [_invoice("inv_rev", "cli_acme", "ready_for_sync", "15.00", "P-9")]},
                             timeout=30)
        assert load.status_code in (200, 201), load.text
        before = qb_state(qbd)
        assert session(qbd)["outcome"].startswith("OK")
        state = qb_state(qbd)
        assert state["lists"]["Customer"] == before["lists"]["Customer"]  # nothing written while held
        assert len(state["transactions"]["Invoice"]) == len(before["transactions"]["Invoice"])
        export = driver.admin("GET", "/admin/review?side=export", TENANT).json()
        names = {e["name"]: e for e in export["items"]}
        assert {"Acme Heating", "P-9"} <= set(names) and all(e["checked"] for e in export["items"]), export
        assert driver.admin("GET", "/admin/review/count", TENANT).json()["waiting"] >= 2
        approve = driver.admin("POST", "/admin/review/approve", TENANT, json={
            "checked": [names["P-9"]["id"]], "unchecked": "keep", "as_of": export["as_of"]})
        assert approve.status_code == 200, approve.text
        assert session(qbd)["outcome"].startswith("OK")  # the next poll syncs what was approved, once
        invoices = qb_state(qbd)["transactions"]["Invoice"]
        assert sum(1 for i in invoices if i["Subtotal"] == "30.00" and i["CustomerRef"]["FullName"] ==
                   "Acme Heating") == 1
        assert customers(qbd)["Acme Heating"].get("Email") != "wizard@acme.example"  # kept, not approved
        results = driver.admin("GET", "/admin/review/results?outcome=succeeded", TENANT).json()["items"]
        assert [r["name"] for r in results if r["entity"] == "invoice"] == ["P-9"]
        again = driver.admin("GET", "/admin/review?side=export", TENANT).json()["items"]
        assert "Acme Heating" in {e["name"] for e in again}  # "Keep checked": back at the next run
    finally:
        assert put_settings(driver, {"review_mode": False}).status_code == 200
    assert session(qbd)["outcome"].startswith("OK")  # turned off: what waited is released and synced
    assert customers(qbd)["Acme Heating"]["Email"] == "wizard@acme.example"


@step
def the_connection_status_answers_for_a_desktop_tenant_as_for_online(desktop):
    _, driver, qbd, *_ = desktop
    queued = driver.admin("POST", "/admin/desktop/sync", TENANT)
    assert queued.status_code == 202, queued.text
    status = driver.admin("GET", "/admin/connection", TENANT)
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "connected" and body["quickbooks"] == "desktop"
    assert body["company_name"] == qb_state(qbd)["company_name"]  # what the company file itself is called
    assert body["desktop"]["phase"] == "Pending until the Web Connector runs"
    assert {"kind": "desktop_pending", "message": "Pending until the Web Connector runs"} in body["needs_attention"]
    assert body["onboarding"]["enabled"] is True and body["onboarding"]["status"] == "succeeded"
    assert set(body["counts"]) == {"unsynced", "pending", "waiting_for_review"}
    assert body["counts"]["unsynced"] >= 1  # the missing-state customer waits in the error log
    assert session(qbd)["outcome"].startswith("OK")
    after = driver.admin("GET", "/admin/connection", TENANT).json()
    assert after["desktop"]["phase"] == "Up to date" and after["desktop"]["queued_requests"] == 0
    assert after["last_run"]["run_id"] == queued.json()["run_id"] and after["last_run"]["status"] == "succeeded"
    assert after["last_sync_at"] is not None and after["next_sync_at"] > after["desktop"]["last_session_at"]


@step
def a_daily_sync_waits_for_its_time_and_sync_now_queues_a_run_for_the_next_poll(desktop):
    _, driver, qbd, *_ = desktop
    assert put_settings(driver, {"schedule": {"frequency": "daily", "time": "06:30",
                                              "timezone": "America/Phoenix"}}).status_code == 200
    try:
        qwc = driver.admin("GET", "/admin/desktop/qwc", TENANT).text
        assert "<RunEveryNMinutes>30</RunEveryNMinutes>" in qwc  # QBWC cannot run at a time of day: it polls
        assert session(qbd)["outcome"] == "No Data Exchange"  # a sync already ran since today's 06:30
        queued = driver.admin("POST", "/admin/desktop/sync", TENANT)
        assert queued.status_code == 202 and queued.json()["started"] is True, queued.text
        assert queued.json()["phase"] == "Pending until the Web Connector runs"
        again = driver.admin("POST", "/admin/desktop/sync", TENANT).json()
        assert again["started"] is False and again["run_id"] == queued.json()["run_id"]
        assert session(qbd)["outcome"].startswith("OK")
        run = driver.admin("GET", f"/admin/sync-runs/{queued.json()['run_id']}", TENANT).json()
        assert run["status"] == "succeeded", run
    finally:
        assert put_settings(driver, {"schedule": {"frequency": "every_1h", "time": None,
                                                  "timezone": "UTC"}}).status_code == 200


@step
def the_web_connector_scheduler_polls_on_its_own(desktop):
    _, _, qbd, *_ = desktop
    before = requests.get(f"{qbd}/_emulator/connector", timeout=30).json()["sessions_run"]
    on = requests.post(f"{qbd}/_emulator/connector/schedule", json={"every_seconds": 1}, timeout=30).json()
    assert on["scheduled"] is True
    try:
        deadline = time.monotonic() + 60
        while requests.get(f"{qbd}/_emulator/connector", timeout=30).json()["sessions_run"] < before + 2:
            assert time.monotonic() < deadline, "the scheduler never ran a session"
            time.sleep(0.5)
    finally:
        off = requests.post(f"{qbd}/_emulator/connector/schedule", json={"enabled": False}, timeout=60).json()
    assert off["scheduled"] is False
    last = requests.get(f"{qbd}/_emulator/connector", timeout=30).json()["sessions"][-1]
    assert last["outcome"].startswith("OK"), last

@step
def what_a_quickbooks_user_deletes_or_voids_is_flagged_and_never_re_created(desktop):
    from qbsync.local.stack import FSP_API_KEY
    from shared.fieldservice.http_adapter import HttpFieldService
    from shared.fieldservice.models import Contact

    stack, driver, qbd, *_ = desktop
    load = requests.post(f"{stack.fsp_url}/_emulator/tenants/{TENANT}/load", json={"invoices": [
        _invoice("inv_qbvoid", "cli_acme", "ready_for_sync", "11.00", "P-8"),
        _invoice("inv_qbdel", "cli_acme", "ready_for_sync", "13.00", "P-9")]}, timeout=30)
    assert load.status_code in (200, 201), load.text
    assert session(qbd)["outcome"].startswith("OK")
    by_subtotal = {i["Subtotal"]: i for i in qb_state(qbd)["transactions"]["Invoice"]}
    voided, deleted = by_subtotal["22.00"], by_subtotal["26.00"]
    zed = customers(qbd)["Zed Pools"]
    for request in (f"<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>{voided['TxnID']}</TxnID></TxnVoidRq>",
                    f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{deleted['TxnID']}</TxnID></TxnDelRq>",
                    f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{zed['ListID']}</ListID></ListDelRq>"):
        assert requests.post(f"{qbd}/_emulator/qbxml", data=message_set(request), timeout=30).status_code == 200
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    sent = [c.get("request", "") for c in log["calls"] if c["op"] == "sendRequestXML"]
    assert any("<ListDeletedQueryRq" in r for r in sent) and any("<TxnDeletedQueryRq" in r for r in sent)
    errors = driver.admin("GET", "/admin/errors", TENANT).json()
    codes = {(e["entity"], e["entity_id"]): e["code"] for e in errors.get("errors", errors.get("items", []))}
    zed_client = next(c for c in driver.platform_records(TENANT, "clients") if c["company_name"] == "Zed Pools")
    assert codes[("invoice", "inv_qbvoid")] == "voided_in_quickbooks"
    assert codes[("invoice", "inv_qbdel")] == "deleted_in_quickbooks"
    assert codes[("client", zed_client["id"])] == "deleted_in_quickbooks"
    # Edits on the platform afterwards write nothing to what QuickBooks voided or deleted, and re-create nothing.
    fsp = HttpFieldService(stack.fsp_url, FSP_API_KEY)
    fsp.update_client(TENANT, zed_client["id"], contact=Contact(phone="555-0177"))
    for iid in ("inv_qbvoid", "inv_qbdel"):
        invoice = next(i for i in driver.platform_records(TENANT, "invoices") if i["id"] == iid)
        driver.platform_put(TENANT, "invoices", {**invoice, "memo": "edited after QuickBooks acted"})
    log = session(qbd)
    assert log["outcome"].startswith("OK"), log
    sent = [c.get("request", "") for c in log["calls"] if c["op"] == "sendRequestXML"]
    assert not any(op in r for r in sent for op in ("<InvoiceModRq", "<InvoiceAddRq", "<CustomerAddRq"))
    assert "Zed Pools" not in customers(qbd) and deleted["TxnID"] not in {
        i["TxnID"] for i in qb_state(qbd)["transactions"]["Invoice"]}
    platform = {i["id"]: i for i in driver.platform_records(TENANT, "invoices")}
    assert platform["inv_qbvoid"]["status"] != "paid"  # a void's zero balance is not a payment


@pytest.fixture(scope="module")
def story(desktop):
    outcomes = {}
    for fn in STEPS:
        try:
            fn(desktop)
            outcomes[fn.__name__] = None
        except Exception as exc:  # noqa: BLE001 - reported by the step's own test below
            outcomes[fn.__name__] = exc
    return outcomes


@pytest.mark.parametrize("name", [fn.__name__ for fn in STEPS])
def test_desktop(story, name):
    failure = story[name]
    if failure is not None:
        raise failure
