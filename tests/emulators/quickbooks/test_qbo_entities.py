"""Entities over HTTP: CRUD, QuickBooks' fault codes, sparse and full updates, sub-customers, invoice arithmetic,
payments, DocNumbers. Exact bodies are checked with raw requests, client behaviour with python-quickbooks."""

import json
from decimal import Decimal

import pytest
import requests
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from shared.quickbooks.adapter import dumps, quote
from tests.emulators.quickbooks.helpers import fixture

pytestmark = pytest.mark.integration


def post(conn, entity, body, **params):
    response = conn.raw("POST", entity.lower(), params={"minorversion": 75, **params}, data=dumps(body),
                        headers={"Content-Type": "application/json"})
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def ok(conn, entity, body, **params):
    status, doc = post(conn, entity, body, **params)
    assert status == 200, doc
    return doc[entity]


def error(conn, entity, body, **params):
    status, doc = post(conn, entity, body, **params)
    assert status == 400, doc
    return doc["Fault"]["Error"][0]


def get(conn, path):
    response = conn.raw("GET", path)
    return response.status_code, json.loads(response.text, parse_float=Decimal)


def find(conn, entity, name):
    field = "Name" if entity == "Item" else "DisplayName"
    return conn.adapter.query_page(entity, f"{field} = {quote(name)}")[0]


def test_create_read_and_response_shapes(company):
    created = ok(company, "Customer", fixture("customer-create-request.json"))
    shape = fixture("customer-create-response.json")["Customer"]
    assert set(shape) - {"DefaultTaxCodeRef"} <= set(created)
    assert (created["SyncToken"], created["FullyQualifiedName"], created["PrintOnCheckName"]) == (
        "0", "Doe5, Jane", "Doe5, Jane")
    assert created["MetaData"]["CreateTime"][-6:] in ("-08:00", "-07:00")
    status, read = get(company, f"customer/{created['Id']}")
    assert status == 200 and read["Customer"] == created and read["time"][-6:] in ("-08:00", "-07:00")
    with_python_quickbooks = Customer.get(created["Id"], qb=company.qb)
    assert with_python_quickbooks.DisplayName == "Doe5, Jane"


def test_unknown_and_malformed_ids(company):
    status, body = get(company, "customer/1.5")
    assert status == 400 and body == fixture("fault-2030-invalid-id.json")
    status, body = get(company, "customer/99999")
    assert status == 400 and body["Fault"]["Error"][0]["code"] == "610"
    with pytest.raises(ObjectNotFoundException):
        Customer.get(99999, qb=company.qb)
    status, body = get(company, "customer/5/extra")
    assert status == 400 and body["Fault"]["Error"][0]["code"] == "500"


def test_update_sparse_full_and_stale(company):
    created = ok(company, "Customer", {"DisplayName": "Sparse Co", "CompanyName": "Sparse Co",
                                       "PrimaryPhone": {"FreeFormNumber": "(415) 444-1234"}})
    sparse = ok(company, "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True,
                                      "Notes": "VIP"})
    assert sparse["SyncToken"] == "1" and sparse["Notes"] == "VIP" and sparse["PrimaryPhone"] == created["PrimaryPhone"]
    full = ok(company, "Customer", {"Id": created["Id"], "SyncToken": "1", "DisplayName": "Sparse Co"})
    assert full["SyncToken"] == "2" and "PrimaryPhone" not in full and "Notes" not in full
    assert "CompanyName" not in full and full["PrintOnCheckName"] == "Sparse Co"
    stale = error(company, "Customer", {"Id": created["Id"], "SyncToken": "1", "sparse": True, "Notes": "x"})
    assert stale["code"] == "5010" and stale["Message"] == "Stale Object Error"
    assert error(company, "Customer", {"Id": created["Id"], "sparse": True})["code"] == "2020"


