"""The company file answers qbXML as QuickBooks does (docs/emulator-qbdesktop.md), over real HTTP. Every response is
checked against Intuit's qbXML 13.0 schema by the helper."""

import pytest

from tests.emulators.qbdesktop.helpers import FIXTURES, message_set

pytestmark = pytest.mark.integration

CUSTOMER = "<CustomerAddRq><CustomerAdd><Name>{name}</Name>{extra}</CustomerAdd></CustomerAddRq>"


def add_customer(desk, name, extra=""):
    return desk.ok(CUSTOMER.format(name=name, extra=extra))


def test_captured_requests_from_real_integrations_are_accepted(desk):
    for name in ("qbwc-qbxml-customer_add_rq.xml", "qbwc-qbxml-customer_query_iterator_rq.xml"):
        response = desk.raw((FIXTURES / "qbxml" / "captured" / name).read_text())
        assert response.status_code == 200, response.text


def test_a_misplaced_element_fails_the_whole_message_set_with_the_parse_hresult(desk):
    response = desk.raw(message_set("<CustomerAddRq><CustomerAdd><IsActive>true</IsActive><Name>A</Name>"
                                    "</CustomerAdd></CustomerAddRq>"))
    assert response.status_code == 400 and response.json()["hresult"] == "0x80040400"
    assert desk.state()["lists"]["Customer"] == []


def test_an_unsupported_qbxml_version_is_refused(desk):
    response = desk.raw(message_set("<HostQueryRq/>", version="99.0"))
    assert response.json()["hresult"] == "0x80040423"


def test_a_job_is_a_sub_customer_with_its_ship_address_and_a_colon_full_name(desk):
    parent = add_customer(desk, "Carefree", "<CompanyName>Carefree</CompanyName>")
    job = add_customer(desk, "North Site", "<ParentRef><FullName>Carefree</FullName></ParentRef>"
                                           "<ShipAddress><Addr1>9 North Rd</Addr1><City>Mesa</City></ShipAddress>")
    assert job.findtext("FullName") == "Carefree:North Site" and job.findtext("Sublevel") == "1"
    assert job.findtext("ParentRef/ListID") == parent.findtext("ListID")
    assert job.findtext("ShipAddress/Addr1") == "9 North Rd"


def test_names_are_unique_across_customers_and_vendors(desk):
    add_customer(desk, "Acme")
    rs = desk.one("<VendorAddRq><VendorAdd><Name>acme</Name></VendorAdd></VendorAddRq>")
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("3100", "Error")
    assert rs.get("statusMessage") == 'The name "acme" of the list element is already in use.'


def test_mod_needs_the_current_edit_sequence_and_changes_it(desk):
    ret = add_customer(desk, "Acme")
    list_id, seq = ret.findtext("ListID"), ret.findtext("EditSequence")
    mod = (f"<CustomerModRq><CustomerMod><ListID>{list_id}</ListID><EditSequence>{{seq}}</EditSequence>"
           "<Phone>555-0100</Phone></CustomerMod></CustomerModRq>")
    changed = desk.ok(mod.format(seq=seq))
    assert changed.findtext("Phone") == "555-0100" and changed.findtext("EditSequence") != seq
    stale = desk.one(mod.format(seq=seq))
    assert stale.get("statusCode") == "3200"
    assert stale.get("statusMessage") == f'The provided edit sequence "{seq}" is out-of-date. '


def test_iterators_page_and_report_what_remains(desk):
    for i in range(5):
        add_customer(desk, f"C{i}")
    first = desk.one('<CustomerQueryRq iterator="Start"><MaxReturned>2</MaxReturned></CustomerQueryRq>')
    assert (first.get("retCount"), first.get("iteratorRemainingCount")) == ("2", "3")
    names = [r.findtext("Name") for r in first]
    iterator = first.get("iteratorID")
    while True:
        page = desk.one(f'<CustomerQueryRq iterator="Continue" iteratorID="{iterator}"><MaxReturned>2</MaxReturned>'
                        "</CustomerQueryRq>")
        names += [r.findtext("Name") for r in page]
        if page.get("iteratorRemainingCount") == "0":
            break
    assert names == [f"C{i}" for i in range(5)]


