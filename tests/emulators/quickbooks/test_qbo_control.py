"""The control API, loading a generated dataset, and persistence across restarts."""

import json
from decimal import Decimal

import pytest
import requests

from emulators.common.server import start
from emulators.datagen.generator import generate
from emulators.quickbooks.app import create_app
from tests.emulators.quickbooks.helpers import connect, new_realm

pytestmark = pytest.mark.integration
DATA = generate(seed=1, clients=50)


def control(url, method, path, **kwargs):
    response = requests.request(method, f"{url}/_emulator/{path}", timeout=10, **kwargs)
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def test_realms_are_created_listed_and_seeded(emulator):
    _, url = emulator
    status, created = control(url, "POST", "realms", json={"realm_id": "4620816365000000001",
                                                           "company_name": "Control Co",
                                                           "preferences": {"SalesFormsPrefs": {
                                                               "CustomTxnNumbers": True}}})
    assert status == 201 and created["realm_id"] == "4620816365000000001"
    assert created["counts"]["Customer"] == 5 and created["counts"]["Item"] == 4
    assert control(url, "POST", "realms", json={"realm_id": "4620816365000000001"})[0] == 409
    assert "4620816365000000001" in [r["realm_id"] for r in control(url, "GET", "realms")[1]["data"]]
    prefs = control(url, "GET", "realms/4620816365000000001/preferences")[1]["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True and prefs["SalesFormsPrefs"]["AllowDiscount"] is True
    empty = control(url, "POST", "realms", json={"seed": False})[1]
    assert empty["counts"]["Customer"] == empty["counts"]["Item"] == 0
    accounts = {a["Id"]: a for a in control(url, "GET", f"realms/{empty['realm_id']}/entities/Account")[1]["Account"]}
    assert (accounts["1"]["Name"], accounts["79"]["AccountType"], accounts["80"]["AccountType"],
            accounts["81"]["AccountSubType"]) == ("Services", "Income", "Cost of Goods Sold", "Inventory")
    assert {accounts["35"]["AccountType"], accounts["4"]["AccountType"]} == {"Bank", "Other Current Asset"}
    conn = connect(url, empty["realm_id"])
    info = conn.adapter.company_info()
    assert info["CompanyName"] == empty["company_name"] and info["Id"] == "1"
    assert {c["Id"] for c in conn.adapter.query_page("TaxCode")} >= {"TAX", "NON"}


def test_a_generated_dataset_loads_with_its_ids(emulator):
    _, url = emulator
    realm = new_realm(url, seed=False)
    status, loaded = control(url, "POST", f"realms/{realm}/load", data=DATA.quickbooks_json(),
                             headers={"Content-Type": "application/json"})
    assert status == 200 and loaded["loaded"] == {k: len(v) for k, v in DATA.quickbooks.items()}
    stored = control(url, "GET", f"realms/{realm}/entities/Customer")[1]["Customer"]
    assert [c["Id"] for c in stored] == [c["Id"] for c in sorted(DATA.quickbooks["Customer"], key=lambda c: int(
        c["Id"]))]
    first = DATA.quickbooks["Item"][0]
    item = next(i for i in control(url, "GET", f"realms/{realm}/entities/Item")[1]["Item"] if i["Id"] == first["Id"])
    assert item["UnitPrice"] == first["UnitPrice"]  # exact decimals through JSON
    conn = connect(url, realm)
    active = [c for c in DATA.quickbooks["Customer"] if c["Active"]]
    assert conn.adapter.count("Customer") == len(active)
    job = next(c for c in DATA.quickbooks["Customer"] if c["Job"] and c["Active"])
    assert conn.adapter.read("Customer", job["Id"])["FullyQualifiedName"] == job["FullyQualifiedName"]
    created = conn.adapter.create("Customer", {"DisplayName": "Brand New After Load"}, request_id="after-load")
    assert int(created["Id"]) > max(int(c["Id"]) for c in DATA.quickbooks["Customer"])
    taken = DATA.quickbooks["Customer"][0]["DisplayName"]
    clash = conn.raw("POST", "customer", data=json.dumps({"DisplayName": taken}),
                     headers={"Content-Type": "application/json"})
    assert clash.json()["Fault"]["Error"][0]["code"] == "6240"
    assert control(url, "POST", f"realms/{realm}/load", data=DATA.quickbooks_json())[0] == 409


def test_preferences_clock_requests_and_reset():
    app = create_app()
    server = start(app, 0)
    url = server.url
    try:
        realm = new_realm(url)
        conn = connect(url, realm)
        control(url, "DELETE", "requests")
        status, body = control(url, "PUT", f"realms/{realm}/preferences",
                               json={"AccountingInfoPrefs": {"ClassTrackingPerTxnLine": True}})
        prefs = body["Preferences"]
        assert status == 200 and prefs["AccountingInfoPrefs"]["ClassTrackingPerTxnLine"] is True
        assert prefs["AccountingInfoPrefs"]["ClassTrackingPerTxn"] is False and prefs["SyncToken"] == "1"
        assert conn.adapter.preferences()["AccountingInfoPrefs"]["ClassTrackingPerTxnLine"] is True
        before = conn.adapter.create("Customer", {"DisplayName": "Clock A"}, request_id="clock-a")
        control(url, "POST", "clock", json={"advance_seconds": 86400 * 2})
        later = conn.raw("POST", "customer", data=json.dumps({"DisplayName": "Clock B"}),
                         headers={"Content-Type": "application/json"})
        assert later.status_code == 401  # the access token expired two days ago
        conn = connect(url, realm)
        after = conn.adapter.create("Customer", {"DisplayName": "Clock B"}, request_id="clock-b")
        assert after["MetaData"]["CreateTime"][:10] > before["MetaData"]["CreateTime"][:10]
        conn.adapter.count("Customer")
        conn.adapter.read("Customer", after["Id"])
        conn.adapter.company_info()
        status, log = control(url, "GET", "requests")
        counts = log["counts"]
        assert counts["create"] == 3 and counts["query"] == 1  # one create was refused with a 401
        assert counts["read"] == 1
        assert counts["companyinfo"] == 1 and counts["preferences"] == 1 and counts["token"] == 1
        assert log["total"] == len(log["log"]) and {"method", "path", "status", "realm", "kind"} <= set(log["log"][0])
        control(url, "DELETE", "requests")
        assert control(url, "GET", "requests")[1] == {"counts": {}, "total": 0, "log": [], "log_size": 1000}
        status, minted = control(url, "POST", f"realms/{realm}/tokens", json={})
        assert status == 200 and minted["expires_in"] == 3600
        assert requests.get(f"{url}/v3/company/{realm}/preferences", timeout=5,
                            headers={"Authorization": f"Bearer {minted['access_token']}"}).status_code == 200
        assert control(url, "POST", "reset")[0] == 200
        assert control(url, "GET", "realms")[1]["data"] == []
        assert control(url, "GET", "nowhere")[0] == 404
    finally:
        server.stop()
        app.close()


def test_the_request_log_is_kept_per_realm_with_start_and_end_and_can_grow():
    app = create_app()
    server = start(app, 0)
    url = server.url
    try:
        first, second = new_realm(url), new_realm(url)
        a, b = connect(url, first), connect(url, second)
        assert control(url, "PUT", "requests", json={"log_size": 3})[1] == {"log_size": 3}
        for _ in range(3):
            a.adapter.count("Customer")
        b.adapter.count("Customer")
        log = control(url, "GET", "requests")[1]
        assert log["log_size"] == 3 and len(log["log"]) == 3 and log["counts"]["query"] == 4  # counts keep all
        assert control(url, "PUT", "requests", json={"log_size": 1000})[1] == {"log_size": 1000}
        assert control(url, "PUT", "requests", json={"log_size": 0})[0] == 400
        for _ in range(3):
            a.adapter.count("Customer")
        mine = control(url, "GET", "requests", params={"realm": first})[1]["log"]
        assert {e["realm"] for e in mine} == {first} and len(mine) == 5  # 2 of the 3 kept were its, then 3 more
        assert all(e["started"] <= e["at"] for e in mine)
    finally:
        server.stop()
        app.close()


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "quickbooks.json"
    app = create_app(state_file=str(path))
    server = start(app, 0)
    realm = new_realm(server.url)
    conn = connect(server.url, realm)
    customer = conn.adapter.create("Customer", {"DisplayName": "Persisted"}, request_id="persist-1")
    invoice = conn.adapter.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"Amount": Decimal("1234.56"), "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, request_id="persist-2")
    server.stop()
    app.close()
    assert '"TotalAmt":1234.56' in path.read_text()

    app = create_app(state_file=str(path))
    server = start(app, 0)
    try:
        url = server.url
        again = connect(url, realm)
        assert again.adapter.read("Invoice", invoice["Id"])["TotalAmt"] == Decimal("1234.56")
        replay = again.adapter.create("Customer", {"DisplayName": "Persisted"}, request_id="persist-1")
        assert replay["Id"] == customer["Id"]
        clash = again.raw("POST", "customer", data=json.dumps({"DisplayName": "persisted"}),
                          headers={"Content-Type": "application/json"})
        assert clash.json()["Fault"]["Error"][0]["code"] == "6240"  # indexes rebuilt on load
        old_token = conn.auth.access_token  # grants persist too
        assert requests.get(f"{url}/v3/company/{realm}/preferences", timeout=5,
                            headers={"Authorization": f"Bearer {old_token}"}).status_code == 200
    finally:
        server.stop()
        app.close()
