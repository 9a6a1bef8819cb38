"""The product on the local stack: the real handlers behind the gateway, the real state machines in moto, the
QuickBooks and platform emulators over HTTP. Each test uses its own tenant and QuickBooks company."""


import boto3
import pytest

from emulators.datagen.generator import generate
from qbsync.demo import check_outcome, demo_settings

pytestmark = pytest.mark.integration


def _setup(driver, tenant, data=None, company="Test Co"):
    realm = driver.create_realm(company)
    if data is not None:
        driver.load_quickbooks(realm, data.quickbooks_json())
    driver.create_tenant(tenant, data.fieldservice if data is not None else None)
    return realm


def _before(driver, realm, tenant):
    client_ids = {c["id"] for c in driver.platform_records(tenant, "clients")}
    return {"customers": len(driver.quickbooks_entities(realm, "Customer")), "client_ids": client_ids,
            "clients": len(client_ids)}


def test_connect_use_and_disconnect_through_the_gateway(local_stack, capfd):
    stack, driver = local_stack
    realm = _setup(driver, "t-oauth", company="Oauth Plumbing")
    page = driver.connect("t-oauth", realm)
    assert "Oauth Plumbing" in page
    status = driver.admin("GET", "/admin/connection", "t-oauth").json()
    assert (status["status"], status["realm_id"], status["company_name"]) == ("connected", realm, "Oauth Plumbing")

    accounts = driver.admin("GET", "/admin/quickbooks/accounts", "t-oauth")  # an authenticated QuickBooks call
    assert accounts.status_code == 200 and accounts.json()["items"]

    from shared.runtime import runtime

    tokens = runtime().token_store.load("t-oauth").tokens
    raw = boto3.client("dynamodb").scan(TableName=stack.resources["env"]["TABLE_CONNECTIONS"])["Items"]
    dumped = repr(raw)
    assert tokens.access_token not in dumped and tokens.refresh_token not in dumped  # ciphertext at rest

    gone = driver.admin("POST", "/admin/disconnect", "t-oauth")
    assert gone.status_code == 200 and gone.json()["status"] == "disconnected"
    assert runtime().token_store.load("t-oauth") is None
    assert driver.admin("GET", "/admin/quickbooks/accounts", "t-oauth").status_code == 409

    out, err = capfd.readouterr()
    with open(stack.lambda_log, encoding="utf-8") as f:
        logs = f.read() + out  # pytest's capture may stand in for stdout while this test runs
    assert '"service":"oauth"' in logs.replace(" ", "")  # the handlers did log this flow
    for secret in (tokens.access_token, tokens.refresh_token, stack.resources["secret"]["client_secret"]):
        assert secret not in out and secret not in err and secret not in page and secret not in logs


def test_restricted_admins_and_other_tenants_are_refused(local_stack):
    _, driver = local_stack
    realm = _setup(driver, "t-roles", company="Roles Heating")
    driver.connect("t-roles", realm)
    assert driver.admin("GET", "/oauth/connect", "t-roles", role="restricted").status_code == 403
    assert driver.admin("POST", "/admin/disconnect", "t-roles", role="restricted").status_code == 403
    refused = driver.admin("PUT", "/admin/settings", "t-roles", role="restricted", json={"settings": {}, "version": 0})
    assert refused.status_code == 403
    other = driver.admin("GET", "/admin/connection", "t-stranger").json()
    assert other["status"] == "not_connected" and realm not in str(other)