def test_queries_hide_inactive_unless_asked_and_filter_by_modified_date(desk):
    add_customer(desk, "Gone", "<IsActive>false</IsActive>")
    first = add_customer(desk, "Here")
    assert [r.findtext("Name") for r in desk.one("<CustomerQueryRq/>")] == ["Here"]
    every = desk.one("<CustomerQueryRq><ActiveStatus>All</ActiveStatus></CustomerQueryRq>")
    assert sorted(r.findtext("Name") for r in every) == ["Gone", "Here"]
    later = desk.one("<CustomerQueryRq><FromModifiedDate>2999-01-01T00:00:00</FromModifiedDate></CustomerQueryRq>")
    assert (later.get("statusCode"), later.get("statusSeverity")) == ("1", "Info") and len(later) == 0
    since = desk.one(f"<CustomerQueryRq><FromModifiedDate>{first.findtext('TimeModified')}</FromModifiedDate>"
                     "</CustomerQueryRq>")
    assert [r.findtext("Name") for r in since] == ["Here"]


def test_a_missing_list_id_in_a_query_is_a_warning_with_the_rest_returned(desk):
    ret = add_customer(desk, "Here")
    rs = desk.one(f"<CustomerQueryRq><ListID>{ret.findtext('ListID')}</ListID><ListID>1-1</ListID></CustomerQueryRq>")
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("500", "Warn") and len(rs) == 1


def setup_sales(desk):
    add_customer(desk, "Carefree")
    add_customer(desk, "North Site", "<ParentRef><FullName>Carefree</FullName></ParentRef>")
    desk.ok("<VendorAddRq><VendorAdd><Name>AZ Dept of Revenue</Name></VendorAdd></VendorAddRq>")
    desk.ok("<ItemSalesTaxAddRq><ItemSalesTaxAdd><Name>AZ Tax</Name><TaxRate>8.6</TaxRate><TaxVendorRef>"
            "<FullName>AZ Dept of Revenue</FullName></TaxVendorRef></ItemSalesTaxAdd></ItemSalesTaxAddRq>")
    desk.ok("<ItemServiceAddRq><ItemServiceAdd><Name>Labor</Name><SalesTaxCodeRef><FullName>Tax</FullName>"
            "</SalesTaxCodeRef><SalesOrPurchase><Price>50.00</Price><AccountRef><FullName>Services</FullName>"
            "</AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>")
    desk.ok("<ItemNonInventoryAddRq><ItemNonInventoryAdd><Name>Filter</Name><SalesOrPurchase><Price>5.00</Price>"
            "<AccountRef><FullName>Sales</FullName></AccountRef></SalesOrPurchase></ItemNonInventoryAdd>"
            "</ItemNonInventoryAddRq>")
    desk.ok("<ItemInventoryAddRq><ItemInventoryAdd><Name>Compressor</Name><IncomeAccountRef><FullName>Sales"
            "</FullName></IncomeAccountRef><COGSAccountRef><FullName>Cost of Goods Sold</FullName></COGSAccountRef>"
            "<AssetAccountRef><FullName>Inventory Asset</FullName></AssetAccountRef></ItemInventoryAdd>"
            "</ItemInventoryAddRq>")
    desk.ok("<ClassAddRq><ClassAdd><Name>Maintenance</Name></ClassAdd></ClassAddRq>")


INVOICE = ("<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Carefree:North Site</FullName></CustomerRef>"
           "<ClassRef><FullName>Maintenance</FullName></ClassRef>{ref}<ItemSalesTaxRef><FullName>AZ Tax</FullName>"
           "</ItemSalesTaxRef><InvoiceLineAdd><ItemRef><FullName>Labor</FullName></ItemRef><Quantity>2</Quantity>"
           "<Rate>50.00</Rate></InvoiceLineAdd><InvoiceLineAdd><ItemRef><FullName>Filter</FullName></ItemRef>"
           "<Quantity>1</Quantity><Rate>5.00</Rate><SalesTaxCodeRef><FullName>Non</FullName></SalesTaxCodeRef>"
           "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>")


def test_an_invoice_gets_the_next_number_tax_from_the_tax_item_and_a_balance(desk):
    setup_sales(desk)
    first = desk.ok(INVOICE.format(ref="<RefNumber>2040</RefNumber>"))
    second = desk.ok(INVOICE.format(ref=""))
    assert (first.findtext("RefNumber"), second.findtext("RefNumber")) == ("2040", "2041")
    assert second.findtext("Subtotal") == "105.00" and second.findtext("SalesTaxTotal") == "8.60"
    assert second.findtext("BalanceRemaining") == "113.60" and second.findtext("IsPaid") == "false"
    assert second.findtext("ClassRef/FullName") == "Maintenance"
    queried = desk.one(f"<InvoiceQueryRq><TxnID>{second.findtext('TxnID')}</TxnID></InvoiceQueryRq>")
    assert queried[0].find("InvoiceLineRet") is None  # lines only with IncludeLineItems
    with_lines = desk.one(f"<InvoiceQueryRq><TxnID>{second.findtext('TxnID')}</TxnID>"
                          "<IncludeLineItems>true</IncludeLineItems></InvoiceQueryRq>")
    assert len(with_lines[0].findall("InvoiceLineRet")) == 2


