"""In-memory fakes of the ports, with the same conditional semantics as the DynamoDB adapters."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.domain.connections import Connection
from shared.fieldservice.errors import Conflict, NotFound, ValidationFailed
from shared.quickbooks.tokens import GrantRevoked, StoredTokens, TokenSet

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.domain import ports, record_sync, sync_requests
    from shared.domain.connections import ConnectionRepo, OAuthPort, SchedulePort
    from shared.domain.records import ErrorEntry, Link
    from shared.domain.review import HeldEntry, ReviewQueue
    from shared.domain.run_log import RunLog
    from shared.domain.sync_run import Cursors
    from shared.fieldservice.models import Invoice, Item, Payment
    from shared.fieldservice.port import FieldService
    from shared.quickbooks.port import ItemState, MoneyPort, QuickBooksPort
    from shared.quickbooks.tokens import OAuthProvider, TokenStore


class FakeTokenStore:
    def __init__(self):
        self._lock = threading.Lock()
        self.items: dict[str, StoredTokens] = {}

    def load(self, tenant_id):
        with self._lock:
            return self.items.get(tenant_id)

    def put_new(self, tenant_id, realm_id, tokens):
        with self._lock:
            self.items[tenant_id] = StoredTokens(tenant_id, realm_id, tokens, 0)

    def try_lease(self, tenant_id, owner, now, until):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur is None or (cur.lease_until is not None and cur.lease_until >= now):
                return False
            self.items[tenant_id] = replace(cur, lease_owner=owner, lease_until=until)
            return True

    def expire_access(self, tenant_id):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur is not None:
                self.items[tenant_id] = replace(cur, tokens=replace(cur.tokens, access_expires_at=0))

    def save_refreshed(self, tenant_id, owner, tokens):
        with self._lock:
            cur = self.items[tenant_id]
            if cur.lease_owner != owner:
                return False
            self.items[tenant_id] = replace(cur, tokens=tokens, generation=cur.generation + 1)
            return True

    def release(self, tenant_id, owner):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur and cur.lease_owner == owner:
                self.items[tenant_id] = replace(cur, lease_owner=None, lease_until=None)

    def delete(self, tenant_id):
        with self._lock:
            self.items.pop(tenant_id, None)


class FakeOAuth:
    """Rotates the refresh token on every refresh and retires the old one, like Intuit (without the grace)."""

    def __init__(self, clock):
        self.clock, self.refreshes, self.revoked, self.valid_refresh = clock, 0, [], {"r0"}
        self.exchanged: list[str] = []
        self._lock = threading.Lock()

    def authorization_url(self, state):
        return f"https://appcenter.example/connect?state={state}"

    def exchange(self, code, realm_id):
        self.exchanged.append(code)
        return TokenSet("a-new", "r0", self.clock() + 3600, self.clock() + 8_640_000)

    def refresh(self, refresh_token):
        with self._lock:
            if refresh_token not in self.valid_refresh:
                raise GrantRevoked("invalid_grant")
            self.refreshes += 1
            new = f"r{self.refreshes}"
            self.valid_refresh = {new}
            return TokenSet(f"a{self.refreshes}", new, self.clock() + 3600)

    def revoke(self, token):
        self.revoked.append(token)
        self.valid_refresh.discard(token)


class FakeConnections:
    def __init__(self):
        self.items: dict[str, Connection] = {}
        self.states: dict[str, tuple[str, int]] = {}

    def get(self, tenant_id):
        return self.items.get(tenant_id)

    def by_realm(self, realm_id):
        return [c for c in self.items.values() if c.realm_id == realm_id]

    def save(self, connection):
        self.items[connection.tenant_id] = connection

    def mark_synced(self, tenant_id, at):
        connection = self.items.get(tenant_id)
        if connection is not None and (connection.last_sync_at is None or connection.last_sync_at < at):
            connection.last_sync_at = at

    def put_state(self, nonce, tenant_id, expires_at):
        self.states[nonce] = (tenant_id, expires_at)

    def consume_state(self, nonce):
        found = self.states.pop(nonce, None)
        return found[0] if found else None


class FakeSchedules:
    def __init__(self):
        self.paused, self.deleted, self.upserts = [], [], []

    def pause(self, tenant_id):
        self.paused.append(tenant_id)

    def delete(self, tenant_id):
        self.deleted.append(tenant_id)

    def upsert(self, tenant_id, expression, timezone):
        self.upserts.append((tenant_id, expression, timezone))

    def describe(self, tenant_id):
        last = next((u for u in reversed(self.upserts) if u[0] == tenant_id), None)
        if last is None or tenant_id in self.deleted:
            return None
        return {"expression": last[1], "timezone": last[2], "created_at": None,
                "state": "DISABLED" if tenant_id in self.paused else "ENABLED"}


class FakeSyncGate:
    """The sync gate (shared/data/sync_gate.py) in memory, with the same conditions."""

    def __init__(self, clock=lambda: 0.0):
        from shared.domain.sync_requests import GateState

        self._state_type, self._clock, self._lock = GateState, clock, threading.Lock()
        self.items: dict[str, dict] = {}

    def _view(self, item):
        live = bool(item.get("holder")) and item.get("until", -1) >= self._clock()
        return self._state_type(item["holder"] if live else None, item.get("changes", 0), item.get("seen", 0))

    def note_change(self, tenant_id):
        with self._lock:
            item = self.items.setdefault(tenant_id, {"holder": ""})
            item["changes"] = item.get("changes", 0) + 1
            return self._view(item)

    def acquire(self, tenant_id, run_id, lease_s):
        with self._lock:
            item = self.items.setdefault(tenant_id, {"holder": ""})
            now = self._clock()
            if item["holder"] in ("", run_id) or item.get("until", -1) < now:
                item.update(holder=run_id, until=now + lease_s, seen=item.get("changes", 0))
            return self._view(item)

    def renew(self, tenant_id, run_id, lease_s):
        with self._lock:
            item = self.items.get(tenant_id)
            if not item or item["holder"] != run_id:
                return False
            item["until"] = self._clock() + lease_s
            return True

    def release(self, tenant_id, run_id, seen):
        with self._lock:
            item = self.items.get(tenant_id)
            if not item or item["holder"] != run_id or item.get("changes", 0) != seen:
                return False
            item.update(holder="", until=-1)
            return True

    def abandon(self, tenant_id, run_id):
        with self._lock:
            item = self.items.get(tenant_id)
            if item and item["holder"] == run_id:
                item.update(holder="", until=-1)

    def read(self, tenant_id):
        with self._lock:
            return self._view(self.items.get(tenant_id, {"holder": ""}))


# -- money: invoices and payments (tests/unit/domain/test_invoice_sync.py, test_payment_sync.py) --------------------

class FakeLinkStore:
    """The link repository in memory (shared/data/repos.py LinkRepo): keyed by (entity, fsp id), with by_qbo."""

    def __init__(self):
        self.rows: dict[tuple[str, str], Link] = {}

    def get(self, tenant_id, entity, fsp_id):
        return self.rows.get((entity, fsp_id))

    def get_many(self, tenant_id, entity, fsp_ids):
        return {i: self.rows[(entity, i)] for i in fsp_ids if (entity, i) in self.rows}

    def by_qbo(self, tenant_id, entity, qbo_id):
        return next((link for (e, _), link in self.rows.items() if e == entity and link.qbo_id == qbo_id), None)

    def by_qbo_many(self, tenant_id, entity, qbo_ids):
        found = {i: self.by_qbo(tenant_id, entity, i) for i in qbo_ids}
        return {i: link for i, link in found.items() if link is not None}

    def all(self, tenant_id, entity):
        return [link for (e, _), link in self.rows.items() if e == entity]

    def put(self, link):
        self.rows[(link.entity, link.fsp_id)] = link

    def put_many(self, links):
        for link in links:
            self.put(link)

    def put_pending(self, link):
        return self.rows.setdefault((link.entity, link.fsp_id), link)

    def clear(self, tenant_id, entity, fsp_id):
        self.rows.pop((entity, fsp_id), None)


class FakeRunLog:
    def __init__(self):
        self.counts: dict[str, int] = {}
        self.errors: dict[tuple[str, str], dict] = {}  # open entries by (entity, id)

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def error(self, entity, entity_id, direction, code, message, detail="", waits_for=""):
        self.errors[(entity, entity_id)] = {"code": str(code), "message": message, "detail": detail,
                                            "direction": direction, "waits_for": waits_for}

    def resolved(self, entity, entity_id):
        self.errors.pop((entity, entity_id), None)


class FakeMoneyQuickBooks:
    """QuickBooks' side of the money path, with its rules: batch `requestid` replay (which it may forget), SyncToken
    (5010), void (zero amounts, PrivateNote "Voided"), payments moving invoice balances, more than the open balance
    refused, DocNumber assigned when custom numbers are off and unique when on (6140), stated tax honoured, a tax
    code's rate otherwise, PaymentMethod names unique; refusals and a dropped answer after commit on demand."""

    def __init__(self, custom_numbers=False, automated_tax=False, rate=Decimal("8")):
        from shared.quickbooks.port import MoneyPrefs

        self.prefs = MoneyPrefs(custom_txn_numbers=custom_numbers, automated_sales_tax=automated_tax)
        self.rate = rate
        self.invoices: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.methods: dict[str, str] = {"Cash": "1", "Check": "2"}
        self.items: dict[str, ItemState] = {}  # Id -> names unique, case-insensitively (6240)
        self.answers: dict[str, Any] = {}  # request id -> its first answer, replayed
        self.calls: list[tuple[str, int]] = []
        self.refuse: dict[str, tuple[str, str]] = {}  # PrivateNote marker or Id -> (code, message)
        self.crash_after_commit = 0
        self._next = 100
        self.next_number = 1001
        from shared.domain.lanes import IDLE

        self.pacing = IDLE  # the company's budget as pacing shows it: no calls in the last minute

    def _id(self):
        self._next += 1
        return str(self._next)

    def money_prefs(self):
        self.calls.append(("preferences", 1))
        return self.prefs

    def forget_request_ids(self):
        self.answers.clear()

    # -- invoices
    def budget(self):
        return self.pacing  # what the company may send now (lanes.IDLE unless a test spends it)

    def concurrent(self, want):
        return nullcontext(1)

    def push_invoices(self, drafts, request_id, single=False):
        from shared.quickbooks.port import InvoiceResult

        assert not single or len(drafts) == 1
        self.calls.append(("single" if single else "batch", len(drafts)))
        if request_id in self.answers:
            return self.answers[request_id]
        results = []
        for d in drafts:
            try:
                results.append(InvoiceResult(d.bid, invoice=self._write_invoice(d)))
            except _Refused as r:
                results.append(InvoiceResult(d.bid, fault=r.fault))
        return self._answer(request_id, results)

    def _answer(self, request_id, results):
        from shared.quickbooks.errors import Unavailable

        self.answers[request_id] = results
        if self.crash_after_commit:
            self.crash_after_commit -= 1
            raise Unavailable("10000", "connection dropped", "", None)
        return results

    def _refusal(self, *keys):
        for key in keys:
            if key in self.refuse:
                code, message = self.refuse[key]
                raise _Refused(code, message)

    def _write_invoice(self, d):
        from shared.quickbooks.adapter import invoice_state

        current = self.invoices.get(d.qbo_id) if d.qbo_id else None
        if d.qbo_id and current is None:
            raise _Refused("610", "Object Not Found")
        if current is not None and current["SyncToken"] != d.sync_token:
            raise _Refused("5010", "Stale Object Error")
        self._refusal(d.private_note, d.qbo_id or "")
        if d.void:
            assert current is not None  # a void names its invoice
            doc = dict(current, TotalAmt=Decimal(0), Balance=Decimal(0), PrivateNote="Voided",
                       SyncToken=str(int(current["SyncToken"]) + 1), TxnTaxDetail={"TotalTax": Decimal(0)})
            self.invoices[d.qbo_id] = doc
            return invoice_state(doc)
        subtotal = sum((ln.amount for ln in d.lines), Decimal(0))
        taxable = sum((ln.amount for ln in d.lines if ln.tax_code_id != "NON"), Decimal(0))
        if d.total_tax is not None:
            tax = d.total_tax
        elif d.txn_tax_code_id or self.prefs.automated_sales_tax:
            tax = (taxable * self.rate / 100).quantize(Decimal("0.01"))
        else:
            tax = Decimal(0)
        number = d.doc_number if d.doc_number else (current or {}).get("DocNumber")
        taken = any(i.get("DocNumber") == d.doc_number and i["Id"] != d.qbo_id for i in self.invoices.values())
        if d.doc_number and self.prefs.custom_txn_numbers and taken:
            raise _Refused("6140", "Duplicate Document Number Error")
        if number is None and not self.prefs.custom_txn_numbers:
            number, self.next_number = str(self.next_number), self.next_number + 1
        total = subtotal + tax
        applied = self._applied(d.qbo_id) if d.qbo_id else Decimal(0)
        doc = {"Id": d.qbo_id or self._id(), "SyncToken": str(int(current["SyncToken"]) + 1) if current else "0",
               "DocNumber": number, "CustomerRef": {"value": d.customer_id}, "TotalAmt": total,
               "Balance": total - applied, "TxnTaxDetail": {"TotalTax": tax}, "PrivateNote": d.private_note,
               "TxnDate": str(d.txn_date), "Lines": d.lines}
        self.invoices[doc["Id"]] = doc
        return invoice_state(doc)

    def _applied(self, invoice_id, excluding=None):
        return sum((amount for p in self.payments.values() if p["Id"] != excluding
                    for txn, amount in p["applied"] if txn == invoice_id), Decimal(0))

    def _rebalance(self, invoice_id):
        doc = self.invoices[invoice_id]
        balance = doc["TotalAmt"] - self._applied(invoice_id)
        if balance != doc["Balance"]:
            self.invoices[invoice_id] = dict(doc, Balance=balance, SyncToken=str(int(doc["SyncToken"]) + 1))

    def open_balances(self, qbo_ids):
        from shared.quickbooks.adapter import invoice_state

        ids = sorted(set(qbo_ids))
        self.calls.append(("query", -(-len(ids) // 1000)))
        return {i: invoice_state(self.invoices[i]) for i in ids if i in self.invoices}

    # -- payments
    def push_payments(self, drafts, request_id, single=False):
        from shared.quickbooks.port import PaymentResult

        assert not single or len(drafts) == 1
        self.calls.append(("single" if single else "batch", len(drafts)))
        if request_id in self.answers:
            return self.answers[request_id]
        results = []
        for d in drafts:
            try:
                results.append(PaymentResult(d.bid, payment=self._write_payment(d)))
            except _Refused as r:
                results.append(PaymentResult(d.bid, fault=r.fault))
        return self._answer(request_id, results)

    def _write_payment(self, d):
        from shared.quickbooks.port import PaymentState

        current = self.payments.get(d.qbo_id) if d.qbo_id else None
        if d.qbo_id and current is None:
            raise _Refused("610", "Object Not Found")
        if current is not None and current["SyncToken"] != d.sync_token:
            raise _Refused("5010", "Stale Object Error")
        self._refusal(d.private_note)
        if d.delete:
            assert current is not None  # a delete names its payment
            del self.payments[d.qbo_id]
            for txn, _ in current["applied"]:
                self._rebalance(txn)
            return None
        for txn, amount in d.applied:
            invoice = self.invoices[txn]
            if amount > invoice["TotalAmt"] - self._applied(txn, excluding=d.qbo_id):
                raise _Refused("6000", "The payment amount is more than the open balance")
        doc = {"Id": d.qbo_id or self._id(), "SyncToken": str(int(current["SyncToken"]) + 1) if current else "0",
               "TotalAmt": d.total, "applied": tuple(d.applied), "method": d.method_id, "TxnDate": d.txn_date,
               "DepositTo": d.deposit_account_id, "CustomerRef": d.customer_id}
        self.payments[doc["Id"]] = doc
        for txn, _ in set(d.applied) | set((current or {}).get("applied", ())):
            self._rebalance(txn)
        return PaymentState(doc["Id"], doc["SyncToken"], d.total, d.total - sum((a for _, a in d.applied),
                                                                                Decimal(0)), d.txn_date, d.applied)

    def read_payment(self, qbo_id):
        from shared.quickbooks.shapes import payment_state

        return payment_state(self.payment_row(qbo_id))

    def items_by(self, ids, names):
        self.calls.append(("items_query", 1))
        wanted = {n.casefold() for n in names}
        return [i for i in self.items.values() if i.qbo_id in ids or i.name.casefold() in wanted]

    def create_item(self, draft, request_id):
        from shared.quickbooks.errors import DuplicateName
        from shared.quickbooks.port import ItemState

        self.calls.append(("create_item", 1))
        if request_id in self.answers:
            return self.answers[request_id]
        if any(i.name.casefold() == draft.name.casefold() for i in self.items.values()):
            raise DuplicateName("6240", "Duplicate Name Exists Error", "The name supplied already exists.", 400)
        item = ItemState(self._id(), "0", draft.name, draft.kind, draft.unit_price, draft.purchase_cost, draft.taxable)
        self.items[item.qbo_id] = self.answers[request_id] = item
        return item

    def payment_method_id(self, name, credit_card, request_id):
        self.calls.append(("payment_method", 1))
        if name not in self.methods:
            self.methods[name] = self._id()
        return self.methods[name]

    # -- what CDC would report (as JSON; `read_payment` types it as the adapter does)
    def payment_row(self, qbo_id):
        p = self.payments[qbo_id]
        return {"Id": p["Id"], "SyncToken": p["SyncToken"], "TotalAmt": p["TotalAmt"],
                "UnappliedAmt": p["TotalAmt"] - sum((a for _, a in p["applied"]), Decimal(0)),
                "TxnDate": str(p["TxnDate"]), "PaymentMethodRef": {"value": p["method"]} if p["method"] else None,
                "Line": [{"Amount": a, "LinkedTxn": [{"TxnId": t, "TxnType": "Invoice"}]} for t, a in p["applied"]]}

    def enter_payment(self, invoice_id, amount, when="2026-11-20"):
        """A payment entered by a user in QuickBooks."""
        from datetime import date

        doc = {"Id": self._id(), "SyncToken": "0", "TotalAmt": amount, "applied": ((invoice_id, amount),),
               "method": "1", "TxnDate": date.fromisoformat(when), "DepositTo": "35", "CustomerRef": ""}
        self.payments[doc["Id"]] = doc
        self._rebalance(invoice_id)
        return doc["Id"]


class _Refused(Exception):
    def __init__(self, code, message):
        from shared.quickbooks.port import Fault

        self.fault = Fault(code, message)


def _found(rows: dict, record_id: str):
    """A platform read: an id the platform does not have is its 404, the type the adapter raises."""
    if record_id not in rows:
        raise NotFound(f"GET {record_id}: not found", code="not_found", status=404)
    return rows[record_id]


class FakeMoneyPlatform:
    """The platform's invoices and payments (emulators/fieldservice rules): balance = total - live payments;
    payments created with an idempotency key once; status paid only from approved/ready_for_sync/paid."""

    def __init__(self):
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}
        self.keys: dict[str, str] = {}
        self.updates: list[tuple[str, dict]] = []
        self.items: dict[str, Item] = {}
        self._n = 0

    def put_invoice(self, invoice_id, amounts=("100.00",), status="ready_for_sync", client_id="cli_1", tax="0.00",
                    number=None, site_id=None):
        from datetime import UTC, date, datetime

        from shared.fieldservice.models import Invoice, InvoiceLine, InvoiceStatus

        lines = tuple(InvoiceLine(str(i), "itm_1", "Service", Decimal("1"), Decimal(a), Decimal(a), True)
                      for i, a in enumerate(amounts))
        subtotal = sum((ln.amount for ln in lines), Decimal(0))
        previous = self.invoices.get(invoice_id)
        now = datetime.now(UTC)
        invoice = Invoice(invoice_id, number or f"P-{invoice_id}", getattr(previous, "external_number", None),
                          client_id, site_id, None, None, InvoiceStatus(status), date(2026, 11, 2), None, "USD", lines,
                          subtotal, Decimal(tax), subtotal + Decimal(tax), Decimal(0), subtotal + Decimal(tax), None,
                          now, now)
        self.invoices[invoice_id] = invoice
        self._recompute(invoice_id)
        return self.invoices[invoice_id]

    def _recompute(self, invoice_id):
        from dataclasses import replace

        inv = self.invoices[invoice_id]
        paid = sum((p.amount for p in self.payments.values() if p.invoice_id == invoice_id and p.deleted_at is None),
                   Decimal(0))
        self.invoices[invoice_id] = replace(inv, amount_paid=paid, balance=inv.total - paid)

    def put_payment(self, payment_id, invoice_id, amount, method="check", deleted=False):
        from datetime import UTC, date, datetime

        from shared.fieldservice.models import Payment, PaymentMethod

        now = datetime.now(UTC)
        payment = Payment(payment_id, invoice_id, "cli_1", Decimal(amount), date(2026, 11, 5), PaymentMethod(method),
                          None, now, now, now if deleted else None)
        self.payments[payment_id] = payment
        self._recompute(invoice_id)
        return payment

    def add_item(self, item_id, name, type="service", price="0"):
        from datetime import UTC, datetime

        from shared.fieldservice.models import Item, ItemType

        now = datetime.now(UTC)
        self.items[item_id] = Item(item_id, name, ItemType(type), None, None, Decimal(price), None, True, True, now,
                                   now)
        return self.items[item_id]

    def get_item(self, tenant_id, item_id):
        return _found(self.items, item_id)

    def get_invoice(self, tenant_id, invoice_id):
        return _found(self.invoices, invoice_id)

    def update_invoice(self, tenant_id, invoice_id, **changes):
        from dataclasses import replace

        self.updates.append((invoice_id, changes))
        inv = self.invoices[invoice_id]
        if changes.get("status") == "paid" and inv.status.value not in ("approved", "ready_for_sync", "paid"):
            raise Conflict(f"PATCH /invoices/{invoice_id}: status change not allowed", code="409", status=409)
        if "tax_total" in changes:
            inv = replace(inv, tax_total=changes["tax_total"], total=inv.subtotal + changes["tax_total"])
        if "external_number" in changes:
            inv = replace(inv, external_number=changes["external_number"])
        if "status" in changes:
            from shared.fieldservice.models import InvoiceStatus

            inv = replace(inv, status=InvoiceStatus(changes["status"]))
        self.invoices[invoice_id] = inv
        self._recompute(invoice_id)
        return self.invoices[invoice_id]

    def create_payment(self, tenant_id, draft, idempotency_key=None):
        if idempotency_key in self.keys:
            return self.payments[self.keys[idempotency_key]]
        self._n += 1
        payment = self.put_payment(f"pay_q{self._n}", draft.invoice_id, draft.amount, str(draft.method))
        if idempotency_key:
            self.keys[idempotency_key] = payment.id
        return payment

    def update_payment(self, tenant_id, payment_id, **changes):
        from dataclasses import replace

        self.payments[payment_id] = replace(self.payments[payment_id], **{k: v for k, v in changes.items()
                                                                          if k == "amount"})
        self._recompute(self.payments[payment_id].invoice_id)
        return self.payments[payment_id]

    def delete_payment(self, tenant_id, payment_id):
        from dataclasses import replace
        from datetime import UTC, datetime

        self.payments[payment_id] = replace(self.payments[payment_id], deleted_at=datetime.now(UTC))
        self._recompute(self.payments[payment_id].invoice_id)
        return self.payments[payment_id]


class FakeReviewQueue:
    """Review mode's queue (shared/data/repos.py ReviewRepo) in memory, with the same transitions (review.next_state)
    and the same conditions on decisions and outcomes."""

    def __init__(self, clock=None):
        from datetime import UTC, datetime

        self._clock = clock or (lambda: datetime.now(UTC))
        self.items: dict[tuple, HeldEntry] = {}
        self.log: list = []

    @staticmethod
    def _key(tenant_id, e):
        return tenant_id, e.side, e.entity, e.entity_id

    def hold(self, tenant_id, entries):
        from shared.domain.review import HeldEntry, next_state

        for e in entries:
            current = self.items.get(self._key(tenant_id, e))
            state = next_state(current, e)
            if state is not None:
                self.items[self._key(tenant_id, e)] = HeldEntry(e, state, self._clock())

    def _tenant_items(self, tenant_id, state=None):
        return [h for k, h in sorted(self.items.items()) if k[0] == tenant_id and (state is None or h.state == state)]

    def approved(self, tenant_id):
        from shared.domain.review import State

        return [h.entry for h in self._tenant_items(tenant_id, State.APPROVED)]

    def kept(self, tenant_id):
        from shared.domain.review import State

        return [h.entry for h in self._tenant_items(tenant_id, State.KEPT)]

    def release(self, tenant_id):
        from dataclasses import replace as _replace

        from shared.domain.review import State

        for key, held in list(self.items.items()):
            if key[0] == tenant_id and held.state in (State.WAITING, State.KEPT):
                self.items[key] = _replace(held, state=State.APPROVED, decided_by="review mode turned off")
        return self.approved(tenant_id)

    def done(self, tenant_id, entries, outcome, message=""):
        from dataclasses import replace as _replace

        from shared.domain.review import ResultEntry, State

        if outcome not in (State.SUCCEEDED, State.FAILED):
            raise ValueError(outcome)
        for e in entries:
            current = self.items.get(self._key(tenant_id, e))
            if current is None or current.state != State.APPROVED:
                continue
            self.items[self._key(tenant_id, e)] = _replace(current, state=outcome, message=message)
            self.log.append((tenant_id, ResultEntry(e, outcome, message, self._clock())))

    def waiting(self, tenant_id):
        from shared.domain.review import State

        return self._tenant_items(tenant_id, State.WAITING)

    def decide(self, tenant_id, entry, state, by):
        from dataclasses import replace as _replace

        from shared.domain.review import State

        current = self.items.get(self._key(tenant_id, entry))
        if current is None or current.state != State.WAITING:
            return False
        self.items[self._key(tenant_id, entry)] = _replace(current, state=state, decided_by=by,
                                                           decided_at=self._clock())
        return True

    def count(self, tenant_id, state):
        return len(self._tenant_items(tenant_id, state))

    def page(self, tenant_id, state, side, cursor, limit):
        from shared.domain.pages import Page

        rows = [h for h in self._tenant_items(tenant_id, state) if side is None or h.entry.side == side]
        start = int(cursor or 0)
        return Page(rows[start:start + limit], str(start + limit) if start + limit < len(rows) else None)

    def results(self, tenant_id, outcome, cursor, limit):
        from shared.domain.pages import Page

        rows = [r for t, r in reversed(self.log) if t == tenant_id and r.outcome == outcome]
        start = int(cursor or 0)
        return Page(rows[start:start + limit], str(start + limit) if start + limit < len(rows) else None)
# -- the sync engine's collaborators (tests/unit/domain/test_sync_engine.py) ------------------------------------

class FakeBooks:
    """A QuickBooks company for the sync engine: customers and items with SyncTokens and change times, sparse
    updates refused on a stale SyncToken (5010), batch creates replayed by requestid, changes by time."""

    def __init__(self, clock):
        self.clock = clock
        self.rows: dict[str, dict[str, dict]] = {"Customer": {}, "Item": {}, "Class": {}, "Invoice": {},
                                                 "Payment": {}}
        self.answers: dict[str, Any] = {}  # request id -> its first answer, replayed
        self.calls: list[str] = []
        self.fail_next: list[Exception] = []
        self.realm_id = "realm-1"
        from shared.domain.lanes import IDLE

        self.pacing = IDLE  # the company's budget as pacing shows it: no calls in the last minute
        self.vendor_names: list[str] = []  # vendors' and employees' DisplayNames: they share the customers' (6240)

    def _stamp(self, row):
        row["MetaData"] = {"LastUpdatedTime": self.clock().isoformat()}
        return row

    def add(self, entity, body):
        row = self._stamp({**body, "Id": str(sum(len(r) for r in self.rows.values()) + 1), "SyncToken": "0"})
        self.rows[entity][row["Id"]] = row
        return row

    def edit(self, entity, entity_id, **fields):
        row = self.rows[entity][entity_id]
        row.update(fields)
        row["SyncToken"] = str(int(row["SyncToken"]) + 1)
        self._stamp(row)
        return row

    def _take_fault(self):
        if self.fail_next:
            raise self.fail_next.pop(0)

    # What QuickBooks sends on its own, typed as the adapter types it (shared/quickbooks/shapes.py); `cdc_rows`
    # is CDC's answer as JSON, so a test can add what only CDC reports (a tombstone).
    def cdc_rows(self, entities, since):
        return {e: [dict(r) for r in self.rows[e].values()
                    if datetime.fromisoformat(r["MetaData"]["LastUpdatedTime"]) >= since] for e in entities}

    def changes_since(self, entities, since):
        from shared.quickbooks.shapes import changes

        self.calls.append("cdc")
        self._take_fault()
        return changes(self.cdc_rows(entities, since), self.clock())

    def customers_page(self, start, size=1000):
        from shared.quickbooks.shapes import customer_state

        self.calls.append("query")
        rows = sorted(self.rows["Customer"].values(), key=lambda r: int(r["Id"]))  # inactive ones too, by Id
        return [customer_state(dict(r)) for r in rows[start - 1:start - 1 + size]]

    def vendor_and_employee_names(self):
        self.calls.append("query")
        return list(self.vendor_names)

    def money_prefs(self):
        from shared.quickbooks.port import MoneyPrefs

        self.calls.append("preferences")
        return MoneyPrefs(custom_txn_numbers=True, automated_sales_tax=False, class_per_txn=False,
                          class_per_line=False)

    def customers_named(self, names):
        from shared.quickbooks.shapes import customer_state

        if not names:
            return []  # as the adapter: no names, no query
        self.calls.append("query")
        wanted = {n.casefold() for n in names}
        return [customer_state(r) for r in self.rows["Customer"].values() if r["DisplayName"].casefold() in wanted]

    # The port's typed writes, rendered to QuickBooks JSON as the adapter renders them (shared/quickbooks/shapes.py)
    # and applied by the JSON-level methods below, so a test can still intercept those.
    def create_customer(self, draft, request_id):
        from shared.quickbooks.shapes import customer_body, customer_state

        return customer_state(self.create("Customer", customer_body(draft), request_id))

    def create_customers(self, drafts, request_id):
        from shared.quickbooks.port import BatchOp
        from shared.quickbooks.shapes import customer_body

        ops = [BatchOp(str(i), "create", "Customer", customer_body(d)) for i, d in enumerate(drafts)]
        return _customer_results(self.batch(ops, request_id))

    def update_customer(self, change, request_id=None):
        from shared.quickbooks.shapes import customer_change_body, customer_state

        return customer_state(self.update("Customer", customer_change_body(change), request_id))

    def update_customers(self, changes, request_id):
        from shared.quickbooks.port import BatchOp
        from shared.quickbooks.shapes import customer_change_body

        ops = [BatchOp(str(i), "update", "Customer", customer_change_body(c)) for i, c in enumerate(changes)]
        return _customer_results(self.batch(ops, request_id))

    def create_item(self, draft, request_id):
        from shared.quickbooks.shapes import item_body, item_state

        return item_state(self.create("Item", item_body(draft), request_id))

    def update_item(self, change):
        from shared.quickbooks.shapes import item_change_body, item_state

        return item_state(self.update("Item", item_change_body(change)))

    def create_class(self, draft, request_id):
        from shared.quickbooks.shapes import class_body

        return self.create("Class", class_body(draft), request_id)["Id"]

    def items_by(self, ids, names):
        from shared.quickbooks.shapes import item_state

        self.calls.append("query")
        wanted = {n.casefold() for n in names}
        return [item_state(r) for r in self.rows["Item"].values() if r["Id"] in ids or r["Name"].casefold() in wanted]

    def classes_named(self, names):
        from shared.quickbooks.shapes import class_state

        if not names:
            return []  # as the adapter: no names, no query
        self.calls.append("query")
        return [class_state(r) for r in self.rows["Class"].values() if r["Name"] in names]

    def by_ids(self, ids):
        from shared.quickbooks.shapes import changes

        rows = {}
        for entity, wanted in ids.items():
            self.calls.append("query")
            self._take_fault()
            rows[entity] = [dict(self.rows[entity][i]) for i in wanted if i in self.rows[entity]]
        return changes(rows, self.clock())

    def read(self, entity, entity_id):
        self.calls.append("read")
        self._take_fault()
        return dict(self.rows[entity][entity_id])

    def read_customer(self, qbo_id):
        from shared.quickbooks.shapes import customer_state

        return customer_state(self.read("Customer", qbo_id))

    def read_item(self, qbo_id):
        from shared.quickbooks.shapes import item_state

        return item_state(self.read("Item", qbo_id))

    def read_invoice(self, qbo_id):
        from shared.quickbooks.shapes import invoice_state

        return invoice_state(self.read("Invoice", qbo_id))

    def read_payment(self, qbo_id):
        from shared.quickbooks.shapes import payment_state

        return payment_state(self.read("Payment", qbo_id))

    def every_item(self):
        from shared.quickbooks.shapes import item_state

        self.calls.append("query")
        return [item_state(dict(r)) for r in self.rows["Item"].values() if r.get("Active", True) is not False]

    def update(self, entity, body, request_id=None, sparse=True):
        from shared.quickbooks.errors import StaleObject

        self.calls.append("update")
        self._take_fault()
        row = self.rows[entity][body["Id"]]
        if body.get("SyncToken") != row["SyncToken"]:
            raise StaleObject("5010", "Stale Object Error", "You and someone else edited", 400)
        fields = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "sparse")}
        return dict(self.edit(entity, body["Id"], **fields))

    def concurrent(self, want):
        return nullcontext(1)

    def budget(self):
        return self.pacing  # what the company may send now (lanes.IDLE unless a test spends it)

    def create(self, entity, body, request_id):
        from shared.quickbooks.errors import DuplicateName

        self.calls.append("create")
        self._take_fault()
        if request_id in self.answers:
            return self.answers[request_id]
        if entity == "Customer" and self._name_taken(body["DisplayName"]):
            raise DuplicateName("6240", "Duplicate Name Exists Error", "The name supplied already exists.", 400)
        row = dict(self.add(entity, body))
        self.answers[request_id] = row
        return row

    def _name_taken(self, name):
        """Customers, vendors and employees share one DisplayName space, inactive ones included (6240)."""
        taken = [c["DisplayName"] for c in self.rows["Customer"].values()] + self.vendor_names
        return name.casefold() in {n.casefold() for n in taken}

    def batch(self, ops, request_id):
        from shared.quickbooks.port import BatchResult

        self.calls.append("batch")
        self._take_fault()
        if request_id in self.answers:
            return self.answers[request_id]
        results = []
        for op in ops:
            if op.operation == "update":
                row = self.rows[op.entity].get(op.body["Id"])
                if row is None or row["SyncToken"] != op.body.get("SyncToken"):
                    results.append(BatchResult(op.bid, fault={"code": "5010", "message": "Stale Object Error"}))
                    continue
                fields = {k: v for k, v in op.body.items() if k not in ("Id", "SyncToken", "sparse")}
                results.append(BatchResult(op.bid, entity=dict(self.edit(op.entity, op.body["Id"], **fields))))
                continue
            if self._name_taken(op.body["DisplayName"]):
                results.append(BatchResult(op.bid, fault={"code": "6240", "message": "Duplicate Name Exists Error"}))
                continue
            results.append(BatchResult(op.bid, entity=dict(self.add("Customer", op.body))))
        self.answers[request_id] = results
        return results


