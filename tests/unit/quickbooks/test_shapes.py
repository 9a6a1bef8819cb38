"""The port's typed drafts as QuickBooks JSON (shared/quickbooks/shapes.py), the only place they become JSON."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.quickbooks.adapter import dumps
from shared.quickbooks.port import (
    ClassDraft,
    CustomerChange,
    CustomerDraft,
    ItemChange,
    ItemDraft,
    PostalAddress,
)
from shared.quickbooks.shapes import (
    changes,
    class_body,
    class_state,
    customer_body,
    customer_change_body,
    customer_state,
    item_body,
    item_change_body,
    item_state,
)

MESA = PostalAddress(line1="1 Main St", line2="", city="Mesa", state="AZ", postal_code="85201", country="US")


def test_a_customer_draft_leaves_out_what_it_does_not_have():
    draft = CustomerDraft("Acme Plumbing", company="Acme Plumbing", email="ops@acme.example", bill=MESA)
    assert customer_body(draft) == {
        "DisplayName": "Acme Plumbing", "CompanyName": "Acme Plumbing", "Active": True,
        "PrimaryEmailAddr": {"Address": "ops@acme.example"},
        "BillAddr": {"Line1": "1 Main St", "City": "Mesa", "CountrySubDivisionCode": "AZ", "PostalCode": "85201",
                     "Country": "US"}}


def test_a_job_is_billed_with_its_parent_and_ships_to_its_own_address():
    body = customer_body(CustomerDraft("Yard (Acme)", job=True, parent_id="42", ship=MESA, bill=MESA))
    assert body["Job"] is True and body["BillWithParent"] is True and body["ParentRef"] == {"value": "42"}
    assert body["ShipAddr"] == body["BillAddr"] and body["ShipAddr"]["Line1"] == "1 Main St"
    assert "CompanyName" not in body and "PrimaryEmailAddr" not in body


def test_a_change_is_sparse_carries_its_synctoken_and_only_the_fields_that_change():
    body = customer_change_body(CustomerChange("7", "3", phone="555-0100", active=False))
    assert body == {"Id": "7", "SyncToken": "3", "sparse": True, "PrimaryPhone": {"FreeFormNumber": "555-0100"},
                    "Active": False}


def test_a_cleared_field_is_sent_empty_and_an_unchanged_one_not_at_all():
    body = customer_change_body(CustomerChange("7", "3", company="New Co", clear=frozenset({"email", "last"})))
    assert body["CompanyName"] == "New Co" and body["FamilyName"] == "" and body["PrimaryEmailAddr"] == {"Address": ""}
    assert "GivenName" not in body and "PrimaryPhone" not in body and "BillAddr" not in body and "Active" not in body


def test_only_text_fields_can_be_cleared():
    with pytest.raises(ValueError):
        CustomerChange("7", "3", clear=frozenset({"active"}))


def test_a_customer_quickbooks_answers_reads_back_as_the_draft_sent():
    draft = CustomerDraft("Acme Plumbing", company="Acme", first="Ann", last="Lee", email="a@acme.example",
                          phone="555", bill=MESA)
    row = {**customer_body(draft), "Id": "9", "SyncToken": "0",
           "MetaData": {"LastUpdatedTime": "2026-11-30T10:00:00-08:00"}}
    state = customer_state(row)
    assert (state.qbo_id, state.sync_token, state.display_name, state.company, state.first, state.last,
            state.email, state.phone) == ("9", "0", "Acme Plumbing", "Acme", "Ann", "Lee", "a@acme.example", "555")
    assert state.bill == PostalAddress("1 Main St", None, "Mesa", "AZ", "85201", "US") and state.ship is None
    assert state.active and not state.job and not state.deleted and state.updated_at is not None


def test_a_tombstone_and_a_job_are_told_apart():
    assert customer_state({"Id": "1", "status": "Deleted"}).deleted
    assert customer_state({"Id": "2", "Job": True, "ParentRef": {"value": "1"}}).job
    assert not customer_state({"Id": "3", "Job": True}).job  # a job flag without a parent is a customer


def test_a_draft_survives_the_json_of_a_run_chunk():
    draft = CustomerDraft("Yard", job=True, parent_id=None, ship=MESA, bill=MESA)
    stored = json.loads(json.dumps(draft.as_dict()))
    assert CustomerDraft.from_dict(stored) == draft
    assert not {"DisplayName", "ShipAddr", "BillAddr"} & set(stored)  # the draft, not QuickBooks JSON


def test_items_go_with_exact_money_and_their_updates_are_sparse():
    draft = ItemDraft("Filter 20x25", "NonInventory", "79", "80", taxable=True, unit_price=Decimal("12.10"),
                      purchase_cost=Decimal("4.05"), sku="F-2025")
    body = item_body(draft)
    assert body["Type"] == "NonInventory" and body["IncomeAccountRef"] == {"value": "79"}
    assert '"UnitPrice": 12.10' in dumps(body) and '"PurchaseCost": 4.05' in dumps(body)
    assert "Description" not in body and body["Sku"] == "F-2025"
    assert item_change_body(ItemChange("5", "2", unit_price=Decimal("13.00"))) == {
        "Id": "5", "SyncToken": "2", "sparse": True, "UnitPrice": Decimal("13.00")}


def test_an_item_row_reads_as_typed_values():
    state = item_state({"Id": "5", "SyncToken": "2", "Name": "Labor", "Type": "Service", "UnitPrice": 95.5,
                        "Taxable": False})
    assert state.unit_price == Decimal("95.5") and state.kind == "Service" and state.taxable is False
    assert item_state({"Id": "6", "Name": "X"}).taxable is None  # QuickBooks said nothing


def test_a_class_is_its_name():
    assert class_body(ClassDraft("Maintenance")) == {"Name": "Maintenance"}
    state = class_state({"Id": "3", "Name": "Maintenance", "Active": False, "SyncToken": "0"})
    assert (state.qbo_id, state.name, state.active) == ("3", "Maintenance", False)


# -- what QuickBooks sends on its own, typed (decision 42) ---------------------------------------------------------

CDC = {
    "Customer": [{"Id": "1", "SyncToken": "3", "DisplayName": "Acme", "BillAddr": {"Line1": "1 Main St", "City": "Mesa",
                                                                                 "CountrySubDivisionCode": "AZ"},
                  "MetaData": {"LastUpdatedTime": "2026-11-01T04:00:00-08:00"}},
                 {"Id": "2", "status": "Deleted", "MetaData": {"LastUpdatedTime": "2026-11-01T05:00:00-08:00"}}],
    "Item": [{"Id": "5", "SyncToken": "1", "Name": "Labor", "Type": "Service", "UnitPrice": 95.5}],
    "Class": [{"Id": "7", "Name": "Maintenance"}],
    "Invoice": [{"Id": "9", "SyncToken": "2", "TotalAmt": 100.1, "Balance": "0", "DocNumber": "1001",
                 "TxnTaxDetail": {"TotalTax": 7.1}, "CustomerRef": {"value": "1"}},
                {"Id": "10", "status": "Deleted"}],
    "Payment": [{"Id": "11", "SyncToken": "0", "TotalAmt": 100.1, "UnappliedAmt": 0, "TxnDate": "2026-11-02",
                 "CustomerRef": {"value": "1", "name": "Acme"},
                 "Line": [{"Amount": 100.1, "LinkedTxn": [{"TxnId": "9", "TxnType": "Invoice"}]}]},
                {"Id": "12", "status": "Deleted"}],
}


def test_cdc_rows_become_typed_states_per_kind_with_tombstones_in_their_kind():
    read_at = datetime(2026, 11, 1, 13, tzinfo=UTC)
    found = changes(CDC, read_at)
    assert found.read_at == read_at and [c.qbo_id for c in found.of("Customer")] == ["1", "2"]
    acme, gone = found.customers
    assert acme.sync_token == "3" and acme.bill == PostalAddress("1 Main St", None, "Mesa", "AZ", None, None)
    assert acme.updated_at == datetime(2026, 11, 1, 12, tzinfo=UTC) and not acme.deleted and gone.deleted
    assert found.items[0].unit_price == Decimal("95.5") and found.classes[0].name == "Maintenance"
    invoice, deleted = found.invoices
    assert (invoice.total, invoice.tax, invoice.balance) == (Decimal("100.1"), Decimal("7.1"), Decimal("0"))
    assert not invoice.deleted and deleted.deleted and deleted.voided  # nothing is owed on a deleted invoice
    payment, removed = found.payments
    assert payment.applied == (("9", Decimal("100.1")),) and payment.customer_name == "Acme" and removed.deleted
    assert changes({}, read_at).of("Invoice") == ()


def test_every_state_survives_the_json_of_a_run_chunk_with_exact_money():
    found = changes(CDC, datetime(2026, 11, 1, 13, tzinfo=UTC))
    for kind, states in (("Customer", found.customers), ("Item", found.items), ("Class", found.classes),
                         ("Invoice", found.invoices), ("Payment", found.payments)):
        stored = json.loads(json.dumps([s.as_dict() for s in states]))  # as the run store keeps a chunk
        assert [type(s).from_dict(d) for s, d in zip(states, stored, strict=True)] == list(states), kind
        assert "Id" not in stored[0] and "status" not in stored[0]  # the typed state, not QuickBooks JSON
    assert json.loads(json.dumps(found.payments[0].as_dict()))["total"] == "100.1"  # text, never a float