def test_an_unknown_item_on_a_line_is_refused_with_3140(desk):
    setup_sales(desk)
    rs = desk.one(INVOICE.format(ref="").replace("<FullName>Labor</FullName>", "<FullName>Nope</FullName>"))
    assert rs.get("statusCode") == "3140" and "Nope" in rs.get("statusMessage")
    assert desk.state()["transactions"]["Invoice"] == []


def test_a_payment_applied_to_an_invoice_pays_it_and_overpaying_is_refused(desk):
    setup_sales(desk)
    invoice = desk.ok(INVOICE.format(ref=""))
    pay = ("<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Carefree:North Site</FullName>"
           "</CustomerRef><TotalAmount>{amount}</TotalAmount><AppliedToTxnAdd><TxnID>{txn}</TxnID>"
           "<PaymentAmount>{amount}</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>")
    over = desk.one(pay.format(amount="200.00", txn=invoice.findtext("TxnID")))
    assert (over.get("statusCode"), over.get("statusMessage")) == ("3210", "You cannot pay more than the amount due.")
    payment = desk.ok(pay.format(amount="113.60", txn=invoice.findtext("TxnID")))
    assert payment.findtext("DepositToAccountRef/FullName") == "Undeposited Funds"
    assert payment.findtext("AppliedToTxnRet/Amount") == "113.60"
    paid = desk.one("<InvoiceQueryRq><PaidStatus>PaidOnly</PaidStatus></InvoiceQueryRq>")
    assert [r.findtext("TxnID") for r in paid] == [invoice.findtext("TxnID")]
    assert paid[0].findtext("AppliedAmount") == "-113.60" and paid[0].findtext("BalanceRemaining") == "0.00"


def test_invoice_mod_needs_the_edit_sequence_and_replaces_the_lines_it_is_sent(desk):
    setup_sales(desk)
    invoice = desk.ok(INVOICE.format(ref=""))
    line = desk.one(f"<InvoiceQueryRq><TxnID>{invoice.findtext('TxnID')}</TxnID><IncludeLineItems>true"
                    "</IncludeLineItems></InvoiceQueryRq>")[0].find("InvoiceLineRet").findtext("TxnLineID")
    mod = (f"<InvoiceModRq><InvoiceMod><TxnID>{invoice.findtext('TxnID')}</TxnID><EditSequence>"
           f"{invoice.findtext('EditSequence')}</EditSequence><Memo>changed</Memo><InvoiceLineMod><TxnLineID>{line}"
           "</TxnLineID><Quantity>3</Quantity></InvoiceLineMod></InvoiceMod></InvoiceModRq>")
    changed = desk.ok(mod)
    assert changed.findtext("Memo") == "changed" and changed.findtext("Subtotal") == "150.00"
    assert desk.one(mod).get("statusCode") == "3200"


def test_stop_on_error_skips_the_rest_of_the_set_and_continue_on_error_does_not(desk):
    bad = "<CustomerModRq><CustomerMod><ListID>1-1</ListID><EditSequence>1</EditSequence></CustomerMod></CustomerModRq>"
    rs = desk.qbxml(bad + CUSTOMER.format(name="After", extra=""))
    assert [r.tag for r in rs] == ["CustomerModRs"] and rs[0].get("statusCode") == "3120"
    rs = desk.qbxml(bad + CUSTOMER.format(name="After", extra=""), on_error="continueOnError")
    assert [r.get("statusCode") for r in rs] == ["3120", "0"]


def test_class_tracking_shows_in_preferences_and_accounts_filter_by_type(desk):
    import requests

    pref = desk.ok("<PreferencesQueryRq/>")
    assert pref.findtext("AccountingPreferences/IsUsingClassTracking") == "true"
    requests.post(f"{desk.url}/_emulator/preferences", json={"class_tracking": False}, timeout=10)
    pref = desk.ok("<PreferencesQueryRq/>")
    assert pref.findtext("AccountingPreferences/IsUsingClassTracking") == "false"
    income = desk.one("<AccountQueryRq><AccountType>Income</AccountType></AccountQueryRq>")
    assert {r.findtext("Name") for r in income} == {"Services", "Sales", "Construction Income"}


