"""Query, batch and change data capture over HTTP, in the shapes the recorded QuickBooks responses have."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from quickbooks.batch import batch_create
from quickbooks.exceptions import ValidationException
from quickbooks.objects.customer import Customer

from shared.quickbooks.port import BatchOp
from tests.emulators.quickbooks.helpers import fixture

pytestmark = pytest.mark.integration


def query(conn, sql, method="POST"):
    if method == "POST":
        response = conn.raw("POST", "query", params={"minorversion": 75}, data=sql,
                            headers={"Content-Type": "application/text"})
    else:
        response = conn.raw("GET", "query", params={"query": sql, "minorversion": 75})
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def post(conn, path, body, **params):
    response = conn.raw("POST", path, params=params, data=json.dumps(body),
                        headers={"Content-Type": "application/json"})
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def test_query_forms_and_response_shapes(company):
    status, count = query(company, "SELECT COUNT(*) FROM Customer")
    assert status == 200 and set(count) == set(fixture("query-count.json")) and count["QueryResponse"] == {
        "totalCount": 5}
    status, page = query(company, "select * from Customer STARTPOSITION 2 MAXRESULTS 2")
    shape = fixture("customer-query-page-with-subcustomer.json")["QueryResponse"]
    assert set(page["QueryResponse"]) == set(shape)
    assert (page["QueryResponse"]["startPosition"], page["QueryResponse"]["maxResults"]) == (2, 2)
    # Name lists come back in FullyQualifiedName order, so a job follows its parent.
    names = [c["FullyQualifiedName"] for c in company.adapter.query_page("Customer", order_by="FullyQualifiedName")]
    assert names == sorted(names, key=str.casefold)
    status, past = query(company, "SELECT * FROM Customer STARTPOSITION 50", method="GET")
    assert status == 200 and past == {"QueryResponse": {}, "time": past["time"]}
    ids = [c["Id"] for c in company.adapter.query_page("Customer")[:2]]
    in_list = company.adapter.query_page("Customer", f"Id IN ('{ids[0]}', '{ids[1]}')")
    assert sorted(c["Id"] for c in in_list) == sorted(ids)
    status, bad = query(company, "SELECT * FROM Custmoer")
    assert status == 400 and bad["Fault"] == fixture("fault-4001-invalid-query.json")["Fault"]
    status, big = query(company, "SELECT * FROM Customer MAXRESULTS 1500")
    assert status == 400 and big["Fault"]["Error"][0]["code"] == "4001"
    assert query(company, "SELECT * FROM Estimate")[1]["QueryResponse"] == {}
    prefs = query(company, "select * from Preferences")[1]["QueryResponse"]
    assert set(prefs) == set(fixture("preferences-query.json")["QueryResponse"])
    assert set(prefs["Preferences"][0]) >= set(fixture("preferences-query.json")["QueryResponse"]["Preferences"][0]) - {
        "EmailMessagesPrefs"}
    with pytest.raises(ValidationException):
        company.qb.query("SELECT * FROM Customer WHERE DisplayName = 'a' OR Id = '1'")


def test_active_only_by_default_and_python_quickbooks_helpers(company):
    target = Customer.filter(DisplayName="Jeff's Jalopies", qb=company.qb)[0]
    target.Active = False
    target.save(qb=company.qb)
    assert Customer.count(qb=company.qb) == 4
    assert len(Customer.where("Active = false", qb=company.qb)) == 1
    assert len(Customer.where("Active IN (true, false)", qb=company.qb)) == 5
    first_two = Customer.all(qb=company.qb, max_results=2)
    assert [c.DisplayName for c in first_two] == ["Amy's Bird Sanctuary", "Freeman Sporting Goods"]


def test_invoice_pages_carry_total_count(company):
    customer = company.adapter.query_page("Customer")[0]["Id"]
    for amount in ("10.00", "20.00", "30.00"):
        company.adapter.create("Invoice", {"CustomerRef": {"value": customer}, "Line": [
            {"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, request_id=f"inv-{amount}")
    status, page = query(company, "SELECT * FROM Invoice MAXRESULTS 2")
    assert page["QueryResponse"]["totalCount"] == 3 and page["QueryResponse"]["maxResults"] == 2
    assert {i["TotalAmt"] for i in page["QueryResponse"]["Invoice"]} < {Decimal("10.00"), Decimal("20.00"),
                                                                         Decimal("30.00")}


def test_batch_mixed_operations_as_recorded(company):
    customer = company.adapter.query_page("Customer")[0]["Id"]
    invoice = company.adapter.create("Invoice", {"CustomerRef": {"value": customer}, "Line": [
        {"Amount": Decimal("5.00"), "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, request_id="batch-inv")
    request = {"BatchItemRequest": [
        {"bId": "bid1", "operation": "create", "Vendor": {"DisplayName": "Boraski Family Store"}},
        {"bId": "bid2", "operation": "delete", "Invoice": {"Id": "129000", "SyncToken": "0"}},
        {"bId": "bid3", "operation": "update", "Invoice": {"Id": invoice["Id"], "SyncToken": "7", "sparse": True,
                                                           "PrivateNote": "A private note."}},
        {"bId": "bid4", "Query": "select * from Invoice where TotalAmt > '1.00'"},
        {"bId": "bid5", "operation": "update", "optionsData": "void",
         "Invoice": {"Id": invoice["Id"], "SyncToken": "0"}}]}
    status, body = post(company, "batch", request, minorversion=75)
    recorded = fixture("batch-response.json")
    assert status == 200 and set(body) == set(recorded)
    items = {i["bId"]: i for i in body["BatchItemResponse"]}
    assert [i["bId"] for i in body["BatchItemResponse"]] == ["bid1", "bid2", "bid3", "bid4", "bid5"]
    assert items["bid1"]["Vendor"]["DisplayName"] == "Boraski Family Store" and "time" not in items["bid1"]
    assert items["bid2"]["Fault"]["Error"][0]["code"] == "610"
    assert items["bid3"]["Fault"] == recorded["BatchItemResponse"][2]["Fault"] | {
        "Error": [{**recorded["BatchItemResponse"][2]["Fault"]["Error"][0],
                   "Detail": items["bid3"]["Fault"]["Error"][0]["Detail"]}]}
    assert items["bid4"]["QueryResponse"]["Invoice"][0]["Id"] == invoice["Id"]
    assert items["bid5"]["Invoice"]["PrivateNote"] == "Voided"


def test_batch_limits_and_clients(company):
    too_many = {"BatchItemRequest": [{"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"B{i}"}}
                                     for i in range(31)]}
    status, body = post(company, "batch", too_many)
    assert status == 400 and body["Fault"]["Error"][0]["code"] == "6000"
    assert company.adapter.count("Customer", "DisplayName LIKE 'B%'") == 0
    customers = []
    for i in range(3):
        customer = Customer()
        customer.DisplayName = f"Batch Customer {i}"
        customers.append(customer)
    customers.append(Customer.from_json({"DisplayName": "Jeff's Jalopies"}))
    result = batch_create(customers, qb=company.qb)  # python-quickbooks: uuid bIds, no requestid
    assert len(result.successes) == 3 and len(result.faults) == 1 and result.faults[0].Error[0].code == "6240"
    ops = [BatchOp(str(i), "create", "Customer", {"DisplayName": f"Adapter {i}"}) for i in range(30)]
    results = company.adapter.batch(ops, request_id="adapter-batch-1")
    assert len(results) == 30 and all(r.entity and r.entity["DisplayName"].startswith("Adapter") for r in results)
    status, body = post(company, "batch", {"BatchItemRequest": [
        {"bId": "a-very-long-bid", "operation": "create", "Customer": {"DisplayName": "Long Bid"}}]},
        requestid="with-request-id")
    assert status == 400 and body["Fault"]["Error"][0]["element"] == "bId"


def test_change_data_capture_with_deletions(company):
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    customer = company.adapter.create("Customer", {"DisplayName": "CDC Customer"}, request_id="cdc-c")
    invoice = company.adapter.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"Amount": Decimal("7.00"), "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}, request_id="cdc-i")
    status, deleted = post(company, "invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")
    assert status == 200
    changes = company.adapter.cdc(["Customer", "Invoice", "Payment"], since)
    assert "CDC Customer" in [c.get("DisplayName") for c in changes["Customer"]]
    tombstone = next(i for i in changes["Invoice"] if i["Id"] == invoice["Id"])
    assert set(tombstone) == {"domain", "status", "Id", "MetaData"} and tombstone["status"] == "Deleted"
    assert changes["Payment"] == []
    response = company.raw("GET", "cdc", params={"entities": "Customer,Payment", "changedSince": since})
    body = response.json()
    assert set(body) == set(fixture("cdc-response.json"))
    blocks = body["CDCResponse"][0]["QueryResponse"]
    assert blocks[1] == {} and blocks[0]["startPosition"] == 1 and blocks[0]["maxResults"] == len(blocks[0]["Customer"])
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    response = company.raw("GET", "cdc", params={"entities": "Customer", "changedSince": old})
    assert response.status_code == 400 and "older than fixed days" in response.json()["Fault"]["Error"][0]["Detail"]
    assert company.raw("GET", "cdc", params={"entities": "Customer"}).json()["Fault"]["Error"][0]["code"] == "2020"


def _kinds(url):
    import requests

    return requests.get(f"{url}/_emulator/requests", timeout=10).json()["counts"]


def test_changes_since_follows_quickbooks_clock_when_it_is_behind_ours(clocked):
    """QuickBooks' clock 6 months behind ours: a cursor a day old on QuickBooks' clock is inside CDC's 30 days
    there, so the adapter asks CDC (ours would have said 'older than 30 days' and paged queries)."""
    from tests.emulators.quickbooks.helpers import connect, new_realm

    _, url, clock = clocked
    assert clock.now < datetime.now(UTC).timestamp() - 100 * 86400
    company = connect(url, new_realm(url))
    customer = company.adapter.create("Customer", {"DisplayName": "Behind Clock"}, request_id="behind-1")
    since = datetime.fromtimestamp(clock.now - 86400, UTC)
    requests_before = dict(_kinds(url))
    changes = company.adapter.changes_since(["Customer", "Invoice"], since)
    counts = _kinds(url)
    assert counts.get("cdc", 0) - requests_before.get("cdc", 0) == 1
    assert counts.get("query", 0) == requests_before.get("query", 0)
    assert customer["Id"] in {c.qbo_id for c in changes.customers}
    assert abs(changes.read_at.timestamp() - clock.now) < 5  # QuickBooks' time, for the next cursor


def test_changes_since_falls_back_to_the_query_when_quickbooks_refuses_cdc_look_back(clocked):
    """QuickBooks' clock 40 days ahead of ours: a cursor a day old on our clock is 41 days old on QuickBooks', CDC
    refuses it (500 Unsupported Operation) and the adapter pages the MetaData.LastUpdatedTime query instead."""
    from shared.quickbooks.errors import UnsupportedOperation
    from tests.emulators.quickbooks.helpers import connect, new_realm

    _, url, clock = clocked
    clock.now = datetime.now(UTC).timestamp() + 40 * 86400
    company = connect(url, new_realm(url))
    customer = company.adapter.create("Customer", {"DisplayName": "Ahead Clock"}, request_id="ahead-1")
    since = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(UnsupportedOperation):  # what CDC itself answers, typed by its code
        company.adapter.cdc(["Customer"], since.isoformat())
    requests_before = dict(_kinds(url))
    changes = company.adapter.changes_since(["Customer", "Invoice"], since)
    counts = _kinds(url)
    assert counts.get("cdc", 0) - requests_before.get("cdc", 0) == 1
    assert counts.get("query", 0) - requests_before.get("query", 0) == 2  # one page per kind
    assert customer["Id"] in {c.qbo_id for c in changes.customers}
    assert abs(changes.read_at.timestamp() - clock.now) < 5