def _customer_results(results):
    from shared.quickbooks.port import CustomerResult, Fault
    from shared.quickbooks.shapes import customer_state

    return [CustomerResult(r.bid, customer_state(r.entity) if r.entity else None,
                           Fault(r.fault.get("code", ""), r.fault.get("message", ""), r.fault.get("detail", ""))
                           if r.fault else None) for r in results]


class FakePlatform:
    """The platform's clients and sites: lists by (updated_at, id) with inclusive `updated_since`, idempotent
    creates, updates that move `updated_at`."""

    def __init__(self, clock):
        self.clock = clock
        self.clients: dict = {}
        self.sites: dict = {}
        self.items: dict = {}
        self.invoices: dict = {}
        self.payments: dict = {}
        self.job_types: dict[str, dict] = {}
        self.keys: dict[str, str] = {}
        self.calls: list[str] = []

    def _list(self, rows, updated_since, cursor, limit, **match):
        """The contract's paging: the cursor is the last (updated_at, id) returned, so a record updated while a
        client pages moves to the end of the order and comes again later, never skipped. `match`: a filter's
        field and value (None: not filtered)."""
        from shared.fieldservice.models import Page

        self.calls.append("list")
        ordered = sorted((r for r in rows.values() if all(v is None or getattr(r, k) == v for k, v in match.items())),
                         key=lambda r: (r.updated_at, r.id))
        if updated_since is not None:
            ordered = [r for r in ordered if r.updated_at >= updated_since]
        if cursor:
            at, _, last_id = cursor.partition("|")
            try:
                after = (datetime.fromisoformat(at), last_id)
            except ValueError:  # a cursor this list never returned is refused, as the platform does
                raise ValidationFailed("invalid cursor", code="invalid_cursor", status=400) from None
            ordered = [r for r in ordered if (r.updated_at, r.id) > after]
        page = ordered[:limit]
        more = len(ordered) > limit
        return Page(tuple(page), f"{page[-1].updated_at.isoformat()}|{page[-1].id}" if more else None)

    def list_clients(self, tenant_id, *, updated_since=None, cursor=None, limit=100, active=None):
        return self._list(self.clients, updated_since, cursor, limit)

    def list_sites(self, tenant_id, *, updated_since=None, cursor=None, limit=100, client_id=None):
        return self._list(self.sites, updated_since, cursor, limit)

    def list_items(self, tenant_id, *, updated_since=None, cursor=None, limit=100):
        return self._list(self.items, updated_since, cursor, limit)

    def list_invoices(self, tenant_id, *, status=None, updated_since=None, cursor=None, limit=100, client_id=None):
        return self._list(self.invoices, updated_since, cursor, limit, client_id=client_id)

    def list_payments(self, tenant_id, *, updated_since=None, cursor=None, limit=100, invoice_id=None,
                      include_deleted=False):
        return self._list(self.payments, updated_since, cursor, limit, invoice_id=invoice_id)

    def list_job_types(self, tenant_id, *, updated_since=None, cursor=None, limit=100):
        # Each tenant has its own job types.
        return self._list(self.job_types.get(tenant_id, {}), updated_since, cursor, limit)

    def add_job_type(self, tenant_id, job_type_id, name, active=True):
        from shared.fieldservice.models import JobType

        now = self.clock()
        self.job_types.setdefault(tenant_id, {})[job_type_id] = JobType(job_type_id, name, active, now, now)

    def get_client(self, tenant_id, client_id):
        self.calls.append("get")
        return _found(self.clients, client_id)

    def get_site(self, tenant_id, site_id):
        self.calls.append("get_site")
        return _found(self.sites, site_id)

    def get_item(self, tenant_id, item_id):
        self.calls.append("get_item")
        return _found(self.items, item_id)

    def add_item(self, item_id, name, type="service", price="0", cost=None, taxable=True, description=None,
                 active=True):
        from shared.fieldservice.models import Item, ItemType

        now = self.clock()
        self.items[item_id] = Item(item_id, name, ItemType(type), description, None, Decimal(price),
                                   None if cost is None else Decimal(cost), taxable, active, now, now)
        return self.items[item_id]

    def create_item(self, tenant_id, draft, *, idempotency_key=None):
        from shared.fieldservice.models import Item

        self.calls.append("create_item")
        if idempotency_key in self.keys:
            return self.items[self.keys[idempotency_key]]
        now = self.clock()
        item = Item(f"itm_{len(self.items) + 1}", draft.name, draft.type, draft.description, draft.sku, draft.price,
                    draft.cost, draft.taxable, draft.active, now, now)
        self.items[item.id] = item
        if idempotency_key:
            self.keys[idempotency_key] = item.id
        return item

    def update_item(self, tenant_id, item_id, **changes):
        self.calls.append("update_item")
        self.items[item_id] = replace(self.items[item_id], **changes, updated_at=self.clock())
        return self.items[item_id]

    def get_invoice(self, tenant_id, invoice_id):
        self.calls.append("get_invoice")
        return _found(self.invoices, invoice_id)

    def get_payment(self, tenant_id, payment_id):
        self.calls.append("get_payment")
        return _found(self.payments, payment_id)

    def add_client(self, client_id, company=None, first=None, last=None, email=None, phone=None, address=None,
                   active=True):
        from shared.fieldservice.models import Client, Contact

        now = self.clock()
        self.clients[client_id] = Client(client_id, company, Contact(first, last, email, phone), address, active,
                                         now, now)
        return self.clients[client_id]

    def create_client(self, tenant_id, draft, *, idempotency_key=None):
        from shared.fieldservice.models import Client

        self.calls.append("create")
        if idempotency_key in self.keys:
            return self.clients[self.keys[idempotency_key]]
        now = self.clock()
        client = Client(f"c{len(self.clients) + 1}", draft.company_name, draft.contact, draft.billing_address,
                        draft.active, now, now)
        self.clients[client.id] = client
        if idempotency_key:
            self.keys[idempotency_key] = client.id
        return client

    def create_site(self, tenant_id, draft, *, idempotency_key=None):
        from shared.fieldservice.models import Site

        self.calls.append("create_site")
        if idempotency_key in self.keys:
            return self.sites[self.keys[idempotency_key]]
        now = self.clock()
        site = Site(f"s{len(self.sites) + 1}", draft.client_id, draft.name, draft.address, draft.contact, draft.active,
                    now, now)
        self.sites[site.id] = site
        if idempotency_key:
            self.keys[idempotency_key] = site.id
        return site

    def update_client(self, tenant_id, client_id, **changes):
        self.calls.append("update")
        current = self.clients[client_id]
        renamed = {"company_name": "company_name", "contact": "contact", "billing_address": "billing_address",
                   "active": "active"}
        self.clients[client_id] = replace(current, **{renamed[k]: v for k, v in changes.items()},
                                          updated_at=self.clock())
        return self.clients[client_id]


