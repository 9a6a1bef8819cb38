"""Everyday sync on the local stack (issue 10): after onboarding, changes on either side reach the other through
the admin API's Sync Now, checked in both emulators' own state; nothing is echoed back; a second Sync Now during a
run neither waits nor fails."""

import threading

import pytest

from emulators.datagen.generator import generate
from qbsync.demo import demo_settings

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("local_stack")]


@pytest.fixture(scope="module")
def onboarded(local_stack):
    _, driver = local_stack
    data = generate(seed=5, clients=24)
    realm = driver.create_realm("Everyday HVAC")
    driver.load_quickbooks(realm, data.quickbooks_json())
    driver.create_tenant("t-every", data.fieldservice)
    driver.connect("t-every", realm)
    driver.settings("t-every", demo_settings(driver, "t-every"))
    assert driver.enable("t-every")["status"] == "succeeded"
    assert driver.sync_now("t-every")["status"] == "succeeded"  # the first run after onboarding settles echoes
    return driver, realm


def _pairs(driver, realm):
    """(platform client, QuickBooks customer) pairs as a person would pair them: the same company name, outside
    the onboarding conflicts the admin has yet to resolve."""
    held = {i for c in driver.admin("GET", "/admin/onboarding/conflicts", "t-every").json()["items"]
            for i in (*c["qbo_ids"], *c["fsp_ids"])}
    customers = {c["DisplayName"].casefold(): c for c in driver.quickbooks_entities(realm, "Customer")
                 if not c.get("Job") and c["Id"] not in held}
    return [(c, customers[c["company_name"].casefold()]) for c in driver.platform_records("t-every", "clients")
            if c.get("company_name") and c["company_name"].casefold() in customers and c.get("active")
            and c["id"] not in held]


def test_edits_new_records_and_inactive_flow_both_ways_and_nothing_is_echoed(onboarded):
    driver, realm = onboarded
    (a, qa), (b, qb), (z, qz) = _pairs(driver, realm)[:3]
    driver.quickbooks_call(realm, "POST", "customer", {"Id": qa["Id"], "SyncToken": qa["SyncToken"], "sparse": True,
                                                      "PrimaryPhone": {"FreeFormNumber": "(602) 555-0199"}})
    address = {"line1": "77 Sunset Blvd", "city": "Phoenix", "state": "AZ", "postal_code": "85004",
               "country": "US"}
    driver.platform_api("PATCH", "t-every", f"clients/{b['id']}", {"billing_address": address})
    driver.platform_api("PATCH", "t-every", f"clients/{z['id']}", {"active": False})
    new_client = driver.platform_api("POST", "t-every", "clients", {
        "company_name": "Brand New Heating Co", "contact": {"email": "office@brandnewheating.example"},
        "billing_address": address})
    driver.quickbooks_call(realm, "POST", "customer", {"DisplayName": "Straight From Books LLC",
                                                      "CompanyName": "Straight From Books LLC",
                                                      "BillAddr": {"Line1": "1 Ledger Way", "City": "Tempe",
                                                                   "CountrySubDivisionCode": "AZ",
                                                                   "PostalCode": "85281", "Country": "USA"}})
    run = driver.sync_now("t-every")
    assert run["status"] == "succeeded", run

    clients = {c["id"]: c for c in driver.platform_records("t-every", "clients")}
    customers = {c["Id"]: c for c in driver.quickbooks_entities(realm, "Customer")}
    assert clients[a["id"]]["contact"]["phone"] == "(602) 555-0199"
    assert customers[qb["Id"]]["BillAddr"]["Line1"] == "77 Sunset Blvd"
    assert customers[qz["Id"]]["Active"] is False
    names = [c["DisplayName"] for c in customers.values()]
    assert names.count("Brand New Heating Co") == 1
    assert [c for c in clients.values() if c.get("company_name") == "Straight From Books LLC"]
    assert new_client["id"] in clients

    driver.quickbooks_requests(reset=True)
    again = driver.sync_now("t-every")
    counts = driver.quickbooks_requests()["counts"]
    assert again["status"] == "succeeded"
    writes = sum(counts.get(k, 0) for k in ("create", "update", "batch", "delete", "void"))
    assert writes == 0 and counts.get("cdc", 0) == 1, counts  # our own writes are not echoed


def test_a_second_sync_now_during_a_run_neither_waits_nor_fails(onboarded):
    driver, _ = onboarded
    results = []

    def sync():
        results.append(driver.sync_now("t-every"))

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["status"] for r in results] == ["succeeded"] * 3, results
