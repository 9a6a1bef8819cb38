"""A QuickBooks Desktop company file that answers qbXML 13.0 request message sets, as QuickBooks' request processor
(QBXMLRP2 ProcessRequest) does for the Web Connector.

Sources (docs/emulator-qbdesktop.md lists each behaviour): **F** = /work/shared/qbd-facts.md (copied facts with
sources), **S** = Intuit's qbXML 13.0 schema (emulators/qbdesktop/schema.py), **C** = captures in
tests/fixtures/qbd/qbxml/captured/. Records are kept as the `...Ret` aggregates QuickBooks would return, built from
the `...Add` aggregate and put in schema order, so a field the emulator has no rule for is still stored and echoed."""

from __future__ import annotations

import copy
import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from emulators.qbdesktop import schema

CAPTURED = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "qbd" / "qbxml" / "captured"
# QuickBooks Pro 2014 answers qbXML 1.0 .. 13.0 (C: qbwc-gem-strHCPResponse-host-company-preferences.xml).
SUPPORTED_VERSIONS = ("1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0", "8.0", "9.0", "10.0",
                      "11.0", "12.0", "13.0")
OK = (0, "Info", "Status OK")
NO_MATCH = (1, "Info", "A query request did not find a matching object in QuickBooks")  # F "Status codes"
CENT = Decimal("0.01")

# Which list a reference points into (F "Requests a field-service sync needs"). References the emulator has no list
# for (TermsRef, SalesRepRef, ...) are stored as sent: docs/emulator-qbdesktop.md "Not modelled".
REF_LIST = {"ClassRef": "Class", "CustomerRef": "Customer", "ItemRef": "Item", "ItemSalesTaxRef": "Item",
            "TaxVendorRef": "Vendor", "PrefVendorRef": "Vendor", "VendorRef": "Vendor", "AccountRef": "Account",
            "IncomeAccountRef": "Account", "COGSAccountRef": "Account", "AssetAccountRef": "Account",
            "ExpenseAccountRef": "Account", "ARAccountRef": "Account", "DepositToAccountRef": "Account",
            "SalesTaxCodeRef": "SalesTaxCode", "CustomerSalesTaxCodeRef": "SalesTaxCode"}
LIST_LABEL = {"Class": "Class", "Customer": "Customer", "Item": "Item", "Vendor": "Vendor", "Account": "Account",
              "SalesTaxCode": "Sales Tax Code"}
# Names share one namespace per group: customers with vendors (the "entity" list), every item type together (F
# "Identity, names, concurrency").
NAME_GROUP = {"Customer": "entity", "Vendor": "entity", "Item": "item", "Class": "class", "Account": "account",
              "SalesTaxCode": "salestaxcode"}
LIST_ADDS = {"CustomerAdd": ("Customer", "CustomerRet"), "VendorAdd": ("Vendor", "VendorRet"),
             "ClassAdd": ("Class", "ClassRet"), "AccountAdd": ("Account", "AccountRet"),
             "ItemServiceAdd": ("Item", "ItemServiceRet"), "ItemNonInventoryAdd": ("Item", "ItemNonInventoryRet"),
             "ItemInventoryAdd": ("Item", "ItemInventoryRet"), "ItemSalesTaxAdd": ("Item", "ItemSalesTaxRet")}
LIST_MODS = {"CustomerMod": "Customer", "VendorMod": "Vendor", "ClassMod": "Class", "ItemServiceMod": "Item",
             "ItemNonInventoryMod": "Item", "ItemInventoryMod": "Item"}
# A Mod of an item type reaches only items of that type (an ItemServiceMod cannot change an inventory part).
MOD_RET = {"ItemServiceMod": "ItemServiceRet", "ItemNonInventoryMod": "ItemNonInventoryRet",
           "ItemInventoryMod": "ItemInventoryRet"}
# Aggregates whose Mod form carries a `Mod` suffix and is stored under the Add form's name (S: ItemServiceMod).
MOD_AGGREGATES = {"SalesOrPurchaseMod", "SalesAndPurchaseMod"}
LIST_QUERIES = {"CustomerQuery": ("Customer", None), "VendorQuery": ("Vendor", None), "ClassQuery": ("Class", None),
                "AccountQuery": ("Account", None), "ItemQuery": ("Item", None),
                "ItemServiceQuery": ("Item", "ItemServiceRet"),
                "ItemNonInventoryQuery": ("Item", "ItemNonInventoryRet"),
                "ItemInventoryQuery": ("Item", "ItemInventoryRet"), "ItemSalesTaxQuery": ("Item", "ItemSalesTaxRet"),
                "SalesTaxCodeQuery": ("SalesTaxCode", None)}
TXN_QUERIES = {"InvoiceQuery": "Invoice", "ReceivePaymentQuery": "ReceivePayment"}
# ListDelType -> (the list, the Ret the record must be), and TxnDelType -> transactions (S: ListDelRq / TxnDelRq).
LIST_DEL_TYPES = {"Customer": ("Customer", None), "Vendor": ("Vendor", None), "Class": ("Class", None),
                  "ItemService": ("Item", "ItemServiceRet"), "ItemNonInventory": ("Item", "ItemNonInventoryRet"),
                  "ItemInventory": ("Item", "ItemInventoryRet"), "ItemSalesTax": ("Item", "ItemSalesTaxRet")}
TXN_DEL_TYPES = {"Invoice", "ReceivePayment"}


class QbxmlError(Exception):
    """A whole message set refused before any request ran: ProcessRequest fails with this HRESULT (F "HRESULTs")."""

    def __init__(self, hresult: str, message: str):
        super().__init__(message)
        self.hresult, self.message = hresult, message


def parse_error(detail: str) -> QbxmlError:
    return QbxmlError("0x80040400", f"QuickBooks found an error when parsing the provided XML text stream. ({detail})")


class StatusError(Exception):
    """One request's failure, answered in its own ...Rs element; with stopOnError the rest of the set is skipped."""

    def __init__(self, code: int, message: str, severity: str = "Error"):
        super().__init__(message)
        self.code, self.message, self.severity = code, message, severity