def test_onboarding_of_generated_data_agrees_on_both_sides(local_stack):
    _, driver = local_stack
    data = generate(seed=11, clients=80)
    realm = _setup(driver, "t-onboard", data, company="Onboard HVAC")
    before = _before(driver, realm, "t-onboard")
    driver.connect("t-onboard", realm)
    driver.settings("t-onboard", demo_settings(driver, "t-onboard"))
    onboarding = driver.enable("t-onboard")
    assert onboarding["status"] == "succeeded", onboarding
    sync = driver.sync_now("t-onboard")
    assert check_outcome(data, driver, realm, "t-onboard", before, onboarding, sync) == []

    counts = onboarding["summary"]["counts"]
    exp = data.expectations
    customers = {c["Id"]: c for c in driver.quickbooks_entities(realm, "Customer")}
    sites = driver.platform_records("t-onboard", "sites")
    # Carefree: its QuickBooks jobs are its locations -> sites of one client, never clients.
    carefree = exp["job_locations"][0]
    carefree_sites = [s for s in sites if s["client_id"] == carefree["fsp_client_id"]]
    assert len(carefree_sites) >= len(carefree["jobs"])
    clients = driver.platform_records("t-onboard", "clients")
    job_names = {customers[j["qbo_customer_id"]]["DisplayName"].casefold() for j in carefree["jobs"]}
    assert not [c for c in clients if (c.get("company_name") or "").casefold() in job_names]
    # Ambiguous candidates are reported, not merged.
    conflicts = driver.admin("GET", "/admin/onboarding/conflicts", "t-onboard").json()["items"]
    assert len(conflicts) == counts.get("conflicts", 0) >= len(exp["ambiguous"]) > 0
    # Names QuickBooks refuses were adjusted, not rejected.
    assert all(":" not in c["DisplayName"] and len(c["DisplayName"]) <= 500 for c in customers.values())
    assert counts["customers_created_in_quickbooks"] >= len(exp["forbidden_characters"])

    # "View error log": CSV and the Excel file admins know, the same entries, formulas defused.
    errors = driver.admin("GET", "/admin/errors", "t-onboard").json()["items"]
    xlsx = driver.admin("GET", "/admin/errors?format=xlsx", "t-onboard")
    assert xlsx.status_code == 200 and xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    import io

    from openpyxl import load_workbook

    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("Entity", "Entity id", "Direction", "Code") and len(rows) - 1 >= len(errors) > 0
    csv_text = driver.admin("GET", "/admin/errors?format=csv", "t-onboard").text
    assert csv_text.splitlines()[0].startswith("entity,entity_id")

    again = driver.enable("t-onboard")  # a second onboarding finds everything linked and creates nothing
    created = {k: v for k, v in again["summary"]["counts"].items() if "created" in k}
    assert again["status"] == "succeeded" and not any(created.values()), created

    # The admin settles one conflict by linking the right pair (a restricted admin may not); the next run creates
    # only the conflict's other members, which are now simply records without a counterpart.
    conflict = conflicts[0]
    pick = {"qbo_id": conflict["qbo_ids"][0], "fsp_id": conflict["fsp_ids"][0], "action": "link"}
    assert driver.admin("POST", "/admin/onboarding/conflicts/resolve", "t-onboard", role="restricted",
                        json=pick).status_code == 403
    assert driver.admin("POST", "/admin/onboarding/conflicts/resolve", "t-onboard", json=pick).status_code == 200
    third = driver.enable("t-onboard")
    made = third["summary"]["counts"]
    assert made["conflicts"] == counts["conflicts"] - 1
    assert made.get("customers_created_in_quickbooks", 0) <= len(conflict["fsp_ids"]) - 1
    assert made.get("clients_created_on_platform", 0) <= len(conflict["qbo_ids"]) - 1



def test_a_crash_after_quickbooks_accepted_a_batch_creates_no_duplicate(local_stack):
    _, driver = local_stack
    data = generate(seed=5, clients=40)
    realm = _setup(driver, "t-crash", data, company="Crash Landscaping")
    driver.connect("t-crash", realm)
    driver.settings("t-crash", demo_settings(driver, "t-crash"))
    # QuickBooks commits the next batch, then the connection drops before we learn the result.
    fault = {"realm": realm, "path_contains": "/batch", "kind": "after_commit", "status": 500, "count": 1}
    driver.http.post(f"{driver.urls['quickbooks']}/_emulator/faults", json=fault).raise_for_status()
    before = _before(driver, realm, "t-crash")
    onboarding = driver.enable("t-crash")
    assert onboarding["status"] == "succeeded", onboarding
    faults = driver.http.get(f"{driver.urls['quickbooks']}/_emulator/faults").json()
    assert not [f for f in faults.get("data", faults.get("faults", [])) if f.get("count", 0) > 0]  # it fired
    counts = onboarding["summary"]["counts"]
    after = driver.quickbooks_entities(realm, "Customer")
    created = counts["customers_created_in_quickbooks"] + counts.get("sub_customers_created_in_quickbooks", 0)
    assert created > 0 and len(after) == before["customers"] + created
    errors = driver.admin("GET", "/admin/errors", "t-crash").json()["items"]
    assert not [e for e in errors if e["code"] == "6240"]  # no second create was even attempted under a new id
    log = driver.quickbooks_requests()["log"]
    batches = [r for r in log if r["kind"] == "batch" and r.get("realm") == realm]
    assert batches[0]["status"] == 500 and batches[1].get("replayed")  # the retry sent the same requestid


def test_a_crash_after_quickbooks_accepted_a_single_create_creates_no_duplicate(local_stack):
    """Enough creates for the single-request lane beside the batches (shared/domain/lanes.py), on several
    threads: a single create that QuickBooks committed before the connection dropped is replayed by requestid."""
    _, driver = local_stack
    data = generate(seed=6, clients=300, quickbooks_customers=60)
    realm = _setup(driver, "t-lanes", data, company="Lanes Plumbing")
    driver.connect("t-lanes", realm)
    driver.settings("t-lanes", demo_settings(driver, "t-lanes"))
    fault = {"realm": realm, "path_contains": "/customer", "method": "POST", "kind": "after_commit", "status": 500,
             "count": 1}
    driver.http.post(f"{driver.urls['quickbooks']}/_emulator/faults", json=fault).raise_for_status()
    before = _before(driver, realm, "t-lanes")
    onboarding = driver.enable("t-lanes")
    assert onboarding["status"] == "succeeded", onboarding
    counts = onboarding["summary"]["counts"]
    after = driver.quickbooks_entities(realm, "Customer")
    created = counts["customers_created_in_quickbooks"] + counts.get("sub_customers_created_in_quickbooks", 0)
    assert len(after) == before["customers"] + created
    names = [c["DisplayName"].casefold() for c in after]
    assert len(names) == len(set(names))
    errors = driver.admin("GET", "/admin/errors", "t-lanes").json()["items"]
    assert not [e for e in errors if e["code"] == "6240"]
    log = [r for r in driver.quickbooks_requests()["log"] if r.get("realm") == realm]
    singles = [r for r in log if r["kind"] == "create"]
    assert [r for r in log if r["kind"] == "batch"] and len(singles) > 10  # both lanes carried creates
    # The emulator logs a request when it answers; singles on other threads can answer before the faulted one.
    failed = [i for i, r in enumerate(singles) if r["status"] == 500]
    assert len(failed) == 1 and any(r.get("replayed") for r in singles[failed[0] + 1:])  # replayed by requestid


