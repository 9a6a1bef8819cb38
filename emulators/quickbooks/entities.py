"""QuickBooks' accounting rules for the entities the emulator models, applied to one company.

A `Ledger` is built per request with the state lock held. Writes validate, compute derived fields (FullyQualifiedName,
Level, line amounts, totals, balances, DocNumber), store a new version (SyncToken + 1) and record a change event for
CDC and webhooks. The behaviour and its sources are listed in docs/emulator-quickbooks.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from emulators.quickbooks import faults
from emulators.quickbooks.seed import CLASSIFICATION, UNDEPOSITED_FUNDS, USD
from emulators.quickbooks.state import NAME_LISTS, PARTIES, Company, name_group
from emulators.quickbooks.wire import company_date, dec, money, plain, qbo_time

SYSTEM = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
READ_ONLY: dict[str, set[str]] = {
    "Customer": {"FullyQualifiedName", "Level", "Balance", "BalanceWithJobs", "V4IDPseudonym", "IsProject"},
    "Vendor": {"Balance"},
    "Employee": set(),
    "PaymentMethod": set(),
    "Item": {"FullyQualifiedName", "Level"},
    "Account": {"FullyQualifiedName", "Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts"},
    "Class": {"FullyQualifiedName", "SubClass"},
    "Invoice": {"TotalAmt", "Balance", "LinkedTxn", "HomeBalance", "HomeTotalAmt"},
    "Payment": {"UnappliedAmt"},
}
CREATABLE = set(READ_ONLY)
NAME_CHARS_FORBIDDEN = (":", "\t", "\n")
PARTY_NAME_FIELDS = {"DisplayName": 500, "Title": 16, "GivenName": 100, "MiddleName": 100, "FamilyName": 100,
                     "Suffix": 16}
PARTY_OTHER_LIMITS = {"CompanyName": 100, "PrintOnCheckName": 110}
MAX_CUSTOMER_LEVEL = 4  # sub-customers nest at most four deep (qbo-facts.md "Entities")
ITEM_TYPES = ("Service", "NonInventory", "Inventory")
INVENTORY_REQUIRED = ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "InvStartDate", "QtyOnHand",
                      "TrackQtyOnHand")
DEPOSIT_TYPES = ("Bank", "Other Current Asset")
SALES_LINE = "SalesItemLineDetail"
LINE_TYPES = (SALES_LINE, "SubTotalLineDetail", "DescriptionOnly")
MAX_LINES = 750  # on taxable transactions (qbo-facts.md "Entities")


def _present(value: Any) -> bool:
    # python-quickbooks serializes unset strings as "" (e.g. Customer.Title): an empty value means "not given".
    return value is not None and value != ""


def _clean(body: dict) -> dict:
    return {k: v for k, v in body.items() if _present(v)}


def _ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict) and _present(ref.get("value")):
        return str(ref["value"])
    if isinstance(ref, str | int) and not isinstance(ref, bool) and _present(ref):
        return str(ref)
    return None


class Ledger:
    def __init__(self, company: Company, now: float):
        self.c, self.now = company, now
        self.events: list[tuple[str, str, str]] = []  # (entity, id, operation) for webhooks
        self._allow_dup = False

    # -- reads ----------------------------------------------------------------------------------------------------
    def read(self, entity: str, entity_id: str) -> dict:
        self._check_id(entity, entity_id)
        doc = self.c.entities[entity].get(entity_id)
        if doc is None:
            raise faults.deleted_transaction() if entity_id in self.c.deleted[entity] else faults.not_found()
        return doc

    def _check_id(self, entity: str, entity_id: str) -> None:
        # Ids are numbers everywhere except the system tax codes (TAX, NON): fault-2030-invalid-id.json.
        if entity == "TaxCode" and entity_id in self.c.entities["TaxCode"]:
            return
        if not entity_id.isdigit():
            raise faults.invalid_id(entity_id)

    # -- create / update ------------------------------------------------------------------------------------------
    def save(self, entity: str, body: Any, *, allow_duplicate_doc_number: bool = False) -> dict:
        """POST /{entity}: a body without Id creates, one with Id (and SyncToken) updates; `sparse: true` changes
        only the fields sent, a full update drops every writable field it omits."""
        if entity not in CREATABLE:
            raise faults.unsupported(f"Operation {'update' if _has_id(body) else 'create'} is not supported.",
                                     "Operation")
        if not isinstance(body, dict):
            raise faults.required(entity)
        previous = self._target(entity, body) if _has_id(body) else None
        if previous is not None and previous["Id"] in self.c.voided:
            raise faults.business("A voided transaction cannot be changed.")
        writable = {k: v for k, v in _clean(body).items() if k not in SYSTEM and k not in READ_ONLY[entity]}
        if previous is not None and body.get("sparse") in (True, "true"):
            kept = {k: v for k, v in previous.items() if k not in SYSTEM and k not in READ_ONLY[entity]}
            writable = {**kept, **writable}
        self._allow_dup = allow_duplicate_doc_number
        shaped = getattr(self, f"_shape_{entity.lower()}")(writable, previous)
        return self._store(entity, shaped, previous)

    def _target(self, entity: str, body: dict) -> dict:
        entity_id = str(body["Id"])
        previous = self.read(entity, entity_id)
        token = body.get("SyncToken")
        if not _present(token):
            raise faults.required("SyncToken")
        if str(token) != previous["SyncToken"]:
            raise faults.stale()
        return previous

    def _store(self, entity: str, shaped: dict, previous: dict | None, operation: str | None = None) -> dict:
        entity_id = previous["Id"] if previous else self.c.new_id(entity)
        created = previous["MetaData"]["CreateTime"] if previous else qbo_time(self.now)
        doc = {**shaped, "domain": "QBO", "sparse": False, "Id": entity_id,
               "SyncToken": str(int(previous["SyncToken"]) + 1) if previous else "0",
               "MetaData": {"CreateTime": created, "LastUpdatedTime": qbo_time(self.now)}}
        self._put(entity, doc, previous)
        self.events.append((entity, entity_id, operation or ("Update" if previous else "Create")))
        if entity == "Customer" and previous and previous["FullyQualifiedName"] != doc["FullyQualifiedName"]:
            self._rename_descendants(entity_id, doc["FullyQualifiedName"], doc.get("Level", 0))
        if entity == "Payment":
            self._relink_payment(previous, doc)
        return doc

    def _put(self, entity: str, doc: dict, previous: dict | None) -> None:
        """Store a version and move the customer balances it affects (open invoices raise a customer's Balance,
        unapplied payments lower it, as the negative Balance in customer-read-2026.json shows)."""
        before, after = _balance_share(entity, previous), _balance_share(entity, doc)
        self.c.put(entity, doc, self.now)
        for share, sign in ((before, -1), (after, 1)):
            if share is not None and share[1] != 0:
                self._move_balance(share[0], share[1] * sign)

    def _move_balance(self, customer_id: str, delta: Decimal) -> None:
        rows = self.c.entities["Customer"]
        current = rows.get(customer_id)
        first = True
        while current is not None:
            changed = dict(current, BalanceWithJobs=money(dec(current.get("BalanceWithJobs", 0)) + delta))
            if first:
                changed["Balance"] = money(dec(current.get("Balance", 0)) + delta)
                first = False
            rows[current["Id"]] = changed  # a balance is derived: no SyncToken bump, no change event
            parent = (current.get("ParentRef") or {}).get("value")
            current = rows.get(parent) if parent else None

    # -- shared validation ----------------------------------------------------------------------------------------
    def _ref(self, entity: str, ref: Any, element: str, *, required: bool = True) -> dict | None:
        if not _present(ref):
            if required:
                raise faults.required(element)
            return None
        value = _ref_value(ref)
        if value is None:
            raise faults.invalid_reference(element)
        doc = self.c.entities[entity].get(value)
        if doc is None:
            if value in self.c.deleted[entity]:
                raise faults.deleted_transaction()
            raise faults.invalid_reference(element)
        if doc.get("Active") is False:
            raise faults.not_found()  # an inactive object referenced by a write (DotNET SDK issue #353)
        return doc

    def _name_chars(self, fields: dict[str, int], r: dict, check_chars: set[str]) -> None:
        for field, limit in fields.items():
            value = r.get(field)
            if not _present(value):
                continue
            if not isinstance(value, str):
                raise faults.invalid_number(field, value)
            if field in check_chars and any(ch in value for ch in NAME_CHARS_FORBIDDEN):
                raise faults.business(f"The {field} cannot contain a colon (:), a tab or a new line.", field)
            if len(value) > limit:
                raise faults.string_length(field, limit, len(value))

    def _unique_name(self, entity: str, name: str, own_id: str | None) -> None:
        holder = self.c.names.get((name_group(entity), name.lower()))
        if holder is not None and holder != own_id:
            raise faults.duplicate_name(holder)

    def _number(self, r: dict, field: str, *, required: bool = False, default: Decimal | None = None) -> Any:
        if not _present(r.get(field)):
            if required:
                raise faults.required(field)
            return default
        try:
            return dec(r[field])
        except ValueError:
            raise faults.invalid_number(field, r[field]) from None

    def _bool(self, r: dict, field: str, default: bool) -> bool:
        value = r.get(field, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise faults.invalid_number(field, value)
        return value

    def _date(self, r: dict, field: str, default: dt.date | None) -> str | None:
        value = r.get(field)
        if not _present(value):
            return default.isoformat() if default else None
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise faults.invalid_number(field, value) from None

    # -- name lists -----------------------------------------------------------------------------------------------
    def _party(self, entity: str, r: dict, previous: dict | None) -> tuple[dict, str]:
        self._name_chars(PARTY_NAME_FIELDS, r, set(PARTY_NAME_FIELDS))
        self._name_chars(PARTY_OTHER_LIMITS, r, set())
        display = r.get("DisplayName")
        if not _present(display):
            parts = [r.get(f) for f in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
            display = " ".join(p for p in parts if _present(p)) or r.get("CompanyName")
        if not _present(display):
            raise faults.required("DisplayName")
        self._unique_name(entity, display, previous["Id"] if previous else None)
        out = dict(r, DisplayName=display, Active=self._bool(r, "Active", True))
        out.setdefault("PrintOnCheckName", r.get("CompanyName") or display)
        out.setdefault("CurrencyRef", dict(USD))
        return out, display

    def _shape_customer(self, r: dict, previous: dict | None) -> dict:
        out, display = self._party("Customer", r, previous)
        parent_ref = r.get("ParentRef")
        job = self._bool(r, "Job", False) or _present(parent_ref)
        fqn, level = display, 0
        if job:
            parent = self._ref("Customer", parent_ref, "ParentRef")
            if previous and self._is_self_or_descendant(parent["Id"], previous["Id"]):
                raise faults.business("A customer cannot be its own parent or a sub-customer of its own jobs.",
                                      "ParentRef")
            level = parent.get("Level", 0) + 1
            if level > MAX_CUSTOMER_LEVEL:
                raise faults.business(f"Sub-customers can be nested only {MAX_CUSTOMER_LEVEL} levels deep.",
                                      "ParentRef")
            fqn = f"{parent['FullyQualifiedName']}:{display}"
            out["ParentRef"] = {"value": parent["Id"]}
        else:
            out.pop("ParentRef", None)
        out.update(Taxable=self._bool(r, "Taxable", True), Job=job,
                   BillWithParent=self._bool(r, "BillWithParent", False) if job else False,
                   Balance=previous.get("Balance", Decimal(0)) if previous else Decimal(0),
                   BalanceWithJobs=previous.get("BalanceWithJobs", Decimal(0)) if previous else Decimal(0),
                   PreferredDeliveryMethod=r.get("PreferredDeliveryMethod") or "Print", FullyQualifiedName=fqn)
        if job:
            out["Level"] = level
        if _present(r.get("DefaultTaxCodeRef")):
            self._ref("TaxCode", r["DefaultTaxCodeRef"], "DefaultTaxCodeRef")
        return out

    def _is_self_or_descendant(self, candidate: str, root: str) -> bool:
        stack = [root]
        while stack:
            current = stack.pop()
            if current == candidate:
                return True
            stack.extend(self.c.children.get(current, ()))
        return False

    def _rename_descendants(self, parent_id: str, parent_fqn: str, parent_level: int) -> None:
        rows = self.c.entities["Customer"]
        for child_id in sorted(self.c.children.get(parent_id, ())):
            child = rows[child_id]
            fqn = f"{parent_fqn}:{child['DisplayName']}"
            rows[child_id] = dict(child, FullyQualifiedName=fqn, Level=parent_level + 1)
            self.c.changed["Customer"][child_id] = self.now
            self._rename_descendants(child_id, fqn, parent_level + 1)

    def _shape_vendor(self, r: dict, previous: dict | None) -> dict:
        out, _ = self._party("Vendor", r, previous)
        out.update(Balance=previous.get("Balance", Decimal(0)) if previous else Decimal(0),
                   Vendor1099=self._bool(r, "Vendor1099", False))
        return out

    def _shape_employee(self, r: dict, previous: dict | None) -> dict:
        out, _ = self._party("Employee", r, previous)
        out.pop("CurrencyRef", None)
        out["BillableTime"] = self._bool(r, "BillableTime", False)
        return out

    def _simple_name(self, entity: str, r: dict, previous: dict | None, limit: int = 100) -> str:
        name = r.get("Name")
        if not _present(name):
            raise faults.required("Name")
        self._name_chars({"Name": limit}, r, {"Name"})
        if previous is not None and previous.get("Active") is False and entity == "Account":
            name = name.removesuffix(" (deleted)")
        return name

    def _shape_item(self, r: dict, previous: dict | None) -> dict:
        name = self._simple_name("Item", r, previous)
        item_type = r.get("Type")
        if not _present(item_type):
            raise faults.required("Type")
        if item_type not in ITEM_TYPES:
            raise faults.invalid_enumeration("Type", item_type)
        if previous is not None and previous["Type"] != item_type:
            raise faults.business(f"You can't change the type of an item ({previous['Type']} to {item_type}).",
                                  "Type")
        self._unique_name("Item", name, previous["Id"] if previous else None)
        if item_type == "Inventory":
            for field in INVENTORY_REQUIRED:
                if not _present(r.get(field)):
                    raise faults.required(field)
            if not self._bool(r, "TrackQtyOnHand", True):
                raise faults.business("An inventory item must track quantity on hand.", "TrackQtyOnHand")
        out = dict(r, Name=name, FullyQualifiedName=name, Type=item_type, Active=self._bool(r, "Active", True),
                   Taxable=self._bool(r, "Taxable", False),
                   UnitPrice=plain(self._number(r, "UnitPrice", default=Decimal(0))),
                   PurchaseCost=plain(self._number(r, "PurchaseCost", default=Decimal(0))),
                   TrackQtyOnHand=item_type == "Inventory")
        for field in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"):
            account = self._ref("Account", r.get(field), field, required=field == "IncomeAccountRef")
            if account is not None:
                out[field] = {"value": account["Id"], "name": account["Name"]}
        if item_type == "Inventory":
            out["QtyOnHand"] = plain(self._number(r, "QtyOnHand", required=True))
            out["InvStartDate"] = self._date(r, "InvStartDate", None)
        return out

    def _shape_account(self, r: dict, previous: dict | None) -> dict:
        name = self._simple_name("Account", r, previous)
        account_type = r.get("AccountType")
        if not _present(account_type):
            raise faults.required("AccountType")
        if account_type not in CLASSIFICATION:
            raise faults.invalid_enumeration("AccountType", account_type)
        active = self._bool(r, "Active", True)
        # A deactivated account is renamed with a " (deleted)" suffix (account-read-inactive.json).
        shown = name if active else f"{name} (deleted)"
        self._unique_name("Account", shown, previous["Id"] if previous else None)
        return dict(r, Name=shown, SubAccount=False, FullyQualifiedName=shown, Active=active,
                    Classification=CLASSIFICATION[account_type],
                    CurrentBalance=previous.get("CurrentBalance", Decimal(0)) if previous else Decimal(0),
                    CurrentBalanceWithSubAccounts=Decimal(0), CurrencyRef=r.get("CurrencyRef") or dict(USD))

    def _shape_class(self, r: dict, previous: dict | None) -> dict:
        name = self._simple_name("Class", r, previous)
        parent = self._ref("Class", r.get("ParentRef"), "ParentRef", required=False)
        fqn = f"{parent['FullyQualifiedName']}:{name}" if parent else name
        self._unique_name("Class", fqn, previous["Id"] if previous else None)
        out = dict(r, Name=name, SubClass=parent is not None, FullyQualifiedName=fqn,
                   Active=self._bool(r, "Active", True))
        if parent:
            out["ParentRef"] = {"value": parent["Id"]}
        return out

    def _shape_paymentmethod(self, r: dict, previous: dict | None) -> dict:
        """PaymentMethod: Name (at most 31 characters, unique), Type CREDIT_CARD or NON_CREDIT_CARD, Active
        (QuickBooks Online API reference, PaymentMethod)."""
        name = self._simple_name("PaymentMethod", r, previous, limit=31)
        self._unique_name("PaymentMethod", name, previous["Id"] if previous else None)
        kind = r.get("Type") or "NON_CREDIT_CARD"
        if kind not in ("CREDIT_CARD", "NON_CREDIT_CARD"):
            raise faults.invalid_enumeration("Type", kind)
        return dict(r, Name=name, Type=kind, Active=self._bool(r, "Active", True))

    # -- invoices -------------------------------------------------------------------------------------------------
    def _shape_invoice(self, r: dict, previous: dict | None) -> dict:
        customer = self._ref("Customer", r.get("CustomerRef"), "CustomerRef")
        if not isinstance(r.get("Line"), list) or not r["Line"]:
            raise faults.required("Line")
        header_class = self._class_ref(r.get("ClassRef"), "ClassRef", "ClassTrackingPerTxn")
        lines, subtotal, taxable_base = [], Decimal(0), Decimal(0)
        for line in r["Line"]:
            detail_type = line.get("DetailType") if isinstance(line, dict) else None
            if not _present(detail_type):
                raise faults.required("Line.DetailType")
            if detail_type not in LINE_TYPES:
                raise faults.invalid_enumeration("Line.DetailType", detail_type)
            if detail_type == "SubTotalLineDetail":
                continue  # QuickBooks recomputes the subtotal line
            out_line, taxable = self._sales_line(line, len(lines) + 1)
            lines.append(out_line)
            amount = out_line.get("Amount", Decimal(0))
            subtotal += amount
            taxable_base += amount if taxable else 0
        if len(lines) > MAX_LINES and taxable_base:
            raise faults.business(f"A taxable transaction can have at most {MAX_LINES} lines; this one has "
                                  f"{len(lines)}.", "Line")
        lines.append({"Amount": money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        tax_detail = self._tax(r.get("TxnTaxDetail"), taxable_base)
        total = money(subtotal + tax_detail["TotalTax"])
        applied = self._applied_to(previous["Id"]) if previous else Decimal(0)
        if applied > total:
            raise faults.business(f"The invoice total ({total}) is less than the payments applied to it "
                                  f"({money(applied)}); unapply payments first.", "TotalAmt")
        txn_date = self._date(r, "TxnDate", company_date(self.now))
        out = dict(r)
        out.update(AllowIPNPayment=self._bool(r, "AllowIPNPayment", False),
                   AllowOnlinePayment=self._bool(r, "AllowOnlinePayment", False),
                   AllowOnlineCreditCardPayment=self._bool(r, "AllowOnlineCreditCardPayment", False),
                   AllowOnlineACHPayment=self._bool(r, "AllowOnlineACHPayment", False),
                   DocNumber=self._doc_number(r, previous), TxnDate=txn_date,
                   CurrencyRef=r.get("CurrencyRef") or dict(USD),
                   LinkedTxn=[{"TxnId": p, "TxnType": "Payment"} for p in self._payments_on(previous)],
                   Line=lines, TxnTaxDetail=tax_detail,
                   CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
                   DueDate=self._date(r, "DueDate", dt.date.fromisoformat(txn_date) + dt.timedelta(days=30)),
                   TotalAmt=total, ApplyTaxAfterDiscount=self._bool(r, "ApplyTaxAfterDiscount", False),
                   PrintStatus=r.get("PrintStatus") or "NeedToPrint", EmailStatus=r.get("EmailStatus") or "NotSet",
                   Balance=money(total - applied))
        if out["DocNumber"] is None:
            del out["DocNumber"]
        if header_class is not None:
            out["ClassRef"] = header_class
        for field in ("BillAddr", "ShipAddr"):
            if not _present(r.get(field)) and _present(customer.get(field)):
                out[field] = dict(customer[field])
        return out

    def _class_ref(self, ref: Any, element: str, preference: str) -> dict | None:
        if not _present(ref):
            return None
        if not self.c.pref("AccountingInfoPrefs", preference, False):
            raise faults.business(f"Class tracking is turned off for this company (Preferences.AccountingInfoPrefs."
                                  f"{preference} is false), so {element} cannot be set.", element)
        cls = self._ref("Class", ref, element)
        return {"value": cls["Id"], "name": cls["FullyQualifiedName"]}

    def _sales_line(self, line: dict, number: int) -> tuple[dict, bool]:
        out: dict[str, Any] = {"Id": str(number), "LineNum": number}
        if _present(line.get("Description")):
            out["Description"] = line["Description"]
        detail_type = line["DetailType"]
        if detail_type == "DescriptionOnly":
            out.update(DetailType=detail_type, DescriptionLineDetail=line.get("DescriptionLineDetail") or {})
            return out, False
        detail = _clean(line.get(SALES_LINE) or {})
        item = self._ref("Item", detail.get("ItemRef"), "Line.SalesItemLineDetail.ItemRef")
        qty = self._number(detail, "Qty")
        price = self._number(detail, "UnitPrice")
        given = self._number(line, "Amount")
        # python-quickbooks sends Qty 0 / UnitPrice 0 for unset fields (qbo-facts.md): zero means "not given".
        if qty and price:
            amount = money(qty * price)
            if given is not None and money(given) != amount:
                raise faults.business(f"Amount is not equal to UnitPrice * Qty. Supplied value:{money(given)}",
                                      "Line.Amount")
        elif given is not None:
            amount = money(given)
        elif qty:
            price = dec(item.get("UnitPrice", 0))
            amount = money(qty * price)
        else:
            raise faults.required("Line.Amount")
        tax_code = self._ref("TaxCode", detail.get("TaxCodeRef") or {"value": "TAX" if item.get("Taxable") else
                                                                       "NON"}, "Line.SalesItemLineDetail.TaxCodeRef")
        out_detail: dict[str, Any] = {"ItemRef": {"value": item["Id"], "name": item["Name"]}}
        if "IncomeAccountRef" in item:
            out_detail["ItemAccountRef"] = dict(item["IncomeAccountRef"])
        if qty:
            out_detail["Qty"] = plain(qty)
        if price:
            out_detail["UnitPrice"] = plain(price)
        line_class = self._class_ref(detail.get("ClassRef"), "Line.SalesItemLineDetail.ClassRef",
                                     "ClassTrackingPerTxnLine")
        if line_class is not None:
            out_detail["ClassRef"] = line_class
        out_detail["TaxCodeRef"] = {"value": tax_code["Id"]}
        if _present(detail.get("ServiceDate")):
            out_detail["ServiceDate"] = self._date(detail, "ServiceDate", None)
        out.update(Amount=amount, DetailType=SALES_LINE, SalesItemLineDetail=out_detail)
        return out, bool(tax_code.get("Taxable"))

    def _tax(self, given: Any, taxable_base: Decimal) -> dict:
        """Sales tax from the transaction's tax code (cdc-response.json: TxnTaxCodeRef 2 -> TaxRateRef 3 at 8%).
        With automated sales tax on (Preferences.TaxPrefs.PartnerTaxEnabled) the code is QuickBooks' own: "The AST
        engine assigns the appropriate tax code to sales transaction objects and automatically calculates the tax
        amount"; the emulator models one agency, the company's TaxPrefs.TaxGroupCodeRef, not a ship-to lookup.
        An explicit TxnTaxDetail.TotalTax is honoured and prorated across the code's rates ("Whenever an explicit
        tax amount is sent in the transaction request the AST engine honors the amount and prorates it across tax
        rates", Intuit developer blog 2017-12-11); the emulator applies the same to a code the request names.
        Without a code (and without AST) the transaction carries no tax: a tax amount needs the code that says
        which agency it is owed to."""
        given = given if isinstance(given, dict) else {}
        code_ref = given.get("TxnTaxCodeRef")
        if self.c.pref("TaxPrefs", "PartnerTaxEnabled", False):
            code_ref = self.c.pref("TaxPrefs", "TaxGroupCodeRef", None)
        if not _present(code_ref):
            return {"TotalTax": Decimal(0)}
        code = self._ref("TaxCode", code_ref, "TxnTaxDetail.TxnTaxCodeRef")
        rates = [self.c.entities["TaxRate"][d["TaxRateRef"]["value"]]
                 for d in (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []]
        stated = self._number(given, "TotalTax")
        amounts = [money(taxable_base * dec(rate["RateValue"]) / 100) for rate in rates]
        if stated is not None and rates:
            stated = money(stated)
            weights = sum((dec(rate["RateValue"]) for rate in rates), Decimal(0))
            amounts = [money(stated * dec(rate["RateValue"]) / weights) if weights else Decimal(0)
                       for rate in rates[:-1]]
            amounts.append(stated - sum(amounts, Decimal(0)))  # the last rate takes the cent of rounding
        tax_lines = [{"Amount": amount, "DetailType": "TaxLineDetail",
                      "TaxLineDetail": {"TaxRateRef": {"value": rate["Id"]}, "PercentBased": True,
                                        "TaxPercent": plain(dec(rate["RateValue"])),
                                        "NetAmountTaxable": money(taxable_base)}}
                     for rate, amount in zip(rates, amounts, strict=True)]
        return {"TxnTaxCodeRef": {"value": code["Id"]}, "TotalTax": money(sum(amounts, Decimal(0))),
                "TaxLine": tax_lines}

    def _doc_number(self, r: dict, previous: dict | None) -> str | None:
        """With custom transaction numbers off, QuickBooks numbers invoices itself (last number + 1); with them on,
        a number is optional and must be unique unless the request says include=allowduplicatedocnum
        (qbo-facts.md "Entities"; DotNET SDK issue #175)."""
        custom = bool(self.c.pref("SalesFormsPrefs", "CustomTxnNumbers", False))
        number = r.get("DocNumber")
        if _present(number):
            number = str(number)
            if len(number) > 21:
                raise faults.string_length("DocNumber", 21, len(number))
            holders = self.c.doc_numbers.get(number, set()) - ({previous["Id"]} if previous else set())
            if custom and holders and not self._allow_dup:
                raise faults.duplicate_doc_number(number, "Invoice", min(holders, key=int))
            if number.isdigit():
                self.c.next_doc_number = max(self.c.next_doc_number, int(number) + 1)
            return number
        if previous is not None:
            return previous.get("DocNumber")
        if custom:
            return None
        while str(self.c.next_doc_number) in self.c.doc_numbers and self.c.doc_numbers[str(self.c.next_doc_number)]:
            self.c.next_doc_number += 1
        number = str(self.c.next_doc_number)
        self.c.next_doc_number += 1
        return number

    def _payments_on(self, invoice: dict | None) -> list[str]:
        return sorted(self.c.payments_of.get(invoice["Id"], ()), key=int) if invoice else []

    def _applied_to(self, invoice_id: str, excluding: str | None = None) -> Decimal:
        total = Decimal(0)
        for payment_id in self.c.payments_of.get(invoice_id, ()):
            if payment_id == excluding:
                continue
            total += _applied_amount(self.c.entities["Payment"][payment_id], invoice_id)
        return total

    def _refresh_invoice(self, invoice_id: str) -> None:
        """A payment applied or removed changes the invoice's Balance and LinkedTxn, and QuickBooks records that as
        an update of the invoice (new SyncToken; payment-with-linkedtxn.xml / cdc-response-with-deleted.xml)."""
        invoice = self.c.entities["Invoice"].get(invoice_id)
        if invoice is None:
            return
        links = [{"TxnId": p, "TxnType": "Payment"} for p in self._payments_on(invoice)]
        balance = money(dec(invoice["TotalAmt"]) - self._applied_to(invoice_id))
        if balance == dec(invoice["Balance"]) and links == invoice.get("LinkedTxn"):
            return
        doc = dict(invoice, Balance=balance, LinkedTxn=links, SyncToken=str(int(invoice["SyncToken"]) + 1),
                   MetaData={**invoice["MetaData"], "LastUpdatedTime": qbo_time(self.now)})
        self._put("Invoice", doc, invoice)
        self.events.append(("Invoice", invoice_id, "Update"))

    # -- payments -------------------------------------------------------------------------------------------------
    def _shape_payment(self, r: dict, previous: dict | None) -> dict:
        customer = self._ref("Customer", r.get("CustomerRef"), "CustomerRef")
        total = money(self._number(r, "TotalAmt", required=True))
        if total < 0:
            raise faults.business("The payment amount cannot be negative.", "TotalAmt")
        own_id = previous["Id"] if previous else None
        lines, applied = [], Decimal(0)
        for line in r.get("Line") or []:
            if not isinstance(line, dict):
                raise faults.required("Line.Amount")
            amount = money(self._number(line, "Amount", required=True))
            links = line.get("LinkedTxn") or []
            if not isinstance(links, list) or len(links) != 1:
                raise faults.required("Line.LinkedTxn")
            link = links[0]
            if link.get("TxnType") != "Invoice":
                raise faults.invalid_enumeration("Line.LinkedTxn.TxnType", link.get("TxnType"))
            invoice = self._linked_invoice(link.get("TxnId"))
            if not self._is_self_or_descendant(invoice["CustomerRef"]["value"], customer["Id"]):
                raise faults.business(f"Invoice {invoice['Id']} belongs to another customer.", "Line.LinkedTxn")
            open_balance = money(dec(invoice["TotalAmt"]) - self._applied_to(invoice["Id"], excluding=own_id))
            if amount > open_balance:
                raise faults.business(f"The payment amount {amount} applied to invoice {invoice['Id']} is more than "
                                      f"its open balance {open_balance}.", "Line.Amount")
            applied += amount
            lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}],
                          "LineEx": _line_ex(invoice, open_balance)})
        if applied > total:
            raise faults.business(f"The amounts applied ({applied}) are more than the payment total ({total}).",
                                  "TotalAmt")
        deposit = self._ref("Account", r.get("DepositToAccountRef") or {"value": UNDEPOSITED_FUNDS},
                            "DepositToAccountRef")
        if deposit["AccountType"] not in DEPOSIT_TYPES:
            raise faults.business("DepositToAccountRef must be a Bank or Other Current Asset account "
                                  f"({deposit['Name']} is {deposit['AccountType']}).", "DepositToAccountRef")
        out = dict(r)
        if _present(r.get("PaymentMethodRef")):
            method = self._ref("PaymentMethod", r["PaymentMethodRef"], "PaymentMethodRef")
            out["PaymentMethodRef"] = {"value": method["Id"], "name": method["Name"]}
        out.update(CustomerRef={"value": customer["Id"], "name": customer["DisplayName"]},
                   DepositToAccountRef={"value": deposit["Id"]}, TotalAmt=total, UnappliedAmt=money(total - applied),
                   ProcessPayment=self._bool(r, "ProcessPayment", False),
                   TxnDate=self._date(r, "TxnDate", company_date(self.now)),
                   CurrencyRef=r.get("CurrencyRef") or dict(USD), Line=lines)
        return out

    def _linked_invoice(self, txn_id: Any) -> dict:
        if not _present(txn_id):
            raise faults.required("Line.LinkedTxn.TxnId")
        txn_id = str(txn_id)
        if txn_id in self.c.deleted["Invoice"]:
            raise faults.deleted_transaction()
        invoice = self.c.entities["Invoice"].get(txn_id)
        if invoice is None:
            raise faults.invalid_reference("Line.LinkedTxn.TxnId")
        if txn_id in self.c.voided:
            raise faults.business(f"Invoice {txn_id} is voided and cannot take a payment.", "Line.LinkedTxn")
        return invoice

    def _relink_payment(self, previous: dict | None, doc: dict | None) -> None:
        touched = {link["TxnId"] for d in (previous, doc) if d for line in d.get("Line") or []
                   for link in line.get("LinkedTxn") or []}
        for invoice_id in sorted(touched, key=int):
            self._refresh_invoice(invoice_id)

    # -- delete and void ------------------------------------------------------------------------------------------
    def delete(self, entity: str, body: Any) -> dict:
        if entity not in ("Invoice", "Payment"):
            # Name-list entities are never deleted, only made inactive (qbo-facts.md "Entities").
            raise faults.unsupported("Operation delete is not supported.", "Operation")
        if not isinstance(body, dict) or not _present(body.get("Id")):
            raise faults.required("Id")
        previous = self._target(entity, body)
        if entity == "Invoice" and self.c.payments_of.get(previous["Id"]):
            raise faults.business("This invoice has payments applied to it. Delete or unapply the payments first.")
        before = _balance_share(entity, previous)
        self.c.remove(entity, previous["Id"], self.now)
        if before is not None and before[1] != 0:
            self._move_balance(before[0], -before[1])
        self.c.voided.discard(previous["Id"])
        self.events.append((entity, previous["Id"], "Delete"))
        if entity == "Payment":
            self._relink_payment(previous, None)
        return {"domain": "QBO", "status": "Deleted", "Id": previous["Id"]}

    def void(self, entity: str, body: Any) -> dict:
        """Invoice `?operation=void` and Payment `?operation=update&include=void`: the transaction stays with zero
        amounts and PrivateNote "Voided" (invoice-void-response.json)."""
        if entity not in ("Invoice", "Payment"):
            raise faults.unsupported("Operation void is not supported.", "Operation")
        if not isinstance(body, dict) or not _present(body.get("Id")):
            raise faults.required("Id")
        previous = self._target(entity, body)
        if previous["Id"] in self.c.voided:
            raise faults.business("This transaction is already voided.")
        if entity == "Invoice" and self.c.payments_of.get(previous["Id"]):
            raise faults.business("This invoice has payments applied to it. Delete or unapply the payments first.")
        doc = {k: v for k, v in previous.items() if k not in SYSTEM}
        doc["PrivateNote"] = "Voided"
        if entity == "Invoice":
            doc["Line"] = [_void_line(line) for line in previous["Line"]]
            doc.update(TxnTaxDetail={"TotalTax": Decimal(0)}, TotalAmt=Decimal(0), Balance=Decimal(0))
        else:
            doc.update(Line=[], TotalAmt=Decimal(0), UnappliedAmt=Decimal(0))
        self.c.voided.add(previous["Id"])
        return self._store(entity, doc, previous, operation="Void")

    # -- bulk load ------------------------------------------------------------------------------------------------
    def load(self, entity: str, docs: list[dict]) -> None:
        """Store entities as given (keeping their Ids), without the API's validation: the data generator's
        QuickBooks side is already in QuickBooks' own shape."""
        for given in docs:
            entity_id = str(given["Id"])
            if entity_id in self.c.entities[entity]:
                raise faults.business(f"{entity} {entity_id} already exists in this company; load into a company "
                                      "created with seed: false.")
            doc = {**given, "Id": entity_id, "domain": given.get("domain", "QBO"), "sparse": False,
                   "SyncToken": str(given.get("SyncToken", "0")),
                   "MetaData": given.get("MetaData") or {"CreateTime": qbo_time(self.now),
                                                         "LastUpdatedTime": qbo_time(self.now)}}
            if entity in NAME_LISTS and entity not in PARTIES:
                doc.setdefault("FullyQualifiedName", doc.get("Name"))
            self.c.put(entity, doc, self.now)
            self.c.advance_counter(entity, entity_id)
            if entity == "Invoice" and str(doc.get("DocNumber", "")).isdigit():
                self.c.next_doc_number = max(self.c.next_doc_number, int(doc["DocNumber"]) + 1)