def not_found(ident: str) -> StatusError:  # F: 3120, wording from the qbwc gem capture (C: ..._error_3120.xml)
    return StatusError(3120, f'Object "{ident}" specified in the request cannot be found.  QuickBooks error message: '
                             "Invalid argument.  The specified record does not exist in the list.")


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _dec(text: str | None, default: str = "0") -> Decimal:
    try:
        return Decimal(text if text not in (None, "") else default)
    except InvalidOperation as exc:
        raise StatusError(3000, f'The string "{text}" is not a valid amount.') from exc


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _merge_mod(target: etree._Element, changes: Iterable[etree._Element]) -> None:
    """A Mod's fields over the record, as Intuit's "Modify, delete and void requests" page says: a field sent with a
    value changes, a field sent empty is cleared ("send null/empty qbXML elements for the properties to be
    cleared"), a field left out keeps its value. Aggregates (BillAddress, SalesOrPurchaseMod) apply the same rule
    to their own fields; references (`...Ref`) are replaced whole. The Mod-only flags `Apply...ToExistingTxns`
    change no stored field (what they do to old transactions is not modelled)."""
    for change in changes:
        tag = change.tag.removesuffix("Mod") if change.tag in MOD_AGGREGATES else change.tag
        if tag.startswith("Apply") and tag.endswith("ToExistingTxns"):
            continue
        old = target.find(tag)
        if len(change) and not tag.endswith("Ref"):
            if old is None:
                old = _sub(target, tag)
            _merge_mod(old, list(change))
            if not len(old):
                target.remove(old)
            continue
        if old is not None:
            target.remove(old)
        if len(change) or (change.text or "").strip():
            change.tag = tag
            target.append(change)


def full_name_of(ret: etree._Element) -> str:
    """FullName where the list has one (customers, items, classes, accounts); vendors and tax codes have only Name."""
    return ret.findtext("FullName") or ret.findtext("Name") or ""


def _set(parent: etree._Element, tag: str, text: str) -> None:
    el = parent.find(tag)
    if el is None:
        el = _sub(parent, tag)
    el.text = text


class Clock:
    """Company-local time: QuickBooks writes TimeModified in local time with its offset (F "Dates")."""

    def __init__(self, now: Callable[[], float] | None = None, utc_offset_hours: int = -5):
        import time

        self._now = now or time.time
        self.tz = dt.timezone(dt.timedelta(hours=utc_offset_hours))

    def epoch(self) -> int:
        return int(self._now())

    def local(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._now(), self.tz).replace(microsecond=0)

    def stamp(self) -> str:
        return self.local().isoformat()

    def parse(self, text: str) -> dt.datetime:
        """A DATETIMETYPE or DATETYPE filter value; one without an offset is company-local time."""
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError as exc:
            raise StatusError(3020, f'The date "{text}" is not a valid date.') from exc  # F 3020 invalid date
        return value if value.tzinfo else value.replace(tzinfo=self.tz)