class FakeRunStore:
    def __init__(self):
        self.runs: dict = {}
        self.chunks_by_name: dict = {}

    def create(self, run):
        self.runs[run.run_id] = run

    def get(self, tenant_id, run_id):
        return self.runs.get(run_id)

    def history(self, tenant_id, limit=50):
        return sorted(self.runs.values(), key=lambda r: r.run_id, reverse=True)[:limit]  # run ids are time-ordered

    def progress(self, tenant_id, run_id, phase, percent):
        if run_id in self.runs:
            self.runs[run_id].phase, self.runs[run_id].percent = phase, percent

    def finish(self, tenant_id, run_id, status, summary, phase=None):
        run = self.runs[run_id]
        run.status, run.summary = status, summary
        if phase is not None:
            run.phase = phase

    def put_chunk(self, tenant_id, run_id, name, index, rows):
        import json

        self.chunks_by_name[(run_id, name, index)] = json.loads(json.dumps(rows, default=str))

    def chunks(self, tenant_id, run_id, name):
        return [rows for (r, n, _), rows in sorted(self.chunks_by_name.items()) if r == run_id and n == name]


class FakeWorkflows:
    """Step Functions as SyncRequests sees it: every start recorded as (kind, tenant, run id, input extras)."""

    def __init__(self):
        self.started: list[tuple] = []

    def start(self, kind, tenant_id, run_id, extra=None):
        self.started.append((kind, tenant_id, run_id, extra))
        return run_id


