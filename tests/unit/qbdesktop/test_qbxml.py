"""qbXML builders emit what Intuit's qbXML 13.0 schema accepts (element order included); parsers read QuickBooks'
captured answers."""

import xml.etree.ElementTree as ET  # noqa: S405 - serializing our own builders only
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from emulators.qbdesktop import schema
from shared.qbdesktop import qbxml

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "qbd" / "qbxml" / "captured"
ADDRESS = {"line1": "1 Main St", "line2": "Suite 2", "city": "Phoenix", "state": "AZ", "postal_code": "85001",
           "country": "US"}

BUILDERS = {
    "customer_add": lambda: qbxml.customer_add({"name": "Acme", "active": True, "company": "Acme", "first": "Ann",
                                                "last": "Lee", "bill": ADDRESS, "ship": ADDRESS,
                                                "phone": "555-0100", "email": "a@example.com"}),
    "job_add": lambda: qbxml.customer_add({"name": "North", "parent_list_id": "80000001-1", "ship": ADDRESS}),
    "customer_mod": lambda: qbxml.customer_mod("80000001-1", "123", {"name": "Acme 2", "active": False}),
    "customer_mod_clearing": lambda: qbxml.customer_mod("80000001-1", "123", {
        "company": "", "email": "", "phone": "", "bill": {"line1": "1 Main St", "line2": None}}),
    "job_mod": lambda: qbxml.customer_mod("80000001-1", "123", {"ship": ADDRESS, "bill": ADDRESS, "active": True}),
    "customer_query_start": lambda: qbxml.customer_query(max_returned=100, iterator="Start",
                                                         from_modified="2026-01-01T00:00:00-05:00"),
    "customer_query_continue": lambda: qbxml.customer_query(max_returned=100, iterator="Continue",
                                                            iterator_id="{0000-1}"),
    "customer_query_name": lambda: qbxml.customer_query(full_names=["Carefree:North"]),
    "item_query": lambda: qbxml.list_query("ItemQuery", full_names=["Field Service"]),
    "item_query_modified": lambda: qbxml.item_query(max_returned=100, iterator="Start",
                                                    from_modified="2026-01-01T00:00:00-05:00"),
    "inventory_by_ids": lambda: qbxml.item_add("inventory", "Compressor", price="900", income_id="80000001-1",
                                               cogs_id="80000002-1", asset_id="80000003-1", desc="Compressor"),
    "account_query": lambda: qbxml.list_query("AccountQuery", account_types=["Income"]),
    "class_query": lambda: qbxml.list_query("ClassQuery"),
    "vendor_query": lambda: qbxml.list_query("VendorQuery"),
    "service": lambda: qbxml.item_add("service", "Labor", price=Decimal("50"), desc="Labor", taxable=True,
                                      account_full_name="Services"),
    "non_inventory": lambda: qbxml.item_add("non_inventory", "Filter", price=Decimal("5"),
                                            account_full_name="Sales"),
    "inventory": lambda: qbxml.item_add("inventory", "Compressor", price=Decimal("900"), income="Sales",
                                        cogs="Cost of Goods Sold", asset="Inventory Asset"),
    "class_add": lambda: qbxml.class_add("Maintenance"),
    "sales_tax_item": lambda: qbxml.sales_tax_item_add("AZ Tax", Decimal("8.6"), "AZ Dept of Revenue"),
    "invoice_add": lambda: qbxml.invoice_add({
        "customer_list_id": "80000001-1", "class_list_id": "80000002-1", "txn_date": "2026-11-20",
        "due_date": "2026-12-20", "sales_tax_item": "AZ Tax", "memo": "m", "external_guid": "{" + "A" * 8 + "-"
        + "B" * 4 + "-" + "C" * 4 + "-" + "D" * 4 + "-" + "E" * 12 + "}",
        "lines": [{"item_full_name": "Labor", "desc": "Tune-up", "quantity": "2", "rate": "50.00",
                   "amount": "100.00", "class_list_id": "80000002-1", "tax_code": "Tax"}]}),
    "invoice_mod": lambda: qbxml.invoice_mod("1-1", "1700000000", {
        "customer_list_id": "80000001-1", "class_list_id": "80000002-1", "txn_date": "2026-11-20",
        "due_date": "2026-12-20", "sales_tax_item": "AZ Tax", "memo": "m",
        "lines": [{"item_full_name": "Labor", "desc": "Tune-up", "quantity": "3", "rate": "50.00",
                   "amount": "150.00", "class_list_id": "80000002-1", "tax_code": "Tax"}]}),
    "txn_void": lambda: qbxml.txn_void("Invoice", "1-1"),
    "list_deleted": lambda: qbxml.deleted_query(True, ["Customer", "ItemService"], "2026-11-20T09:15:00-05:00"),
    "txn_deleted": lambda: qbxml.deleted_query(False, ["Invoice", "ReceivePayment"]),
    "invoice_query": lambda: qbxml.txn_query("InvoiceQuery", customer_list_id="80000001-1",
                                             from_modified="2026-01-01T00:00:00", include_lines=True),
    "invoice_query_ids": lambda: qbxml.txn_query("InvoiceQuery", txn_ids=["1-1"]),
    "payment_add": lambda: qbxml.receive_payment_add({
        "customer_list_id": "80000001-1", "txn_date": "2026-11-21", "ref_number": "CHK 1", "total": "100.00",
        "invoice_txn_id": "1-1", "applied": "100.00", "deposit_account_list_id": "80000003-1"}),
    "payment_query": lambda: qbxml.txn_query("ReceivePaymentQuery", customer_list_id="80000001-1"),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_every_request_validates_against_intuits_schema(name):
    text = qbxml.message_set(BUILDERS[name]())
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?>')
    assert schema.validate(etree.fromstring(text.encode())) is None, schema.validate(etree.fromstring(text.encode()))


def test_values_are_escaped_and_cut_to_quickbooks_desktop_lengths():
    text = qbxml.message_set(qbxml.customer_add({"name": "A & B <Co> " + "x" * 60, "company": "A & B"}))
    doc = etree.fromstring(text.encode())
    assert schema.validate(doc) is None
    assert len(doc.findtext(".//Name")) == qbxml.NAME_MAX and doc.findtext(".//CompanyName") == "A & B"


def test_captured_responses_parse_with_status_and_iterator():
    (page,) = qbxml.parse_response((CAPTURED / "qbwc-qbxml-customer_query_terator_rs.xml").read_text())
    assert page.operation == "CustomerQuery" and page.status_code == 0 and page.ok
    assert page.remaining == 18 and page.iterator_id and page.rets[0]["ListID"]
    (missing,) = qbxml.parse_response((CAPTURED / "qbwc-gem-customer_query_rs_error_3120.xml").read_text())
    assert (missing.status_code, missing.severity, missing.ok) == (3120, "Error", False)
    assert "does not exist in the list" in missing.message
    (warn,) = qbxml.parse_response((CAPTURED / "qbwc-gem-customer_query_rs_warn_500.xml").read_text())
    assert warn.status_code == 500 and warn.ok


def test_the_hcp_response_tells_class_tracking_and_the_stamped_file_id():
    facts = qbxml.hcp_facts((CAPTURED / "qbwc-gem-strHCPResponse-host-company-preferences.xml").read_text())
    assert facts["class_tracking"] is False and facts["product"] == "QuickBooks Pro 2014"
    assert facts["file_ids"] == ["{00000ee-1111-ffff-cccc-5ff123456047}"] and "13.0" in facts["versions"]


@pytest.mark.parametrize("text", ["", "<x/>", '<!DOCTYPE x [<!ENTITY a "b">]><QBXML><QBXMLMsgsRs/></QBXML>',
                                  "<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode='x'/></QBXMLMsgsRs></QBXML>"])
def test_unreadable_responses_are_refused(text):
    with pytest.raises(qbxml.QbxmlParseError):
        qbxml.parse_response(text)


def test_a_mod_sends_a_cleared_field_as_an_empty_element_and_leaves_out_what_it_does_not_change():
    # Intuit's "Modify, delete and void requests": "send null/empty qbXML elements for the properties to be cleared"
    text = ET.tostring(BUILDERS["customer_mod_clearing"](), encoding="unicode")
    assert "<CompanyName />" in text and "<Phone />" in text and "<Email />" in text
    assert "<BillAddress><Addr1>1 Main St</Addr1><Addr2 /><City /><State /><PostalCode /><Country /></BillAddress>" \
        in text
    assert "<FirstName" not in text and "<ShipAddress" not in text and "<Name>" not in text
    added = ET.tostring(qbxml.customer_add({"name": "Acme", "email": "", "bill": {"line1": "1 Main St"}}),
                        encoding="unicode")
    assert "<Email" not in added and "<Addr2" not in added  # an Add sends only what has a value