class Company:
    """One company file. `process(qbxml)` is QuickBooks' ProcessRequest; `snapshot`/`restore` persist it."""

    def __init__(self, clock: Clock | None = None, name: str = "Desktop Demo Company"):
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.version = 0
        self.name = name
        self.lists: dict[str, dict[str, etree._Element]] = {k: {} for k in NAME_GROUP}
        self.txns: dict[str, dict[str, etree._Element]] = {"Invoice": {}, "ReceivePayment": {}}
        self.class_tracking = True
        # What was deleted, for ListDeletedQuery / TxnDeletedQuery: {"list": bool, "type", "id", "created",
        # "deleted", "name"} (the name is the FullName of a list record, the RefNumber of a transaction).
        self.deleted: list[dict] = []
        self.data_ext: dict[tuple[str, str], str] = {}  # (OwnerID, DataExtName) -> value, e.g. the QWC's FileID
        self._list_seq = 0x80000000
        self._txn_seq = 0
        self._txn_number = 0
        self._edit_seq = 0
        self._iterators: dict[str, tuple[str, list[etree._Element], int]] = {}
        self._seed()

    # -- identity -------------------------------------------------------------------------------------------------
    def _list_id(self) -> str:  # ListID `<hex>-<unix time>` (F "For the emulator"; C: 80000001-1422671082)
        self._list_seq += 1
        return f"{self._list_seq:X}-{self.clock.epoch()}"

    def _txn_id(self) -> str:
        self._txn_seq += 1
        return f"{self._txn_seq:X}-{self.clock.epoch()}"

    def _edit_sequence(self) -> str:
        """A unix-time string that changes on every write, even two within one second (F "For the emulator")."""
        self._edit_seq = max(self._edit_seq + 1, self.clock.epoch())
        return str(self._edit_seq)

    def _stamp_new(self, ret: etree._Element, id_tag: str, ident: str) -> None:
        now = self.clock.stamp()
        for tag, text in ((id_tag, ident), ("TimeCreated", now), ("TimeModified", now),
                          ("EditSequence", self._edit_sequence())):
            el = etree.Element(tag)
            el.text = text
            ret.insert(0, el)

    def _touch(self, ret: etree._Element) -> None:
        _set(ret, "TimeModified", self.clock.stamp())
        _set(ret, "EditSequence", self._edit_sequence())

    # -- seed: what a new US company file made by the EasyStep interview has -----------------------------------------
    def _seed(self) -> None:
        for name, kind in (("Accounts Receivable", "AccountsReceivable"), ("Undeposited Funds", "OtherCurrentAsset"),
                           ("Checking", "Bank"), ("Inventory Asset", "OtherCurrentAsset"),
                           ("Sales Tax Payable", "OtherCurrentLiability"), ("Services", "Income"),
                           ("Sales", "Income"), ("Construction Income", "Income"),
                           ("Cost of Goods Sold", "CostOfGoodsSold"), ("Job Expenses", "Expense")):
            self._insert_list("Account", "AccountRet", self._element("AccountAdd", [("Name", name),
                                                                                     ("AccountType", kind)]))
        for name, taxable in (("Tax", "true"), ("Non", "false")):  # the two codes every US file has
            self._insert_list("SalesTaxCode", "SalesTaxCodeRet",
                              self._element("SalesTaxCodeAdd", [("Name", name), ("IsTaxable", taxable)]))

    @staticmethod
    def _element(tag: str, children: Iterable[tuple[str, str]]) -> etree._Element:
        el = etree.Element(tag)
        for child, text in children:
            _sub(el, child, text)
        return el

    # -- references -----------------------------------------------------------------------------------------------
    def _by_name(self, kind: str, full_name: str) -> etree._Element | None:
        key = full_name.casefold()
        return next((r for r in self.lists[kind].values() if full_name_of(r).casefold() == key), None)

    def _lookup(self, kind: str, ref: etree._Element) -> etree._Element | None:
        list_id, full_name = ref.findtext("ListID"), ref.findtext("FullName")
        if list_id:
            return self.lists[kind].get(list_id)
        return self._by_name(kind, full_name or "")

    def _resolve_refs(self, node: etree._Element, context: str, own_kind: str | None = None) -> None:
        """Fill ListID and FullName in every reference QuickBooks keeps (3140 when one points nowhere)."""
        for child in list(node):
            kind = REF_LIST.get(child.tag) or (own_kind if child.tag == "ParentRef" else None)
            if kind is None:
                if len(child):
                    self._resolve_refs(child, "Invoice line" if child.tag.startswith("InvoiceLine") else context,
                                       own_kind)
                continue
            target = self._lookup(kind, child)
            if target is None:
                shown = child.findtext("FullName") or child.findtext("ListID")
                raise StatusError(3140, f'There is an invalid reference to QuickBooks {LIST_LABEL[kind]} "{shown}" '
                                        f"in the {context}.")  # F 3140
            child[:] = []
            _sub(child, "ListID", target.findtext("ListID"))
            _sub(child, "FullName", full_name_of(target))

    # -- lists ----------------------------------------------------------------------------------------------------
    def _name_taken(self, kind: str, full_name: str, except_id: str | None = None) -> bool:
        group = NAME_GROUP[kind]
        key = full_name.casefold()
        return any(full_name_of(r).casefold() == key and r.findtext("ListID") != except_id
                   for k, g in NAME_GROUP.items() if g == group for r in self.lists[k].values())

    def _full_name(self, kind: str, ret: etree._Element) -> tuple[str, int]:
        parent = ret.find("ParentRef")
        name = ret.findtext("Name") or ""
        if parent is None:
            return name, 0
        target = self.lists[kind][parent.findtext("ListID")]
        return f"{full_name_of(target)}:{name}", int(target.findtext("Sublevel") or 0) + 1

    def _insert_list(self, kind: str, ret_tag: str, add: etree._Element) -> etree._Element:
        ret = copy.deepcopy(add)
        ret.tag = ret_tag
        self._resolve_refs(ret, kind if kind != "Item" else "Item", kind)
        full_name, sublevel = self._full_name(kind, ret)
        if self._name_taken(kind, full_name):  # F 3100 (consolibyte Errors.php wording)
            raise StatusError(3100, f'The name "{full_name}" of the list element is already in use.')
        list_id = self._list_id()
        self._stamp_new(ret, "ListID", list_id)
        _set(ret, "FullName", full_name)
        if ret.find("IsActive") is None:
            _sub(ret, "IsActive", "true")
        if "Sublevel" in schema.child_order(ret_tag):
            _set(ret, "Sublevel", str(sublevel))
        if kind == "Customer":
            for tag in ("Balance", "TotalBalance"):
                _set(ret, tag, "0.00")
            if ret.find("ParentRef") is not None and ret.find("JobStatus") is None:
                _sub(ret, "JobStatus", "None")
        self._keep_schema_fields(ret)
        self.lists[kind][list_id] = ret
        return ret

    @staticmethod
    def _keep_schema_fields(ret: etree._Element) -> None:
        """Add-only inputs (OpenBalance, QuantityOnHand, ...) are not part of the Ret: drop them, then order."""
        allowed = set(schema.child_order(ret.tag))
        for child in list(ret):
            if child.tag not in allowed:
                ret.remove(child)
        schema.sort_children(ret)

    def _mod_list(self, kind: str, mod: etree._Element) -> etree._Element:
        list_id = mod.findtext("ListID") or ""
        ret = self.lists[kind].get(list_id)
        if ret is None or ret.tag != MOD_RET.get(mod.tag, ret.tag):
            raise not_found(list_id)
        sent = mod.findtext("EditSequence")
        if sent != ret.findtext("EditSequence"):  # F 3200 stale EditSequence
            raise StatusError(3200, f'The provided edit sequence "{sent}" is out-of-date. ')
        changes = copy.deepcopy(mod)
        self._resolve_refs(changes, kind, kind)
        updated = copy.deepcopy(ret)
        _merge_mod(updated, [c for c in changes if c.tag not in ("ListID", "EditSequence")])
        full_name, sublevel = self._full_name(kind, updated)
        if self._name_taken(kind, full_name, except_id=list_id):
            raise StatusError(3100, f'The name "{full_name}" of the list element is already in use.')
        old_full = ret.findtext("FullName") or ""
        _set(updated, "FullName", full_name)
        if "Sublevel" in schema.child_order(updated.tag):
            _set(updated, "Sublevel", str(sublevel))
        self._touch(updated)
        self._keep_schema_fields(updated)
        self.lists[kind][list_id] = updated
        if full_name != old_full:
            self._rename_children(kind, list_id)
        return updated

    def _rename_children(self, kind: str, parent_id: str) -> None:
        for child in self.lists[kind].values():
            if child.findtext("ParentRef/ListID") == parent_id:
                full, _ = self._full_name(kind, child)
                _set(child, "FullName", full)
                child.find("ParentRef/FullName").text = self.lists[kind][parent_id].findtext("FullName")
                self._rename_children(kind, child.findtext("ListID"))

    def _query_lists(self, kind: str, ret_tag: str | None, rq: etree._Element) -> list[etree._Element]:
        rows = [r for r in self.lists[kind].values() if ret_tag is None or r.tag == ret_tag]
        ids, names = [e.text or "" for e in rq.findall("ListID")], [e.text or "" for e in rq.findall("FullName")]
        if ids or names:
            found = [self.lists[kind][i] for i in ids if i in self.lists[kind]]
            found += [r for n in names if (r := self._by_name(kind, n)) is not None]
            missing = [i for i in ids if i not in self.lists[kind]] + [n for n in names if self._by_name(kind, n)
                                                                      is None]
            if missing:  # F: 500 Warn, data returned for the rest
                raise _Partial(found, missing[0])
            return found
        active = rq.findtext("ActiveStatus") or "ActiveOnly"
        if active != "All":
            want = "true" if active == "ActiveOnly" else "false"
            rows = [r for r in rows if r.findtext("IsActive") == want]
        since, until = rq.findtext("FromModifiedDate"), rq.findtext("ToModifiedDate")
        if since:
            rows = [r for r in rows if self.clock.parse(r.findtext("TimeModified")) >= self.clock.parse(since)]
        if until:
            rows = [r for r in rows if self.clock.parse(r.findtext("TimeModified")) <= self.clock.parse(until)]
        name_filter = rq.find("NameFilter")
        if name_filter is not None:
            how, text = name_filter.findtext("MatchCriterion"), (name_filter.findtext("Name") or "").casefold()
            test = {"StartsWith": str.startswith, "Contains": str.__contains__, "EndsWith": str.endswith}[how]
            rows = [r for r in rows if test(full_name_of(r).casefold(), text)]
        account_types = {e.text for e in rq.findall("AccountType")}
        if account_types:
            rows = [r for r in rows if r.findtext("AccountType") in account_types]
        return sorted(rows, key=lambda r: full_name_of(r).casefold())

    # -- transactions ---------------------------------------------------------------------------------------------
    def _next_ref_number(self, kind: str) -> str:
        """QuickBooks numbers a new invoice one past the last number used (F "Requests...": "Without RefNumber
        QuickBooks assigns the next number if the company auto-numbers")."""
        numbers = [int(n) for r in self.txns[kind].values() if (n := r.findtext("RefNumber") or "").isdigit()]
        return str(max(numbers, default=1000) + 1)

    def _line_amounts(self, line: etree._Element) -> Decimal:
        quantity, rate, amount = line.findtext("Quantity"), line.findtext("Rate"), line.findtext("Amount")
        if amount is None:
            value = _dec(quantity, "1") * _dec(rate)
            _set(line, "Amount", money(value))
        elif rate is None and quantity not in (None, "") and _dec(quantity) != 0:
            _set(line, "Rate", str((_dec(amount) / _dec(quantity)).quantize(Decimal("0.00001"))))
        return _dec(line.findtext("Amount"))

    def _taxable(self, line: etree._Element) -> bool:
        code = line.findtext("SalesTaxCodeRef/ListID")
        if code is None:
            item = self.lists["Item"].get(line.findtext("ItemRef/ListID") or "")
            code = item.findtext("SalesTaxCodeRef/ListID") if item is not None else None
            if code:
                ref = _sub(line, "SalesTaxCodeRef")
                _sub(ref, "ListID", code)
                _sub(ref, "FullName", full_name_of(self.lists["SalesTaxCode"][code]))
        tax_code = self.lists["SalesTaxCode"].get(code or "")
        return tax_code is not None and tax_code.findtext("IsTaxable") == "true"

    def _invoice_totals(self, ret: etree._Element) -> None:
        lines = ret.findall("InvoiceLineRet")
        subtotal = sum((self._line_amounts(line) for line in lines), Decimal("0"))
        taxable = sum((_dec(line.findtext("Amount")) for line in lines if self._taxable(line)), Decimal("0"))
        if ret.find("ItemSalesTaxRef") is None:
            customer = self.lists["Customer"][ret.findtext("CustomerRef/ListID")]
            default = customer.find("ItemSalesTaxRef")
            if default is not None:
                ret.append(copy.deepcopy(default))
        rate = Decimal("0")
        tax_item = self.lists["Item"].get(ret.findtext("ItemSalesTaxRef/ListID") or "")
        if tax_item is not None:
            rate = _dec(tax_item.findtext("TaxRate"))
        tax = (taxable * rate / 100).quantize(CENT, ROUND_HALF_UP)
        applied = self._applied_to(ret.findtext("TxnID") or "")
        balance = subtotal + tax - applied
        for tag, text in (("Subtotal", money(subtotal)), ("SalesTaxPercentage", money(rate)),
                          ("SalesTaxTotal", money(tax)), ("AppliedAmount", money(-applied)),
                          ("BalanceRemaining", money(balance)), ("IsPaid", "true" if balance <= 0 else "false")):
            _set(ret, tag, text)

    def _applied_to(self, txn_id: str) -> Decimal:
        return sum((_dec(a.findtext("Amount")) for p in self.txns["ReceivePayment"].values()
                    for a in p.findall("AppliedToTxnRet") if a.findtext("TxnID") == txn_id), Decimal("0"))

    def _lines_from(self, container: etree._Element, ret: etree._Element, line_tag: str) -> None:
        for line in container.findall(line_tag):
            new = copy.deepcopy(line)
            new.tag = "InvoiceLineRet"
            if new.findtext("TxnLineID") in (None, "-1"):
                _set(new, "TxnLineID", self._txn_id())
            ret.append(new)

    def _invoice_add(self, add: etree._Element) -> etree._Element:
        ret = copy.deepcopy(add)
        ret.tag = "InvoiceRet"
        for line in ret.findall("InvoiceLineAdd"):
            ret.remove(line)
        self._lines_from(add, ret, "InvoiceLineAdd")
        for line in ret.findall("InvoiceLineRet"):
            if line.find("ItemRef") is None:
                raise StatusError(3140, "There is an invalid reference to QuickBooks Item \"\" in the Invoice line.")
        self._resolve_refs(ret, "Invoice")
        if ret.find("ARAccountRef") is None:
            ref = _sub(ret, "ARAccountRef")
            account = self._by_name("Account", "Accounts Receivable")
            _sub(ref, "ListID", account.findtext("ListID"))
            _sub(ref, "FullName", "Accounts Receivable")
        if ret.find("TxnDate") is None:
            _sub(ret, "TxnDate", self.clock.local().date().isoformat())
        if not ret.findtext("RefNumber"):
            _set(ret, "RefNumber", self._next_ref_number("Invoice"))
        txn_id = self._txn_id()
        self._txn_number += 1
        self._stamp_new(ret, "TxnID", txn_id)
        _set(ret, "TxnNumber", str(self._txn_number))
        for tag, default in (("IsPending", "false"), ("IsFinanceCharge", "false")):
            if ret.find(tag) is None:
                _sub(ret, tag, default)
        self._invoice_totals(ret)
        self._keep_schema_fields(ret)
        self.txns["Invoice"][txn_id] = ret
        return ret

    def _invoice_mod(self, mod: etree._Element) -> etree._Element:
        txn_id = mod.findtext("TxnID") or ""
        ret = self.txns["Invoice"].get(txn_id)
        if ret is None:
            raise not_found(txn_id)
        sent = mod.findtext("EditSequence")
        if sent != ret.findtext("EditSequence"):
            raise StatusError(3200, f'The provided edit sequence "{sent}" is out-of-date. ')
        changes = copy.deepcopy(mod)
        self._resolve_refs(changes, "Invoice")
        updated = copy.deepcopy(ret)
        line_mods = changes.findall("InvoiceLineMod")
        for child in changes:
            if child.tag in ("TxnID", "EditSequence", "InvoiceLineMod"):
                continue
            old = updated.find(child.tag)
            if old is not None:
                updated.remove(old)
            updated.append(child)
        if line_mods:  # lines left out of a Mod that sends lines are deleted (F "InvoiceMod")
            existing = {line.findtext("TxnLineID"): line for line in updated.findall("InvoiceLineRet")}
            for line in updated.findall("InvoiceLineRet"):
                updated.remove(line)
            for line in line_mods:
                line_id = line.findtext("TxnLineID")
                if line_id != "-1" and line_id not in existing:
                    raise not_found(line_id or "")
                merged = copy.deepcopy(existing[line_id]) if line_id != "-1" else etree.Element("InvoiceLineRet")
                for field in line:
                    old = merged.find(field.tag)
                    if old is not None:
                        merged.remove(old)
                    merged.append(copy.deepcopy(field))
                if line.find("Amount") is None and (line.find("Rate") is not None or line.find("Quantity") is not None):
                    old = merged.find("Amount")
                    if old is not None:
                        merged.remove(old)
                if line_id == "-1":
                    _set(merged, "TxnLineID", self._txn_id())
                merged.tag = "InvoiceLineRet"
                updated.append(merged)
        self._touch(updated)
        self._invoice_totals(updated)
        self._keep_schema_fields(updated)
        self.txns["Invoice"][txn_id] = updated
        return updated

    def _txn_void(self, rq: etree._Element) -> list[etree._Element]:
        """TxnVoidRq for an invoice: the record stays with its number and customer, every amount becomes zero and
        the memo says VOID (sources in docs/emulator-qbdesktop.md). Other transaction types are not modelled, nor
        QuickBooks' refusal to void an invoice whose linked transactions are in use."""
        txn_type, txn_id = rq.findtext("TxnVoidType") or "", rq.findtext("TxnID") or ""
        if txn_type != "Invoice":
            raise StatusError(3250, f"This feature is not enabled or not available in this version of QuickBooks. "
                                    f"(the emulator voids invoices only, not {txn_type})")
        ret = self.txns["Invoice"].get(txn_id)
        if ret is None:
            raise not_found(txn_id)
        for line in ret.findall("InvoiceLineRet"):
            for tag in ("Quantity", "Amount"):
                if line.find(tag) is not None:
                    _set(line, tag, "0" if tag == "Quantity" else "0.00")
        memo = ret.findtext("Memo") or ""
        if not memo.startswith("VOID:"):
            _set(ret, "Memo", f"VOID: {memo}".strip())
        self._touch(ret)
        self._invoice_totals(ret)
        self._keep_schema_fields(ret)
        out = []
        for tag, text in (("TxnVoidType", "Invoice"), ("TxnID", txn_id), ("TimeCreated", ret.findtext("TimeCreated")),
                          ("TimeModified", ret.findtext("TimeModified")), ("RefNumber", ret.findtext("RefNumber"))):
            if text:
                el = etree.Element(tag)
                el.text = text
                out.append(el)
        return out

    def _list_del(self, rq: etree._Element) -> list[etree._Element]:
        """ListDelRq {ListDelType, ListID}: the record leaves its list; ListDelRs carries ListDelType, ListID,
        TimeDeleted and FullName (S). Not modelled: QuickBooks' refusal to delete a record in use (a customer with
        jobs or transactions, an item on an invoice)."""
        del_type, list_id = rq.findtext("ListDelType") or "", rq.findtext("ListID") or ""
        if del_type not in LIST_DEL_TYPES:
            raise StatusError(3250, f"This feature is not enabled or not available in this version of QuickBooks. "
                                    f"(the emulator does not delete {del_type} records)")
        kind, ret_tag = LIST_DEL_TYPES[del_type]
        ret = self.lists[kind].get(list_id)
        if ret is None or (ret_tag and ret.tag != ret_tag):
            raise not_found(list_id)
        del self.lists[kind][list_id]
        return self._record_deletion(True, del_type, list_id, ret.findtext("TimeCreated"), full_name_of(ret))

    def _txn_del(self, rq: etree._Element) -> list[etree._Element]:
        """TxnDelRq {TxnDelType, TxnID} for invoices and payments. A deleted payment no longer pays its invoices
        (their balances come back); a deleted invoice's payments keep their money as unused payment."""
        del_type, txn_id = rq.findtext("TxnDelType") or "", rq.findtext("TxnID") or ""
        if del_type not in TXN_DEL_TYPES:
            raise StatusError(3250, f"This feature is not enabled or not available in this version of QuickBooks. "
                                    f"(the emulator does not delete {del_type} transactions)")
        ret = self.txns[del_type].pop(txn_id, None)
        if ret is None:
            raise not_found(txn_id)
        if del_type == "ReceivePayment":
            for applied in ret.findall("AppliedToTxnRet"):
                invoice = self.txns["Invoice"].get(applied.findtext("TxnID") or "")
                if invoice is not None:
                    self._touch(invoice)
                    self._invoice_totals(invoice)
        else:
            for payment in self.txns["ReceivePayment"].values():
                rows = [a for a in payment.findall("AppliedToTxnRet") if a.findtext("TxnID") == txn_id]
                for row in rows:
                    payment.remove(row)
                if rows:
                    applied = sum((_dec(a.findtext("Amount")) for a in payment.findall("AppliedToTxnRet")),
                                  Decimal("0"))
                    _set(payment, "UnusedPayment", money(_dec(payment.findtext("TotalAmount")) - applied))
                    self._touch(payment)
                    schema.sort_children(payment)
        return self._record_deletion(False, del_type, txn_id, ret.findtext("TimeCreated"), ret.findtext("RefNumber"))

    def _record_deletion(self, is_list: bool, del_type: str, ident: str, created: str | None,
                         name: str | None) -> list[etree._Element]:
        row = {"list": is_list, "type": del_type, "id": ident, "created": created, "deleted": self.clock.stamp(),
               "name": name}
        self.deleted.append(row)
        tags = ("ListDelType", "ListID", "TimeDeleted", "FullName") if is_list else \
            ("TxnDelType", "TxnID", "TimeDeleted", "RefNumber")
        out = []
        for tag, text in zip(tags, (del_type, ident, row["deleted"], name), strict=True):
            if text:
                el = etree.Element(tag)
                el.text = text
                out.append(el)
        return out

    def _deleted_rows(self, lists: bool, rq: etree._Element) -> list[etree._Element]:
        """ListDeletedQuery / TxnDeletedQuery: the deletions of the types asked for (one or more), within
        DeletedDateRangeFilter (inclusive), as ListDeletedRet / TxnDeletedRet (S: ListDeletedQueryRs template).
        How long QuickBooks keeps deletions is not documented (F); here they are kept for good."""
        types = {e.text for e in rq.findall("ListDelType" if lists else "TxnDelType")}
        since = rq.findtext("DeletedDateRangeFilter/FromDeletedDate")
        until = rq.findtext("DeletedDateRangeFilter/ToDeletedDate")
        out = []
        for row in self.deleted:
            if row["list"] != lists or row["type"] not in types:
                continue
            when = self.clock.parse(row["deleted"])
            if (since and when < self.clock.parse(since)) or (until and when > self.clock.parse(until)):
                continue
            ret = etree.Element("ListDeletedRet" if lists else "TxnDeletedRet")
            for tag, text in ((("ListDelType" if lists else "TxnDelType"), row["type"]),
                              (("ListID" if lists else "TxnID"), row["id"]), ("TimeCreated", row["created"]),
                              ("TimeDeleted", row["deleted"]), (("FullName" if lists else "RefNumber"), row["name"])):
                if text:
                    _sub(ret, tag, text)
            out.append(ret)
        return out

    def _payment_add(self, add: etree._Element) -> etree._Element:
        ret = copy.deepcopy(add)
        ret.tag = "ReceivePaymentRet"
        self._resolve_refs(ret, "ReceivePayment")
        customer_id = ret.findtext("CustomerRef/ListID")
        total = _dec(ret.findtext("TotalAmount"))
        applications: list[tuple[etree._Element, Decimal]] = []
        for applied in ret.findall("AppliedToTxnAdd"):
            invoice = self.txns["Invoice"].get(applied.findtext("TxnID") or "")
            if invoice is None or invoice.findtext("CustomerRef/ListID") != customer_id:
                raise not_found(applied.findtext("TxnID") or "")
            amount = _dec(applied.findtext("PaymentAmount"))
            if amount > _dec(invoice.findtext("BalanceRemaining")):  # F 3210 overpayment
                raise StatusError(3210, "You cannot pay more than the amount due.")
            applications.append((invoice, amount))
            ret.remove(applied)
        if ret.findtext("IsAutoApply") == "true":
            left = total
            opened = sorted((i for i in self.txns["Invoice"].values()
                             if i.findtext("CustomerRef/ListID") == customer_id and i.findtext("IsPaid") == "false"),
                            key=lambda i: (i.findtext("TxnDate"), i.findtext("TxnNumber")))
            for invoice in opened:
                amount = min(left, _dec(invoice.findtext("BalanceRemaining")))
                if amount > 0:
                    applications.append((invoice, amount))
                    left -= amount
        applied_total = sum((a for _, a in applications), Decimal("0"))
        if applied_total > total:
            raise StatusError(3210, "The total of the amounts applied to transactions is greater than the total "
                                    "payment amount.")
        if ret.find("ARAccountRef") is None:
            self._default_ref(ret, "ARAccountRef", "Accounts Receivable")
        if ret.find("DepositToAccountRef") is None:  # omitted = Undeposited Funds (F "ReceivePaymentAdd")
            self._default_ref(ret, "DepositToAccountRef", "Undeposited Funds")
        if ret.find("TxnDate") is None:
            _sub(ret, "TxnDate", self.clock.local().date().isoformat())
        txn_id = self._txn_id()
        self._txn_number += 1
        self._stamp_new(ret, "TxnID", txn_id)
        _set(ret, "TxnNumber", str(self._txn_number))
        _set(ret, "TotalAmount", money(total))
        _set(ret, "UnusedPayment", money(total - applied_total))
        _set(ret, "UnusedCredits", "0.00")
        for invoice, amount in applications:
            row = _sub(ret, "AppliedToTxnRet")
            for tag, text in (("TxnID", invoice.findtext("TxnID")), ("TxnType", "Invoice"),
                              ("TxnDate", invoice.findtext("TxnDate")), ("RefNumber", invoice.findtext("RefNumber")),
                              ("BalanceRemaining", money(_dec(invoice.findtext("BalanceRemaining")) - amount)),
                              ("Amount", money(amount))):
                if text is not None:
                    _sub(row, tag, text)
        self._keep_schema_fields(ret)
        self.txns["ReceivePayment"][txn_id] = ret
        for invoice, _ in applications:
            self._touch(invoice)
            self._invoice_totals(invoice)
            schema.sort_children(invoice)
        return ret

    def _default_ref(self, ret: etree._Element, tag: str, account_name: str) -> None:
        account = self._by_name("Account", account_name)
        ref = _sub(ret, tag)
        _sub(ref, "ListID", account.findtext("ListID"))
        _sub(ref, "FullName", account_name)

    def _query_txns(self, kind: str, rq: etree._Element) -> list[etree._Element]:
        store = self.txns[kind]
        ids, refs = [e.text or "" for e in rq.findall("TxnID")], [e.text or "" for e in rq.findall("RefNumber")]
        if ids:
            missing = [i for i in ids if i not in store]
            found = [store[i] for i in ids if i in store]
            if missing:
                raise _Partial(found, missing[0])
            return found
        rows = list(store.values())
        if refs:
            wanted = {r.casefold() for r in refs}
            return [r for r in rows if (r.findtext("RefNumber") or "").casefold() in wanted]
        modified = rq.find("ModifiedDateRangeFilter")
        if modified is not None:
            since, until = modified.findtext("FromModifiedDate"), modified.findtext("ToModifiedDate")
            if since:
                rows = [r for r in rows if self.clock.parse(r.findtext("TimeModified")) >= self.clock.parse(since)]
            if until:
                rows = [r for r in rows if self.clock.parse(r.findtext("TimeModified")) <= self.clock.parse(until)]
        dates = rq.find("TxnDateRangeFilter")
        if dates is not None:
            since, until = dates.findtext("FromTxnDate"), dates.findtext("ToTxnDate")
            rows = [r for r in rows if (not since or r.findtext("TxnDate") >= since)
                    and (not until or r.findtext("TxnDate") <= until)]
        entity = rq.find("EntityFilter")
        if entity is not None:
            rows = [r for r in rows if self._entity_matches(entity, r.findtext("CustomerRef/ListID") or "")]
        paid = rq.findtext("PaidStatus") or "All"
        if paid != "All":
            want = "true" if paid == "PaidOnly" else "false"
            rows = [r for r in rows if r.findtext("IsPaid") == want]
        return sorted(rows, key=lambda r: (r.findtext("TxnDate") or "", int(r.findtext("TxnNumber") or 0)))

    def _entity_matches(self, entity: etree._Element, customer_id: str) -> bool:
        customer = self.lists["Customer"].get(customer_id)
        if customer is None:
            return False
        full = customer.findtext("FullName") or ""
        for el in entity:
            if el.tag == "ListID" and el.text == customer_id:
                return True
            if el.tag == "FullName" and (el.text or "").casefold() == full.casefold():
                return True
            if el.tag == "ListIDWithChildren":
                parent = self.lists["Customer"].get(el.text or "")
                if parent is not None and (full + ":").startswith(parent.findtext("FullName") + ":"):
                    return True
            prefix = (el.text or "").casefold() + ":"
            if el.tag == "FullNameWithChildren" and (full + ":").casefold().startswith(prefix):
                return True
        return False

    @staticmethod
    def _shape_txn(ret: etree._Element, rq: etree._Element) -> etree._Element:
        """Lines and linked transactions only when asked for (IncludeLineItems / IncludeLinkedTxns default false)."""
        out = copy.deepcopy(ret)
        if rq.findtext("IncludeLineItems") != "true":
            for line in out.findall("InvoiceLineRet"):
                out.remove(line)
        return out

    # -- request processing ---------------------------------------------------------------------------------------
    def process(self, text: str) -> str:
        """ProcessRequest: the qbXML response message set, or QbxmlError when QuickBooks refuses the whole set."""
        version = re.search(r"<\?qbxml\s+version\s*=\s*\"([^\"]+)\"\s*\?>", text)
        if version is None:
            raise parse_error("missing <?qbxml version?> instruction")
        if version.group(1) not in SUPPORTED_VERSIONS:  # F "Versions": 0x80040423 (L)
            raise QbxmlError("0x80040423", f"The version of QBXML that was requested is not supported or is unknown."
                                           f" ({version.group(1)})")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
        try:
            doc = etree.fromstring(text.encode("utf-8"), parser)
        except etree.XMLSyntaxError as exc:
            raise parse_error(str(exc)) from exc
        problem = schema.validate(doc)
        if problem:
            raise parse_error(problem)
        msgs = doc.find("QBXMLMsgsRq")
        out = etree.Element("QBXML")
        rs_set = _sub(out, "QBXMLMsgsRs")
        stop_on_error = msgs.get("onError") == "stopOnError"
        with self.lock:
            for rq in msgs:
                rs = self._one(rq)
                rs_set.append(rs)
                if stop_on_error and rs.get("statusSeverity") == "Error":
                    break
        body = etree.tostring(out, encoding="unicode")
        return f'<?xml version="1.0" ?>\n{body}\n'

    def _one(self, rq: etree._Element) -> etree._Element:
        op = rq.tag[:-2]
        rs = etree.Element(f"{op}Rs")
        if rq.get("requestID") is not None:
            rs.set("requestID", rq.get("requestID"))
        try:
            rets, status, extra = self._dispatch(op, rq)
        except StatusError as err:
            rets, status, extra = [], (err.code, err.severity, err.message), {}
        except _Partial as partial:
            rets = partial.found
            status = (500, "Warn", "The query request has not been fully completed. There was a required element "
                                   f'("{partial.missing}") that could not be found in QuickBooks.')
            extra = {"retCount": str(len(rets))}
        rs.set("statusCode", str(status[0]))
        rs.set("statusSeverity", status[1])
        rs.set("statusMessage", status[2])
        for key, value in extra.items():
            rs.set(key, value)
        include = [e.text for e in rq.findall("IncludeRetElement")]
        for ret in rets:
            ret = copy.deepcopy(ret)
            if include:
                for child in list(ret):
                    if child.tag not in include:
                        ret.remove(child)
            rs.append(ret)
        if status[1] != "Error" and any(kind in op for kind in ("Add", "Mod", "Void", "Del")) \
                and not op.endswith("Query"):
            self.version += 1
        return rs

    def _dispatch(self, op: str, rq: etree._Element) -> tuple[list[etree._Element], tuple, dict]:
        if op in LIST_ADDS:
            kind, ret_tag = LIST_ADDS[op]
            return [self._insert_list(kind, ret_tag, rq.find(op))], OK, {}
        if op in LIST_MODS:
            return [self._mod_list(LIST_MODS[op], rq.find(op))], OK, {}
        if op == "InvoiceAdd":
            return [self._invoice_add(rq.find(op))], OK, {}
        if op == "InvoiceMod":
            return [self._invoice_mod(rq.find(op))], OK, {}
        if op == "ReceivePaymentAdd":
            return [self._payment_add(rq.find(op))], OK, {}
        if op == "TxnVoid":
            return self._txn_void(rq), OK, {}
        if op == "ListDel":
            return self._list_del(rq), OK, {}
        if op == "TxnDel":
            return self._txn_del(rq), OK, {}
        if op in ("ListDeletedQuery", "TxnDeletedQuery"):
            rows = self._deleted_rows(op == "ListDeletedQuery", rq)
            return (rows, OK if rows else NO_MATCH, {"retCount": str(len(rows))})
        if op in LIST_QUERIES:
            kind, ret_tag = LIST_QUERIES[op]
            return self._paged(rq, lambda: self._query_lists(kind, ret_tag, rq))
        if op in TXN_QUERIES:
            return self._paged(rq, lambda: [self._shape_txn(r, rq) for r in self._query_txns(TXN_QUERIES[op], rq)])
        if op == "PreferencesQuery":
            return [self.preferences()], OK, {}
        if op == "CompanyQuery":
            return [self.company_ret([e.text for e in rq.findall("OwnerID")])], OK, {}
        if op == "HostQuery":
            return [self.host_ret()], OK, {}
        raise StatusError(1030, f"The request {op}Rq is not supported by this emulator.")  # F 1030 unsupported message

    def _paged(self, rq: etree._Element, run: Callable[[], list[etree._Element]]):
        """MaxReturned and iterators (Start / Continue / Stop) as F "Iterators and incremental sync" describes."""
        mode = rq.get("iterator")
        if mode == "Continue":
            state = self._iterators.get(rq.get("iteratorID") or "")
            if state is None:  # no source for QuickBooks' wording; the code is the general error
                raise StatusError(1000, f'The iterator "{rq.get("iteratorID")}" is not valid or has expired.')
            _, rows, size = state
        elif mode == "Stop":
            self._iterators.pop(rq.get("iteratorID") or "", None)
            return [], OK, {"retCount": "0"}
        else:
            rows = run()
            size = int(rq.findtext("MaxReturned") or 0) or len(rows)
        page, rest = rows[:size], rows[size:]
        extra = {"retCount": str(len(page))}
        if mode in ("Start", "Continue"):
            iterator_id = rq.get("iteratorID") if mode == "Continue" else "{" + str(uuid.uuid4()) + "}"
            self._iterators[iterator_id] = ("", rest, size)
            if not rest:
                self._iterators.pop(iterator_id, None)
            extra.update({"iteratorRemainingCount": str(len(rest)), "iteratorID": iterator_id})
        if not page:
            return [], NO_MATCH, extra
        return page, OK, extra

    def end_session(self) -> None:
        """EndSession: iterators live inside one QuickBooks session (F "Iterators")."""
        with self.lock:
            self._iterators.clear()

    # -- fixed answers (the strHCPResponse QBWC sends on the first sendRequestXML) ----------------------------------
    def host_ret(self) -> etree._Element:
        doc = etree.parse(str(CAPTURED / "qbwc-gem-strHCPResponse-host-company-preferences.xml"))
        return copy.deepcopy(doc.find(".//HostRet"))

    def preferences(self) -> etree._Element:
        doc = etree.parse(str(CAPTURED / "qbwc-gem-strHCPResponse-host-company-preferences.xml"))
        ret = copy.deepcopy(doc.find(".//PreferencesRet"))
        ret.find("AccountingPreferences/IsUsingClassTracking").text = "true" if self.class_tracking else "false"
        return ret

    def company_ret(self, owner_ids: list[str]) -> etree._Element:
        ret = etree.Element("CompanyRet")
        _sub(ret, "IsSampleCompany", "false")
        _sub(ret, "CompanyName", self.name)
        for (owner, name), value in self.data_ext.items():
            if owner.casefold() in {o.casefold() for o in owner_ids}:
                ext = _sub(ret, "DataExtRet")
                _sub(ext, "OwnerID", owner)
                _sub(ext, "DataExtName", name)
                _sub(ext, "DataExtType", "STR255TYPE")
                _sub(ext, "DataExtValue", value)
        return ret

    def hcp_response(self, owner_id: str) -> str:
        """HostQuery + CompanyQuery (with our OwnerID's DataExts) + PreferencesQuery, as QBWC sends them."""
        out = etree.Element("QBXML")
        msgs = _sub(out, "QBXMLMsgsRs")
        with self.lock:
            for i, (op, ret) in enumerate((("HostQuery", self.host_ret()),
                                           ("CompanyQuery", self.company_ret([owner_id])),
                                           ("PreferencesQuery", self.preferences()))):
                rs = _sub(msgs, f"{op}Rs")
                for key, value in (("requestID", str(i)), ("statusCode", "0"), ("statusSeverity", "Info"),
                                   ("statusMessage", "Status OK")):
                    rs.set(key, value)
                rs.append(ret)
        return '<?xml version="1.0" ?>' + etree.tostring(out, encoding="unicode")

    # -- persistence and inspection -------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self.lock:
            return {"name": self.name, "class_tracking": self.class_tracking, "deleted": list(self.deleted),
                    "data_ext": [[o, n, v] for (o, n), v in self.data_ext.items()],
                    "counters": [self._list_seq, self._txn_seq, self._txn_number, self._edit_seq],
                    "lists": {k: [etree.tostring(r, encoding="unicode") for r in v.values()]
                              for k, v in self.lists.items()},
                    "txns": {k: [etree.tostring(r, encoding="unicode") for r in v.values()]
                             for k, v in self.txns.items()}}

    def restore(self, doc: dict) -> None:
        with self.lock:
            self.name, self.class_tracking = doc["name"], doc["class_tracking"]
            self.deleted = list(doc.get("deleted") or [])
            self.data_ext = {(o, n): v for o, n, v in doc["data_ext"]}
            self._list_seq, self._txn_seq, self._txn_number, self._edit_seq = doc["counters"]
            self.lists = {k: {} for k in NAME_GROUP}
            for kind, rows in doc["lists"].items():
                for row in rows:
                    el = etree.fromstring(row)
                    self.lists[kind][el.findtext("ListID")] = el
            self.txns = {"Invoice": {}, "ReceivePayment": {}}
            for kind, rows in doc["txns"].items():
                for row in rows:
                    el = etree.fromstring(row)
                    self.txns[kind][el.findtext("TxnID")] = el
            self.version += 1


class _Partial(Exception):  # noqa: N818 - control flow for the 500 Warn answer, not an error
    def __init__(self, found: list[etree._Element], missing: str):
        super().__init__(missing)
        self.found, self.missing = found, missing