class FakeErrorLog:
    def __init__(self):
        self.entries: dict[str, ErrorEntry] = {}

    def record(self, e):
        self.entries[e.key] = e
        return e

    def resolve(self, tenant_id, key):
        entry = self.entries.get(key)
        if entry is None or entry.resolved:
            return False
        entry.resolved = True
        return True

    def open(self):
        return {k: e for k, e in self.entries.items() if not e.resolved}

    def count_open(self, tenant_id):
        return sum(1 for e in self.open().values() if not e.dismissed)  # the status page hides dismissed ones

    def dismiss(self, tenant_id, key):
        entry = self.entries.get(key)
        if entry is None:
            return False
        entry.dismissed = True
        return True

    def open_keys(self, tenant_id):
        return set(self.open())

    def get(self, tenant_id, key):
        return self.entries.get(key)

    def list(self, tenant_id, include_resolved=False, entity=None):
        return [e for e in self.entries.values()
                if (include_resolved or not e.resolved) and entity in (None, e.entity)]

    def clear_retry(self, tenant_id, key):
        entry = self.entries.get(key)
        if entry is not None:
            entry.retry_requested = False

    def request_retry(self, tenant_id, key):
        entry = self.entries.get(key)
        if entry is None or entry.resolved:
            return False
        entry.retry_requested, entry.dismissed = True, False
        return True