def test_state_survives_a_restart_through_the_state_file(tmp_path):
    from emulators.common.server import start
    from emulators.qbdesktop.app import create_app
    from tests.emulators.qbdesktop.helpers import Desk

    path = str(tmp_path / "qbd.json")
    app = create_app(path)
    server = start(app, 0)
    add_customer(Desk(server.url), "Kept")
    server.stop()
    app.close()
    again = create_app(path)
    try:
        assert [c["Name"] for c in again.state()["lists"]["Customer"]] == ["Kept"]
    finally:
        again.close()


def test_a_voided_invoice_keeps_its_number_with_every_amount_zero(desk):
    setup_sales(desk)
    invoice = desk.ok(INVOICE.format(ref=""))
    txn_id = invoice.findtext("TxnID")
    rs = desk.one(f"<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>{txn_id}</TxnID></TxnVoidRq>")
    assert rs[0].text == "Invoice" and rs[1].text == txn_id
    after = desk.one(f"<InvoiceQueryRq><TxnID>{txn_id}</TxnID><IncludeLineItems>true</IncludeLineItems>"
                     "</InvoiceQueryRq>")[0]
    assert after.findtext("RefNumber") == invoice.findtext("RefNumber")
    assert after.findtext("Subtotal") == "0.00" and after.findtext("BalanceRemaining") == "0.00"
    assert after.findtext("Memo").startswith("VOID:")
    assert after.findtext("EditSequence") != invoice.findtext("EditSequence")
    missing = desk.qbxml("<TxnVoidRq><TxnVoidType>Invoice</TxnVoidType><TxnID>9-9</TxnID></TxnVoidRq>")
    assert missing[0].get("statusCode") == "3120"


def _mod(ret, body, op="CustomerMod"):
    return (f"<{op}Rq><{op}><ListID>{ret.findtext('ListID')}</ListID><EditSequence>{ret.findtext('EditSequence')}"
            f"</EditSequence>{body}</{op}></{op}Rq>")


def test_a_mod_clears_a_field_sent_empty_and_keeps_a_field_left_out(desk):
    # Intuit's "Modify, delete and void requests": send null/empty qbXML elements for the properties to be cleared.
    ret = add_customer(desk, "Acme", "<CompanyName>Acme</CompanyName><BillAddress><Addr1>1 Main St</Addr1>"
                                     "<Addr2>Suite 4</Addr2><City>Phoenix</City></BillAddress>"
                                     "<Phone>555-0100</Phone><Email>a@acme.example</Email>")
    changed = desk.ok(_mod(ret, "<BillAddress><Addr2></Addr2><City>Tempe</City></BillAddress><Email/>"))
    assert changed.find("Email") is None and changed.findtext("Phone") == "555-0100"
    assert (changed.findtext("BillAddress/Addr1"), changed.find("BillAddress/Addr2"),
            changed.findtext("BillAddress/City")) == ("1 Main St", None, "Tempe")
    emptied = desk.ok(_mod(changed, "<BillAddress><Addr1/><Addr2/><City/><State/><PostalCode/><Country/>"
                                    "</BillAddress>"))
    assert emptied.find("BillAddress") is None and emptied.findtext("CompanyName") == "Acme"


