"""Sync runs: ready invoices and their payments, platform -> QuickBooks, and paid status back (issue-free so far:
the minimum the demo's "a sync with invoices and payments" needs, built on the same exactly-once rules).

Rules from the seeds: only invoices marked ready for sync, never $0 invoices; lines post through their items
(an item missing in QuickBooks is created with the chosen income/expense accounts, or matched by name); class from
the job type mapping; the site as sub-customer when "job locations" is on; the QuickBooks invoice number is written
back; payments link to their invoice and deposit to the chosen account; a QuickBooks balance of 0 marks the
platform invoice paid."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.domain.onboarding import Deps, request_id
from shared.domain.records import ErrorEntry, Link
from shared.errors import RetryLater
from shared.quickbooks.errors import QuickBooksError
from shared.tasks import failure_of

INVOICES_PER_TASK = 200
SYNC_LEASE_S = 900  # longer than one task's timeout; a crashed run's lock expires
ZERO = Decimal("0")


def _money(value: Any) -> Decimal:
    # Half up, as QuickBooks rounds Qty x UnitPrice (and as invoices are written by hand); never banker's rounding.
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class Sync:
    """The tasks of one sync run (sync state machine): push ready invoices, then payments, then paid status."""

    def __init__(self, deps: Deps):
        self.d = deps

    def _count(self, state: dict, key: str, n: int = 1) -> None:
        counts = state.setdefault("counts", {})
        counts[key] = counts.get(key, 0) + n

    def _error(self, state: dict, entity: str, entity_id: str, exc_or_code, message: str = "", detail: str = "",
               direction: str = "to_quickbooks"):
        if isinstance(exc_or_code, QuickBooksError):
            code, message, detail = exc_or_code.code, exc_or_code.message, exc_or_code.detail
        else:
            code = str(exc_or_code)
        self.d.errors.record(ErrorEntry(self.d.tenant_id, entity, entity_id, direction, code, message, detail,
                                        run_id=state.get("run_id")))
        self._count(state, "errors")

    def _sync_items(self, state: dict) -> None:
        """Items first, so the invoices that follow find their items linked instead of creating them one by one."""
        from shared.domain.items import ItemSync

        direction = "to_quickbooks" if self.d.settings.items.direction == "platform_to_quickbooks" else "to_platform"

        def record(entity: str, entity_id: str, code: str, message: str, detail: str) -> None:
            self._error(state, entity, entity_id, code, message, detail, direction)

        sync = ItemSync(self.d.tenant_id, self.d.quickbooks(), self.d.platform, self.d.links, self.d.settings.items,
                        record, request_id)
        for key, n in sync.run().items():
            self._count(state, key, n)

    def _lock(self, state: dict) -> None:
        """One sync run at a time per tenant (scheduled, webhook-triggered and "sync now" can overlap); a run that
        finds another in progress waits for it through the state machine's retry. A scheduled run starts without
        a run id, so its record is only created once it holds the lock."""

        from shared.domain.admin import new_run_id

        run_id = state.get("run_id") or new_run_id("sync")
        if not self.d.runs.acquire_lock(self.d.tenant_id, "sync", run_id, SYNC_LEASE_S):
            raise RetryLater("another sync run of this tenant is in progress")
        if not state.get("run_id"):
            state["run_id"] = self._new_record(run_id)

    def _new_record(self, run_id: str | None = None) -> str:
        from datetime import UTC, datetime

        from shared.domain.admin import new_run_id
        from shared.domain.records import SyncRun as RunRecord

        run = RunRecord(tenant_id=self.d.tenant_id, run_id=run_id or new_run_id("sync"), kind="sync",
                        status="running", started_at=datetime.now(UTC), phase="queued")
        self.d.runs.create(run)
        return run.run_id

    def _onboarded(self) -> bool:
        connection = self.d.connections.get(self.d.tenant_id)
        return bool(connection and (connection.onboarding or {}).get("status") == "completed")

    def _resolved(self, entity: str, entity_id: str) -> None:
        self.d.errors.resolve(self.d.tenant_id, f"{entity}#{entity_id}")

    # -- tasks -------------------------------------------------------------------------------------------------
    def push_invoices(self, state: dict) -> dict:
        cursor = state.get("cursor") or {}
        state.setdefault("counts", {})
        first = cursor.get("page", 0) == 0 and not cursor.get("next")
        if first:
            self._lock(state)
            self.d.runs.progress(self.d.tenant_id, state["run_id"], "invoices", 5)
            if not self._onboarded():
                state["skipped"] = "onboarding has not completed"
                state["cursor"] = {**cursor, "done": True}
                return state
            if self.d.settings.items.enabled:
                self._sync_items(state)
        settings = self.d.settings
        if not settings.invoices.enabled:
            state["cursor"] = {**cursor, "done": True}
            return state
        page = self.d.platform.list_invoices(self.d.tenant_id, status="ready_for_sync", cursor=cursor.get("next"),
                                             limit=INVOICES_PER_TASK)
        qb = self.d.quickbooks()
        for invoice in page.items:
            self._push_invoice(state, qb, invoice)
        state["cursor"] = {**cursor, "next": page.next_cursor, "page": cursor.get("page", 0) + 1,
                           "done": not page.next_cursor}
        return state

    def _push_invoice(self, state: dict, qb, invoice) -> None:
        if _money(invoice.total) == ZERO:
            self._count(state, "invoices_skipped_zero")
            return
        existing = self.d.links.get(self.d.tenant_id, "invoice", invoice.id)
        if existing and existing.state == "linked":
            self._count(state, "invoices_already_synced")
            return
        try:
            body = self._invoice_body(state, qb, invoice)
        except QuickBooksError as exc:
            self._error(state, "invoice", invoice.id, exc)
            return
        if body is None:
            return
        created = self._create_once(state, qb, "invoice", "Invoice", invoice.id, body)
        if created is None:
            return
        self.d.links.put(Link(self.d.tenant_id, "invoice", invoice.id, created["Id"],
                              sync_token=created.get("SyncToken"),
                              extra={"doc_number": created.get("DocNumber"), "total": str(created.get("TotalAmt"))}))
        self.d.platform.update_invoice(self.d.tenant_id, invoice.id, external_number=created.get("DocNumber"))
        self._resolved("invoice", invoice.id)
        self._count(state, "invoices_created_in_quickbooks")

    def _create_once(self, state: dict, qb, entity: str, qbo_entity: str, fsp_id: str, body: dict) -> dict | None:
        """Create in QuickBooks under a pending link whose `requestid` a retry reuses; None when QuickBooks refused
        it (recorded with QuickBooks' own code)."""
        rid = request_id(self.d.tenant_id, entity, fsp_id)
        link = self.d.links.put_pending(Link(self.d.tenant_id, entity, fsp_id, request_id=rid, state="pending"))
        try:
            return qb.create(qbo_entity, body, request_id=link.request_id or rid)
        except QuickBooksError as exc:
            self.d.links.clear(self.d.tenant_id, entity, fsp_id)
            self._error(state, entity, fsp_id, exc)
            return None

    def _invoice_body(self, state: dict, qb, invoice) -> dict | None:
        settings = self.d.settings
        customer = self.d.links.get(self.d.tenant_id, "customer", invoice.client_id)
        if customer is None or not customer.qbo_id:
            self._error(state, "invoice", invoice.id, "client_not_linked",
                        "The invoice's client is not linked to a QuickBooks customer yet; it will sync once it is.")
            return None
        customer_ref = customer.qbo_id
        if settings.invoices.job_locations and getattr(invoice, "site_id", None):
            site = self.d.links.get(self.d.tenant_id, "site", invoice.site_id)
            if site and site.qbo_id:
                customer_ref = site.qbo_id
        class_ref = self._class_for(qb, getattr(invoice, "job_type_id", None))
        lines = []
        for line in invoice.lines:
            item_id = self._item_for(qb, line)
            qty, price = Decimal(str(line.quantity)), Decimal(str(line.unit_price))
            detail: dict[str, Any] = {"ItemRef": {"value": item_id}, "Qty": qty, "UnitPrice": price,
                                      "TaxCodeRef": {"value": "TAX" if line.taxable else "NON"}}
            if class_ref:
                detail["ClassRef"] = {"value": class_ref}
            # The platform's line amount is what the customer was billed; QuickBooks checks it is Qty x UnitPrice.
            amount = _money(line.amount) if getattr(line, "amount", None) is not None else _money(qty * price)
            lines.append({"DetailType": "SalesItemLineDetail", "Amount": amount,
                          "Description": line.description or "", "SalesItemLineDetail": detail})
        body: dict[str, Any] = {"CustomerRef": {"value": customer_ref}, "Line": lines,
                                "TxnDate": str(invoice.issued_on), "PrivateNote": f"Platform invoice {invoice.id}"}
        if getattr(invoice, "due_on", None):
            body["DueDate"] = str(invoice.due_on)
        if class_ref:
            body["ClassRef"] = {"value": class_ref}
        if settings.invoices.tax_mode == "platform" and getattr(invoice, "tax_total", None) is not None:
            body["TxnTaxDetail"] = {"TotalTax": _money(invoice.tax_total)}
        return body

    def _class_for(self, qb, job_type_id: str | None) -> str | None:
        if not job_type_id or not self.d.settings.job_types.enabled:
            return None
        mapping = self.d.settings.job_types.class_mapping.get(job_type_id)
        if mapping is None:
            return None
        mode = getattr(mapping, "mode", None) or mapping.get("mode")
        if mode == "class":
            return getattr(mapping, "class_id", None) or mapping.get("class_id")
        if mode == "create":
            link = self.d.links.get(self.d.tenant_id, "class", job_type_id)
            if link and link.qbo_id:
                return link.qbo_id
            job_type = self.d.platform.get_job_type(self.d.tenant_id, job_type_id)
            created = qb.create("Class", {"Name": job_type.name[:100]},
                                request_id=request_id(self.d.tenant_id, "class", job_type_id))
            self.d.links.put(Link(self.d.tenant_id, "class", job_type_id, created["Id"]))
            return created["Id"]
        return None

    def _item_for(self, qb, line) -> str:
        link = self.d.links.get(self.d.tenant_id, "item", line.item_id)
        if link and link.qbo_id:
            return link.qbo_id
        from shared.quickbooks.adapter import quote

        item = self.d.platform.get_item(self.d.tenant_id, line.item_id)
        name = item.name.replace(":", "-")[:100]
        found = qb.query_page("Item", f"Name = {quote(name)}", 1, 1)
        if found:
            qbo_id = found[0]["Id"]
        else:
            created = qb.create("Item", self._item_body(item, name),
                                request_id=request_id(self.d.tenant_id, "item", item.id))
            qbo_id = created["Id"]
        self.d.links.put(Link(self.d.tenant_id, "item", item.id, qbo_id))
        return qbo_id

    def _item_body(self, item, name: str) -> dict:
        settings = self.d.settings.invoices
        # Equipment maps to inventory in the seeds, but Inventory needs quantity tracking and an asset account the
        # platform does not own; non-inventory keeps the income/expense posting without inventing stock levels.
        qbo_type = "Service" if item.type == "service" else "NonInventory"
        body = {"Name": name, "Type": qbo_type, "IncomeAccountRef": {"value": settings.income_account_id},
                "ExpenseAccountRef": {"value": settings.expense_account_id}, "Taxable": bool(item.taxable)}
        if getattr(item, "price", None) is not None:
            body["UnitPrice"] = Decimal(str(item.price))
        return body

    def push_payments(self, state: dict) -> dict:
        cursor = state.get("cursor") or {}
        settings = self.d.settings
        if not settings.payments.enabled or state.get("skipped"):
            state["cursor"] = {**cursor, "done": True}
            return self._finish(state)
        page = self.d.platform.list_payments(self.d.tenant_id, cursor=cursor.get("next"), limit=INVOICES_PER_TASK)
        qb = self.d.quickbooks()
        for payment in page.items:
            self._push_payment(state, qb, payment)
        done = not page.next_cursor
        state["cursor"] = {**cursor, "next": page.next_cursor, "done": done}
        if done:
            self._mark_paid(state, qb)
            return self._finish(state)
        return state

    def _push_payment(self, state: dict, qb, payment) -> None:
        done = self.d.links.get(self.d.tenant_id, "payment", payment.id)
        if done is not None and done.state == "linked":
            return
        invoice = self.d.links.get(self.d.tenant_id, "invoice", payment.invoice_id)
        if invoice is None or not invoice.qbo_id:
            self._count(state, "payments_waiting_for_invoice")
            return
        target = qb.read("Invoice", invoice.qbo_id)
        amount = _money(payment.amount)
        # QuickBooks refuses to apply more than the open balance (6000): tax computed differently or a cent of
        # rounding would block the payment. The part above the balance stays on the payment as unapplied credit,
        # so the money is recorded in full and the customer's balance stays right.
        applied = min(amount, _money(target.get("Balance", amount)))
        deposit = self.d.settings.payments.deposit_account_id
        body = {"CustomerRef": {"value": target["CustomerRef"]["value"]}, "TotalAmt": amount,
                "TxnDate": str(payment.paid_on), "DepositToAccountRef": {"value": deposit}, "Line": []}
        if applied > ZERO:
            body["Line"] = [{"Amount": applied, "LinkedTxn": [{"TxnId": invoice.qbo_id, "TxnType": "Invoice"}]}]
        if applied != amount:
            self._count(state, "payments_with_unapplied_credit")
        if getattr(payment, "reference", None):
            body["PaymentRefNum"] = str(payment.reference)[:21]
        created = self._create_once(state, qb, "payment", "Payment", payment.id, body)
        if created is None:
            return
        self.d.links.put(Link(self.d.tenant_id, "payment", payment.id, created["Id"],
                              sync_token=created.get("SyncToken")))
        self._resolved("payment", payment.id)
        self._count(state, "payments_created_in_quickbooks")

    def _mark_paid(self, state: dict, qb) -> None:
        """Payments recorded in QuickBooks (ours or entered there) mark the platform invoice paid. Open invoices are
        read 100 ids per query, not one call each."""
        open_links = {link.qbo_id: link for link in self.d.links.all(self.d.tenant_id, "invoice")
                      if link.qbo_id and link.state == "linked" and not link.extra.get("paid")}
        ids = sorted(open_links)
        for i in range(0, len(ids), 100):
            where = "Id IN (" + ", ".join(f"'{x}'" for x in ids[i:i + 100]) + ")"
            for invoice in qb.query_page("Invoice", where, 1, 100):
                if _money(invoice.get("Balance", 0)) != ZERO:
                    continue
                link = open_links[invoice["Id"]]
                self.d.platform.update_invoice(self.d.tenant_id, link.fsp_id, status="paid")
                link.extra = {**link.extra, "paid": True}
                self.d.links.put(link)
                self._count(state, "invoices_marked_paid_on_platform")

    def _finish(self, state: dict) -> dict:
        status = "skipped" if state.get("skipped") else "succeeded"
        summary = {"counts": state.get("counts", {}), **({"reason": state["skipped"]} if state.get("skipped") else {})}
        self.d.runs.finish(self.d.tenant_id, state["run_id"], status, summary)
        self.d.runs.release_lock(self.d.tenant_id, "sync", state["run_id"])
        return state

    def record_failure(self, state: dict) -> dict:
        if not state.get("run_id"):  # a scheduled run that never got the lock still leaves a visible record
            state["run_id"] = self._new_record()
        self.d.runs.finish(self.d.tenant_id, state["run_id"], "failed",
                           {"counts": state.get("counts", {}), "error": failure_of(state)})
        self.d.runs.release_lock(self.d.tenant_id, "sync", state["run_id"])
        return state