def test_fifty_lambdas_at_token_expiry_cause_one_refresh_at_intuit(local_stack):
    from concurrent.futures import ThreadPoolExecutor

    from shared.data.models import TokenItem
    from shared.runtime import runtime

    _, driver = local_stack
    realm = _setup(driver, "t-refresh", company="Refresh Electric")
    driver.connect("t-refresh", realm)
    before = runtime().token_store.load("t-refresh").tokens
    TokenItem("TENANT#t-refresh", "TOKENS").update(actions=[TokenItem.access_expires_at.set(0)])
    calls_before = driver.quickbooks_requests()["counts"].get("token", 0)

    def use(_):
        return runtime().quickbooks("t-refresh").company_info()["CompanyName"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        names = list(pool.map(use, range(50)))
    assert names == ["Refresh Electric"] * 50
    assert driver.quickbooks_requests()["counts"].get("token", 0) - calls_before == 1
    after = runtime().token_store.load("t-refresh").tokens
    assert after.refresh_token != before.refresh_token and after.access_expires_at > 0  # the rotated token kept


def test_a_grant_revoked_in_quickbooks_marks_the_connection_for_reconnect(local_stack):
    from shared.runtime import runtime

    stack, driver = local_stack
    realm = _setup(driver, "t-revoked", company="Revoked Roofing")
    driver.connect("t-revoked", realm)
    driver.settings("t-revoked", {"schedule": {"frequency": "every_2h", "timezone": "UTC"}})
    tokens = runtime().token_store.load("t-revoked").tokens
    # The company's admin disconnects the app inside QuickBooks: Intuit revokes the grant.
    revoked = driver.http.post(f"{stack.qbo_url}/oauth2/v1/tokens/revoke", json={"token": tokens.refresh_token},
                               auth=("local-client-id", "local-client-secret"))
    assert revoked.status_code == 200

    first = driver.admin("GET", "/admin/quickbooks/items", "t-revoked")  # not cached by the settings save
    assert first.status_code == 502 and first.json()["error"]["quickbooks"]["code"]  # QuickBooks' own code
    second = driver.admin("GET", "/admin/quickbooks/items", "t-revoked")  # a failure is not cached; the refresh
    # finds the grant gone
    assert second.status_code == 409
    status = driver.admin("GET", "/admin/connection", "t-revoked").json()
    assert status["status"] == "needs_reconnect" and status["needs_attention"]


@pytest.mark.parametrize("direction", ["platform_to_quickbooks", "quickbooks_to_platform"])
def test_items_sync_one_way_matching_by_name(local_stack, direction):
    _, driver = local_stack
    tenant = f"t-items-{direction[:3]}"
    data = generate(seed=21, clients=20)
    realm = _setup(driver, tenant, data, company=f"Items {direction}")
    driver.connect(tenant, realm)
    settings = demo_settings(driver, tenant)
    accounts = settings["invoices"]
    settings["items"] = {"enabled": True, "direction": direction, "income_account_id": accounts["income_account_id"],
                         "expense_account_id": accounts["expense_account_id"]}
    driver.settings(tenant, settings)
    assert driver.enable(tenant)["status"] == "succeeded"
    run = driver.sync_now(tenant)  # a webhook-started run may have done the work already: check the outcome
    exp = data.expectations["items"]
    assert run["status"] == "succeeded" and run["summary"]["counts"]["items_matched"] >= len(exp["matches"])
    qbo = driver.quickbooks_entities(realm, "Item")
    fsp = driver.platform_records(tenant, "items")
    qbo_names = [i["Name"].casefold() for i in qbo]
    fsp_names = [i["name"].casefold() for i in fsp if i.get("active", True)]
    assert len(qbo_names) == len(set(qbo_names)) and len(fsp_names) == len(set(fsp_names))  # matched, not copied
    if direction == "platform_to_quickbooks":
        assert set(fsp_names) <= set(qbo_names)  # platform-only items now exist in QuickBooks too
    else:
        billable = {i["Name"].casefold() for i in qbo if i.get("Type") in ("Service", "NonInventory", "Inventory")}
        assert billable <= {i["name"].casefold() for i in fsp}
