"""qbXML 13.0 (US edition) requests built from plain values, and responses parsed into plain values.

Element order follows Intuit's schema (every aggregate is an xsd:sequence; a misplaced element fails the whole
message with 0x80040400, qbd-facts.md); tests/unit/qbdesktop validates every builder's output against the XSD.
Lengths are QuickBooks Desktop's (qbd-facts.md "Identity, names, concurrency"): values are cut to fit, never sent
too long. Responses are parsed with defusedxml."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - building only; parsing goes through defusedxml
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from defusedxml import ElementTree as SafeET

QBXML_VERSION = "13.0"
NAME_MAX, ADDR_MAX, CITY_MAX, STATE_MAX, POSTAL_MAX, COUNTRY_MAX = 41, 41, 31, 21, 13, 31
PHONE_MAX, EMAIL_MAX, MEMO_MAX, DESC_MAX, REF_NUMBER_MAX, PAYMENT_REF_MAX = 21, 1023, 4095, 4095, 11, 20
NO_MATCH, NOT_FOUND_WARN = 1, 500  # empty results, not failures (qbd-facts.md "Iterators and incremental sync")
STALE_EDIT_SEQUENCE, NAME_IN_USE = 3200, 3100


def _cut(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())[:limit].strip()
    return text or None


def _add(parent: ET.Element, tag: str, value: Any = None) -> ET.Element | None:
    if value is None:
        return None
    el = ET.SubElement(parent, tag)
    if not isinstance(value, ET.Element):
        el.text = value if isinstance(value, str) else str(value)
    return el


def _ref(parent: ET.Element, tag: str, list_id: str | None = None, full_name: str | None = None) -> None:
    if not list_id and not full_name:
        return
    ref = ET.SubElement(parent, tag)
    if list_id:
        _add(ref, "ListID", list_id)
    else:
        _add(ref, "FullName", full_name)


def amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01"), ROUND_HALF_UP))


ADDRESS_FIELDS = (("Addr1", "line1", ADDR_MAX), ("Addr2", "line2", ADDR_MAX), ("City", "city", CITY_MAX),
                  ("State", "state", STATE_MAX), ("PostalCode", "postal_code", POSTAL_MAX),
                  ("Country", "country", COUNTRY_MAX))


def _address(parent: ET.Element, tag: str, addr: dict | None, *, clear_empty: bool = False) -> None:
    """An address aggregate. `clear_empty` (a Mod): every line is sent, an empty one as an empty element, which
    clears it in QuickBooks ("send null/empty qbXML elements for the properties to be cleared", Intuit's "Modify,
    delete and void requests"); lines left out of a Mod would keep QuickBooks' old value."""
    values = [(t, _cut((addr or {}).get(key), n)) for t, key, n in ADDRESS_FIELDS]
    if not clear_empty:
        values = [(t, v) for t, v in values if v]
        if not values:
            return
    el = ET.SubElement(parent, tag)
    for t, v in values:
        ET.SubElement(el, t).text = v


def message_set(*requests: ET.Element, on_error: str = "stopOnError") -> str:
    root = ET.Element("QBXML")
    msgs = ET.SubElement(root, "QBXMLMsgsRq", {"onError": on_error})
    msgs.extend(requests)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="{QBXML_VERSION}"?>{body}'


def _rq(op: str, request_id: str | None = None, **attrs: str | None) -> ET.Element:
    el = ET.Element(f"{op}Rq", {k: v for k, v in {"requestID": request_id, **attrs}.items() if v is not None})
    return el


# -- customers and jobs --------------------------------------------------------------------------------------------

def customer_fields(parent: ET.Element, c: dict, *, for_mod: bool = False) -> None:
    """CustomerAdd/CustomerMod body after the identity: Name, IsActive, ParentRef, CompanyName, FirstName, LastName,
    BillAddress, ShipAddress, Phone, Email (schema order). An Add sends what has a value. A Mod sends the keys `c`
    has: a value changes the field, an empty value goes as an empty element and clears it (Intuit's "Modify,
    delete and void requests": "send null/empty qbXML elements for the properties to be cleared"); a key `c`
    lacks is left out, so QuickBooks keeps that field."""
    def text(tag: str, key: str, limit: int) -> None:
        value = _cut(c.get(key), limit)
        if value is not None:
            _add(parent, tag, value)
        elif for_mod and key in c:
            ET.SubElement(parent, tag)

    _add(parent, "Name", _cut(c.get("name"), NAME_MAX))
    if "active" in c:
        _add(parent, "IsActive", "true" if c["active"] else "false")
    _ref(parent, "ParentRef", c.get("parent_list_id"))
    text("CompanyName", "company", NAME_MAX)
    text("FirstName", "first", 25)
    text("LastName", "last", 25)
    for tag, key in (("BillAddress", "bill"), ("ShipAddress", "ship")):
        if for_mod and key in c:
            _address(parent, tag, c[key], clear_empty=True)
        else:
            _address(parent, tag, c.get(key))
    text("Phone", "phone", PHONE_MAX)
    text("Email", "email", EMAIL_MAX)


def customer_add(c: dict, request_id: str | None = None) -> ET.Element:
    rq = _rq("CustomerAdd", request_id)
    customer_fields(ET.SubElement(rq, "CustomerAdd"), c)
    return rq


def customer_mod(list_id: str, edit_sequence: str, c: dict, request_id: str | None = None) -> ET.Element:
    rq = _rq("CustomerMod", request_id)
    mod = ET.SubElement(rq, "CustomerMod")
    _add(mod, "ListID", list_id)
    _add(mod, "EditSequence", edit_sequence)
    customer_fields(mod, c, for_mod=True)
    return rq


def customer_query(*, list_ids: list[str] | None = None, full_names: list[str] | None = None,
                   max_returned: int | None = None, from_modified: str | None = None, iterator: str | None = None,
                   iterator_id: str | None = None, request_id: str | None = None) -> ET.Element:
    rq = _rq("CustomerQuery", request_id, iterator=iterator, iteratorID=iterator_id)
    for list_id in list_ids or []:
        _add(rq, "ListID", list_id)
    for name in full_names or []:
        _add(rq, "FullName", name)
    if not list_ids and not full_names:
        _add(rq, "MaxReturned", max_returned)
        _add(rq, "ActiveStatus", "All")  # inactive customers too: they stay inactive on the platform
        _add(rq, "FromModifiedDate", from_modified)
    return rq


# -- lists the settings page and invoices need --------------------------------------------------------------------

def list_query(op: str, *, full_names: list[str] | None = None, account_types: list[str] | None = None,
               list_ids: list[str] | None = None, request_id: str | None = None) -> ET.Element:
    """ItemQuery, ClassQuery, AccountQuery, VendorQuery, ItemSalesTaxQuery (all lists, active and inactive), or the
    named ones (by ListID or FullName)."""
    rq = _rq(op, request_id)
    for list_id in list_ids or []:
        _add(rq, "ListID", list_id)
    for name in full_names or []:
        _add(rq, "FullName", name)
    if not full_names and not list_ids:
        _add(rq, "ActiveStatus", "All")
        for kind in account_types or []:
            _add(rq, "AccountType", kind)
    return rq


def item_query(*, max_returned: int | None = None, from_modified: str | None = None, iterator: str | None = None,
               iterator_id: str | None = None, request_id: str | None = None) -> ET.Element:
    """ItemQuery (every item type, active and inactive) modified since a date, with an iterator."""
    rq = _rq("ItemQuery", request_id, iterator=iterator, iteratorID=iterator_id)
    _add(rq, "MaxReturned", max_returned)
    _add(rq, "ActiveStatus", "All")
    _add(rq, "FromModifiedDate", from_modified)
    return rq


def item_add(kind: str, name: str, *, price: Decimal | str | None = None, desc: str | None = None,
             account_full_name: str | None = None, income: str | None = None, cogs: str | None = None,
             asset: str | None = None, taxable: bool | None = None, account_id: str | None = None,
             income_id: str | None = None, cogs_id: str | None = None, asset_id: str | None = None,
             request_id: str | None = None) -> ET.Element:
    """ItemServiceAdd / ItemNonInventoryAdd with SalesOrPurchase (one account), ItemInventoryAdd with its three
    accounts (income, cost of goods sold, asset), as IndusTrack's "equipment as inventory" needs. Accounts by ListID
    (`*_id`, what the settings hold) or FullName."""
    price = Decimal(price) if price is not None else None
    op = {"service": "ItemServiceAdd", "non_inventory": "ItemNonInventoryAdd", "inventory": "ItemInventoryAdd"}[kind]
    rq = _rq(op, request_id)
    add = ET.SubElement(rq, op)
    _add(add, "Name", _cut(name, 31))
    if taxable is not None:
        _ref(add, "SalesTaxCodeRef", full_name="Tax" if taxable else "Non")
    if kind == "inventory":
        _add(add, "SalesDesc", _cut(desc, DESC_MAX))
        _add(add, "SalesPrice", amount(price) if price is not None else None)
        _ref(add, "IncomeAccountRef", income_id, income)
        _ref(add, "COGSAccountRef", cogs_id, cogs)
        _ref(add, "AssetAccountRef", asset_id, asset)
    else:
        sop = ET.SubElement(add, "SalesOrPurchase")
        _add(sop, "Desc", _cut(desc, DESC_MAX))
        _add(sop, "Price", amount(price) if price is not None else None)
        _ref(sop, "AccountRef", account_id, account_full_name)
    return rq


ITEM_MODS = {"service": "ItemServiceMod", "non_inventory": "ItemNonInventoryMod", "inventory": "ItemInventoryMod"}


def item_mod(kind: str, list_id: str, edit_sequence: str, c: dict, request_id: str | None = None) -> ET.Element:
    """ItemServiceMod / ItemNonInventoryMod / ItemInventoryMod (the type the item was added as) with the keys `c`
    has: name, active, taxable, desc, price. An empty desc goes as an empty element and clears it (as in
    customer_fields). Accounts are left as they are."""
    op = ITEM_MODS[kind]
    rq = _rq(op, request_id)
    mod = ET.SubElement(rq, op)
    _add(mod, "ListID", list_id)
    _add(mod, "EditSequence", edit_sequence)
    if "name" in c:
        _add(mod, "Name", _cut(c["name"], 31))
    if "active" in c:
        _add(mod, "IsActive", "true" if c["active"] else "false")
    if "taxable" in c:
        _ref(mod, "SalesTaxCodeRef", full_name="Tax" if c["taxable"] else "Non")
    sales = mod if kind == "inventory" else ET.SubElement(mod, "SalesOrPurchaseMod")
    if "desc" in c:
        ET.SubElement(sales, "SalesDesc" if kind == "inventory" else "Desc").text = _cut(c["desc"], DESC_MAX)
    if c.get("price") is not None:
        _add(sales, "SalesPrice" if kind == "inventory" else "Price", amount(Decimal(c["price"])))
    return rq


def class_add(name: str, request_id: str | None = None) -> ET.Element:
    rq = _rq("ClassAdd", request_id)
    _add(ET.SubElement(rq, "ClassAdd"), "Name", _cut(name, 31))
    return rq


def sales_tax_item_add(name: str, rate_percent: Decimal, vendor_full_name: str | None = None, *,
                       vendor_id: str | None = None, request_id: str | None = None) -> ET.Element:
    """"Send Tax Rates to QuickBooks using Vendor": an ItemSalesTax whose TaxVendorRef is the tax agency."""
    rq = _rq("ItemSalesTaxAdd", request_id)
    add = ET.SubElement(rq, "ItemSalesTaxAdd")
    _add(add, "Name", _cut(name, 31))
    _add(add, "TaxRate", str(rate_percent))
    _ref(add, "TaxVendorRef", vendor_id, vendor_full_name)
    return rq


# -- invoices and payments ----------------------------------------------------------------------------------------

def invoice_add(inv: dict, request_id: str | None = None) -> ET.Element:
    """`inv`: customer_list_id, txn_date, class_list_id?, ref_number?, due_date?, sales_tax_item?, memo?,
    external_guid, lines [{item_full_name, desc, quantity, rate, amount, class_list_id?}]."""
    rq = _rq("InvoiceAdd", request_id)
    add = ET.SubElement(rq, "InvoiceAdd")
    _ref(add, "CustomerRef", inv["customer_list_id"])
    _ref(add, "ClassRef", inv.get("class_list_id"), inv.get("class_full_name"))
    _add(add, "TxnDate", inv.get("txn_date"))
    _add(add, "RefNumber", _cut(inv.get("ref_number"), REF_NUMBER_MAX))
    _add(add, "DueDate", inv.get("due_date"))
    _ref(add, "ItemSalesTaxRef", full_name=inv.get("sales_tax_item"))
    _add(add, "Memo", _cut(inv.get("memo"), MEMO_MAX))
    _add(add, "ExternalGUID", inv.get("external_guid"))
    for line in inv["lines"]:
        _invoice_line(ET.SubElement(add, "InvoiceLineAdd"), line)
    return rq


def _invoice_line(el: ET.Element, line: dict) -> None:
    """One invoice line's elements, in the order InvoiceLineAdd and InvoiceLineMod both require (after a Mod's
    TxnLineID)."""
    _ref(el, "ItemRef", line.get("item_list_id"), line.get("item_full_name"))
    _add(el, "Desc", _cut(line.get("desc"), DESC_MAX))
    _add(el, "Quantity", str(line["quantity"]) if line.get("quantity") is not None else None)
    _add(el, "Rate", str(line["rate"]) if line.get("rate") is not None else None)
    _ref(el, "ClassRef", line.get("class_list_id"))
    _add(el, "Amount", amount(Decimal(line["amount"])))
    _ref(el, "SalesTaxCodeRef", full_name=line.get("tax_code"))  # "Tax" / "Non", the codes every US file has


def invoice_mod(txn_id: str, edit_sequence: str, inv: dict, request_id: str | None = None) -> ET.Element:
    """The invoice as the platform has it now (`inv` as for invoice_add), over QuickBooks' copy: every line goes as a
    new InvoiceLineMod (TxnLineID -1), and the lines a Mod that sends lines leaves out are deleted (qbd-facts.md
    "InvoiceMod"), so QuickBooks ends with exactly the platform's lines. RefNumber is QuickBooks' and not sent."""
    rq = _rq("InvoiceMod", request_id)
    mod = ET.SubElement(rq, "InvoiceMod")
    _add(mod, "TxnID", txn_id)
    _add(mod, "EditSequence", edit_sequence)
    _ref(mod, "CustomerRef", inv["customer_list_id"])
    _ref(mod, "ClassRef", inv.get("class_list_id"), inv.get("class_full_name"))
    _add(mod, "TxnDate", inv.get("txn_date"))
    _add(mod, "DueDate", inv.get("due_date"))
    _ref(mod, "ItemSalesTaxRef", full_name=inv.get("sales_tax_item"))
    _add(mod, "Memo", _cut(inv.get("memo"), MEMO_MAX))
    for line in inv["lines"]:
        el = ET.SubElement(mod, "InvoiceLineMod")
        _add(el, "TxnLineID", "-1")  # a new line: the lines the Mod leaves out are deleted
        _invoice_line(el, line)
    return rq


def txn_void(txn_type: str, txn_id: str, request_id: str | None = None) -> ET.Element:
    """TxnVoidRq {TxnVoidType, TxnID}: the transaction stays, its amounts become zero (qbXML 13.0 ops)."""
    rq = _rq("TxnVoid", request_id)
    _add(rq, "TxnVoidType", txn_type)
    _add(rq, "TxnID", txn_id)
    return rq


def txn_query(op: str, *, txn_ids: list[str] | None = None, customer_list_id: str | None = None,
              from_modified: str | None = None, include_lines: bool = False,
              request_id: str | None = None) -> ET.Element:
    """InvoiceQuery / ReceivePaymentQuery by TxnID, or by modified date (+ customer)."""
    rq = _rq(op, request_id)
    for txn_id in txn_ids or []:
        _add(rq, "TxnID", txn_id)
    if not txn_ids:
        if from_modified:
            mdf = ET.SubElement(rq, "ModifiedDateRangeFilter")
            _add(mdf, "FromModifiedDate", from_modified)
        if customer_list_id:
            _add(ET.SubElement(rq, "EntityFilter"), "ListID", customer_list_id)
    if include_lines:
        _add(rq, "IncludeLineItems", "true")
    return rq


def deleted_query(lists: bool, types: list[str], from_deleted: str | None = None,
                  request_id: str | None = None) -> ET.Element:
    """ListDeletedQuery {ListDelType+} or TxnDeletedQuery {TxnDelType+}, deleted since a date (DeletedDateRangeFilter
    FromDeletedDate): what a QuickBooks user deleted (qbd-facts.md "Deletes")."""
    rq = _rq("ListDeletedQuery" if lists else "TxnDeletedQuery", request_id)
    for kind in types:
        _add(rq, "ListDelType" if lists else "TxnDelType", kind)
    if from_deleted:
        _add(ET.SubElement(rq, "DeletedDateRangeFilter"), "FromDeletedDate", from_deleted)
    return rq


def receive_payment_add(p: dict, request_id: str | None = None) -> ET.Element:
    """`p`: customer_list_id, txn_date, ref_number?, total, memo?, deposit_account_list_id?, external_guid,
    invoice_txn_id, applied."""
    rq = _rq("ReceivePaymentAdd", request_id)
    add = ET.SubElement(rq, "ReceivePaymentAdd")
    _ref(add, "CustomerRef", p["customer_list_id"])
    _add(add, "TxnDate", p.get("txn_date"))
    _add(add, "RefNumber", _cut(p.get("ref_number"), PAYMENT_REF_MAX))
    _add(add, "TotalAmount", amount(Decimal(p["total"])))
    _add(add, "Memo", _cut(p.get("memo"), MEMO_MAX))
    _ref(add, "DepositToAccountRef", p.get("deposit_account_list_id"))
    _add(add, "ExternalGUID", p.get("external_guid"))
    applied = ET.SubElement(add, "AppliedToTxnAdd")
    _add(applied, "TxnID", p["invoice_txn_id"])
    _add(applied, "PaymentAmount", amount(Decimal(p["applied"])))
    return rq


# -- responses ----------------------------------------------------------------------------------------------------

@dataclass
class Result:
    """One `...Rs`: QuickBooks' own status (code, severity, message) and the Ret aggregates as dicts."""

    operation: str
    request_id: str | None
    status_code: int
    severity: str
    message: str
    rets: list[dict] = field(default_factory=list)
    iterator_id: str | None = None
    remaining: int | None = None

    @property
    def ok(self) -> bool:
        """Data (possibly none) and no error: 0, 1 "no match" and 500 "some not found" all count as answers."""
        return self.severity != "Error"


def _to_dict(el: ET.Element) -> Any:
    if not len(el):
        return el.text or ""
    out: dict[str, Any] = {}
    for child in el:
        value = _to_dict(child)
        if child.tag.endswith("LineRet") or child.tag in ("AppliedToTxnRet", "DataExtRet", "LinkedTxn"):
            out.setdefault(child.tag, []).append(value)
        elif child.tag in out:
            out[child.tag] = [*out[child.tag], value] if isinstance(out[child.tag], list) else [out[child.tag], value]
        else:
            out[child.tag] = value
    return out


def _ret(el: ET.Element) -> Any:
    """A Ret aggregate as a dict that keeps its own tag under "_ret" (ItemQuery answers every item type)."""
    value = _to_dict(el)
    if isinstance(value, dict):
        value["_ret"] = el.tag
    return value


class QbxmlParseError(ValueError):
    pass


def parse_response(text: str) -> list[Result]:
    try:
        root = SafeET.fromstring(text.encode("utf-8"), forbid_dtd=True, forbid_entities=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure means QuickBooks' answer is unreadable
        raise QbxmlParseError(f"unreadable qbXML response ({type(exc).__name__})") from exc
    msgs = root.find("QBXMLMsgsRs")
    if root.tag != "QBXML" or msgs is None:
        raise QbxmlParseError("not a qbXML response message set")
    results = []
    for rs in msgs:
        try:
            code = int(rs.get("statusCode", ""))
        except ValueError as exc:
            raise QbxmlParseError(f"{rs.tag} has no numeric statusCode") from exc
        remaining = rs.get("iteratorRemainingCount")
        results.append(Result(operation=rs.tag.removesuffix("Rs"), request_id=rs.get("requestID"), status_code=code,
                              severity=rs.get("statusSeverity", ""), message=rs.get("statusMessage", ""),
                              rets=[_ret(r) for r in rs], iterator_id=rs.get("iteratorID"),
                              remaining=int(remaining) if remaining is not None else None))
    return results


def hcp_facts(text: str) -> dict:
    """What the first sendRequestXML's strHCPResponse tells (qbd-facts.md): product, country, supported versions,
    class tracking, and the DataExt FileIDs stamped in the company file (to check it is the file we were given)."""
    facts: dict[str, Any] = {"file_ids": [], "class_tracking": None, "product": None, "versions": []}
    if not text.strip():
        return facts
    for result in parse_response(text):
        for ret in result.rets:
            if result.operation == "HostQuery":
                facts["product"] = ret.get("ProductName")
                versions = ret.get("SupportedQBXMLVersion") or []
                facts["versions"] = versions if isinstance(versions, list) else [versions]
            elif result.operation == "CompanyQuery":
                facts["company_name"] = ret.get("CompanyName")
                facts["file_ids"] = [d.get("DataExtValue") for d in ret.get("DataExtRet", [])
                                     if d.get("DataExtName") == "FileID"]
            elif result.operation == "PreferencesQuery":
                value = (ret.get("AccountingPreferences") or {}).get("IsUsingClassTracking")
                facts["class_tracking"] = value == "true" if value else None
    return facts