def test_duplicate_names_across_customers_vendors_employees_and_inactive(company):
    first = ok(company, "Customer", {"DisplayName": "Acme Heating"})
    clash = error(company, "Customer", {"DisplayName": "acme heating"})
    assert clash == {"Message": "Duplicate Name Exists Error", "code": "6240",
                     "Detail": f"The name supplied already exists. : Id={first['Id']}"}
    vendor = find(company, "Vendor", "Cal Telephone")
    assert error(company, "Customer", {"DisplayName": "Cal Telephone"})["Detail"].endswith(f"Id={vendor['Id']}")
    assert error(company, "Vendor", {"DisplayName": "Acme Heating"})["code"] == "6240"
    inactive = ok(company, "Customer", {"Id": first["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert inactive["Active"] is False
    assert error(company, "Customer", {"DisplayName": "Acme Heating"})["code"] == "6240"
    status, body = get(company, f"customer/{first['Id']}")  # an inactive customer still reads
    assert status == 200 and body["Customer"]["Active"] is False
    with pytest.raises(QuickbooksException) as raised:  # python-quickbooks: base exception, branch on code
        Customer.from_json({"DisplayName": "ACME HEATING"}).save(qb=company.qb)
    assert raised.value.error_code == 6240


@pytest.mark.parametrize("bad", ["Tractor:Trailer", "Tab\there", "New\nline"])
def test_names_refuse_colon_tab_newline(company, bad):
    fault = error(company, "Customer", {"DisplayName": bad})
    assert fault["code"] == "6000" and fault["element"] == "DisplayName"
    assert error(company, "Customer", {"DisplayName": "Fine Name", "GivenName": bad})["element"] == "GivenName"
    assert ok(company, "Customer", {"DisplayName": f"Ok {len(bad)}", "CompanyName": "Nuevo Café: HQ"})


def test_required_fields_and_lengths(company):
    assert error(company, "Customer", {"Notes": "no name"})["code"] == "2020"
    derived = ok(company, "Customer", {"GivenName": "Zoë", "FamilyName": "Åkesson"})
    assert derived["DisplayName"] == "Zoë Åkesson"
    long_name = error(company, "Customer", {"DisplayName": "x" * 501})
    assert (long_name["code"], long_name["element"]) == ("2050", "DisplayName")
    assert error(company, "Customer", {"DisplayName": "Long Co", "CompanyName": "y" * 101})["code"] == "2050"
    with pytest.raises(ValidationException):
        Invoice.from_json({"CustomerRef": {"value": derived["Id"]}}).save(qb=company.qb)


def test_sub_customers_nest_four_deep_with_computed_names(company):
    parent = find(company, "Customer", "Freeman Sporting Goods")
    chain = [parent]
    for depth in range(1, 5):
        chain.append(ok(company, "Customer", {"DisplayName": f"Site {depth}", "Job": True,
                                              "ParentRef": {"value": chain[-1]["Id"]}, "BillWithParent": True}))
        assert chain[-1]["Level"] == depth and chain[-1]["Job"] is True
    assert chain[-1]["FullyQualifiedName"] == "Freeman Sporting Goods:Site 1:Site 2:Site 3:Site 4"
    too_deep = error(company, "Customer", {"DisplayName": "Site 5", "ParentRef": {"value": chain[-1]["Id"]}})
    assert too_deep["code"] == "6000"
    assert error(company, "Customer", {"DisplayName": "Orphan", "Job": True})["code"] == "2020"
    assert error(company, "Customer", {"DisplayName": "Orphan", "ParentRef": {"value": "4242"}})["code"] == "2500"
    cycle = error(company, "Customer", {"Id": parent["Id"], "SyncToken": parent["SyncToken"], "sparse": True,
                                        "ParentRef": {"value": chain[2]["Id"]}, "Job": True})
    assert cycle["code"] == "6000"
    renamed = ok(company, "Customer", {"Id": parent["Id"], "SyncToken": parent["SyncToken"], "sparse": True,
                                       "DisplayName": "Freeman Sports"})
    assert renamed["FullyQualifiedName"] == "Freeman Sports"
    status, body = get(company, f"customer/{chain[2]['Id']}")
    assert body["Customer"]["FullyQualifiedName"] == "Freeman Sports:Site 1:Site 2"


def _items(company):
    return {i["Name"]: i for i in company.adapter.query_page("Item")}


def test_invoice_arithmetic_tax_and_wire_format(company):
    items, customer = _items(company), find(company, "Customer", "Jeff's Jalopies")
    body = {"CustomerRef": {"value": customer["Id"]}, "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}}, "Line": [
        {"Amount": "255.00", "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": items["Labor"]["Id"]}, "Qty": 3, "UnitPrice": 85}},
        {"DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": items["Filter Cartridge"]["Id"]}, "Qty": "3",
                                 "UnitPrice": "33.333"}},
        {"Amount": 12.5, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": items["Shop Supplies"]["Id"]}, "Qty": 0, "UnitPrice": 0}}]}
    status, doc = post(company, "Invoice", body)
    invoice = doc["Invoice"]
    assert status == 200
    amounts = [line["Amount"] for line in invoice["Line"]]
    assert amounts == [Decimal("255.00"), Decimal("100.00"), Decimal("12.50"), Decimal("367.50")]
    assert invoice["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}  # Labor is not taxable
    assert invoice["TxnTaxDetail"]["TotalTax"] == Decimal("9.00")  # 8% of the taxable 112.50
    assert invoice["TotalAmt"] == invoice["Balance"] == Decimal("376.50")
    assert invoice["DocNumber"] and invoice["CustomerRef"] == {"value": customer["Id"], "name": "Jeff's Jalopies"}
    raw = company.raw("GET", f"invoice/{invoice['Id']}").text
    assert '"Amount":255.00' in raw and '"UnitPrice":33.333' in raw and '"Qty":3,' in raw
    mismatch = error(company, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"Amount": 10, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": items["Labor"]["Id"]}, "Qty": 1, "UnitPrice": 85}}]})
    assert mismatch["code"] == "6000"


def _invoice(company, customer_id, amount="100.00", params=None, **extra):
    labor = _items(company)["Labor"]
    return ok(company, "Invoice", {"CustomerRef": {"value": customer_id}, **extra, "Line": [
        {"Amount": amount, "DetailType": "SalesItemLineDetail",
         "SalesItemLineDetail": {"ItemRef": {"value": labor["Id"]}}}]}, **(params or {}))


def test_invalid_references_and_inactive_objects(company):
    customer = find(company, "Customer", "Jeff's Jalopies")
    bad_customer = error(company, "Invoice", {"CustomerRef": {"value": "9999"}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert bad_customer == {"Message": "Invalid Reference Id", "Detail": "Invalid Reference Id : CustomerRef",
                            "code": "2500", "element": "CustomerRef"}
    bad_item = error(company, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "999"}}}]})
    assert bad_item["element"] == "Line.SalesItemLineDetail.ItemRef"
    gone = ok(company, "Customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
                                    "Active": False})
    inactive = error(company, "Invoice", {"CustomerRef": {"value": gone["Id"]}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert inactive["code"] == "610" and inactive["Message"] == "Object Not Found"
    assert error(company, "Customer", {"DisplayName": "Tax Guy", "DefaultTaxCodeRef": {"value": "77"}})["code"] \
        == "2500"


def test_payments_reduce_invoice_balances(company):
    customer = find(company, "Customer", "Amy's Bird Sanctuary")
    first, second = _invoice(company, customer["Id"]), _invoice(company, customer["Id"], "50.00")
    assert find(company, "Customer", "Amy's Bird Sanctuary")["Balance"] == Decimal("150.00")
    payment = ok(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": "120.00", "Line": [
        {"Amount": "100.00", "LinkedTxn": [{"TxnId": first["Id"], "TxnType": "Invoice"}]},
        {"Amount": 15, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]})
    assert payment["UnappliedAmt"] == Decimal("5.00") and payment["DepositToAccountRef"] == {"value": "4"}
    assert set(fixture("payment-read.json")["Payment"]) <= set(payment)
    status, read = get(company, f"invoice/{first['Id']}")
    paid = read["Invoice"]
    assert paid["Balance"] == 0 and paid["SyncToken"] == "1"
    assert paid["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert get(company, f"invoice/{second['Id']}")[1]["Invoice"]["Balance"] == Decimal("35.00")
    assert find(company, "Customer", "Amy's Bird Sanctuary")["Balance"] == Decimal("30.00")  # 35 open - 5 unapplied
    # Stale SyncToken after the payment touched the invoice (the sync must re-read before editing).
    assert error(company, "Invoice", {**first, "sparse": True})["code"] == "5010"
    over = error(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 40, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]})
    assert over["code"] == "6000"
    more = error(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 10, "Line": [
        {"Amount": 20, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]})
    assert more["code"] == "6000"
    income = error(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 1,
                                        "DepositToAccountRef": {"value": "1"}})
    assert income["code"] == "6000" and income["element"] == "DepositToAccountRef"
    assert ok(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 1,
                                   "DepositToAccountRef": {"value": "35"}})["Line"] == []
    bad_link = error(company, "Payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 1, "Line": [
        {"Amount": 1, "LinkedTxn": [{"TxnId": "99999", "TxnType": "Invoice"}]}]})
    assert bad_link["code"] == "2500"
    # Deleting the payment gives the balance back and updates the invoice again.
    deleted = ok(company, "Payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}, operation="delete")
    assert deleted == {"domain": "QBO", "status": "Deleted", "Id": payment["Id"]}
    restored = get(company, f"invoice/{first['Id']}")[1]["Invoice"]
    assert restored["Balance"] == Decimal("100.00") and restored["LinkedTxn"] == [] and restored["SyncToken"] == "2"


def test_doc_numbers_auto_and_custom(company):
    customer = find(company, "Customer", "Jeff's Jalopies")["Id"]
    first, second = _invoice(company, customer), _invoice(company, customer)
    assert int(second["DocNumber"]) == int(first["DocNumber"]) + 1
    # With custom transaction numbers off, a given duplicate number is accepted.
    assert _invoice(company, customer, DocNumber=first["DocNumber"])["DocNumber"] == first["DocNumber"]
    requests.put(f"{company.url}/_emulator/realms/{company.realm}/preferences",
                 json={"SalesFormsPrefs": {"CustomTxnNumbers": True}}, timeout=5).raise_for_status()
    assert company.adapter.preferences()["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    duplicate = error(company, "Invoice", {"CustomerRef": {"value": customer}, "DocNumber": second["DocNumber"],
                                           "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail",
                                                     "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    assert duplicate["code"] == "6140" and f"TxnId={second['Id']}" in duplicate["Detail"]
    allowed = _invoice(company, customer, DocNumber=second["DocNumber"], params={"include": "allowduplicatedocnum"})
    assert allowed["DocNumber"] == second["DocNumber"]
    assert "DocNumber" not in _invoice(company, customer)  # custom numbers on, none given: none assigned
    assert error(company, "Invoice", {"CustomerRef": {"value": customer}, "DocNumber": "X" * 22, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}
    )["code"] == "2050"


def test_void_and_delete_invoices(company):
    customer = find(company, "Customer", "Jeff's Jalopies")["Id"]
    invoice = _invoice(company, customer)
    voided = ok(company, "Invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="void")
    shape = fixture("invoice-void-response.json")["Invoice"]
    assert set(shape) - {"CustomField", "BillAddr", "ShipAddr"} <= set(voided)
    assert (voided["PrivateNote"], voided["TotalAmt"], voided["Balance"], voided["SyncToken"]) == (
        "Voided", 0, 0, "1")
    assert all(line["Amount"] == 0 for line in voided["Line"])
    assert error(company, "Invoice", {**voided, "sparse": True, "PrivateNote": "edit"})["code"] == "6000"
    other = _invoice(company, customer)
    deleted = ok(company, "Invoice", {"Id": other["Id"], "SyncToken": "0"}, operation="delete")
    assert set(deleted) == set(fixture("invoice-delete-response.json")["Invoice"])
    again = error(company, "Invoice", {"Id": other["Id"], "SyncToken": "0"}, operation="delete")
    assert again["code"] == "610" and "deleted" in again["Detail"]
    assert get(company, f"invoice/{other['Id']}")[1]["Fault"]["Error"][0]["code"] == "610"
    assert error(company, "Customer", {"Id": customer, "SyncToken": "0"}, operation="delete")["code"] == "500"


def test_python_quickbooks_invoice_objects_with_decimal(company):
    customer = find(company, "Customer", "Jeff's Jalopies")
    line = SalesItemLine()
    line.Amount = Decimal("42.10")
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = _items(company)["Trip Charge"]["Id"]
    invoice = Invoice()
    invoice.CustomerRef = Ref()
    invoice.CustomerRef.value = customer["Id"]
    invoice.Line = [line]
    saved = invoice.save(qb=company.qb)
    assert saved.TotalAmt == Decimal("42.10") and isinstance(saved.TotalAmt, Decimal)


def test_items_accounts_and_classes(company):
    base = {"IncomeAccountRef": {"value": "79"}, "ExpenseAccountRef": {"value": "80"}}
    missing = error(company, "Item", {"Name": "Valve", "Type": "Inventory", **base})
    assert (missing["code"], missing["element"]) == ("2020", "AssetAccountRef")
    valve = ok(company, "Item", {"Name": "Valve", "Type": "Inventory", **base, "AssetAccountRef": {"value": "81"},
                                 "InvStartDate": "2026-01-01", "QtyOnHand": 5, "TrackQtyOnHand": True,
                                 "UnitPrice": "19.90"})
    assert valve["IncomeAccountRef"] == {"value": "79", "name": "Sales of Product Income"}
    assert valve["UnitPrice"] == Decimal("19.9") and valve["QtyOnHand"] == 5
    assert error(company, "Item", {"Name": "valve", "Type": "Service", **base})["code"] == "6240"
    changed = error(company, "Item", {"Id": valve["Id"], "SyncToken": "0", "sparse": True, "Type": "Service"})
    assert changed["code"] == "6000"
    assert error(company, "Item", {"Name": "Gadget", "Type": "Bundle", **base})["code"] == "2170"
    assert error(company, "Item", {"Name": "A:B", "Type": "Service", **base})["code"] == "6000"
    account = ok(company, "Account", {"Name": "Fees Billed", "AccountType": "Income"})
    closed = ok(company, "Account", {"Id": account["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert closed["Name"] == "Fees Billed (deleted)" and closed["Classification"] == "Revenue"
    reopened = ok(company, "Account", {"Id": account["Id"], "SyncToken": "1", "sparse": True, "Active": True})
    assert reopened["Name"] == "Fees Billed"
    cls = ok(company, "Class", {"Name": "North"})
    sub = ok(company, "Class", {"Name": "Zone 1", "ParentRef": {"value": cls["Id"]}})
    assert sub["FullyQualifiedName"] == "North:Zone 1" and sub["SubClass"] is True
    assert error(company, "TaxCode", {"Name": "New"})["code"] == "500"


def test_class_refs_need_class_tracking(company):
    customer = find(company, "Customer", "Jeff's Jalopies")["Id"]
    cls = company.adapter.query_page("Class")[0]
    body = {"CustomerRef": {"value": customer}, "ClassRef": {"value": cls["Id"]}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}
    assert error(company, "Invoice", body)["element"] == "ClassRef"
    requests.put(f"{company.url}/_emulator/realms/{company.realm}/preferences",
                 json={"AccountingInfoPrefs": {"ClassTrackingPerTxn": True}}, timeout=5).raise_for_status()
    assert ok(company, "Invoice", body)["ClassRef"] == {"value": cls["Id"], "name": cls["Name"]}