def test_an_item_mod_changes_its_own_item_type_only(desk):
    desk.ok("<ItemServiceAddRq><ItemServiceAdd><Name>Visit</Name><SalesOrPurchase><Desc>Call-out</Desc>"
            "<Price>80.00</Price><AccountRef><FullName>Services</FullName></AccountRef></SalesOrPurchase>"
            "</ItemServiceAdd></ItemServiceAddRq>")
    part = desk.ok("<ItemInventoryAddRq><ItemInventoryAdd><Name>Filter</Name><SalesPrice>12.00</SalesPrice>"
                   "<IncomeAccountRef><FullName>Sales</FullName></IncomeAccountRef><COGSAccountRef><FullName>"
                   "Cost of Goods Sold</FullName></COGSAccountRef><AssetAccountRef><FullName>Inventory Asset"
                   "</FullName></AssetAccountRef></ItemInventoryAdd></ItemInventoryAddRq>")
    (visit,) = [r for r in desk.qbxml("<ItemQueryRq><FullName>Visit</FullName></ItemQueryRq>")[0]]
    changed = desk.ok(_mod(visit, "<SalesOrPurchaseMod><Price>95.00</Price></SalesOrPurchaseMod>",
                           "ItemServiceMod"))
    assert (changed.findtext("SalesOrPurchase/Price"), changed.findtext("SalesOrPurchase/Desc"),
            changed.findtext("SalesOrPurchase/AccountRef/FullName")) == ("95.00", "Call-out", "Services")
    priced = desk.ok(_mod(part, "<SalesPrice>14.50</SalesPrice>", "ItemInventoryMod"))
    assert priced.findtext("SalesPrice") == "14.50" and priced.findtext("IncomeAccountRef/FullName") == "Sales"
    wrong = desk.one(_mod(priced, "<SalesOrPurchaseMod><Price>1.00</Price></SalesOrPurchaseMod>", "ItemServiceMod"))
    assert wrong.get("statusCode") == "3120"


def test_deleted_lists_and_transactions_answer_the_deleted_queries_since_a_date(desk):
    acme = add_customer(desk, "Acme")
    desk.ok("<ItemServiceAddRq><ItemServiceAdd><Name>Visit</Name><SalesOrPurchase><Price>80.00</Price><AccountRef>"
            "<FullName>Services</FullName></AccountRef></SalesOrPurchase></ItemServiceAdd></ItemServiceAddRq>")
    invoice = desk.ok("<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Acme</FullName></CustomerRef>"
                      "<InvoiceLineAdd><ItemRef><FullName>Visit</FullName></ItemRef><Amount>80.00</Amount>"
                      "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>")
    payment = desk.ok(f"<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Acme</FullName></CustomerRef>"
                      f"<TotalAmount>80.00</TotalAmount><AppliedToTxnAdd><TxnID>{invoice.findtext('TxnID')}</TxnID>"
                      "<PaymentAmount>80.00</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd></ReceivePaymentAddRq>")
    gone = desk.one(f"<TxnDelRq><TxnDelType>ReceivePayment</TxnDelType><TxnID>{payment.findtext('TxnID')}</TxnID>"
                    "</TxnDelRq>")
    assert gone.get("statusCode") == "0" and gone.findtext("TxnID") == payment.findtext("TxnID")
    (open_again,) = desk.qbxml(f"<InvoiceQueryRq><TxnID>{invoice.findtext('TxnID')}</TxnID></InvoiceQueryRq>")[0]
    assert (open_again.findtext("BalanceRemaining"), open_again.findtext("IsPaid")) == ("80.00", "false")
    desk.one(f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{invoice.findtext('TxnID')}</TxnID></TxnDelRq>")
    deleted = desk.one(f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{acme.findtext('ListID')}</ListID>"
                       "</ListDelRq>")
    assert deleted.findtext("FullName") == "Acme" and deleted.findtext("TimeDeleted")
    assert desk.state()["lists"]["Customer"] == []
    txns = desk.one("<TxnDeletedQueryRq><TxnDelType>Invoice</TxnDelType><TxnDelType>ReceivePayment</TxnDelType>"
                    "</TxnDeletedQueryRq>")
    assert sorted(r.findtext("TxnDelType") for r in txns) == ["Invoice", "ReceivePayment"]
    assert next(r for r in txns if r.findtext("TxnDelType") == "Invoice").findtext("RefNumber") == \
        invoice.findtext("RefNumber")
    lists = desk.one("<ListDeletedQueryRq><ListDelType>Customer</ListDelType><ListDelType>ItemService</ListDelType>"
                     "</ListDeletedQueryRq>")
    assert [(r.findtext("ListID"), r.findtext("FullName")) for r in lists] == [(acme.findtext("ListID"), "Acme")]
    later = desk.one("<ListDeletedQueryRq><ListDelType>Customer</ListDelType><DeletedDateRangeFilter>"
                     "<FromDeletedDate>2999-01-01T00:00:00</FromDeletedDate></DeletedDateRangeFilter>"
                     "</ListDeletedQueryRq>")
    assert later.get("statusCode") == "1" and len(later) == 0
    again = desk.one(f"<ListDelRq><ListDelType>Customer</ListDelType><ListID>{acme.findtext('ListID')}</ListID>"
                     "</ListDelRq>")
    assert again.get("statusCode") == "3120"
