"""Review mode's one seam in the sync engine (issue 13; the queue and its rules are shared/domain/review.py).

Every record a task found (QuickBooks CDC rows in `start`, platform pages in the entity tasks) passes through
`ReviewGate.admit` before an entity step sees it, so the steps (clients.py, sites.py, items.py, invoices.py,
payments.py) know nothing of review mode:
- a record with an approved entry goes on, as it is now (a change made after the approval is in it);
- a record whose change the step would write to the other side is held (`ReviewQueue.hold`) and left out of the run;
  cursors still move, because the queue keeps it;
- a record that writes nothing to the other side (an echo of our own write, a deletion that is only flagged, an
  inactive record that is never created) goes on: the step only records it;
- an approved entry that no change of this run brings back is re-read, so it syncs through the normal rules (merge
  by fingerprints, idempotent writes);
- `report` (in `finish`) tells the queue how each approved entry of the pass ended: failed when the record has an
  open error-log entry (QuickBooks' code and message; retryable there), else succeeded.

With review mode off, nothing is held; entries still waiting when it was turned off are released (approved) and
synced the same way, so nothing held is lost. Kept entries ("Keep checked") are put back in the lists at every run.
An admin's Retry in the error log is itself a decision: a retried record goes on without review.

What counts as "a change the step would write" repeats each step's own first test (fingerprints, SyncTokens,
statuses) without its side effects; a record it cannot judge is held (review mode errs on asking)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from shared.domain import parties
from shared.domain.review import OUTCOMES, ReviewEntry, ReviewQueue, State
from shared.domain.run_log import RunLog
from shared.fieldservice.errors import PlatformRefused
from shared.quickbooks.errors import QuickBooksError, refused
from shared.quickbooks.port import CustomerState, InvoiceState, ItemState, PaymentState

# CDC kinds -> review entities (Class has no entry: classes follow job types, see docs/sync.md)
IMPORT_KINDS = {"Customer": "customer", "Item": "item", "Invoice": "invoice", "Payment": "payment"}
# The error-log entities a failure of each review entity is recorded under (docs: shared/domain/run_log.py)
_ERROR_ENTITY = {("export", "customer"): "client", ("import", "customer"): "customer", ("export", "site"): "site",
                 ("export", "item"): "item", ("import", "item"): "item", ("export", "invoice"): "invoice",
                 ("import", "invoice"): "invoice", ("export", "payment"): "payment", ("import", "payment"): "payment"}


def _version(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Quiet:
    """A RunLog for judging a record without recording anything."""

    def count(self, key: str, n: int = 1) -> None:
        pass

    def error(self, *args: Any, **kwargs: Any) -> None:
        pass

    def resolved(self, entity: str, entity_id: str) -> None:
        pass


def entries_to_rows(entries: Sequence[ReviewEntry]) -> list[dict]:
    return [asdict(e) for e in entries]


def entries_from_rows(rows: Sequence[dict]) -> list[ReviewEntry]:
    return [ReviewEntry(**row) for row in rows]


class ReviewGate:
    def __init__(self, deps: Any, queue: ReviewQueue | None, log: RunLog, approved: Sequence[ReviewEntry],
                 prefs: Callable[[], Any] | None = None, conflicts: Sequence[Sequence[str]] | None = None):
        self.d, self.queue, self.log = deps, queue, log
        self.holding = bool(deps.settings.review_mode) and queue is not None
        self._approved = {(e.side, e.entity, e.entity_id): e for e in approved}
        self._retried: set[tuple[str, str]] = set()
        self._prefs = prefs
        # Records in an onboarding conflict: the clients step holds them itself until the admin resolves it.
        self._conflict_qbo, self._conflict_fsp = (set(conflicts[0]), set(conflicts[1])) if conflicts else (set(), set())

    @property
    def active(self) -> bool:
        """Whether the gate has anything to do this pass (holding, or approved entries to sync)."""
        return self.holding or bool(self._approved)

    @staticmethod
    def snapshot(deps: Any, queue: ReviewQueue | None) -> list[ReviewEntry]:
        """At the start of a pass: put kept entries back in the lists, and take the approved entries this pass syncs
        (with review mode off, whatever still waits is released first)."""
        if queue is None:
            return []
        if not deps.settings.review_mode:
            return queue.release(deps.tenant_id)
        kept = queue.kept(deps.tenant_id)
        if kept:
            queue.hold(deps.tenant_id, kept)
        return queue.approved(deps.tenant_id)

    def retried(self, entity: str, entity_id: str) -> None:
        """An admin asked to resync this record from the error log: it goes on without review."""
        self._retried.add((entity, entity_id))

    # -- the seam ------------------------------------------------------------------------------------------------
    def admit(self, side: str, entity: str, records: Sequence[Any], refetch: bool = True) -> list[Any]:
        """The records of `records` this run applies (see the module doc); `refetch` adds the approved entries of
        this kind that `records` does not hold, re-read as they are now (once per task's first page)."""
        if not self.active:
            return list(records)
        key = _KEYS[(side, entity)]
        out, seen, judge = [], set(), []
        for record in records:
            rid = key(record)
            seen.add(rid)
            if ((side, entity, rid) in self._approved or (_ERROR_ENTITY[(side, entity)], rid) in self._retried
                    or not self.holding):
                out.append(record)
            else:
                judge.append(record)
        if judge:
            entries = _DESCRIBE[(side, entity)](self, judge)
            held = []
            for record, entry in zip(judge, entries, strict=True):
                if entry is None:
                    out.append(record)
                else:
                    held.append(entry)
            if held:
                assert self.queue is not None
                self.queue.hold(self.d.tenant_id, held)
                self.log.count(f"review_held_{side}", len(held))
        if refetch:
            for e in list(self._approved.values()):
                if e.side == side and e.entity == entity and e.entity_id not in seen:
                    found = self._fetch(e)
                    if found is not None:
                        out.append(found)
        return out

    def quickbooks_rest(self, customers: Sequence[CustomerState]) -> tuple[list[CustomerState], bool]:
        """The arguments of the clients task's QuickBooks step. It merges a customer whose client no page judged
        with the client as the platform holds it now. While holding, that client's platform change may have been
        held, so it is not merged then (False: QuickBooks' side alone), and the step re-reads each admitted customer
        whose link moved: a pair the platform page merged carries our SyncToken by now and is left alone, any other
        is merged."""
        if not self.holding:
            return list(customers), True
        links = self._by_qbo("customer", [c.qbo_id for c in customers])
        out = []
        for customer in customers:
            link = links.get(customer.qbo_id)
            if link is not None and not customer.deleted and link.sync_token != customer.sync_token:
                customer = self.d.quickbooks().read_customer(customer.qbo_id)
            out.append(customer)
        return out, False

    def _fetch(self, e: ReviewEntry) -> Any:
        direction = "to_quickbooks" if e.side == "export" else "to_platform"
        try:
            return _FETCH[(e.side, e.entity)](self, e.entity_id)
        except QuickBooksError as exc:
            if not refused(exc):
                raise  # throttling or an outage pauses the run; the entry stays approved
            code, message, detail = exc.code, exc.message, exc.detail
        except PlatformRefused as exc:  # throttling or an outage passes through; the entry stays approved
            code, message, detail = exc.code, exc.message, ""
        self.log.error(_ERROR_ENTITY[(e.side, e.entity)], e.entity_id, direction, code, message, detail)
        self._finish([e], State.FAILED, f"{code}: {message}")
        return None

    def _finish(self, entries: list[ReviewEntry], outcome: str, message: str = "") -> None:
        assert outcome in OUTCOMES and self.queue is not None
        self.queue.done(self.d.tenant_id, entries, outcome, message)
        for e in entries:
            self._approved.pop((e.side, e.entity, e.entity_id), None)
        self.log.count(f"review_{outcome}", len(entries))

    def report(self) -> None:
        """At the end of a pass: each approved entry that this pass synced is succeeded, or failed with its
        record's open error-log entry (QuickBooks' own code and message)."""
        succeeded: list[ReviewEntry] = []
        for e in list(self._approved.values()):
            if not self._syncs(e):
                self._finish([e], State.FAILED, "Not synced: the sync settings no longer send this kind of change. "
                                                "Change the settings, then make the change again.")
                continue
            error = self._open_error(e)
            if error is None:
                succeeded.append(e)
            else:
                self._finish([e], State.FAILED, f"{error.code}: {error.message}")
        if succeeded:
            self._finish(succeeded, State.SUCCEEDED)

    def _syncs(self, e: ReviewEntry) -> bool:
        s = self.d.settings
        if e.entity == "site":
            return bool(s.sites.enabled)
        if e.entity == "item":
            wanted = "platform_to_quickbooks" if e.side == "export" else "quickbooks_to_platform"
            return bool(s.items.enabled) and s.items.direction == wanted
        if e.entity == "invoice":
            return bool(s.invoices.enabled)
        if e.entity == "payment":
            return bool(s.payments.enabled)
        return True

    def _open_error(self, e: ReviewEntry) -> Any:
        ids = [e.entity_id]
        if e.side == "import" and e.entity in ("invoice", "payment"):  # logged against the platform record
            link = self.d.links.by_qbo(self.d.tenant_id, e.entity, e.entity_id)
            if link is not None:
                ids.append(link.fsp_id)
        for entity_id in ids:
            found = self.d.errors.get(self.d.tenant_id, f"{_ERROR_ENTITY[(e.side, e.entity)]}#{entity_id}")
            if found is not None and not found.resolved:
                return found
        return None

    # -- what each step would do (no side effects) ---------------------------------------------------------------
    def _by_qbo(self, entity: str, qbo_ids: Sequence[str]) -> dict[str, Any]:
        """Links by QuickBooks id: one paged read of the kind's links beyond 50 ids (a GSI query each below), as the
        steps do."""
        wanted = {str(i) for i in qbo_ids}
        if len(wanted) > 50:
            return {lk.qbo_id: lk for lk in self.d.links.all(self.d.tenant_id, entity) if lk.qbo_id in wanted}
        found = {}
        for qbo_id in wanted:
            link = self.d.links.by_qbo(self.d.tenant_id, entity, qbo_id)
            if link is not None:
                found[qbo_id] = link
        return found

    def _direction(self) -> tuple[bool, bool]:
        d = self.d.settings.clients.direction
        return d in ("two_way", "platform_master"), d in ("two_way", "quickbooks_master")

    def _export_customers(self, clients: Sequence[Any]) -> list[ReviewEntry | None]:
        from shared.domain.clients import FIELDS, client_values, fingerprints

        to_qbo, _ = self._direction()
        links = self.d.links.get_many(self.d.tenant_id, "customer", [c.id for c in clients])
        out: list[ReviewEntry | None] = []
        for client in clients:
            link = links.get(client.id)
            fps = fingerprints(client_values(client))
            name = parties.compact_client(client)["name"] or client.id
            entry = ReviewEntry("export", "customer", client.id, name, "update", _version(fps))
            if link is None or not link.qbo_id:
                new = to_qbo and client.active and client.id not in self._conflict_fsp
                out.append(ReviewEntry(**{**asdict(entry), "change": "create"}) if new else None)
                continue
            if link.state != "linked" or link.extra.get("deleted_in_quickbooks") or not to_qbo:
                out.append(None)
                continue
            base = (link.extra.get("fp") or {}).get("p") or {}
            out.append(entry if any(n in base and base[n] != fps[n] for n in FIELDS) else None)
        return out

    def _import_customers(self, customers: Sequence[CustomerState]) -> list[ReviewEntry | None]:
        from shared.domain.clients import FIELDS, compact_customer_values, fingerprints, newer_than_synced

        _, to_fsp = self._direction()
        links = self._by_qbo("customer", [c.qbo_id for c in customers])
        out: list[ReviewEntry | None] = []
        for customer in customers:
            if customer.deleted or customer.job:
                out.append(None)  # flagged in the error log, or a job (sites go platform -> QuickBooks only)
                continue
            link = links.get(customer.qbo_id)
            fps = fingerprints(compact_customer_values(customer.compact()))
            entry = ReviewEntry("import", "customer", customer.qbo_id, customer.display_name or customer.qbo_id,
                                "update", _version(fps))
            if link is None:
                new = to_fsp and customer.active and customer.qbo_id not in self._conflict_qbo
                out.append(ReviewEntry(**{**asdict(entry), "change": "create"}) if new else None)
                continue
            if (link.state != "linked" or link.extra.get("deleted_in_quickbooks") or not to_fsp
                    or not newer_than_synced(customer.sync_token, link.sync_token)):
                out.append(None)
                continue
            base = (link.extra.get("fp") or {}).get("q") or {}
            out.append(entry if any(n in base and base[n] != fps[n] for n in FIELDS) else None)
        return out

    def _export_sites(self, sites: Sequence[Any]) -> list[ReviewEntry | None]:
        from shared.domain.sites import SiteSync, _site_fingerprint

        links = self.d.links.get_many(self.d.tenant_id, "site", [s.id for s in sites])
        judge = SiteSync(self.d, _Quiet(), lambda rows: 0)
        clients: dict[str, dict | None] = {}
        out: list[ReviewEntry | None] = []
        for site in sites:
            row = judge._compact(site, clients)
            if row is None:
                out.append(None)
                continue
            fp = _site_fingerprint(row)
            link = links.get(site.id)
            name = site.name or (row["address"] or {}).get("line1") or site.id
            if link is not None and link.qbo_id:
                out.append(None if link.fingerprint == fp else ReviewEntry("export", "site", site.id, name, "update",
                                                                          fp))
            else:
                out.append(ReviewEntry("export", "site", site.id, name, "create", fp) if site.active else None)
        return out

    def _export_items(self, items: Sequence[Any]) -> list[ReviewEntry | None]:
        links = self.d.links.get_many(self.d.tenant_id, "item", [i.id for i in items])
        out: list[ReviewEntry | None] = []
        for item in items:
            if not item.active:
                out.append(None)
                continue
            linked = item.id in links and links[item.id].qbo_id
            out.append(ReviewEntry("export", "item", item.id, item.name, "update" if linked else "create",
                                   _version([item.name, str(item.type), str(item.price), str(item.cost),
                                             item.taxable, item.description, item.sku])))
        return out

    def _import_items(self, items: Sequence[ItemState]) -> list[ReviewEntry | None]:
        from shared.domain.items import TO_PLATFORM_TYPE

        links = self._by_qbo("item", [i.qbo_id for i in items])
        out: list[ReviewEntry | None] = []
        for item in items:
            if item.deleted or not item.name or item.kind not in TO_PLATFORM_TYPE:
                out.append(None)
                continue
            link = links.get(item.qbo_id)
            out.append(ReviewEntry("import", "item", item.qbo_id, item.name, "create" if link is None else "update",
                                   _version([item.name, item.kind, item.unit_price, item.purchase_cost, item.taxable,
                                             item.description])))
        return out

    def _export_invoices(self, invoices: Sequence[Any]) -> list[ReviewEntry | None]:
        from shared.domain.attempts import in_flight
        from shared.domain.invoices import SYNCABLE, ZERO, InvoiceSync, _status
        from shared.domain.tax import money

        t = self.d.tenant_id
        links = self.d.links.get_many(t, "invoice", [i.id for i in invoices])
        customers = self.d.links.get_many(t, "customer", {i.client_id for i in invoices})
        sites = {}
        if self.d.settings.invoices.job_locations:
            sites = self.d.links.get_many(t, "site", {i.site_id for i in invoices if i.site_id})
        judge = InvoiceSync(self.d, _Quiet(), prefs=self._prefs() if self._prefs else None)
        out: list[ReviewEntry | None] = []
        for inv in invoices:
            link = links.get(inv.id)
            linked = link is not None and link.state == "linked" and bool(link.qbo_id)
            status = _status(inv)
            name = f"Invoice {inv.number or inv.external_number or inv.id}"
            if in_flight(link):
                out.append(None)  # an attempt already under way (approved earlier): its resend settles it
                continue
            if status == "void":
                void = linked and not link.extra.get("voided") and not link.extra.get("gone")
                out.append(ReviewEntry("export", "invoice", inv.id, name, "void", "void") if void else None)
                continue
            if status not in SYNCABLE or (linked and (link.extra.get("voided") or link.extra.get("gone"))):
                out.append(None)
                continue
            if not linked and (status != "ready_for_sync" or money(inv.total) == ZERO):
                out.append(None)  # created only once ready and non-zero
                continue
            customer = customers.get(inv.client_id)
            if customer is None or not customer.qbo_id:
                out.append(None)  # waiting for its client: recorded as such, nothing is written
                continue
            fp = judge._fingerprint(inv, customers, sites)
            if linked and fp in (link.fingerprint, link.extra.get("refused")):
                out.append(None)
                continue
            out.append(ReviewEntry("export", "invoice", inv.id, name, "update" if linked else "create", fp))
        return out

    def _import_invoices(self, invoices: Sequence[InvoiceState]) -> list[ReviewEntry | None]:
        from shared.domain.invoices import ZERO

        links = self._by_qbo("invoice", [i.qbo_id for i in invoices])
        out: list[ReviewEntry | None] = []
        for state in invoices:
            link = links.get(state.qbo_id)
            if link is None or link.state != "linked" or state.deleted:
                out.append(None)
                continue
            # Only "paid in QuickBooks" writes to the platform; voids are flagged, balances only recorded.
            if state.voided or state.balance != ZERO or state.total <= ZERO:
                out.append(None)
                continue
            if state.sync_token == link.sync_token and link.extra.get("balance") == str(state.balance):
                out.append(None)
                continue
            name = f"Invoice {state.doc_number or link.extra.get('doc_number') or state.qbo_id} (paid)"
            out.append(ReviewEntry("import", "invoice", state.qbo_id, name, "update",
                                   _version(["paid", str(state.total)])))
        return out

    def _export_payments(self, payments: Sequence[Any]) -> list[ReviewEntry | None]:
        from shared.domain.attempts import in_flight
        from shared.domain.payments import _fp
        from shared.domain.tax import money

        links = self.d.links.get_many(self.d.tenant_id, "payment", [p.id for p in payments])
        invoices = self.d.links.get_many(self.d.tenant_id, "invoice", {p.invoice_id for p in payments})
        out: list[ReviewEntry | None] = []
        for p in payments:
            link = links.get(p.id)
            linked = link is not None and link.state == "linked" and bool(link.qbo_id)
            name = f"Payment {money(p.amount)} on invoice {p.invoice_id}" + (f" ({p.reference})" if p.reference
                                                                              else "")
            if in_flight(link):
                out.append(None)
                continue
            if p.deleted_at is not None:
                out.append(ReviewEntry("export", "payment", p.id, name, "delete", "deleted") if linked else None)
                continue
            fp = _fp(p)
            if linked and fp in (link.fingerprint, link.extra.get("refused")):
                out.append(None)
                continue
            invoice = invoices.get(p.invoice_id)
            if not linked and (invoice is None or invoice.state != "linked" or not invoice.qbo_id
                               or invoice.extra.get("voided") or invoice.extra.get("gone")):
                out.append(None)  # waiting for its invoice: recorded as such, nothing is written
                continue
            out.append(ReviewEntry("export", "payment", p.id, name, "update" if linked else "create", fp))
        return out

    def _import_payments(self, states: Sequence[PaymentState]) -> list[ReviewEntry | None]:
        from shared.domain.attempts import in_flight

        links = self._by_qbo("payment", [s.qbo_id for s in states])
        invoices = self._by_qbo("invoice", [i for s in states for i, _ in s.applied])
        out: list[ReviewEntry | None] = []
        for state in states:
            link = links.get(state.qbo_id)
            version = f"{state.qbo_id}:{state.sync_token}"
            name = f"Payment {'' if state.deleted else state.total} from {state.customer_name or 'QuickBooks'}"
            if link is not None and (link.state != "linked" or in_flight(link)):
                out.append(None)
                continue
            if state.deleted:
                ours = link is not None and link.extra.get("origin") == "quickbooks"
                out.append(ReviewEntry("import", "payment", state.qbo_id, name, "delete", version) if ours else None)
                continue
            if link is not None and (link.sync_token == state.sync_token or link.extra.get("origin") != "quickbooks"):
                out.append(None)
                continue
            applies = any(amount > 0 and invoice_id in invoices for invoice_id, amount in state.applied)
            out.append(ReviewEntry("import", "payment", state.qbo_id, name, "create" if link is None else "update",
                                   version) if applies else None)
        return out


def _platform_get(method: str) -> Callable[[ReviewGate, str], Any]:
    return lambda gate, fsp_id: getattr(gate.d.platform, method)(gate.d.tenant_id, fsp_id)


_DESCRIBE: dict[tuple[str, str], Callable[[ReviewGate, Sequence[Any]], list[ReviewEntry | None]]] = {
    ("export", "customer"): ReviewGate._export_customers, ("import", "customer"): ReviewGate._import_customers,
    ("export", "site"): ReviewGate._export_sites,
    ("export", "item"): ReviewGate._export_items, ("import", "item"): ReviewGate._import_items,
    ("export", "invoice"): ReviewGate._export_invoices, ("import", "invoice"): ReviewGate._import_invoices,
    ("export", "payment"): ReviewGate._export_payments, ("import", "payment"): ReviewGate._import_payments,
}
_FETCH: dict[tuple[str, str], Callable[[ReviewGate, str], Any]] = {
    ("export", "customer"): _platform_get("get_client"),
    ("import", "customer"): lambda gate, qbo_id: gate.d.quickbooks().read_customer(qbo_id),
    ("export", "site"): _platform_get("get_site"),
    ("export", "item"): _platform_get("get_item"),
    ("import", "item"): lambda gate, qbo_id: gate.d.quickbooks().read_item(qbo_id),
    ("export", "invoice"): _platform_get("get_invoice"),
    ("import", "invoice"): lambda gate, qbo_id: gate.d.quickbooks().read_invoice(qbo_id),
    ("export", "payment"): _platform_get("get_payment"),
    ("import", "payment"): lambda gate, qbo_id: gate.d.quickbooks().read_payment(qbo_id),
}
_KEYS: dict[tuple[str, str], Callable[[Any], str]] = {
    **{("export", e): (lambda r: r.id) for e in ("customer", "site", "item", "invoice", "payment")},
    **{("import", e): (lambda r: r.qbo_id) for e in ("customer", "item", "invoice", "payment")},
}
