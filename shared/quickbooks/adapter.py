"""The one real QuickBooks adapter: python-quickbooks over HTTP, QuickBooks faults mapped to typed errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from shared.quickbooks.client import StatusRecorder
from shared.quickbooks.errors import (
    AuthFailed,
    QuickBooksError,
    StaleObject,
    Unavailable,
    UnsupportedOperation,
    classify,
    refused,
)
from shared.quickbooks.pacing import UNPACED, Budget
from shared.quickbooks.port import (
    MAX_BATCH,
    MAX_PAGE,
    BatchOp,
    BatchResult,
    Changes,
    ClassDraft,
    ClassState,
    CustomerChange,
    CustomerDraft,
    CustomerResult,
    CustomerState,
    Fault,
    InvoiceDraft,
    InvoiceResult,
    InvoiceState,
    ItemChange,
    ItemDraft,
    ItemState,
    MoneyPrefs,
    PaymentDraft,
    PaymentResult,
    PaymentState,
)
from shared.quickbooks.shapes import (
    address_body,
    changes,
    class_body,
    class_state,
    customer_body,
    customer_change_body,
    customer_state,
    display_name,
    invoice_state,
    item_body,
    item_change_body,
    item_state,
    payment_state,
)
from shared.quickbooks.times import parse_qbo_time, qbo_time

LIST_ENTITIES = ("Customer", "Item", "Class")  # a query answers their active objects only unless asked (qbo-facts.md)
CDC_MAX_OBJECTS = 1000  # per CDC response, all kinds together (qbo-facts.md, CDC); a full one is re-read by query

_DEC = "\u0000dec:"
_DEC_RE = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


def _money(o):
    if isinstance(o, Decimal):
        return _DEC + format(o, "f")
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(body: Any) -> str:
    """QuickBooks expects JSON numbers; Decimals are written with their exact digits, never through a float."""
    return _DEC_RE.sub(r"\1", json.dumps(body, default=_money))


def _select(entity: str, where: str, start: int, size: int, order_by: str) -> str:
    clause = f" WHERE {where}" if where else ""
    return f"SELECT * FROM {entity}{clause} ORDERBY {order_by} STARTPOSITION {start} MAXRESULTS {min(size, MAX_PAGE)}"


def quote(value: str) -> str:
    """A string literal for the QuickBooks query language (single quotes escaped with a backslash)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksAdapter:
    def __init__(self, qb: QuickBooks, recorder: StatusRecorder, realm_id: str,
                 on_auth_failed: Callable[[], None] | None = None, pace: Callable[[str], None] | None = None,
                 concurrent: Callable[[int], AbstractContextManager[int]] | None = None,
                 budget: Callable[[], Budget] | None = None):
        self._qb, self._status, self.realm_id = qb, recorder, realm_id
        self._budget = budget
        self._on_auth_failed = on_auth_failed
        self._pace = pace or (lambda kind: None)
        self._concurrent = concurrent

    def concurrent(self, want: int) -> AbstractContextManager[int]:
        """How many calls may be in flight at once for this company while the block runs (pacing.Pacer.concurrent;
        1 without a pacer)."""
        return self._concurrent(want) if self._concurrent is not None else nullcontext(1)

    def budget(self) -> Budget:
        """What the company may send now without waiting (pacing.Pacer.budget; without a pacer nothing waits)."""
        return self._budget() if self._budget is not None else UNPACED

    def _url(self, path: str) -> str:
        return f"{self._qb.api_url}/company/{self.realm_id}/{path}"

    def _call(self, fn, *args, **kwargs):
        self._status.last_status = None
        try:
            return fn(*args, **kwargs)
        except QuickbooksException as exc:
            error = classify(exc.error_code, exc.message, str(exc.detail or ""), self._status.last_status)
            if isinstance(error, AuthFailed) and self._on_auth_failed is not None:
                self._on_auth_failed()
            raise error from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable("network", type(exc).__name__, "", None) from exc

    def _get(self, path: str, params: dict | None = None) -> dict:
        self._pace("request")
        return self._call(self._qb.get, self._url(path), params=params or {})

    def _post(self, path: str, body: Any, request_id: str | None = None, params: dict | None = None) -> dict:
        self._pace("batch" if path == "batch" else "request")
        return self._call(self._qb.post, self._url(path), dumps(body), params=params or {}, request_id=request_id)

    def company_info(self) -> dict:
        return self._get(f"companyinfo/{self.realm_id}")["CompanyInfo"]

    def company_name(self) -> str | None:
        name: str | None = self.company_info().get("CompanyName")
        return name

    def preferences(self) -> dict:
        return self._get("preferences")["Preferences"]

    def _query_answer(self, sql: str) -> dict:
        """QuickBooks' whole answer to a query: its QueryResponse and its `time`."""
        self._pace("request")
        answer: dict = self._call(self._qb.query, sql)
        return answer

    def _query(self, sql: str) -> dict:
        return self._query_answer(sql).get("QueryResponse", {})

    def query_page(self, entity: str, where: str = "", start: int = 1, size: int = MAX_PAGE,
                   order_by: str = "Id") -> list[dict]:
        return self._query(_select(entity, where, start, size, order_by)).get(entity, [])

    def query_all(self, entity: str, where: str = "") -> Iterator[dict]:
        start = 1
        while True:
            page = self.query_page(entity, where, start, MAX_PAGE)
            yield from page
            if len(page) < MAX_PAGE:
                return
            start += MAX_PAGE

    def customers_page(self, start: int, size: int = MAX_PAGE) -> list[CustomerState]:
        return [customer_state(r) for r in self.query_page("Customer", "Active IN (true, false)", start, size)]

    def every(self, entity: str, include_inactive: bool = False) -> Iterator[dict]:
        return self.query_all(entity, "Active IN (true, false)" if include_inactive else "Active = true")

    def every_item(self) -> Iterator[ItemState]:
        return map(item_state, self.every("Item"))

    def vendor_and_employee_names(self) -> list[str]:
        return [display_name(r) for entity in ("Vendor", "Employee") for r in self.every(entity, include_inactive=True)]

    def count(self, entity: str, where: str = "") -> int:
        clause = f" WHERE {where}" if where else ""
        return int(self._query(f"SELECT COUNT(*) FROM {entity}{clause}").get("totalCount", 0))

    def read(self, entity: str, entity_id: str) -> dict:
        return self._get(f"{entity.lower()}/{entity_id}")[entity]

    def read_customer(self, qbo_id: str) -> CustomerState:
        return customer_state(self.read("Customer", qbo_id))

    def read_item(self, qbo_id: str) -> ItemState:
        return item_state(self.read("Item", qbo_id))

    def read_invoice(self, qbo_id: str) -> InvoiceState:
        return invoice_state(self.read("Invoice", qbo_id))

    def read_payment(self, qbo_id: str) -> PaymentState:
        return payment_state(self.read("Payment", qbo_id))

    def create(self, entity: str, body: dict, request_id: str) -> dict:
        return self._post(entity.lower(), body, request_id=request_id)[entity]

    def update(self, entity: str, body: dict, request_id: str | None = None, sparse: bool = True) -> dict:
        payload = {**body, "sparse": sparse}
        return self._post(entity.lower(), payload, request_id=request_id)[entity]

    def batch(self, ops: list[BatchOp], request_id: str) -> list[BatchResult]:
        if not 0 < len(ops) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} operations, got {len(ops)}")
        body = {"BatchItemRequest": [{"bId": op.bid, "operation": op.operation, op.entity: op.body} for op in ops]}
        response = self._post("batch", body, request_id=request_id)
        by_bid = {op.bid: op.entity for op in ops}
        results = []
        for item in response.get("BatchItemResponse", []):
            bid = item.get("bId", "")
            if "Fault" in item:
                err = (item["Fault"].get("Error") or [{}])[0]
                fault = {"code": str(err.get("code", "")), "message": err.get("Message", ""),
                         "detail": err.get("Detail", "")}
                results.append(BatchResult(bid, fault=fault))
            else:
                results.append(BatchResult(bid, entity=item.get(by_bid.get(bid, ""))))
        return results

    def cdc(self, entities: list[str], changed_since: str) -> dict[str, list[dict]]:
        data = self._get("cdc", {"entities": ",".join(entities), "changedSince": changed_since})
        out: dict[str, list[dict]] = {e: [] for e in entities}
        for block in data.get("CDCResponse", []):
            for qr in block.get("QueryResponse", []):
                for name, rows in qr.items():
                    if isinstance(rows, list):
                        out.setdefault(name, []).extend(rows)
        return out

    # -- money: invoices and payments (MoneyPort) ----------------------------------------------------------------
    def money_prefs(self) -> MoneyPrefs:
        prefs = self.preferences()
        sales, tax = prefs.get("SalesFormsPrefs") or {}, prefs.get("TaxPrefs") or {}
        accounting = prefs.get("AccountingInfoPrefs") or {}
        return MoneyPrefs(custom_txn_numbers=bool(sales.get("CustomTxnNumbers")),
                          automated_sales_tax=bool(tax.get("PartnerTaxEnabled")),
                          class_per_txn=bool(accounting.get("ClassTrackingPerTxn")),
                          class_per_line=bool(accounting.get("ClassTrackingPerTxnLine")))
    # -- the sync engine's questions -------------------------------------------------------------------------
    def changes_since(self, entities: Sequence[str], since: datetime) -> Changes:
        """CDC when QuickBooks accepts `since`, else a query on MetaData.LastUpdatedTime. Whether `since` is inside
        CDC's 30 days is QuickBooks' to say, by its own clock ("a date-time within the past 30 days ... from
        today", Intuit's change-data-capture page), not ours: the adapter asks CDC and, when QuickBooks refuses the
        look-back (500 Unsupported Operation, `UnsupportedOperation`), pages the query instead."""
        try:
            data = self._get("cdc", {"entities": ",".join(entities), "changedSince": qbo_time(since)})
        except UnsupportedOperation:
            # Deletions are not visible to a query; the daily reconciliation's CDC sweep reports them.
            return self._changed_by_query(entities, since)
        read_at = parse_qbo_time(data.get("time")) or datetime.now(UTC)
        rows: dict[str, list[dict]] = {e: [] for e in entities}
        for block in data.get("CDCResponse", []):
            for qr in block.get("QueryResponse", []):
                for name, found in qr.items():
                    if isinstance(found, list) and name in rows:
                        rows[name].extend(found)
        if sum(len(r) for r in rows.values()) >= CDC_MAX_OBJECTS:
            # The cap is per response, across every kind asked for: a full answer may have cut any of them off.
            # CDC's time is before every query's, so the cursor taken from it re-reads whatever the pages race.
            return replace(self._changed_by_query(entities, since), read_at=read_at)
        return changes(rows, read_at)

    def _changed_by_query(self, entities: Sequence[str], since: datetime) -> Changes:
        """Every row of these kinds changed at or after `since`, paged in MetaData.LastUpdatedTime order; read at
        QuickBooks' time of the first answer (a change committed after it is at or after the next cursor)."""
        rows: dict[str, list[dict]] = {}
        read_at: datetime | None = None
        for entity in entities:
            where = f"MetaData.LastUpdatedTime >= {quote(qbo_time(since))}"
            if entity in LIST_ENTITIES:
                where += " AND Active IN (true, false)"
            rows[entity] = []
            start = 1
            while True:
                answer = self._query_answer(_select(entity, where, start, MAX_PAGE, "MetaData.LastUpdatedTime"))
                read_at = read_at or parse_qbo_time(answer.get("time"))
                page = answer.get("QueryResponse", {}).get(entity, [])
                rows[entity].extend(page)
                if len(page) < MAX_PAGE:
                    break
                start += MAX_PAGE
        return changes(rows, read_at or datetime.now(UTC))

    def _where_in(self, entity: str, field_name: str, values: Sequence[str], also: str = "") -> list[dict]:
        """Rows whose `field_name` is one of `values`, 100 values per IN list."""
        return self._answers_in(entity, field_name, values, also)[0]

    def _answers_in(self, entity: str, field_name: str, values: Sequence[str],
                    also: str = "") -> tuple[list[dict], datetime | None]:
        """`_where_in`'s rows and QuickBooks' time of its first answer (None when nothing was asked)."""
        found: list[dict] = []
        first: datetime | None = None
        unique = sorted(set(values))
        for i in range(0, len(unique), 100):
            where = f"{field_name} IN (" + ", ".join(quote(v) for v in unique[i:i + 100]) + ")" + also
            answer = self._query_answer(_select(entity, where, 1, MAX_PAGE, "Id"))
            first = first or parse_qbo_time(answer.get("time"))
            found.extend(answer.get("QueryResponse", {}).get(entity, []))
        return found, first

    def items_by(self, ids: Sequence[str], names: Sequence[str]) -> list[ItemState]:
        return [item_state(r) for r in self._where_in("Item", "Id", ids) + self._where_in("Item", "Name", names)]

    def classes_named(self, names: Sequence[str]) -> list[ClassState]:
        return [class_state(r) for r in self._where_in("Class", "Name", names, " AND Active IN (true, false)")]

    def customers_named(self, names: Sequence[str]) -> list[CustomerState]:
        return [customer_state(r)
                for r in self._where_in("Customer", "DisplayName", names, " AND Active IN (true, false)")]

    # -- customers, items and classes: typed drafts in, typed results out -----------------------------------
    def create_customer(self, draft: CustomerDraft, request_id: str) -> CustomerState:
        return customer_state(self.create("Customer", customer_body(draft), request_id=request_id))

    def create_customers(self, drafts: Sequence[CustomerDraft], request_id: str) -> list[CustomerResult]:
        ops = [BatchOp(str(i), "create", "Customer", customer_body(d)) for i, d in enumerate(drafts)]
        return _customer_results(self.batch(ops, request_id=request_id))

    def update_customer(self, change: CustomerChange, request_id: str | None = None) -> CustomerState:
        return customer_state(self.update("Customer", customer_change_body(change), request_id=request_id))

    def update_customers(self, changes: Sequence[CustomerChange], request_id: str) -> list[CustomerResult]:
        ops = [BatchOp(str(i), "update", "Customer", customer_change_body(c)) for i, c in enumerate(changes)]
        return _customer_results(self.batch(ops, request_id=request_id))

    def create_item(self, draft: ItemDraft, request_id: str) -> ItemState:
        return item_state(self.create("Item", item_body(draft), request_id=request_id))

    def update_item(self, change: ItemChange) -> ItemState:
        return item_state(self.update("Item", item_change_body(change)))

    def create_class(self, draft: ClassDraft, request_id: str) -> str:
        return str(self.create("Class", class_body(draft), request_id=request_id)["Id"])

    def by_ids(self, ids: dict[str, Sequence[str]]) -> Changes:
        rows: dict[str, list[dict]] = {}
        read_at: datetime | None = None
        for entity, wanted in ids.items():
            also = " AND Active IN (true, false)" if entity in LIST_ENTITIES else ""
            rows[entity], at = self._answers_in(entity, "Id", wanted, also)
            read_at = read_at or at
        return changes(rows, read_at or datetime.now(UTC))

    def push_invoices(self, drafts: Sequence[InvoiceDraft], request_id: str,
                      single: bool = False) -> list[InvoiceResult]:
        ops = [BatchOp(d.bid, "update" if d.qbo_id else "create", "Invoice", _invoice_body(d)) for d in drafts]
        voids = {d.bid for d in drafts if d.void}
        results = self._single(ops, request_id, voids) if single else self._batch(ops, request_id, voids)
        return [InvoiceResult(r.bid, invoice_state(r.entity) if r.entity else None, _fault(r.fault))
                for r in results]

    def open_balances(self, qbo_ids: Sequence[str]) -> dict[str, InvoiceState]:
        """Invoices by Id, 1,000 to a query (QuickBooks' MAXRESULTS ceiling): the fewest calls its query language
        allows."""
        ids = sorted(set(qbo_ids), key=lambda x: (len(x), x))
        out: dict[str, InvoiceState] = {}
        for i in range(0, len(ids), MAX_PAGE):
            where = "Id IN (" + ", ".join(quote(x) for x in ids[i:i + MAX_PAGE]) + ")"
            for row in self.query_page("Invoice", where, 1, MAX_PAGE):
                state = invoice_state(row)
                out[state.qbo_id] = state
        return out

    def push_payments(self, drafts: Sequence[PaymentDraft], request_id: str,
                      single: bool = False) -> list[PaymentResult]:
        ops = [BatchOp(d.bid, "delete" if d.delete else "update" if d.qbo_id else "create", "Payment",
                       _payment_body(d)) for d in drafts]
        results = self._single(ops, request_id, set()) if single else self._batch(ops, request_id, set())
        return [PaymentResult(r.bid, payment_state(r.entity) if r.entity else None, _fault(r.fault))
                for r in results]

    def payment_method_id(self, name: str, credit_card: bool, request_id: str) -> str:
        """A PaymentMethod found by name, else created once (Name unique; Type CREDIT_CARD or NON_CREDIT_CARD)."""
        found = self.query_page("PaymentMethod", f"Name = {quote(name)}", 1, 1)
        if found:
            return str(found[0]["Id"])
        body = {"Name": name, "Type": "CREDIT_CARD" if credit_card else "NON_CREDIT_CARD"}
        return str(self.create("PaymentMethod", body, request_id=request_id)["Id"])

    def _single(self, ops: list[BatchOp], request_id: str, voids: set[str]) -> list[BatchResult]:
        """One write as its own request: `?operation=void` (Invoice) and `?operation=delete` (Payment) where a batch
        item would say so (qbo-facts fixtures invoice-void, invoice-delete). A refusal of the record, or a stale
        SyncToken, comes back as its fault, as it would inside a batch; throttling and outages raise."""
        if len(ops) != 1:
            raise ValueError(f"a single request carries one operation, got {len(ops)}")
        op = ops[0]
        operation = "void" if op.bid in voids else "delete" if op.operation == "delete" else ""
        try:
            response = self._post(op.entity.lower(), op.body, request_id=request_id,
                                  params={"operation": operation} if operation else None)
        except QuickBooksError as exc:
            if not (refused(exc) or isinstance(exc, StaleObject)):
                raise
            return [BatchResult(op.bid, fault={"code": exc.code, "message": exc.message, "detail": exc.detail})]
        return [BatchResult(op.bid, entity=response.get(op.entity))]

    def _batch(self, ops: list[BatchOp], request_id: str, voids: set[str]) -> list[BatchResult]:
        if not 0 < len(ops) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} operations, got {len(ops)}")
        items = []
        for op in ops:
            item = {"bId": op.bid, "operation": op.operation, op.entity: op.body}
            if op.bid in voids:
                item["optionsData"] = "void"  # void in a batch: operation update + optionsData void (Intuit, batch)
            items.append(item)
        response = self._post("batch", {"BatchItemRequest": items}, request_id=request_id)
        by_bid = {op.bid: op.entity for op in ops}
        results = []
        for item in response.get("BatchItemResponse", []):
            bid = item.get("bId", "")
            if "Fault" in item:
                err = (item["Fault"].get("Error") or [{}])[0]
                results.append(BatchResult(bid, fault={"code": str(err.get("code", "")),
                                                       "message": err.get("Message", ""),
                                                       "detail": err.get("Detail", "")}))
            else:
                entity = item.get(by_bid.get(bid, "")) or next(
                    (v for k, v in item.items() if k in ("Invoice", "Payment") and isinstance(v, dict)), None)
                results.append(BatchResult(bid, entity=entity))
        return results