def _has_id(body: Any) -> bool:
    return isinstance(body, dict) and _present(body.get("Id"))


def _applied_amount(payment: dict, invoice_id: str) -> Decimal:
    return sum((dec(line["Amount"]) for line in payment.get("Line") or []
                for link in line.get("LinkedTxn") or [] if link["TxnId"] == invoice_id), Decimal(0))


def _balance_share(entity: str, doc: dict | None) -> tuple[str, Decimal] | None:
    if doc is None:
        return None
    if entity == "Invoice":
        return doc["CustomerRef"]["value"], dec(doc["Balance"])
    if entity == "Payment":
        return doc["CustomerRef"]["value"], -dec(doc["UnappliedAmt"])
    return None


def _line_ex(invoice: dict, open_balance: Decimal) -> dict:
    """The JAXB-serialized NameValue list QuickBooks puts on payment lines (payment-sparse-update-response.json)."""
    values = (("txnId", invoice["Id"]), ("txnOpenBalance", f"{open_balance:.2f}"),
              ("txnReferenceNumber", invoice.get("DocNumber", "")))
    return {"any": [{"name": "{http://schema.intuit.com/finance/v3}NameValue",
                     "declaredType": "com.intuit.schema.finance.v3.NameValue",
                     "scope": "javax.xml.bind.JAXBElement$GlobalScope", "value": {"Name": name, "Value": value},
                     "nil": False, "globalScope": True, "typeSubstituted": False} for name, value in values]}


def _void_line(line: dict) -> dict:
    out = dict(line, Amount=Decimal(0))
    if SALES_LINE in line:
        out[SALES_LINE] = {k: v for k, v in line[SALES_LINE].items() if k not in ("Qty", "UnitPrice")}
    return out

