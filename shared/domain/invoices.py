"""Invoices platform -> QuickBooks through their whole life, and what QuickBooks reports back (issue 11).

`InvoiceSync` is what the sync engine calls with the invoices that changed. Rules (from the seeds and issue 11):
- created only when ready for sync and non-zero; one that later gains an amount syncs then;
- an edit after sync (lines, quantities, prices, dates, customer or site, class, tax) becomes an update carrying
  `SyncToken`; a stale token (5010) is re-read and the update retried once with a new attempt;
- a void on the platform voids the invoice in QuickBooks; a change QuickBooks refuses for the record itself (6540
  deposited, 6210 closed period, ...) is one error entry with the fix, and that version is not re-sent by itself;
- numbering: with QuickBooks' custom transaction numbers on, the platform's number is the DocNumber; off, QuickBooks
  numbers it and the number is written back to the platform; a duplicate number (6140) follows docs/money.md;
- an invoice whose client has no QuickBooks customer yet has a `waiting_for_client` entry, resolved when it syncs;
- writes go 30 to a batch, with single requests beside the batches when the company's batch budget would make a
  big push wait (shared/domain/lanes.py); each record's attempt has its own id (shared/domain/attempts.py).
QuickBooks -> platform: a balance of zero marks the platform invoice paid only when the platform's own balance is
zero too; an invoice deleted or voided in QuickBooks is an error entry, never silently recreated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from shared.domain import lanes
from shared.domain.attempts import Attempts, Batch, Write, in_flight, new_attempt_id
from shared.domain.clients import newer_than_synced
from shared.domain.onboarding import Deps, request_id
from shared.domain.records import Link, links_by_qbo
from shared.domain.run_log import RunLog
from shared.domain.tax import money, plan_tax
from shared.quickbooks.errors import QuickBooksError
from shared.quickbooks.port import Fault, InvoiceDraft, InvoiceState, ItemDraft, MoneyPrefs, PostalAddress, SalesLine

ZERO = Decimal("0")
SYNCABLE = ("ready_for_sync", "paid")
STALE = "5010"
DUPLICATE_NUMBER = "6140"
# QuickBooks' refusals that no resend can cure until someone acts in QuickBooks, with what to do.
FIXES = {
    "6540": "QuickBooks does not change a transaction whose payment was deposited. Remove the payment from the "
            "deposit in QuickBooks (or make the change there), then Retry.",
    "6210": "The invoice date is in a period closed in QuickBooks. Change the closing date in QuickBooks (Settings > "
            "Account and settings > Advanced > Close the books) or the invoice date, then Retry.",
    "6000": "QuickBooks refused the change for the invoice itself; correct what its message names, then Retry.",
    "610": "The QuickBooks record this invoice refers to was deleted or made inactive there. Make it active again, "
           "or use Clear ID on the invoice to create it anew, then Retry.",
}


def _status(invoice: Any) -> str:
    return str(getattr(invoice.status, "value", invoice.status))


def _fp(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class InvoiceSync:
    def __init__(self, deps: Deps, log: RunLog, new_id: Callable[[], str] = new_attempt_id,
                 prefs: MoneyPrefs | None = None):
        self.d, self.log = deps, log
        self._attempts = Attempts(deps.links, deps.tenant_id, "invoice", new_id)
        self._prefs = prefs  # read once per run by the caller, or here on first use
        self._regions: dict[str, str | None] = {}
        self._items: dict[str, str] = {}

    def _qb(self):
        return self.d.quickbooks()

    def prefs(self) -> MoneyPrefs:
        if self._prefs is None:
            self._prefs = self._qb().money_prefs()
        return self._prefs

    @property
    def prefs_read(self) -> MoneyPrefs | None:
        """The preferences, if this sync needed them (given or read); None if it wrote nothing that depends on
        them."""
        return self._prefs

    # -- platform -> QuickBooks -----------------------------------------------------------------------------------
    def push(self, invoices: Sequence[Any], reported: Callable[[], Mapping[str, str]] | None = None) -> None:
        """`reported`: the SyncToken of each invoice (by QuickBooks id) that QuickBooks reported changed in this
        pass, read only if an update or void is planned."""
        if not self.d.settings.invoices.enabled or not invoices:
            return
        t = self.d.tenant_id
        latest = {inv.id: inv for inv in invoices}
        links = self.d.links.get_many(t, "invoice", list(latest))
        customers = self.d.links.get_many(t, "customer", {inv.client_id for inv in latest.values()})
        sites = {}
        if self.d.settings.invoices.job_locations:
            sites = self.d.links.get_many(t, "site", {inv.site_id for inv in latest.values() if inv.site_id})
        item_ids = {ln.item_id for inv in latest.values() for ln in inv.lines if ln.item_id}
        self._items.update({i: link.qbo_id for i, link in self.d.links.get_many(t, "item", item_ids).items()
                            if link.qbo_id})
        fresh, resend = [], []
        for inv in latest.values():
            link = links.get(inv.id)
            if in_flight(link):
                resend.append(Write(inv.id, "", "", inv, link))
                continue
            write = self._plan(inv, link, customers, sites)
            if write is not None:
                fresh.append(write)
        if reported is not None and any(w.op in ("update", "void") for w in fresh):
            self._catch_up(fresh, reported())
        split = lanes.LaneChooser(self._qb().budget).split  # each write's link keeps its lane for a resend
        self._send(self._attempts.batches(fresh, resend, split), customers, sites, retry_stale=True)

    @staticmethod
    def _catch_up(writes: list[Write], tokens: Mapping[str, str]) -> None:
        """An invoice changed in QuickBooks since our last write to it (most often by the payments we applied,
        which move its balance and so its SyncToken) would be answered 5010, re-read and sent again: a query and a
        second batch. This pass's CDC already read its newer SyncToken, so the update or void carries that one at
        once, which is what the 5010 retry would send (the same version with the current token); a token not newer
        than the link's (our own later write) is left alone."""
        for w in writes:
            if w.op in ("update", "void") and w.link is not None and w.link.qbo_id:
                token = tokens.get(w.link.qbo_id)
                if token is not None and newer_than_synced(token, w.link.sync_token):
                    w.link = replace(w.link, sync_token=token)

    def _plan(self, inv: Any, link: Link | None, customers: dict, sites: dict) -> Write | None:
        linked = link if link is not None and link.state == "linked" and link.qbo_id else None
        status = _status(inv)
        if status == "void":
            if linked is not None and not linked.extra.get("voided") and not linked.extra.get("gone"):
                return Write(inv.id, "void", "void", inv, linked)
            if linked is None:
                self.log.resolved("invoice", inv.id)  # a void invoice no longer waits for anything
            return None
        if status not in SYNCABLE:
            return None
        if linked is not None and (linked.extra.get("voided") or linked.extra.get("gone")):
            self.log.count("invoices_gone_in_quickbooks_skipped")
            return None
        if linked is None and status != "ready_for_sync":
            return None  # created only once someone marked it ready; a paid one keeps syncing once linked
        if linked is None and money(inv.total) == ZERO:
            self.log.count("invoices_skipped_zero")
            return None
        customer = customers.get(inv.client_id)
        if customer is None or not customer.qbo_id:
            self.log.error("invoice", inv.id, "to_quickbooks", "waiting_for_client",
                           f"Waiting for client {inv.client_id}: it has no QuickBooks customer yet. The invoice "
                           "syncs as soon as its client does.", waits_for=f"customer#{inv.client_id}")
            return None
        if linked is not None and linked.fingerprint in self._fingerprints_either_way(inv, customers, sites):
            # Unchanged since it was pushed (most often our own mark-paid PATCH coming back): known without
            # QuickBooks' preferences, so a run that re-lists only such invoices never reads them.
            self.log.count("invoices_unchanged")
            return None
        fp = self._fingerprint(inv, customers, sites)
        if linked is None:
            return Write(inv.id, "create", fp, inv, link if link and link.state == "linked" else None)
        if fp == linked.fingerprint:
            self.log.count("invoices_unchanged")
            return None
        if fp == linked.extra.get("refused"):
            self.log.count("invoices_refused_unchanged")  # one entry per refused version, no retry loop
            return None
        return Write(inv.id, "update", fp, inv, linked)

    def _customer_ref(self, inv: Any, customers: dict, sites: dict) -> str:
        site = sites.get(inv.site_id) if inv.site_id else None
        return site.qbo_id if site is not None and site.qbo_id else customers[inv.client_id].qbo_id

    def _fingerprint(self, inv: Any, customers: dict, sites: dict, custom_numbers: bool | None = None) -> str:
        """What the push sends, hashed; the invoice number counts only when QuickBooks takes custom transaction
        numbers (`custom_numbers`, from the preferences unless given)."""
        s = self.d.settings.invoices
        if custom_numbers is None:
            custom_numbers = self.prefs().custom_txn_numbers
        return _fp({"customer": self._customer_ref(inv, customers, sites), "job_type": inv.job_type_id,
                    "issued": inv.issued_on, "due": inv.due_on,
                    "lines": [(ln.item_id, ln.description, str(ln.quantity), str(ln.unit_price), str(money(ln.amount)),
                               ln.taxable) for ln in inv.lines],
                    "tax": str(money(inv.tax_total)) if s.tax_mode == "platform" else None,
                    "number": inv.number if custom_numbers else None})

    def _fingerprints_either_way(self, inv: Any, customers: dict, sites: dict) -> set[str]:
        """The invoice's fingerprint with and without its number: the stored one equal to either means nothing the
        push sends changed under the preferences it was pushed with (a preference change alone re-pushes no
        invoice; each takes it at its next change, decision 48)."""
        return {self._fingerprint(inv, customers, sites, custom_numbers=on) for on in (True, False)}

    def _region(self, inv: Any) -> str | None:
        if not self.d.settings.invoices.tax_codes_by_region:
            return None
        key = f"{inv.client_id}/{inv.site_id}"
        if key not in self._regions:
            address = None
            if inv.site_id:
                address = self.d.platform.get_site(self.d.tenant_id, inv.site_id).address
            if address is None or not address.state:
                address = self.d.platform.get_client(self.d.tenant_id, inv.client_id).billing_address
            self._regions[key] = (address.state or "").upper() if address else None
        return self._regions[key]

    def _draft(self, w: Write, customers: dict, sites: dict) -> InvoiceDraft:
        inv, link = w.subject, w.planned
        if w.op == "void":
            return InvoiceDraft(w.bid, qbo_id=link.qbo_id, sync_token=link.sync_token, void=True)
        qb, prefs = self._qb(), self.prefs()
        tax = plan_tax(inv, self.d.settings, prefs, self._region(inv))
        class_id = self._class_for(qb, inv.job_type_id)
        lines = tuple(SalesLine(self._item_for(qb, ln), Decimal(str(ln.quantity)), Decimal(str(ln.unit_price)),
                                money(ln.amount), ln.description or "", tax.line_code(ln.taxable),
                                class_id if prefs.class_per_line else None) for ln in inv.lines)
        ship_to = None
        if prefs.automated_sales_tax and inv.site_id:
            a = self.d.platform.get_site(self.d.tenant_id, inv.site_id).address
            ship_to = PostalAddress(line1=a.line1, city=a.city, state=a.state, postal_code=a.postal_code,
                                    country=a.country)
        return InvoiceDraft(
            w.bid, customer_id=self._customer_ref(inv, customers, sites), lines=lines, txn_date=inv.issued_on,
            due_date=inv.due_on, doc_number=inv.number if prefs.custom_txn_numbers else None,
            class_id=class_id if prefs.class_per_txn else None, private_note=f"Platform invoice {inv.id}",
            txn_tax_code_id=tax.txn_tax_code_id, total_tax=tax.total_tax, ship_to=ship_to,
            qbo_id=link.qbo_id if w.op == "update" else None,
            sync_token=link.sync_token if w.op == "update" else None)

    def _send(self, batches: list[Batch], customers: dict, sites: dict, retry_stale: bool) -> None:
        """Drafts are built here (they may read or create items and classes), the requests go out on the task's
        concurrency slots (lanes.run_lanes), and the answers are recorded here, in order."""
        qb, stale = self._qb(), []
        work: list[lanes.Work[tuple[Batch, list[InvoiceDraft]]]] = []
        for batch in batches:
            drafts = []
            for w in batch.writes:
                try:
                    drafts.append(self._draft(w, customers, sites))
                except QuickBooksError as exc:  # an item or class QuickBooks refused to create
                    self._refused(w, Fault(exc.code, exc.message, exc.detail))
            if drafts:
                work.append(lanes.Work("single" if batch.single else "batch", ((batch, drafts),)))

        def send(piece: lanes.Work[tuple[Batch, list[InvoiceDraft]]]):
            batch, drafts = piece.rows[0]
            return batch, qb.push_invoices(drafts, batch.request_id, single=batch.single)

        def record(answer: tuple[Batch, list]) -> None:
            batch, results = answer
            by_bid = {w.bid: w for w in batch.writes}
            for result in results:
                answered = by_bid.get(result.bid)
                if answered is None:
                    continue  # a replayed answer for a member not in this resend; it settles when it comes back
                if result.invoice is not None:
                    self._accepted(answered, result.invoice)
                elif (result.fault is not None and result.fault.code == STALE and answered.op != "create"
                      and retry_stale):
                    stale.append(answered)
                else:
                    self._refused(answered, result.fault or Fault("unknown",
                                                                  "QuickBooks gave no answer for this item"))

        with qb.concurrent(lanes.PARALLEL if len(work) > 1 else 1) as workers:
            lanes.run_lanes(work, send, record, workers)
        if stale:
            self._retry_stale(stale, customers, sites)

    def _retry_stale(self, writes: list[Write], customers: dict, sites: dict) -> None:
        """5010: someone changed the invoice in QuickBooks since we last saw it (a payment moves its balance too).
        Re-read the SyncTokens (one query for up to 1,000) and send the same version again as a new attempt."""
        current = self._qb().open_balances([w.planned.qbo_id for w in writes])
        again = []
        for w in writes:
            state = current.get(w.planned.qbo_id)
            if state is None:
                self._refused(w, Fault("610", "Object Not Found: the invoice is no longer in QuickBooks"))
                continue
            link = Attempts.settled(w.planned, sync_token=state.sync_token)
            self.d.links.put(link)
            again.append(Write(w.key, w.op, w.fp, w.subject, link))
        self._send(self._attempts.batches(again, []), customers, sites, retry_stale=False)

    def _accepted(self, w: Write, state: InvoiceState) -> None:
        inv = w.subject
        if w.op == "void":
            self.d.links.put(Attempts.settled(w.planned, sync_token=state.sync_token, extra={"voided": True}))
            self.log.resolved("invoice", inv.id)
            self.log.count("invoices_voided_in_quickbooks")
            return
        link = Attempts.settled(w.planned, qbo_id=state.qbo_id, sync_token=state.sync_token, fingerprint=w.fp,
                                state="linked",
                                extra={"doc_number": state.doc_number, "total": str(state.total),
                                       "tax": str(state.tax), "balance": str(state.balance),
                                       "refused": None})
        self.d.links.put(link)
        changes: dict[str, Any] = {}
        if state.doc_number and state.doc_number != inv.external_number:
            changes["external_number"] = state.doc_number
        if plan_tax(inv, self.d.settings, self.prefs(), None).write_back and money(state.tax) != money(inv.tax_total):
            changes["tax_total"] = money(state.tax)
        if changes:
            self.d.platform.update_invoice(self.d.tenant_id, inv.id, **changes)
        self.log.resolved("invoice", inv.id)
        self.log.count("invoices_created_in_quickbooks" if w.op == "create" else "invoices_updated_in_quickbooks")

    def _refused(self, w: Write, fault: Fault) -> None:
        inv = w.subject
        if w.op == "create":
            self.d.links.clear(self.d.tenant_id, "invoice", inv.id)
        else:
            self.d.links.put(Attempts.settled(w.planned, extra={"refused": w.fp}))
        detail = fault.detail
        fix = FIXES.get(fault.code)
        if fault.code == DUPLICATE_NUMBER:
            fix = (f"Invoice number {inv.number} is already used by another invoice in QuickBooks, and QuickBooks' "
                   "custom transaction numbers are on, so the platform's number is sent as is. Renumber one of the "
                   "two, or turn off custom transaction numbers in QuickBooks so it numbers invoices itself, then "
                   "Retry.")
        if fix:
            detail = f"{detail} {fix}".strip()
        self.log.error("invoice", inv.id, "to_quickbooks", fault.code, fault.message, detail)
        self.log.count("invoices_refused_by_quickbooks")

    # -- lookups kept from the first sync (items and classes belong to the engine's own steps) ------------------
    def _class_for(self, qb, job_type_id: str | None) -> str | None:
        from shared.domain.classes import JobTypeClasses

        return JobTypeClasses(self.d, self.log).class_for(job_type_id)

    def _item_for(self, qb, line) -> str:
        if line.item_id in self._items:
            return self._items[line.item_id]
        item = self.d.platform.get_item(self.d.tenant_id, line.item_id)
        name = item.name.replace(":", "-")[:100]
        found = qb.items_by([], [name])
        if found:
            qbo_id = found[0].qbo_id
        elif self.d.settings.items.enabled and self.d.settings.items.direction == "quickbooks_to_platform":
            # Items flow from QuickBooks: an invoice never creates one there behind the admin's choice.
            raise QuickBooksError("item_not_in_quickbooks",
                                  f"The item '{item.name}' is not in QuickBooks, and items sync from QuickBooks to "
                                  "the platform. Create the item in QuickBooks (or send items to QuickBooks in the "
                                  "sync settings), then Retry.")
        else:
            settings = self.d.settings.invoices
            # Equipment maps to inventory in the seeds, but Inventory needs quantity tracking and an asset account
            # the platform does not own; non-inventory keeps the income/expense posting without stock levels.
            price = getattr(item, "price", None)
            draft = ItemDraft(name=name, kind="Service" if item.type == "service" else "NonInventory",
                              income_account_id=settings.income_account_id,
                              expense_account_id=settings.expense_account_id, taxable=bool(item.taxable),
                              unit_price=Decimal(str(price)) if price is not None else None)
            qbo_id = qb.create_item(draft, request_id=request_id(self.d.tenant_id, "item", item.id)).qbo_id
        self.d.links.put(Link(self.d.tenant_id, "item", item.id, qbo_id))
        self._items[item.id] = qbo_id
        return qbo_id

    # -- QuickBooks -> platform -----------------------------------------------------------------------------------
    def quickbooks_changed(self, states: Sequence[InvoiceState]) -> None:
        """Invoice objects from CDC (or a read). Our own writes come back with the SyncToken we stored: nothing to
        do. Call after PaymentSync.quickbooks_changed, so payments entered in QuickBooks are on the platform when
        its balance is checked (in the other order the next run converges)."""
        t = self.d.tenant_id
        links = links_by_qbo(self.d.links, t, "invoice", [state.qbo_id for state in states])
        for state in states:
            link = links.get(state.qbo_id)
            if link is None or link.state != "linked":
                continue
            if state.deleted:
                if not link.extra.get("gone"):
                    self.d.links.put(Attempts.settled(link, extra={"gone": True}))
                    self.log.error("invoice", link.fsp_id, "to_platform", "deleted_in_quickbooks",
                                   f"Invoice {link.extra.get('doc_number') or state.qbo_id} was deleted in "
                                   "QuickBooks; it is not recreated by itself.",
                                   "Void it on the platform if that was intended, or use Clear ID on the invoice "
                                   "and sync to create it in QuickBooks again.")
                continue
            if state.voided and not link.extra.get("voided"):
                self.d.links.put(Attempts.settled(link, sync_token=state.sync_token, extra={"voided": True}))
                self.log.error("invoice", link.fsp_id, "to_platform", "voided_in_quickbooks",
                               f"Invoice {state.doc_number or state.qbo_id} was voided in QuickBooks; the platform "
                               "invoice is left as it is.",
                               "Void it on the platform too, or use Clear ID and sync to create it again.")
                continue
            if state.sync_token == link.sync_token and link.extra.get("balance") == str(state.balance):
                continue  # our own write coming back
            if state.sync_token != link.sync_token and not newer_than_synced(state.sync_token, link.sync_token):
                # Read by this pass's CDC before our own update of the same pass: an older copy, whose token and
                # balance must not replace the ones our update answered with (as for customers, decision 45).
                continue
            paid = state.balance == ZERO and state.total > ZERO
            link = Attempts.settled(link, sync_token=state.sync_token, extra={"balance": str(state.balance)})
            self.d.links.put(link)
            if paid:
                self._mark_paid(link.fsp_id)

    def _mark_paid(self, invoice_id: str) -> None:
        """Paid on the platform only when the platform's own balance is zero: the payments QuickBooks applied must
        have reached it first (PaymentSync), or the platform would show paid with money still owed."""
        invoice = self.d.platform.get_invoice(self.d.tenant_id, invoice_id)
        if _status(invoice) == "paid":
            return
        if money(invoice.balance) != ZERO or _status(invoice) not in ("approved", "ready_for_sync"):
            self.log.count("invoices_paid_in_quickbooks_open_on_platform")
            return
        self.d.platform.update_invoice(self.d.tenant_id, invoice_id, status="paid")
        self.log.count("invoices_marked_paid_on_platform")