def _customer_results(results: list[BatchResult]) -> list[CustomerResult]:
    return [CustomerResult(r.bid, customer_state(r.entity) if r.entity else None, _fault(r.fault)) for r in results]


def _fault(fault: dict | None) -> Fault | None:
    return Fault(fault.get("code", ""), fault.get("message", ""), fault.get("detail", "")) if fault else None


def _invoice_body(d: InvoiceDraft) -> dict:
    if d.void:
        return {"Id": d.qbo_id, "SyncToken": d.sync_token}
    lines = []
    for line in d.lines:
        detail: dict[str, Any] = {"ItemRef": {"value": line.item_id}, "Qty": line.qty, "UnitPrice": line.unit_price}
        if line.tax_code_id:
            detail["TaxCodeRef"] = {"value": line.tax_code_id}
        if line.class_id:
            detail["ClassRef"] = {"value": line.class_id}
        lines.append({"DetailType": "SalesItemLineDetail", "Amount": line.amount, "Description": line.description,
                      "SalesItemLineDetail": detail})
    body: dict[str, Any] = {"CustomerRef": {"value": d.customer_id}, "Line": lines, "PrivateNote": d.private_note}
    if d.txn_date:
        body["TxnDate"] = d.txn_date.isoformat()
    if d.due_date:
        body["DueDate"] = d.due_date.isoformat()
    if d.doc_number:
        body["DocNumber"] = d.doc_number
    if d.class_id:
        body["ClassRef"] = {"value": d.class_id}
    if d.ship_to is not None and (ship := address_body(d.ship_to)):
        body["ShipAddr"] = ship
    tax: dict[str, Any] = {}
    if d.txn_tax_code_id:
        tax["TxnTaxCodeRef"] = {"value": d.txn_tax_code_id}
    if d.total_tax is not None:
        tax["TotalTax"] = d.total_tax
    if tax:
        body["TxnTaxDetail"] = tax
    if d.qbo_id:
        body.update(Id=d.qbo_id, SyncToken=d.sync_token, sparse=True)
    return body


def _payment_body(d: PaymentDraft) -> dict:
    if d.delete:
        return {"Id": d.qbo_id, "SyncToken": d.sync_token}
    body: dict[str, Any] = {"CustomerRef": {"value": d.customer_id}, "TotalAmt": d.total,
                            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": txn, "TxnType": "Invoice"}]}
                                     for txn, amount in d.applied],
                            "PrivateNote": d.private_note}
    if d.txn_date:
        body["TxnDate"] = d.txn_date.isoformat()
    if d.deposit_account_id:
        body["DepositToAccountRef"] = {"value": d.deposit_account_id}
    if d.method_id:
        body["PaymentMethodRef"] = {"value": d.method_id}
    if d.reference:
        body["PaymentRefNum"] = d.reference[:21]
    if d.qbo_id:
        body.update(Id=d.qbo_id, SyncToken=d.sync_token, sparse=True)
    return body


__all__ = ["QuickBooksAdapter", "QuickBooksError", "quote", "dumps"]
