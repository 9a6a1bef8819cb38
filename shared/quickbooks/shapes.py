"""QuickBooks Online JSON <-> the port's typed values (shared/quickbooks/port.py): the one place QuickBooks' field
names for customers, items, classes, invoices and payments live as the port reads them. The adapter and the
QuickBooks fakes in tests render drafts with the `*_body` functions and read what QuickBooks sends (a write's answer,
a CDC change, a read) with the `*_state` parsers; shared/domain never sees the JSON (decision 42)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from shared.quickbooks.port import (
    Changes,
    ClassDraft,
    ClassState,
    CustomerChange,
    CustomerDraft,
    CustomerState,
    InvoiceState,
    ItemChange,
    ItemDraft,
    ItemState,
    PaymentState,
    PostalAddress,
)
from shared.quickbooks.times import parse_qbo_time

_ADDRESS = (("line1", "Line1"), ("line2", "Line2"), ("city", "City"), ("state", "CountrySubDivisionCode"),
            ("postal_code", "PostalCode"), ("country", "Country"))
_NAMES = (("company", "CompanyName"), ("first", "GivenName"), ("last", "FamilyName"))


# -- addresses -----------------------------------------------------------------------------------------------------

def address_body(addr: PostalAddress) -> dict[str, str]:
    """BillAddr / ShipAddr: the parts that have a value (an empty part is left out, never sent empty)."""
    return {key: value for name, key in _ADDRESS if (value := getattr(addr, name))}


def address_state(addr: dict[str, Any] | None) -> PostalAddress | None:
    """An address QuickBooks holds; None when it has no street, city or postal code (nothing to match or copy)."""
    if not addr or not any(addr.get(k) for k in ("Line1", "City", "PostalCode")):
        return None
    return PostalAddress(**{name: addr.get(key) or None if name == "state" else addr.get(key)
                            for name, key in _ADDRESS})


# -- customers -----------------------------------------------------------------------------------------------------

def customer_body(draft: CustomerDraft) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": draft.display_name}
    for name, key in _NAMES:
        if getattr(draft, name) is not None:
            body[key] = getattr(draft, name)
    if draft.job:
        body.update(Job=True, BillWithParent=True)
        if draft.parent_id:
            body["ParentRef"] = {"value": draft.parent_id}
    body["Active"] = draft.active
    if draft.email:
        body["PrimaryEmailAddr"] = {"Address": draft.email}
    if draft.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": draft.phone}
    if draft.ship is not None and (ship := address_body(draft.ship)):
        body["ShipAddr"] = ship
    if draft.bill is not None and (bill := address_body(draft.bill)):
        body["BillAddr"] = bill
    return body


def customer_change_body(change: CustomerChange) -> dict[str, Any]:
    """A sparse update: Id, SyncToken, `sparse: true` and only the fields that change (a cleared text field goes
    as an empty value, which QuickBooks stores as none)."""
    body: dict[str, Any] = {"Id": change.qbo_id, "SyncToken": change.sync_token, "sparse": True}
    for name, key in _NAMES:
        value = "" if name in change.clear else getattr(change, name)
        if value is not None:
            body[key] = value
    email = "" if "email" in change.clear else change.email
    if email is not None:
        body["PrimaryEmailAddr"] = {"Address": email}
    phone = "" if "phone" in change.clear else change.phone
    if phone is not None:
        body["PrimaryPhone"] = {"FreeFormNumber": phone}
    if change.active is not None:
        body["Active"] = change.active
    if change.ship is not None:
        body["ShipAddr"] = address_body(change.ship)
    if change.bill is not None:
        body["BillAddr"] = address_body(change.bill)
    return body


def customer_state(row: dict[str, Any]) -> CustomerState:
    parent = (row.get("ParentRef") or {}).get("value")
    return CustomerState(
        qbo_id=str(row["Id"]), sync_token=row.get("SyncToken"), display_name=row.get("DisplayName", ""),
        company=row.get("CompanyName"), first=row.get("GivenName"), last=row.get("FamilyName"),
        email=(row.get("PrimaryEmailAddr") or {}).get("Address"),
        phone=(row.get("PrimaryPhone") or {}).get("FreeFormNumber"),
        bill=address_state(row.get("BillAddr")), ship=address_state(row.get("ShipAddr")),
        active=row.get("Active", True) is not False, job=bool(row.get("Job")) and parent is not None,
        parent_id=parent, level=int(row.get("Level") or 0),
        updated_at=parse_qbo_time((row.get("MetaData") or {}).get("LastUpdatedTime")), deleted=tombstone(row))


def display_name(row: dict[str, Any]) -> str:
    """The DisplayName of a customer, vendor or employee row (all three share one name space: 6240)."""
    return row.get("DisplayName") or ""


def tombstone(row: dict[str, Any]) -> bool:
    """A CDC row for an object deleted (or merged away) in QuickBooks: only its Id and `status: "Deleted"`."""
    return row.get("status") == "Deleted"


# -- items and classes ---------------------------------------------------------------------------------------------

def item_body(draft: ItemDraft) -> dict[str, Any]:
    body: dict[str, Any] = {"Name": draft.name, "Type": draft.kind,
                            "IncomeAccountRef": {"value": draft.income_account_id},
                            "ExpenseAccountRef": {"value": draft.expense_account_id}, "Taxable": draft.taxable}
    if draft.unit_price is not None:
        body["UnitPrice"] = draft.unit_price
    if draft.purchase_cost is not None:
        body["PurchaseCost"] = draft.purchase_cost
    if draft.description:
        body["Description"] = draft.description
    if draft.sku:
        body["Sku"] = draft.sku
    return body


def item_change_body(change: ItemChange) -> dict[str, Any]:
    body: dict[str, Any] = {"Id": change.qbo_id, "SyncToken": change.sync_token, "sparse": True}
    for name, key in (("unit_price", "UnitPrice"), ("taxable", "Taxable"), ("description", "Description")):
        if getattr(change, name) is not None:
            body[key] = getattr(change, name)
    return body


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def item_state(row: dict[str, Any]) -> ItemState:
    return ItemState(qbo_id=str(row["Id"]), sync_token=row.get("SyncToken"), name=row.get("Name") or "",
                     kind=row.get("Type") or "", unit_price=_dec(row.get("UnitPrice")),
                     purchase_cost=_dec(row.get("PurchaseCost")), taxable=row.get("Taxable"),
                     description=row.get("Description"), sku=row.get("Sku"),
                     active=row.get("Active", True) is not False, deleted=tombstone(row))


def class_body(draft: ClassDraft) -> dict[str, Any]:
    return {"Name": draft.name}


def class_state(row: dict[str, Any]) -> ClassState:
    return ClassState(qbo_id=str(row["Id"]), name=row.get("Name") or "", active=row.get("Active", True) is not False)



# -- invoices and payments -----------------------------------------------------------------------------------------

def _amount(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def invoice_state(row: dict[str, Any]) -> InvoiceState:
    total = _amount(row.get("TotalAmt"))
    tax = _amount((row.get("TxnTaxDetail") or {}).get("TotalTax"))
    return InvoiceState(qbo_id=str(row["Id"]), sync_token=str(row.get("SyncToken", "")),
                        doc_number=row.get("DocNumber"), total=total, tax=tax, balance=_amount(row.get("Balance")),
                        customer_id=str((row.get("CustomerRef") or {}).get("value", "")),
                        voided=tombstone(row) or (total == 0 and row.get("PrivateNote") == "Voided"),
                        deleted=tombstone(row))


def payment_state(row: dict[str, Any]) -> PaymentState:
    if tombstone(row):
        return PaymentState(str(row["Id"]), "", Decimal(0), Decimal(0), None, deleted=True)
    applied = tuple((str(link["TxnId"]), _amount(line.get("Amount"))) for line in row.get("Line") or []
                    for link in line.get("LinkedTxn") or [] if link.get("TxnType") == "Invoice")
    txn_date = row.get("TxnDate")
    return PaymentState(qbo_id=str(row["Id"]), sync_token=str(row.get("SyncToken", "")),
                        total=_amount(row.get("TotalAmt")), unapplied=_amount(row.get("UnappliedAmt")),
                        txn_date=date.fromisoformat(txn_date) if txn_date else None, applied=applied,
                        reference=row.get("PaymentRefNum"),
                        method_id=(row.get("PaymentMethodRef") or {}).get("value"),
                        customer_name=(row.get("CustomerRef") or {}).get("name"))


def changes(rows: dict[str, list[dict[str, Any]]], read_at: datetime) -> Changes:
    """CDC's rows (or a query's, read as CDC would report them) per kind, typed."""
    return Changes(read_at, customers=tuple(map(customer_state, rows.get("Customer", []))),
                   items=tuple(map(item_state, rows.get("Item", []))),
                   classes=tuple(map(class_state, rows.get("Class", []))),
                   invoices=tuple(map(invoice_state, rows.get("Invoice", []))),
                   payments=tuple(map(payment_state, rows.get("Payment", []))))