class FakeCursors:
    def __init__(self):
        self.items: dict = {}  # name -> instant
        self.ids: dict = {}  # name -> ids applied at exactly that instant

    def get_all(self, tenant_id):
        from shared.domain.records import Cursor

        return {name: Cursor(at, frozenset(self.ids.get(name, ()))) for name, at in self.items.items()}

    def put(self, tenant_id, name, at, ids=()):
        self.items[name], self.ids[name] = at, frozenset(ids)


if TYPE_CHECKING:
    # Each fake stands in for a port: mypy (`make typecheck`) holds it to that Protocol, so a fake cannot drift from
    # the seam the adapters and repositories satisfy (shared/runtime.py checks their side).
    def _ports_of_the_fakes(clock: Callable[[], datetime]) -> None:
        _token_store: TokenStore = FakeTokenStore()
        _oauth: OAuthPort = FakeOAuth(clock)
        _provider: OAuthProvider = FakeOAuth(clock)
        _connections: ConnectionRepo = FakeConnections()
        _connection_store: ports.ConnectionStore = FakeConnections()
        _schedules: SchedulePort = FakeSchedules()
        _gate: sync_requests.SyncGate = FakeSyncGate()
        _links: ports.LinkStore = FakeLinkStore()
        _run_log: RunLog = FakeRunLog()
        _money_books: MoneyPort = FakeMoneyQuickBooks()
        _review: ReviewQueue = FakeReviewQueue()
        _runs: ports.RunStore = FakeRunStore()
        _request_runs: sync_requests.RunStore = FakeRunStore()
        _record_runs: record_sync.RunStore = FakeRunStore()
        _workflows: sync_requests.Workflows = FakeWorkflows()
        _errors: ports.ErrorStore = FakeErrorLog()
        _cursors: Cursors = FakeCursors()

    # The engine's QuickBooks and the platform are faked in parts (a test adds what its case needs): every method a
    # fake has must match the port's, which mypy checks where a class has both as bases.
    class _BooksPart(FakeBooks, QuickBooksPort): ...

    class _PlatformPart(FakePlatform, FieldService): ...

    class _MoneyPlatformPart(FakeMoneyPlatform, FieldService): ...
