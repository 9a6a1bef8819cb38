"""Payments both ways (issue 11).

Platform -> QuickBooks (`PaymentSync.push`, with the payments changed since the cursor, deleted ones included):
- a new payment is created linked to its invoice, deposited to the chosen account, with the platform's payment
  method as a QuickBooks PaymentMethod found by name or created once; an edit is an update (SyncToken, 5010 re-read
  once); a deletion deletes it in QuickBooks;
- decision 19: the part above the invoice's open balance stays on the payment as unapplied credit; open balances
  are read 1,000 invoices to a query, once per call, and debited as payments in the same call apply;
- a payment whose invoice has not synced has a `waiting_for_invoice` entry, resolved when it syncs.
QuickBooks -> platform (`quickbooks_changed`, Payment objects from CDC): a payment entered in QuickBooks against a
synced invoice, full or partial, is recorded on the platform (idempotency key from the QuickBooks id), so the
platform's own balance follows; its later edits and deletion follow too. Our own writes come back with the
SyncToken we stored and are left alone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from shared.domain import lanes
from shared.domain.attempts import Attempts, Batch, Write, in_flight, new_attempt_id
from shared.domain.onboarding import Deps, request_id
from shared.domain.records import Link, links_by_qbo
from shared.domain.run_log import RunLog
from shared.domain.tax import money
from shared.fieldservice.models import PaymentDraft as PlatformPaymentDraft
from shared.quickbooks.port import Fault, InvoiceState, PaymentDraft, PaymentState

ZERO = Decimal("0")
STALE = "5010"
# The platform's methods as QuickBooks PaymentMethods (Name, is a credit card). Cash and Check exist in every new
# QuickBooks company; the others are found by name or created once.
METHODS = {"cash": ("Cash", False), "check": ("Check", False), "credit_card": ("Credit Card", True),
           "ach": ("ACH", False), "other": ("Other", False)}


def _fp(payment: Any) -> str:
    parts = [payment.invoice_id, str(money(payment.amount)), str(payment.paid_on),
             str(getattr(payment.method, "value", payment.method)), payment.reference or ""]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]


class PaymentSync:
    def __init__(self, deps: Deps, log: RunLog, new_id: Callable[[], str] = new_attempt_id):
        self.d, self.log = deps, log
        self._attempts = Attempts(deps.links, deps.tenant_id, "payment", new_id)
        self._methods: dict[str, str] = {}

    def _qb(self):
        return self.d.quickbooks()

    # -- platform -> QuickBooks -----------------------------------------------------------------------------------
    def push(self, payments: Sequence[Any]) -> None:
        if not self.d.settings.payments.enabled or not payments:
            return
        t = self.d.tenant_id
        latest = {p.id: p for p in payments}
        links = self.d.links.get_many(t, "payment", list(latest))
        invoices = self.d.links.get_many(t, "invoice", {p.invoice_id for p in latest.values()})
        fresh, resend = [], []
        for p in latest.values():
            link = links.get(p.id)
            if in_flight(link):
                resend.append(Write(p.id, "", "", p, link))
                continue
            write = self._plan(p, link, invoices)
            if write is not None:
                fresh.append(write)
        targets = {invoices[w.subject.invoice_id].qbo_id or "" for w in fresh + resend
                   if w.subject.invoice_id in invoices}
        balances = self._qb().open_balances(sorted(targets)) if targets else {}
        split = lanes.LaneChooser(self._qb().budget).split  # each write's link keeps its lane for a resend
        self._send(self._attempts.batches(fresh, resend, split), invoices, balances, retry_stale=True)

    def _plan(self, p: Any, link: Link | None, invoices: dict) -> Write | None:
        linked = link if link is not None and link.state == "linked" and link.qbo_id else None
        if p.deleted_at is not None:
            if linked is not None:
                return Write(p.id, "delete", "deleted", p, linked)
            self.log.resolved("payment", p.id)
            return None
        fp = _fp(p)
        if linked is not None:
            if fp == linked.fingerprint or fp == linked.extra.get("refused"):
                return None
            return Write(p.id, "update", fp, p, linked)
        invoice = invoices.get(p.invoice_id)
        if invoice is None or invoice.state != "linked" or not invoice.qbo_id:
            self.log.error("payment", p.id, "to_quickbooks", "waiting_for_invoice",
                           f"Waiting for invoice {p.invoice_id}: it is not in QuickBooks yet (not ready for sync, "
                           "or waiting itself). The payment syncs as soon as its invoice does.",
                           waits_for=f"invoice#{p.invoice_id}")
            return None
        if invoice.extra.get("voided") or invoice.extra.get("gone"):
            self.log.error("payment", p.id, "to_quickbooks", "invoice_void_in_quickbooks",
                           f"Invoice {p.invoice_id} is voided or deleted in QuickBooks, so the payment cannot be "
                           "applied to it.", "Restore the invoice (Clear ID on the invoice, then sync), then Retry.")
            return None
        return Write(p.id, "create", fp, p, None)

    def _method_id(self, method: Any) -> str:
        """The QuickBooks PaymentMethod for a platform method: linked once, found by name, else created once."""
        key = str(getattr(method, "value", method))
        if key not in self._methods:
            link = self.d.links.get(self.d.tenant_id, "payment_method", key)
            if link is not None and link.qbo_id:
                self._methods[key] = link.qbo_id
            else:
                name, card = METHODS.get(key, METHODS["other"])
                qbo_id = self._qb().payment_method_id(name, card, request_id(self.d.tenant_id, "payment_method", key))
                self.d.links.put(Link(self.d.tenant_id, "payment_method", key, qbo_id))
                self._methods[key] = qbo_id
        return self._methods[key]

    def _draft(self, w: Write, invoices: dict, balances: dict[str, InvoiceState]) -> PaymentDraft:
        p, link = w.subject, w.planned
        if w.op == "delete":
            return PaymentDraft(w.bid, qbo_id=link.qbo_id, sync_token=link.sync_token, delete=True)
        invoice = invoices[p.invoice_id]
        state = balances.get(invoice.qbo_id)
        amount = money(p.amount)
        open_balance = state.balance if state is not None else amount
        if w.op == "update":  # what this payment applies now is available to it again
            open_balance += Decimal(link.extra.get("applied", "0"))
        applied = max(ZERO, min(amount, open_balance))
        if state is not None:  # later payments of this call see what this one takes
            balances[invoice.qbo_id] = InvoiceState(**{**state.__dict__, "balance": open_balance - applied})
        w.extra["applied"] = str(applied)
        if applied != amount:
            self.log.count("payments_with_unapplied_credit")
        customer = state.customer_id if state is not None and state.customer_id else invoice.extra.get("customer", "")
        return PaymentDraft(w.bid, customer_id=customer, total=amount, txn_date=p.paid_on,
                            applied=((invoice.qbo_id, applied),) if applied > ZERO else (),
                            deposit_account_id=self.d.settings.payments.deposit_account_id,
                            method_id=self._method_id(p.method), reference=p.reference,
                            private_note=f"Platform payment {p.id}",
                            qbo_id=link.qbo_id if w.op == "update" else None,
                            sync_token=link.sync_token if w.op == "update" else None)

    def _send(self, batches: list[Batch], invoices: dict, balances: dict, retry_stale: bool) -> None:
        """Drafts are built here, in order (each debits the open balance the next one sees; a method may be created
        once), the requests go out on the task's concurrency slots (lanes.run_lanes), the answers are recorded
        here, in order."""
        qb, stale = self._qb(), []
        work = [lanes.Work("single" if batch.single else "batch",
                           ((batch, [self._draft(w, invoices, balances) for w in batch.writes]),))
                for batch in batches]

        def send(piece: lanes.Work[tuple[Batch, list[PaymentDraft]]]):
            batch, drafts = piece.rows[0]
            return batch, qb.push_payments(drafts, batch.request_id, single=batch.single)

        def record(answer: tuple[Batch, list]) -> None:
            batch, results = answer
            by_bid = {w.bid: w for w in batch.writes}
            for result in results:
                w = by_bid.get(result.bid)
                if w is None:
                    continue
                if result.payment is not None or (w.op == "delete" and result.fault is None):
                    self._accepted(w, result.payment)
                elif result.fault is not None and result.fault.code == STALE and w.op == "update" and retry_stale:
                    stale.append(w)
                else:
                    self._refused(w, result.fault or Fault("unknown", "QuickBooks gave no answer for this item"))

        with qb.concurrent(lanes.PARALLEL if len(work) > 1 else 1) as workers:
            lanes.run_lanes(work, send, record, workers)
        if stale:
            again = []
            for w in stale:
                current = self._qb().read_payment(w.planned.qbo_id)
                link = Attempts.settled(w.planned, sync_token=current.sync_token)
                self.d.links.put(link)
                again.append(Write(w.key, w.op, w.fp, w.subject, link))
            self._send(self._attempts.batches(again, []), invoices, balances, retry_stale=False)

    def _accepted(self, w: Write, state: PaymentState | None) -> None:
        p = w.subject
        if w.op == "delete":
            self.d.links.clear(self.d.tenant_id, "payment", p.id)
            self.log.resolved("payment", p.id)
            self.log.count("payments_deleted_in_quickbooks")
            return
        assert state is not None
        self.d.links.put(Attempts.settled(w.planned, qbo_id=state.qbo_id, sync_token=state.sync_token, fingerprint=w.fp,
                                          state="linked",
                                          extra={"applied": w.extra.get("applied", "0"), "refused": None}))
        self.log.resolved("payment", p.id)
        self.log.count("payments_created_in_quickbooks" if w.op == "create" else "payments_updated_in_quickbooks")

    def _refused(self, w: Write, fault: Fault) -> None:
        p = w.subject
        if w.op == "create":
            self.d.links.clear(self.d.tenant_id, "payment", p.id)
        else:
            self.d.links.put(Attempts.settled(w.planned, extra={"refused": w.fp}))
        self.log.error("payment", p.id, "to_quickbooks", fault.code, fault.message, fault.detail)
        self.log.count("payments_refused_by_quickbooks")

    # -- QuickBooks -> platform -----------------------------------------------------------------------------------
    def quickbooks_changed(self, states: Sequence[PaymentState]) -> None:
        """Payment objects from CDC (or a read)."""
        t = self.d.tenant_id
        touched: set[str] = set()
        links = links_by_qbo(self.d.links, t, "payment", [s.qbo_id for s in states])
        for state in states:
            link = links.get(state.qbo_id)
            if link is not None and (link.state != "linked" or in_flight(link)):
                continue  # our own write still settling
            if state.deleted:
                if link is not None and link.extra.get("origin") == "quickbooks":
                    self.d.platform.delete_payment(t, link.fsp_id)
                    self.d.links.clear(t, "payment", link.fsp_id)
                    self.log.count("payments_deleted_on_platform")
                elif link is not None:
                    self.log.error("payment", link.fsp_id, "to_platform", "deleted_in_quickbooks",
                                   "The payment was deleted in QuickBooks; the platform payment is left as it is.",
                                   "Delete it on the platform too, or use Clear ID on the payment and sync to send "
                                   "it to QuickBooks again.")
                continue
            if link is not None and link.sync_token == state.sync_token:
                continue  # our own write coming back
            if link is not None and link.extra.get("origin") != "quickbooks":
                self.d.links.put(Attempts.settled(link, sync_token=state.sync_token))
                continue  # ours, changed in QuickBooks (e.g. by a deposit): the platform's record stays the source
            touched |= self._record_on_platform(state, link)
        for invoice_id in sorted(touched):
            self._mark_paid_if_settled(invoice_id)

    def _record_on_platform(self, state: PaymentState, link: Link | None) -> set[str]:
        """A payment entered in QuickBooks, on the platform: the part applied to one synced invoice (a QuickBooks
        payment applied to several invoices becomes one platform payment per invoice; unapplied credit stays in
        QuickBooks, the platform has no place for it)."""
        t = self.d.tenant_id
        touched = set()
        for invoice_qbo_id, amount in state.applied:
            invoice = self.d.links.by_qbo(t, "invoice", invoice_qbo_id)
            if invoice is None or amount <= ZERO:
                continue
            part = link if link is not None and link.extra.get("invoice") == invoice.fsp_id else None
            if part is None:
                created = self.d.platform.create_payment(
                    t, PlatformPaymentDraft(invoice_id=invoice.fsp_id, amount=money(amount), paid_on=state.txn_date,
                                            method=self._platform_method(state.method_id),
                                            reference=state.reference),
                    idempotency_key=f"qbo-payment-{state.qbo_id}-{invoice_qbo_id}")
                fp = _fp(created)
                self.d.links.put(Link(t, "payment", created.id, state.qbo_id, sync_token=state.sync_token,
                                      fingerprint=fp, extra={"origin": "quickbooks", "invoice": invoice.fsp_id,
                                                             "applied": str(money(amount))}))
                self.log.count("payments_recorded_on_platform")
            else:
                updated = self.d.platform.update_payment(t, part.fsp_id, amount=money(amount), paid_on=state.txn_date,
                                                         reference=state.reference)
                self.d.links.put(Attempts.settled(part, sync_token=state.sync_token, fingerprint=_fp(updated),
                                                  extra={"applied": str(money(amount))}))
                self.log.count("payments_updated_on_platform")
            touched.add(invoice.fsp_id)
        return touched

    def _platform_method(self, method_id: str | None) -> str:
        if method_id:
            for key, qbo_id in self._methods.items():
                if qbo_id == method_id:
                    return key
            for link in self.d.links.all(self.d.tenant_id, "payment_method"):
                if link.qbo_id == method_id:
                    return link.fsp_id
        return "other"

    def _mark_paid_if_settled(self, invoice_id: str) -> None:
        invoice = self.d.platform.get_invoice(self.d.tenant_id, invoice_id)
        status = str(getattr(invoice.status, "value", invoice.status))
        if money(invoice.balance) == ZERO and status in ("approved", "ready_for_sync"):
            self.d.platform.update_invoice(self.d.tenant_id, invoice_id, status="paid")
            self.log.count("invoices_marked_paid_on_platform")
