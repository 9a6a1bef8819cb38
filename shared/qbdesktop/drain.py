"""The Desktop drain: the per-connection work queue turned into qbXML requests one Web Connector round trip at a time,
and QuickBooks' answers applied to links, the platform and the error log.

QuickBooks Desktop is reachable only while the Web Connector polls, so work waits in DynamoDB (shared/data/
desktop_repo.py) and each sendRequestXML takes the next item. Steps that need no QuickBooks call (planning the
onboarding from the pulled customer list, choosing the invoices to push) run inside the callback that reaches them.

Desktop has no requestid. The rule (docs/decisions.md): a write whose request went out and whose answer never came
back is marked `sent`; before it is ever sent again, its marker is looked up in QuickBooks (customers and jobs by
FullName, invoices and payments by the ExternalGUID we set, within the customer's transactions) and an existing
record is adopted instead of added twice. One write per message set, so every outcome is unambiguous."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.data.desktop_repo import DesktopRepo, WorkItem
from shared.domain import clients as client_rules
from shared.domain import onboarding_plan, parties
from shared.domain.records import ErrorEntry, Link
from shared.domain.review import ReviewEntry
from shared.domain.settings import MissingState, resolve_state
from shared.fieldservice.errors import NotFound as PlatformNotFound
from shared.qbdesktop import lists, qbxml
from shared.qbdesktop.phases import PENDING_PHASE, is_desktop_run
from shared.qbdesktop.qbxml import Result

# Queue order (the sort key's first part): lists, customers before jobs before items, invoices, paid status.
PULL_LISTS, PULL_CUSTOMERS, PULL_DELETED, PLAN_ONBOARDING, PLAN_CLIENT_CHANGES = 5, 10, 15, 20, 21
CUSTOMER_ADD, JOB_ADD, JOB_MOD, CUSTOMER_MOD = 30, 40, 42, 45
PULL_ITEMS, PLAN_ITEMS, ITEM_ADD, ITEM_MOD = 46, 47, 48, 49
ENSURE_ITEM, ENSURE_CLASS, PLAN_INVOICES, ENSURE_TAX, INVOICE_ADD, INVOICE_MOD = 50, 52, 55, 57, 60, 62
PLAN_PAYMENTS, PAYMENT_ADD, PULL_PAYMENTS, PULL_PAID = 64, 65, 68, 70
# Desktop item types <-> the platform's (IndusTrack seed: "Equipment items ... will synchronize as Inventory items").
FROM_DESKTOP_ITEM = {"ItemServiceRet": "service", "ItemNonInventoryRet": "non_inventory",
                     "ItemInventoryRet": "inventory"}
# The Desktop type an item was added as (its Ret), which decides the Mod that can change it.
DESKTOP_ITEM_KIND = {"ItemServiceRet": "service", "ItemNonInventoryRet": "non_inventory",
                     "ItemInventoryRet": "inventory"}
TO_DESKTOP_ITEM = {"service": "service", "non_inventory": "non_inventory", "inventory": "inventory",
                   "equipment": "inventory"}
PAGE_SIZE = 100  # modest pages keep each QuickBooks answer fast (qbd-facts.md "Timeouts")
MAX_STALE_RETRIES = 3
# Modified-since queries look back this far before the newest change seen: QuickBooks' TimeModified is local time
# with an offset, and a change saved during our previous pull must not fall between two cursors (qbd-facts.md).
OVERLAP = timedelta(minutes=5)
DESKTOP_ITEM = "Field Service"  # the service item every synced invoice line posts through
# What a QuickBooks deletion is of (ListDelType / TxnDelType) -> the links it can break.
DELETED_LISTS = {"Customer": ("client", "site"), "ItemService": ("item",), "ItemNonInventory": ("item",),
                 "ItemInventory": ("item",)}
DELETED_TXNS = {"Invoice": ("invoice",), "ReceivePayment": ("payment",)}
ENTITY = {"client": "qbd_client", "site": "qbd_site", "invoice": "qbd_invoice", "payment": "qbd_payment",
          "item": "qbd_item"}
WAITING_FOR_CLIENT = ("The site's client is not in QuickBooks yet, so the site cannot become a job. It syncs once its "
                      "client does.")
GUID_NAMESPACE = uuid.UUID("7a0c4d2e-0b7b-4f59-9a55-3f1f3d0c5e21")
ZERO = Decimal("0.00")


def invoice_fingerprint(body: dict) -> str:
    """What QuickBooks was (or would be) sent for an invoice, less the marker: equal means nothing to send."""
    parts = {k: v for k, v in body.items() if k != "external_guid"}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def site_fingerprint(address: dict | None, active: bool) -> str:
    """What a site's job was sent (ship-to address, active): equal means no CustomerMod to send."""
    blob = json.dumps([address or {}, bool(active)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def gone(link: Link) -> bool:
    """Voided (by us or in QuickBooks) or deleted in QuickBooks: nothing more is written for this link."""
    extra = link.extra or {}
    return bool(extra.get("voided") or extra.get("deleted_in_quickbooks"))


def item_values(platform_item) -> dict:
    """What an item sent to QuickBooks carries that an ItemMod can change (qbxml.item_mod's keys)."""
    return {"name": qbxml._cut(platform_item.name.replace(":", "-"), 31), "price": str(platform_item.price),
            "desc": platform_item.description or "", "taxable": bool(platform_item.taxable),
            "active": bool(platform_item.active)}


def item_fingerprint(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def external_guid(tenant_id: str, kind: str, fsp_id: str) -> str:
    """The marker written in ExternalGUID: the same for every attempt at one record, so a look-up finds it."""
    return "{" + str(uuid.uuid5(GUID_NAMESPACE, f"{tenant_id}/{kind}/{fsp_id}")).upper() + "}"


@dataclass
class DrainDeps:
    tenant_id: str
    repo: DesktopRepo
    links: Any  # shared.data.repos.LinkRepo
    errors: Any  # shared.data.repos.ErrorRepo
    runs: Any  # shared.data.repos.RunRepo
    platform: Any  # shared.fieldservice.port.FieldService
    settings: Any  # shared.domain.settings.SyncSettings (the one settings API; Desktop's rules in _desktop_rules)
    now: Any = None  # () -> datetime, for the platform-side cursor (tests pin it)
    review: Any = None  # shared.domain.review.ReviewQueue: review mode's queue (the admin API's Sync Wizard)


class Drain:
    def __init__(self, d: DrainDeps):
        self.d = d

    # -- planning work ----------------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.d.now() if self.d.now else datetime.now(UTC)

    # -- review mode ----------------------------------------------------------------------------------------------
    def _review_start(self, run_id: str) -> list[ReviewEntry]:
        """At the start of an everyday run (as the engine's ReviewGate.snapshot): kept entries back in the lists,
        and the approved entries this run syncs (with review mode off, whatever still waits is released)."""
        queue = self.d.review
        if queue is None:
            return []
        if not self.d.settings.review_mode:
            approved = queue.release(self.d.tenant_id)
        else:
            kept = queue.kept(self.d.tenant_id)
            if kept:
                queue.hold(self.d.tenant_id, kept)
            approved = queue.approved(self.d.tenant_id)
        review = {"run_id": run_id, "approved": [dict(vars(e)) for e in approved]}
        self.d.repo.change_state(self.d.tenant_id, lambda state: {**state, "review": review})
        return approved

    def _approved_keys(self) -> set[tuple[str, str, str]]:
        review = self._state().get("review") or {}
        return {(e["side"], e["entity"], e["entity_id"]) for e in review.get("approved", [])}

    def _admit(self, approved: set, side: str, entity: str, entity_id: str, name: str | None, change: str,
               parts: Any) -> bool:
        """Review mode's one rule for Desktop: a change goes ahead if approved (or review mode is off), else it is
        held in the Sync Wizard (`version` = a fingerprint of the change) and nothing is written. A held change is
        found again when approved: invoices, payments and items to QuickBooks are planned from the platform every
        run; clients, items and paid status are re-read by id at the next run (request_sync)."""
        if (side, entity, entity_id) in approved or not self.d.settings.review_mode or self.d.review is None:
            return True
        version = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.d.review.hold(self.d.tenant_id, [ReviewEntry(side, entity, entity_id, (name or entity_id)[:200],
                                                          change, version)])
        return False

    def _review_report(self, run_id: str) -> None:
        """At the end of the run: each approved entry succeeded, or failed with its record's open error-log entry
        (QuickBooks' own code and message)."""
        state = self._state()
        review = state.get("review") or {}
        if self.d.review is None or review.get("run_id") != run_id or not review.get("approved"):
            return
        open_errors = {e.entity_id: e for e in self.d.errors.list(self.d.tenant_id)}
        succeeded = []
        for row in review["approved"]:
            entry = ReviewEntry(**row)
            error = open_errors.get(entry.entity_id)
            if error is None:
                succeeded.append(entry)
            else:
                self.d.review.done(self.d.tenant_id, [entry], "failed", f"{error.code}: {error.message}")
        if succeeded:
            self.d.review.done(self.d.tenant_id, succeeded, "succeeded")
        self.d.repo.change_state(self.d.tenant_id, lambda state: {**state, "review": {}})

    def request_lists(self, run_id: str | None = None) -> None:
        """Accounts, classes and vendors for the settings API (shared/qbdesktop/lists.py), read every session."""
        for kind in lists.LIST_QUERIES:
            self.d.repo.enqueue(self.d.tenant_id, PULL_LISTS, f"list#{kind}", "pull_list", {"list": kind}, run_id)

    def request_onboarding(self, run_id: str) -> None:
        self.request_lists(run_id)
        self.d.repo.enqueue(self.d.tenant_id, PULL_CUSTOMERS, f"customers#{run_id}", "pull_customers",
                            {"page": 0, "rows_chunk": run_id}, run_id)
        self.d.repo.enqueue(self.d.tenant_id, PLAN_ONBOARDING, f"plan#{run_id}", "plan_onboarding", {}, run_id)

    def sync_due(self) -> bool:
        """Whether this poll starts an everyday run. The Web Connector polls every N minutes and cannot run at a time
        of day, so "Sync data daily at" polls every 30 minutes (the .qwc) and runs once the day's time, in the
        schedule's time zone, has passed since the last run."""
        schedule = self.d.settings.schedule
        if schedule.frequency != "daily" or not schedule.time:
            return True
        from zoneinfo import ZoneInfo

        now = self._now().astimezone(ZoneInfo(schedule.timezone))
        hours, minutes = (int(part) for part in schedule.time.split(":"))
        slot = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if slot > now:
            slot -= timedelta(days=1)
        last = self._state().get("last_sync_at")
        return last is None or datetime.fromisoformat(last) < slot

    def request_sync(self, run_id: str) -> None:
        """One everyday run: what changed on either side since the cursors (FromModifiedDate in QuickBooks,
        updated_since on the platform), merged by the same rules as QuickBooks Online."""
        tenant, s = self.d.tenant_id, self.d.settings
        started = self._now().isoformat()
        state = self.d.repo.change_state(tenant, lambda state: {**state, "last_sync_at": started})
        cursors = state.get("cursors") or {}
        approved = self._review_start(run_id)
        self.request_lists(run_id)
        plan_key = f"QBDQ#{PLAN_CLIENT_CHANGES:02d}#changes#{run_id}"
        self.d.repo.enqueue(tenant, PULL_CUSTOMERS, f"changes#{run_id}", "pull_customers",
                            {"page": 0, "from_modified": _since(cursors.get("customers")), "plan_key": plan_key},
                            run_id)
        self.d.repo.enqueue(tenant, PLAN_CLIENT_CHANGES, f"changes#{run_id}", "plan_client_changes", {}, run_id)
        # Deletions in QuickBooks since their cursors, before anything is planned, so nothing deleted there is
        # written to again or silently re-created.
        list_types = ["Customer"] + (["ItemService", "ItemNonInventory", "ItemInventory"] if s.items.enabled else [])
        self.d.repo.enqueue(tenant, PULL_DELETED, f"deleted-lists#{run_id}", "pull_deleted",
                            {"lists": True, "types": list_types, "since": _since(cursors.get("deleted_lists"))},
                            run_id)
        if s.invoices.enabled:
            self.d.repo.enqueue(tenant, PULL_DELETED, f"deleted-txns#{run_id}", "pull_deleted",
                                {"lists": False, "types": sorted(DELETED_TXNS),
                                 "since": _since(cursors.get("deleted_txns"))}, run_id)
        # Approved changes whose record the cursors have passed are read again by id (clients in the plan step).
        customers = sorted(e.entity_id for e in approved if e.side == "import" and e.entity == "customer")
        if customers:
            self.d.repo.enqueue(tenant, PULL_CUSTOMERS, f"approved#{run_id}", "pull_customers",
                                {"list_ids": customers, "plan_key": plan_key, "plan_field": "approved_chunk",
                                 "chunk": "approved"}, run_id)
        items = sorted(e.name for e in approved if e.side == "import" and e.entity == "item")
        if items and s.items.enabled and s.items.direction == "quickbooks_to_platform":
            self.d.repo.enqueue(tenant, PULL_ITEMS, f"approved-items#{run_id}", "pull_items", {"full_names": items},
                                run_id)
        paid = sorted(e.entity_id for e in approved if e.side == "import" and e.entity == "invoice")
        if paid and s.invoices.enabled:
            self.d.repo.enqueue(tenant, PULL_PAID, f"approved-paid#{run_id}", "pull_paid", {"txn_ids": paid}, run_id)
        if s.items.enabled:
            if s.items.direction == "quickbooks_to_platform":
                self.d.repo.enqueue(tenant, PULL_ITEMS, f"items#{run_id}", "pull_items",
                                    {"from_modified": _since(cursors.get("items"))}, run_id)
            else:
                self.d.repo.enqueue(tenant, PLAN_ITEMS, f"items#{run_id}", "plan_items", {}, run_id)
        if s.invoices.enabled:
            self.d.repo.enqueue(tenant, ENSURE_ITEM, "item#field-service", "ensure_item", {}, run_id)
            if s.job_types.enabled:
                self.d.repo.enqueue(tenant, ENSURE_CLASS - 1, f"classes#{run_id}", "plan_classes", {}, run_id)
            self.d.repo.enqueue(tenant, PLAN_INVOICES, f"invoices#{run_id}", "plan_invoices", {}, run_id)
            if s.payments.enabled:
                self.d.repo.enqueue(tenant, PLAN_PAYMENTS, f"payments#{run_id}", "plan_payments", {}, run_id)
            self.d.repo.enqueue(tenant, PULL_PAYMENTS, f"payments#{run_id}", "pull_payments",
                                {"from_modified": _since(cursors.get("payments"))}, run_id)
            self.d.repo.enqueue(tenant, PULL_PAID, f"paid#{run_id}", "pull_paid",
                                {"from_modified": _since(cursors.get("invoices"))}, run_id)

    # -- one round trip ---------------------------------------------------------------------------------------------
    def next_request(self, ticket: str) -> tuple[WorkItem, str] | None:
        """The next qbXML request set to hand to QuickBooks (running local steps on the way), or None when done."""
        while True:
            queue = self.d.repo.work(self.d.tenant_id, limit=1)
            if not queue:
                return None
            item = queue[0]
            local = getattr(self, f"_local_{item.kind}", None)
            if local is not None:
                local(item)
                self.d.repo.finish_work(item)
                continue
            request = self._request_for(item, ticket)
            if request is None:
                self.d.repo.finish_work(item)
                continue
            return item, qbxml.message_set(request)

    def record_run(self, run) -> None:
        """A Desktop run (shared.domain.records.SyncRun) written to the history and kept in the connection's list of
        open runs until a session settles it, so settling finds it however many runs came after."""
        self.d.runs.create(run)
        self.d.repo.change_state(self.d.tenant_id, lambda state: {
            **state, "open_runs": sorted({*(state.get("open_runs") or []), run.run_id})})

    def waiting_run(self):
        """The newest Desktop run not settled yet (pending or running), or None."""
        runs = [self.d.runs.get(self.d.tenant_id, run_id) for run_id in self._open_run_ids()]
        waiting = [r for r in runs if r is not None and r.status in ("pending", "running")]
        return max(waiting, key=lambda r: r.started_at) if waiting else None

    def _open_run_ids(self) -> list[str]:
        """The connection's open runs, the runs its queued work belongs to, and (runs recorded before the list
        existed) the unsettled Desktop runs among the newest in the history."""
        tenant = self.d.tenant_id
        ids = set(self._state().get("open_runs") or [])
        ids |= {w.run_id for w in self.d.repo.work(tenant, include_failed=True) if w.run_id}
        ids |= {r.run_id for r in self.d.runs.history(tenant, limit=20)
                if is_desktop_run(r.run_id) and r.status in ("pending", "running")}
        return sorted(ids)

    def settle_runs(self, requests_done: int) -> None:
        """At the end of a session: a Desktop run whose work is all done (or in the error log) has succeeded; one
        with work left stays "Pending until the Web Connector runs" (SingleOps' wording). Every open run is looked
        at, not a window of the newest."""
        tenant = self.d.tenant_id
        work = self.d.repo.work(tenant, include_failed=True)
        settled = set()
        for run_id in self._open_run_ids():
            run = self.d.runs.get(tenant, run_id)
            if run is None or not is_desktop_run(run_id) or run.status not in ("pending", "running"):
                settled.add(run_id)
                continue
            mine = [w for w in work if w.run_id == run.run_id]
            failed = sum(1 for w in mine if w.status == "failed")
            if len(mine) > failed:
                self.d.runs.progress(tenant, run.run_id, PENDING_PHASE, run.percent)
                continue
            self._review_report(run.run_id)
            errors = sum(1 for e in self.d.errors.list(tenant) if e.run_id == run.run_id)
            self.d.runs.finish(tenant, run.run_id, "succeeded",
                               {"counts": {"quickbooks_requests_last_session": requests_done,
                                           "records_in_error_log": errors, "requests_failed": failed}})
            settled.add(run_id)
        if settled & set(self._state().get("open_runs") or []):
            self.d.repo.change_state(tenant, lambda state: {
                **state, "open_runs": sorted(set(state.get("open_runs") or []) - settled)})

    def retry_failed(self) -> int:
        """Every failed item back in the queue for the next session ("Resync"). A failure is QuickBooks' definitive
        answer to a write it did not apply (or a refused message set), so sending it again cannot duplicate."""
        failed = [w for w in self.d.repo.work(self.d.tenant_id, include_failed=True) if w.status == "failed"]
        for item in failed:
            self.d.repo.update_work(item, status="pending", mode="write")
        return len(failed)

    def remaining(self) -> int:
        return len(self.d.repo.work(self.d.tenant_id))

    def _request_for(self, item: WorkItem, ticket: str):
        p = item.payload
        if item.kind == "pull_customers" and p.get("list_ids"):
            return qbxml.customer_query(list_ids=p["list_ids"])
        if item.kind == "pull_customers":
            if p.get("ticket") != ticket or not p.get("iterator_id"):  # iterators die with the session: restart
                self.d.repo.update_work(item, payload={**p, "ticket": ticket, "page": 0, "iterator_id": None,
                                                       "attempt": p.get("attempt", 0) + 1})
                return qbxml.customer_query(max_returned=PAGE_SIZE, iterator="Start",
                                            from_modified=p.get("from_modified"))
            return qbxml.customer_query(max_returned=PAGE_SIZE, iterator="Continue", iterator_id=p["iterator_id"])
        if item.kind == "pull_list":
            return qbxml.list_query(lists.LIST_QUERIES[p["list"]])
        if item.kind == "pull_items" and p.get("full_names"):
            return qbxml.list_query("ItemQuery", full_names=p["full_names"])
        if item.kind == "pull_items":
            if p.get("ticket") != ticket or not p.get("iterator_id"):
                self.d.repo.update_work(item, payload={**p, "ticket": ticket, "iterator_id": None})
                return qbxml.item_query(max_returned=PAGE_SIZE, iterator="Start", from_modified=p.get("from_modified"))
            return qbxml.item_query(max_returned=PAGE_SIZE, iterator="Continue", iterator_id=p["iterator_id"])
        if item.kind == "item_add":
            if item.status == "sent" and item.mode == "write":
                self.d.repo.update_work(item, mode="lookup")  # the reply was lost: look the name up first
            if item.mode == "lookup":
                return qbxml.list_query("ItemQuery", full_names=[p["item"]["name"]])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.item_add(**p["item"])
        if item.kind == "item_mod":
            if item.mode == "reread" or not p.get("edit_sequence") or not p.get("item_kind"):
                self.d.repo.update_work(item, mode="reread")  # stale, or linked before its type was kept
                return qbxml.list_query("ItemQuery", list_ids=[p["list_id"]])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.item_mod(p["item_kind"], p["list_id"], p["edit_sequence"], p["changes"])
        if item.kind == "pull_payments":
            return qbxml.txn_query("ReceivePaymentQuery", from_modified=p.get("from_modified"))
        if item.kind == "pull_deleted":
            return qbxml.deleted_query(p["lists"], p["types"], p.get("since"))
        if item.kind == "pull_paid":
            if p.get("txn_ids"):
                return qbxml.txn_query("InvoiceQuery", txn_ids=p["txn_ids"])
            # Every invoice changed since the cursor, not PaidOnly: a void in QuickBooks shows here as well (a
            # voided invoice keeps its TxnID with every amount zero), and must not read as paid.
            return qbxml.txn_query("InvoiceQuery", from_modified=p.get("from_modified"))
        if item.kind in ("customer_mod", "job_mod"):
            if item.mode == "reread" or not p.get("edit_sequence"):
                # No EditSequence known (a job linked by onboarding) or a stale one: read the record first.
                self.d.repo.update_work(item, mode="reread")
                return qbxml.customer_query(list_ids=[p["list_id"]])
            # A Mod whose answer was lost is simply sent again: if QuickBooks applied it, the EditSequence is stale
            # now, 3200 comes back, and the re-read below finds the change already there.
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.customer_mod(p["list_id"], p["edit_sequence"], p["changes"])
        if item.kind == "invoice_mod":
            if item.mode == "reread":
                return qbxml.txn_query("InvoiceQuery", txn_ids=[p["txn_id"]])
            # As for customer_mod: a Mod whose answer was lost is sent again; if QuickBooks applied it, 3200 comes
            # back, the invoice is re-read, and the same full replacement is sent with the new EditSequence.
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.invoice_mod(p["txn_id"], p["edit_sequence"], p["invoice"])
        if item.status == "sent" and item.mode == "write":
            self.d.repo.update_work(item, mode="lookup")  # the reply to our write was lost: look before re-adding
        if item.kind == "job_add" and p.get("look_first") and not p.get("looked_up") and item.mode == "write":
            # A site added after onboarding: a job of that FullName may be in QuickBooks already (decision 24).
            self.d.repo.update_work(item, mode="lookup")
        if item.kind in ("customer_add", "job_add"):
            customer = self._customer_fields(item)
            if customer is None:
                return None
            if item.mode == "lookup":
                return qbxml.customer_query(full_names=[self._full_name(customer)])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.customer_add(customer)
        if item.kind == "ensure_item":
            if item.mode in ("write", "lookup") and not p.get("looked_up"):
                self.d.repo.update_work(item, mode="lookup")
                return qbxml.list_query("ItemQuery", full_names=[DESKTOP_ITEM])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.item_add("service", DESKTOP_ITEM, desc="Work from the field-service platform",
                                  account_id=self.d.settings.invoices.income_account_id)
        if item.kind == "ensure_tax_item":
            if not p.get("looked_up"):
                return qbxml.list_query("ItemSalesTaxQuery", full_names=[p["name"]])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.sales_tax_item_add(p["name"], Decimal(p["rate"]), vendor_id=p["vendor_id"])
        if item.kind == "ensure_class":
            if not p.get("looked_up"):
                return qbxml.list_query("ClassQuery", full_names=[p["name"]])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.class_add(p["name"])
        if item.kind == "invoice_add":
            if item.mode == "lookup":
                return qbxml.txn_query("InvoiceQuery", customer_list_id=p["invoice"]["customer_list_id"])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.invoice_add(p["invoice"])
        if item.kind == "invoice_void":
            if item.mode == "lookup":  # the void's answer was lost: voided already if QuickBooks shows it at zero
                return qbxml.txn_query("InvoiceQuery", txn_ids=[p["txn_id"]], include_lines=True)
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.txn_void("Invoice", p["txn_id"])
        if item.kind == "payment_add":
            if item.mode == "lookup":
                return qbxml.txn_query("ReceivePaymentQuery", customer_list_id=p["payment"]["customer_list_id"])
            self.d.repo.update_work(item, status="sent", attempts=item.attempts + 1)
            return qbxml.receive_payment_add(p["payment"])
        raise ValueError(f"unknown Desktop work kind {item.kind}")

    def apply(self, item: WorkItem, response: str) -> None:
        """QuickBooks' answer to `item`'s request: adopt, link, retry, or record the error with Desktop's code."""
        results = qbxml.parse_response(response)
        if not results:
            raise qbxml.QbxmlParseError("empty response message set")
        result = results[0]
        handler = getattr(self, f"_on_{item.kind}")
        handler(item, result)

    def refused(self, item: WorkItem, hresult: str, message: str) -> None:
        """ProcessRequest failed (receiveResponseXML with an hresult): QuickBooks applied nothing of the set."""
        self._error(item, hresult, message)
        self.d.repo.update_work(item, status="failed")

    # -- customers and jobs -----------------------------------------------------------------------------------------
    def _customer_fields(self, item: WorkItem) -> dict | None:
        p = item.payload
        customer = dict(p["customer"])
        if item.kind == "job_add":
            parent = self.d.links.get(self.d.tenant_id, ENTITY["client"], p["client_id"])
            if parent is None or not parent.qbo_id:
                self._error(item, "parent_not_synced", "The site's client is not in QuickBooks yet; it syncs after "
                                                       "its client does.")
                return None
            customer["parent_list_id"] = parent.qbo_id
            customer["parent_full_name"] = (parent.extra or {}).get("full_name")
        return customer

    @staticmethod
    def _full_name(customer: dict) -> str:
        name = qbxml._cut(customer["name"], qbxml.NAME_MAX) or ""
        return f"{customer['parent_full_name']}:{name}" if customer.get("parent_full_name") else name

    def _on_customer_add(self, item: WorkItem, result: Result) -> None:
        entity = ENTITY["client"] if item.kind == "customer_add" else ENTITY["site"]
        if item.mode == "lookup":
            if result.rets:
                self._link_customer(item, entity, result.rets[0])
            else:
                self.d.repo.update_work(item, mode="write", status="pending",
                                        payload={**item.payload, "looked_up": True})
            return
        if result.status_code == 0 and result.rets:
            self._link_customer(item, entity, result.rets[0])
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    _on_job_add = _on_customer_add

    def _link_customer(self, item: WorkItem, entity: str, ret: dict) -> None:
        extra = {"full_name": ret.get("FullName"), "active": ret.get("IsActive") != "false"}
        if entity == ENTITY["site"] and item.payload.get("fp"):
            extra["fp"] = item.payload["fp"]
        if entity == ENTITY["client"]:  # each side's fingerprints from here on (shared.domain.clients)
            extra["fp"] = {"p": item.payload.get("fp_p") or {}, "q": client_rules.fingerprints(
                client_rules.compact_customer_values(compact_customer(ret)))}
        self.d.links.put(Link(tenant_id=self.d.tenant_id, entity=entity, fsp_id=item.payload["fsp_id"],
                              qbo_id=ret["ListID"], sync_token=ret.get("EditSequence"), extra=extra))
        # The error log names records as the platform does ("client", "site"), not by their link kind.
        self.d.errors.resolve(self.d.tenant_id, f"{entity.removeprefix('qbd_')}#{item.payload['fsp_id']}")
        self.d.repo.finish_work(item)

    def _on_pull_customers(self, item: WorkItem, result: Result) -> None:
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        p = item.payload
        rows = [compact_customer(r) for r in result.rets]
        chunk = p.get("chunk") or f"qbd{p.get('attempt', 1)}"
        self.d.runs.put_chunk(self.d.tenant_id, item.run_id or "", chunk, p.get("page", 0), rows)
        if result.remaining:
            self.d.repo.update_work(item, payload={**p, "iterator_id": result.iterator_id,
                                                   "page": p.get("page", 0) + 1})
            return
        plan = self.d.repo.get_work(self.d.tenant_id,
                                    p.get("plan_key") or f"QBDQ#{PLAN_ONBOARDING:02d}#plan#{item.run_id}")
        if plan is not None:
            self.d.repo.update_work(plan, payload={**plan.payload, p.get("plan_field", "chunk"): chunk})
        self.d.repo.finish_work(item)

    def _local_plan_onboarding(self, item: WorkItem) -> None:
        """Match the pulled QuickBooks customers with the platform's clients (shared.domain rules), then create what
        each side lacks: QuickBooks writes are queued, platform records created now."""
        tenant, run_id = self.d.tenant_id, item.run_id or ""
        started = self._now()
        qbd = [row for chunk in self.d.runs.chunks(tenant, run_id, item.payload.get("chunk", "qbd1")) for row in chunk]
        clients = [parties.compact_client(c) for c in _all(self.d.platform.list_clients, tenant)]
        sites = [parties.compact_site(s) for s in _all(self.d.platform.list_sites, tenant)]
        existing = {link.qbo_id: link.fsp_id for link in self.d.links.all(tenant, ENTITY["client"]) if link.qbo_id}
        existing_sites = {link.qbo_id: link.fsp_id for link in self.d.links.all(tenant, ENTITY["site"])
                          if link.qbo_id}
        plan = onboarding_plan.plan_onboarding(qbd, clients, sites, existing, self.d.settings, names_taken=[],
                                               existing_sites=existing_sites)
        self._apply_plan(plan, qbd, clients, existing, run_id)
        self._save_cursors(customers=_newest(qbd), clients=started.isoformat(), sites=started.isoformat())
        self.d.repo.change_state(tenant, lambda state: {**state, "onboarded": True})

    def _apply_plan(self, plan, qbd: list[dict], clients: list[dict], existing: dict, run_id: str,
                    site_fps: dict[str, str] | None = None) -> None:
        """The onboarding plan's matches linked (with both sides' fingerprints), QuickBooks writes queued, platform
        records created now. The everyday run applies its plan for new records the same way; its new sites
        (`site_fps`: each one's fingerprint) are looked up by FullName before a job is added."""
        tenant = self.d.tenant_id
        full_names = {row["id"]: row.get("full_name") for row in qbd}
        rows = {row["id"]: row for row in qbd}
        by_fsp = {c["id"]: c for c in clients}

        def fp(q: str, f: str) -> dict:
            if q not in rows or f not in by_fsp:
                return {}
            return client_rules.baseline(client_rules.compact_client_values(by_fsp[f]),
                                         client_rules.compact_customer_values(rows[q]))

        links = [Link(tenant_id=tenant, entity=ENTITY["client"], fsp_id=f, qbo_id=q,
                      sync_token=(rows.get(q) or {}).get("sync_token"),
                      extra={"full_name": full_names.get(q), "active": (rows.get(q) or {}).get("active", True),
                             "fp": fp(q, f)})
                 for q, f, _ in plan.matches if q not in existing]
        links += [Link(tenant_id=tenant, entity=ENTITY["site"], fsp_id=f, qbo_id=q,
                       sync_token=(rows.get(q) or {}).get("sync_token"), extra={"full_name": full_names.get(q)})
                  for q, f in plan.site_matches]
        self.d.links.put_many(links)
        for row in plan.to_quickbooks:
            self.d.repo.enqueue(tenant, CUSTOMER_ADD, f"client#{row['fsp_id']}", "customer_add",
                                {"fsp_id": row["fsp_id"], "customer": desktop_customer(row["customer"]),
                                 "fp_p": row.get("fp_p")}, run_id)
        for row in plan.sites_to_quickbooks:
            after_onboarding = {"look_first": True, "fp": site_fps[row["fsp_id"]]} if site_fps else {}
            self.d.repo.enqueue(tenant, JOB_ADD, f"site#{row['fsp_id']}", "job_add",
                                {"fsp_id": row["fsp_id"], "client_id": row["client_id"],
                                 "customer": desktop_customer(row["customer"]), **after_onboarding}, run_id)
        created = {}
        for row in plan.to_platform:
            client = self.d.platform.create_client(tenant, parties.client_draft(row["client"]),
                                                   idempotency_key=f"qbd-{tenant}-client-{row['qbo_id']}")
            created[row["qbo_id"]] = client.id
            base = {"p": client_rules.fingerprints(client_rules.client_values(client)), "q": row.get("fp_q") or {}}
            self.d.links.put(Link(tenant_id=tenant, entity=ENTITY["client"], fsp_id=client.id, qbo_id=row["qbo_id"],
                                  sync_token=row.get("sync_token"),
                                  extra={"full_name": full_names.get(row["qbo_id"]), "active": True, "fp": base}))
        client_of = {**existing, **{q: f for q, f, _ in plan.matches}, **created}
        for row in plan.sites_to_platform:
            parent = client_of.get(row["parent_qbo_id"])
            if parent is None:
                continue
            site = self.d.platform.create_site(tenant, parties.site_draft(row, parent),
                                               idempotency_key=f"qbd-{tenant}-site-{row['qbo_id']}")
            self.d.links.put(Link(tenant_id=tenant, entity=ENTITY["site"], fsp_id=site.id, qbo_id=row["qbo_id"],
                                  sync_token=row.get("sync_token"),
                                  extra={"full_name": full_names.get(row["qbo_id"]),
                                         "fp": site_fingerprint(parties.compact_site(site)["address"],
                                                                site.active)}))
        for skipped in plan.skipped:
            self.d.errors.record(ErrorEntry(tenant_id=tenant, entity=skipped["entity"], entity_id=skipped["id"],
                                            direction=skipped["direction"], code=skipped["code"],
                                            message=skipped["message"], run_id=run_id))

    def _save_cursors(self, **cursors: str | None) -> None:
        moved = {k: v for k, v in cursors.items() if v}
        self.d.repo.change_state(self.d.tenant_id, lambda state: {
            **state, "cursors": {**(state.get("cursors") or {}), **moved}})

    def _local_plan_client_changes(self, item: WorkItem) -> None:
        """The everyday client sync: QuickBooks customers modified since the cursor (this run's pull) and platform
        clients updated since its cursor, merged field by field against each link's fingerprints with the rules the
        QuickBooks Online engine uses (shared.domain.clients.merge: changed on one side goes to the other, changed
        on both the newest edit wins, the direction decides who may write, our own writes are never echoed).
        Records new on either side go through the onboarding plan (matched by name and evidence, else created)."""
        tenant, run_id, settings = self.d.tenant_id, item.run_id or "", self.d.settings
        started = self._now()
        cursors = self._state().get("cursors") or {}
        rows = [row for chunk in self.d.runs.chunks(tenant, run_id, item.payload.get("chunk", "qbd1")) for row in chunk]
        approved = self._approved_keys()
        if item.payload.get("approved_chunk"):  # approved QuickBooks changes, read again by ListID
            seen = {row["id"] for row in rows}
            rows += [row for chunk in self.d.runs.chunks(tenant, run_id, item.payload["approved_chunk"])
                     for row in chunk if row["id"] not in seen]
        since = cursors.get("clients")
        changed = list(_all(self.d.platform.list_clients, tenant,
                            updated_since=datetime.fromisoformat(since) - OVERLAP)) if since else []
        known = {c.id for c in changed}
        changed += [self.d.platform.get_client(tenant, fsp_id) for side, entity, fsp_id in sorted(approved)
                    if side == "export" and entity == "customer" and fsp_id not in known]
        by_fsp = {link.fsp_id: link for link in self.d.links.all(tenant, ENTITY["client"]) if link.qbo_id}
        by_qbo = {link.qbo_id: link for link in by_fsp.values()}
        top = {row["id"]: row for row in rows if not row["job"]}
        pairs: dict[str, tuple[Link, Any, dict | None]] = {}
        for client in changed:
            if client.id in by_fsp:
                link = by_fsp[client.id]
                pairs[link.qbo_id] = (link, client, top.get(link.qbo_id))
        for qbo_id, row in top.items():
            if qbo_id in by_qbo and qbo_id not in pairs:
                pairs[qbo_id] = (by_qbo[qbo_id], None, row)
        for link, client, row in pairs.values():
            if not gone(link):  # deleted in QuickBooks: flagged, never written to or re-created
                self._merge_pair(link, client, row, run_id, approved)
        linked_sites = {link.qbo_id for link in self.d.links.all(tenant, ENTITY["site"]) if link.qbo_id}
        new_rows = [row for qbo_id, row in top.items() if qbo_id not in by_qbo and qbo_id not in linked_sites]
        rows_by_id = {row["id"]: row for row in new_rows}
        new_clients = [parties.compact_client(c) for c in changed if c.id not in by_fsp]
        if new_rows or new_clients:
            plan = onboarding_plan.plan_onboarding(new_rows, new_clients, [], {}, settings,
                                                   names_taken=[r["name"] for r in rows],
                                                   existing_sites={})
            plan.to_quickbooks = [r for r in plan.to_quickbooks if self._admit(
                approved, "export", "customer", r["fsp_id"], r["customer"]["display_name"], "create", r["customer"])]
            plan.to_platform = [r for r in plan.to_platform if self._admit(
                approved, "import", "customer", r["qbo_id"], (rows_by_id.get(r["qbo_id"]) or {}).get("name"),
                "create", r["client"])]
            self._apply_plan(plan, new_rows, new_clients, {}, run_id)
        if settings.sites.enabled:
            self._plan_site_changes(rows, run_id, approved, cursors.get("sites") or cursors.get("clients"))
        self._save_cursors(customers=_newest(rows) or cursors.get("customers"), clients=started.isoformat(),
                           sites=started.isoformat())

    def _plan_site_changes(self, rows: list[dict], run_id: str, approved: set, since: str | None) -> None:
        """Sites and jobs after onboarding. Platform sites updated since the cursor: a linked one whose ship-to
        address or active flag differ from what was sent goes as a CustomerMod of its job (the EditSequence; a stale
        one is re-read and the change retried); a new one, under a client in QuickBooks, becomes a job with
        ParentRef and ShipAddress, looked up by FullName first. QuickBooks jobs new since the customer cursor (this
        run's pull) become sites of their client's platform record. Both by the onboarding rule
        (`plan_onboarding`: a job with a ship-to address is a location, matched to a site by address). A new site
        whose client is not in QuickBooks yet waits (error log, and read again by id every run until it goes)."""
        tenant = self.d.tenant_id
        changed = list(_all(self.d.platform.list_sites, tenant,
                            updated_since=datetime.fromisoformat(since) - OVERLAP)) if since else []
        known = {site.id for site in changed}
        waiting = set(self._state().get("sites_waiting") or [])
        again = {fsp_id for side, entity, fsp_id in approved if side == "export" and entity == "site"} | waiting
        for fsp_id in sorted(again - known):
            try:
                changed.append(self.d.platform.get_site(tenant, fsp_id))
            except PlatformNotFound:
                continue  # deleted on the platform meanwhile: nothing waits any more
        site_links = {link.fsp_id: link for link in self.d.links.all(tenant, ENTITY["site"])}
        linked_jobs = {link.qbo_id for link in site_links.values() if link.qbo_id}
        all_clients = {link.fsp_id: link for link in self.d.links.all(tenant, ENTITY["client"]) if link.qbo_id}
        # A client whose customer was deleted in QuickBooks takes no new jobs (its error-log entry says why).
        client_links = {fsp_id: link for fsp_id, link in all_clients.items() if not gone(link)}
        client_of = {link.qbo_id: link.fsp_id for link in client_links.values()}
        clients: dict[str, Any] = {}

        def client(fsp_id: str):
            if fsp_id not in clients:
                clients[fsp_id] = self.d.platform.get_client(tenant, fsp_id)
            return clients[fsp_id]

        new_sites, fps, still_waiting = [], {}, []
        for site in changed:
            values = self._site_values(site, client)
            fp = site_fingerprint(values["ship"], values["active"])
            link = site_links.get(site.id)
            if link is not None and link.qbo_id:
                if fp != (link.extra or {}).get("fp") and not gone(link) and self._admit(
                        approved, "export", "site", site.id, site.name, "update", [values, fp]):
                    self.d.repo.enqueue(tenant, JOB_MOD, f"job-mod#{site.id}#{fp}", "job_mod",
                                        {"fsp_id": site.id, "list_id": link.qbo_id,
                                         "edit_sequence": link.sync_token or "", "fp": fp,
                                         "changes": {"ship": values["ship"], "bill": values["ship"],
                                                     "active": values["active"]}}, run_id)
            elif link is None and site.client_id in client_links:
                new_sites.append({**parties.compact_site(site), "address": values["ship"]})
                fps[site.id] = fp
            elif link is None and site.active and site.client_id not in all_clients:
                still_waiting.append(site.id)
                self.d.errors.record(ErrorEntry(tenant_id=tenant, entity="site", entity_id=site.id,
                                                direction="to_quickbooks", code="waiting_for_client",
                                                message=WAITING_FOR_CLIENT, run_id=run_id))
        if waiting or still_waiting:
            self.d.repo.change_state(tenant, lambda state: {**state, "sites_waiting": sorted(still_waiting)})
        new_jobs = [row for row in rows if row["job"] and row["id"] not in linked_jobs]
        if not new_sites and not new_jobs:
            return
        # Each parent as the plan reads it: this run's row when QuickBooks changed it, else its linked client.
        top = {row["id"]: row for row in rows if not row["job"]}
        parents = {row["parent_id"] for row in new_jobs if row.get("parent_id") in client_of}
        parents |= {client_links[site["client_id"]].qbo_id for site in new_sites}
        parent_rows, parent_clients = [], []
        for qbo_id in sorted(parents):
            platform_client = parties.compact_client(client(client_of[qbo_id]))
            parent_clients.append(platform_client)
            link = client_links[client_of[qbo_id]]
            parent_rows.append(top.get(qbo_id) or {
                "id": qbo_id, "job": False, "parent_id": None, "name": (link.extra or {}).get("full_name") or "",
                "active": (link.extra or {}).get("active", True), "bill": platform_client["address"]})
        plan = onboarding_plan.plan_onboarding(
            new_jobs + parent_rows, parent_clients, new_sites, {q: client_of[q] for q in parents}, self.d.settings,
            names_taken=[r["name"] for r in rows], existing_sites={})
        names = {row["id"]: row.get("full_name") or row["name"] for row in new_jobs}
        plan.sites_to_quickbooks = [r for r in plan.sites_to_quickbooks if self._admit(
            approved, "export", "site", r["fsp_id"], r["customer"]["display_name"], "create", r["customer"])]
        plan.sites_to_platform = [r for r in plan.sites_to_platform if self._admit(
            approved, "import", "customer", r["qbo_id"], names.get(r["qbo_id"]), "create", r["address"])]
        self._apply_plan(plan, new_jobs + parent_rows, parent_clients, {q: client_of[q] for q in parents}, run_id,
                         site_fps=fps)

    def _site_values(self, site, client) -> dict:
        """What a site's job holds in QuickBooks: the ship-to address ("Use client State/Country for sites" fills a
        missing State and Country from the client's billing address, then the default State) and the active flag."""
        address = dict(parties.compact_site(site)["address"] or {})
        if self.d.settings.sites.use_client_address_state and not (address.get("state") and address.get("country")):
            bill = parties.compact_client(client(site.client_id))["address"] or {}
            address = {**address, "state": address.get("state") or bill.get("state"),
                       "country": address.get("country") or bill.get("country")}
        try:
            state = resolve_state(address.get("state"), address.get("country"), self.d.settings)
        except MissingState:
            state = None  # QuickBooks takes a ship-to address without a State
        return {"ship": {**address, "state": state}, "active": bool(site.active)}

    def _merge_pair(self, link: Link, client, row: dict | None, run_id: str, approved: set) -> None:
        tenant, settings = self.d.tenant_id, self.d.settings
        p_values = client_rules.client_values(client) if client is not None else None
        q_values = client_rules.compact_customer_values(row) if row is not None else None
        base = (link.extra or {}).get("fp") or {}
        result = client_rules.merge(base, p_values, q_values,
                                    client.updated_at if client is not None else None,
                                    _qbd_time(row.get("modified")) if row is not None else None,
                                    settings.clients.direction)
        name = (client.display_name if client is not None else None) or (row or {}).get("name") or link.fsp_id
        for side, changes, entity_id in (("export", result.to_quickbooks, link.fsp_id),
                                         ("import", result.to_platform, link.qbo_id or "")):
            if changes and not self._admit(approved, side, "customer", entity_id, name, "update", changes):
                for field_name in changes:  # held: both sides keep their fingerprint, so the change stays found
                    for fp, side_base in ((result.platform_fp, base.get("p") or {}),
                                          (result.quickbooks_fp, base.get("q") or {})):
                        if field_name in side_base:
                            fp[field_name] = side_base[field_name]
                changes.clear()
        if result.to_platform:
            current = client if client is not None else self.d.platform.get_client(tenant, link.fsp_id)
            try:
                self.d.platform.update_client(tenant, current.id, **client_rules.client_update(
                    current, result.to_platform, settings))
            except MissingState as exc:
                self.d.errors.record(ErrorEntry(tenant_id=tenant, entity="client", entity_id=link.fsp_id,
                                                direction="to_platform", code=exc.code, message=exc.message,
                                                run_id=run_id))
                return
        if row is not None:
            link.sync_token = row.get("sync_token")
        link.extra = {**(link.extra or {}), "fp": result.base()}
        if result.to_quickbooks:
            self.d.repo.enqueue(tenant, CUSTOMER_MOD, f"mod#{link.fsp_id}#{run_id}", "customer_mod",
                                {"fsp_id": link.fsp_id, "list_id": link.qbo_id, "edit_sequence": link.sync_token or "",
                                 "changes": desktop_changes(result.to_quickbooks)}, run_id)
        self.d.links.put(link)

    def _reread(self, item: WorkItem, result: Result) -> bool:
        """A mod whose EditSequence was stale went back for the record: write again with the one QuickBooks holds
        now (True), or fail if the record is gone."""
        if item.mode != "reread":
            return False
        if not result.rets:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return True
        self.d.repo.update_work(item, mode="write", status="pending",
                                payload={**item.payload, "edit_sequence": result.rets[0].get("EditSequence")})
        return True

    def _on_customer_mod(self, item: WorkItem, result: Result) -> None:
        """A client's CustomerMod, or a site's (`job_mod`: the job's ship-to address and active flag)."""
        p = item.payload
        if self._reread(item, result):
            return
        entity = "site" if item.kind == "job_mod" else "client"
        if result.status_code == 0 and result.rets:
            ret = result.rets[0]
            link = self.d.links.get(self.d.tenant_id, ENTITY[entity], p["fsp_id"])
            if link is not None:
                link.sync_token = ret.get("EditSequence")
                link.extra = {**(link.extra or {}), "active": ret.get("IsActive") != "false",
                              **({"fp": p["fp"]} if p.get("fp") else {})}
                self.d.links.put(link)
            self.d.errors.resolve(self.d.tenant_id, f"{entity}#{p['fsp_id']}")
            self.d.repo.finish_work(item)
            return
        if result.status_code == qbxml.STALE_EDIT_SEQUENCE and item.attempts < MAX_STALE_RETRIES:
            self.d.repo.update_work(item, mode="reread", status="pending")  # someone edited it: re-read, retry
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    _on_job_mod = _on_customer_mod

    def _state(self) -> dict:
        connection = self.d.repo.connection(self.d.tenant_id)
        return dict(connection.state or {}) if connection else {}

    # -- invoices -------------------------------------------------------------------------------------------------
    def _on_ensure_item(self, item: WorkItem, result: Result) -> None:
        if item.mode == "lookup" and not item.payload.get("looked_up"):
            if result.rets:
                self.d.repo.finish_work(item)
            else:
                self.d.repo.update_work(item, mode="write", status="pending", payload={"looked_up": True})
            return
        if result.status_code == 0 or result.status_code == qbxml.NAME_IN_USE:
            self.d.errors.resolve(self.d.tenant_id, f"ensure_item#{item.key}")
            self.d.repo.finish_work(item)
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _local_plan_classes(self, item: WorkItem) -> None:
        """'Create New Job Class': a QuickBooks class named after the job type, looked up first, added if missing."""
        job_types = self.d.settings.job_types
        for job_type in _all(self.d.platform.list_job_types, self.d.tenant_id):
            mapping = job_types.class_mapping.get(job_type.id)
            if (mapping.mode == "create") if mapping else job_types.always_create_class:
                self.d.repo.enqueue(self.d.tenant_id, ENSURE_CLASS, f"class#{job_type.id}", "ensure_class",
                                    {"name": qbxml._cut(job_type.name, 31), "fsp_id": job_type.id}, item.run_id)

    def _on_ensure_class(self, item: WorkItem, result: Result) -> None:
        if not item.payload.get("looked_up"):
            if result.rets:
                self._remember_class(item.payload["fsp_id"], result.rets[0].get("FullName"))
                self.d.repo.finish_work(item)
            else:
                self.d.repo.update_work(item, payload={**item.payload, "looked_up": True})
            return
        if result.status_code == 0 and result.rets:
            self._remember_class(item.payload["fsp_id"], result.rets[0].get("FullName"))
            self.d.repo.finish_work(item)
            return
        if result.status_code == qbxml.NAME_IN_USE:  # our own earlier add whose reply was lost: the class is there
            self._remember_class(item.payload["fsp_id"], item.payload["name"])
            self.d.repo.finish_work(item)
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _remember_class(self, job_type_id: str, full_name: str | None) -> None:
        self.d.repo.change_state(self.d.tenant_id, lambda state: {
            **state, "job_type_class_names": {**state.get("job_type_class_names", {}), job_type_id: full_name}})

    def _class_for(self, job_type_id: str | None) -> tuple[str | None, str | None]:
        """(ListID, FullName) of the invoice's class: a chosen class by id, a created one by the name it got."""
        job_types = self.d.settings.job_types
        if not job_types.enabled or not job_type_id:
            return None, None
        mapping = job_types.class_mapping.get(job_type_id)
        if mapping is not None and mapping.mode == "class":
            return mapping.class_id, None
        if (mapping.mode == "create") if mapping else job_types.always_create_class:
            return None, self._state().get("job_type_class_names", {}).get(job_type_id)
        return None, None

    def _local_plan_invoices(self, item: WorkItem) -> None:
        """Ready, non-zero invoices not yet in QuickBooks, under the customer or, with job locations, the job; then
        the synced invoices the platform changed since the last run (as QuickBooks Online's InvoiceSync): an edit
        goes as an InvoiceMod when its fingerprint differs from the version sent, a platform void as a TxnVoid."""
        tenant, approved = self.d.tenant_id, self._approved_keys()
        started = self._now()
        for invoice in _all(self.d.platform.list_invoices, tenant, status="ready_for_sync"):
            if Decimal(invoice.total).quantize(ZERO) == ZERO:
                continue  # $0 invoices are not synced (IndusTrack seed)
            if self.d.links.get(tenant, ENTITY["invoice"], invoice.id) is not None:
                continue
            body = self._invoice_body(invoice, item.run_id)
            if body is None:
                continue
            body["external_guid"] = external_guid(tenant, "invoice", invoice.id)
            if not self._admit(approved, "export", "invoice", invoice.id, invoice.number, "create", body):
                continue
            self.d.repo.enqueue(tenant, INVOICE_ADD, f"invoice#{invoice.id}", "invoice_add",
                                {"fsp_id": invoice.id, "invoice": body}, item.run_id)
        since = (self._state().get("cursors") or {}).get("platform_invoices")
        changed = _all(self.d.platform.list_invoices, tenant,
                       updated_since=datetime.fromisoformat(since) - OVERLAP if since else None)
        for invoice in changed:
            self._plan_invoice_change(invoice, item.run_id, approved)
        self._save_cursors(platform_invoices=started.isoformat())

    def _invoice_body(self, invoice, run_id: str | None) -> dict | None:
        """The invoice as QuickBooks Desktop gets it (InvoiceAdd or InvoiceMod values), or None while its customer
        or an item is not in QuickBooks yet (recorded in the error log)."""
        tenant = self.d.tenant_id
        customer = None
        if self.d.settings.invoices.job_locations and invoice.site_id:
            customer = self.d.links.get(tenant, ENTITY["site"], invoice.site_id)
        customer = customer or self.d.links.get(tenant, ENTITY["client"], invoice.client_id)
        if customer is not None and gone(customer):
            self.d.errors.record(ErrorEntry(tenant_id=tenant, entity="invoice", entity_id=invoice.id,
                                            direction="to_quickbooks", code="customer_deleted_in_quickbooks",
                                            message="The invoice's customer (or job) was deleted in QuickBooks; the "
                                                    "invoice is not sent.", run_id=run_id))
            return None
        if customer is None or not customer.qbo_id:
            self.d.errors.record(ErrorEntry(tenant_id=tenant, entity="invoice", entity_id=invoice.id,
                                            direction="to_quickbooks", code="customer_not_synced",
                                            message="The invoice's client is not in QuickBooks yet; it syncs "
                                                    "after its client does.", run_id=run_id))
            return None
        # Money stays Decimal; the queue stores it as exact decimal strings (JSON has no decimal type).
        items = self._line_items(invoice, run_id)
        if items is None:
            return None
        lines = [{**ref, "desc": line.description, "quantity": str(line.quantity),
                  "rate": str(line.unit_price), "amount": str(line.amount)}
                 for line, ref in zip(invoice.lines, items, strict=True)]
        tax_item = self._tax_item_for(invoice, run_id)
        if tax_item:
            for line, source in zip(lines, invoice.lines, strict=True):
                line["tax_code"] = "Tax" if source.taxable else "Non"
        class_list_id, class_full_name = self._class_for(invoice.job_type_id)
        return {"customer_list_id": customer.qbo_id, "txn_date": invoice.issued_on.isoformat(),
                "class_list_id": class_list_id, "class_full_name": class_full_name,
                "due_date": invoice.due_on.isoformat() if invoice.due_on else None, "memo": invoice.memo,
                "lines": lines, "sales_tax_item": tax_item}

    def _plan_invoice_change(self, invoice, run_id: str | None, approved: set) -> None:
        """A synced invoice changed on the platform: voided -> TxnVoid once; otherwise an InvoiceMod when what
        QuickBooks would get differs from the version it has (the link's fingerprint), one per version."""
        tenant = self.d.tenant_id
        link = self.d.links.get(tenant, ENTITY["invoice"], invoice.id)
        if link is None or not link.qbo_id or gone(link):
            return
        status = str(getattr(invoice.status, "value", invoice.status))
        if status == "void":
            if self._admit(approved, "export", "invoice", invoice.id, invoice.number, "void", {"void": link.qbo_id}):
                self.d.repo.enqueue(tenant, INVOICE_MOD, f"invoice-void#{invoice.id}", "invoice_void",
                                    {"fsp_id": invoice.id, "txn_id": link.qbo_id}, run_id)
            return
        if status not in ("ready_for_sync", "paid"):
            return
        body = self._invoice_body(invoice, run_id)
        if body is None:
            return
        fp = invoice_fingerprint(body)
        sent = (link.extra or {}).get("fp")
        if sent is None:  # linked before edits were followed: what QuickBooks has now is this version's baseline
            link.extra = {**(link.extra or {}), "fp": fp}
            self.d.links.put(link)
            return
        if fp == sent or not self._admit(approved, "export", "invoice", invoice.id, invoice.number, "update", body):
            return
        self.d.repo.enqueue(tenant, INVOICE_MOD, f"invoice-mod#{invoice.id}#{fp}", "invoice_mod",
                            {"fsp_id": invoice.id, "txn_id": link.qbo_id, "edit_sequence": link.sync_token or "",
                             "invoice": body, "fp": fp}, run_id)

    def _tax_item_for(self, invoice, run_id: str | None) -> str | None:
        """With a tax vendor chosen, the platform's rate travels as an ItemSalesTax ("Tax 8.6%") whose tax agency is
        that vendor, made once (looked up first) and named on the invoice; taxable lines carry "Tax", others "Non".
        Without one, or on a tax-free invoice, QuickBooks applies the customer's own tax (IndusTrack seed)."""
        invoices = self.d.settings.invoices
        vendor = invoices.tax_vendor_id if invoices.tax_mode == "platform" else None
        taxable = sum((line.amount for line in invoice.lines if line.taxable), Decimal("0"))
        if not vendor or not taxable or not invoice.tax_total:
            return None
        rate = (Decimal(invoice.tax_total) * 100 / taxable).quantize(Decimal("0.001")).normalize()
        name = f"Tax {rate}%"
        self.d.repo.enqueue(self.d.tenant_id, ENSURE_TAX, f"tax#{rate}", "ensure_tax_item",
                            {"name": name, "rate": str(rate), "vendor_id": vendor}, run_id)
        return name

    def _on_ensure_tax_item(self, item: WorkItem, result: Result) -> None:
        if not item.payload.get("looked_up"):
            if result.rets:
                self.d.repo.finish_work(item)
            else:
                self.d.repo.update_work(item, payload={**item.payload, "looked_up": True})
            return
        if result.status_code in (0, qbxml.NAME_IN_USE):  # in use: our own add whose reply was lost
            self.d.repo.finish_work(item)
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _on_invoice_add(self, item: WorkItem, result: Result) -> None:
        marker = item.payload["invoice"]["external_guid"]
        if item.mode == "lookup":
            found = next((r for r in result.rets if (r.get("ExternalGUID") or "").upper() == marker.upper()), None)
            if found is not None:
                self._link_invoice(item, found)
            else:
                self.d.repo.update_work(item, mode="write", status="pending")
            return
        if result.status_code == 0 and result.rets:
            self._link_invoice(item, result.rets[0])
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _link_invoice(self, item: WorkItem, ret: dict) -> None:
        fsp_id = item.payload["fsp_id"]
        self.d.links.put(Link(tenant_id=self.d.tenant_id, entity=ENTITY["invoice"], fsp_id=fsp_id,
                              qbo_id=ret["TxnID"], sync_token=ret.get("EditSequence"),
                              extra={"ref_number": ret.get("RefNumber"), "open": ret.get("BalanceRemaining"),
                                     "customer_list_id": (ret.get("CustomerRef") or {}).get("ListID"),
                                     "fp": invoice_fingerprint(item.payload["invoice"])}))
        # "the invoice number ... will change and will match the invoice number in QuickBooks" (IndusTrack seed)
        self.d.platform.update_invoice(self.d.tenant_id, fsp_id, external_number=ret.get("RefNumber"))
        self.d.errors.resolve(self.d.tenant_id, f"invoice#{fsp_id}")
        self.d.repo.finish_work(item)

    def _on_invoice_mod(self, item: WorkItem, result: Result) -> None:
        p = item.payload
        if self._reread(item, result):
            return
        if result.status_code == 0 and result.rets:
            ret = result.rets[0]
            link = self.d.links.get(self.d.tenant_id, ENTITY["invoice"], p["fsp_id"])
            if link is not None:
                link.sync_token = ret.get("EditSequence")
                link.extra = {**(link.extra or {}), "fp": p["fp"], "open": ret.get("BalanceRemaining"),
                              "customer_list_id": (ret.get("CustomerRef") or {}).get("ListID")}
                self.d.links.put(link)
            self.d.errors.resolve(self.d.tenant_id, f"invoice#{p['fsp_id']}")
            self.d.repo.finish_work(item)
            return
        if result.status_code == qbxml.STALE_EDIT_SEQUENCE and item.attempts < MAX_STALE_RETRIES:
            self.d.repo.update_work(item, mode="reread", status="pending")  # edited meanwhile: re-read, retry
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _on_invoice_void(self, item: WorkItem, result: Result) -> None:
        if item.mode == "lookup":
            ret = result.rets[0] if result.status_code == 0 and result.rets else None
            if ret is not None and Decimal(ret.get("Subtotal") or "0") == ZERO \
                    and Decimal(ret.get("BalanceRemaining") or "0") == ZERO:
                self._voided(item)
            else:
                self.d.repo.update_work(item, mode="write", status="pending")
            return
        if result.status_code == 0:
            self._voided(item)
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _voided(self, item: WorkItem) -> None:
        fsp_id = item.payload["fsp_id"]
        link = self.d.links.get(self.d.tenant_id, ENTITY["invoice"], fsp_id)
        if link is not None:
            link.extra = {**(link.extra or {}), "voided": True, "open": "0.00"}
            self.d.links.put(link)
        self.d.errors.resolve(self.d.tenant_id, f"invoice#{fsp_id}")
        self.d.repo.finish_work(item)

    # -- items ----------------------------------------------------------------------------------------------------
    def _line_items(self, invoice, run_id: str | None) -> list[dict] | None:
        """Each line's ItemRef: the line's own item once items sync (linked by the item step), else the one
        `Field Service` item. An invoice never creates an item: with items flowing from QuickBooks, a line whose item
        QuickBooks lacks keeps the invoice waiting in the error log; sent to QuickBooks, it waits for the item step."""
        items = self.d.settings.items
        refs: list[dict] = []
        for line in invoice.lines:
            if not items.enabled or not line.item_id:
                refs.append({"item_full_name": DESKTOP_ITEM})
                continue
            link = self.d.links.get(self.d.tenant_id, ENTITY["item"], line.item_id)
            if link is None or not link.qbo_id:
                from_qb = items.direction == "quickbooks_to_platform"
                self.d.errors.record(ErrorEntry(
                    tenant_id=self.d.tenant_id, entity="invoice", entity_id=invoice.id, direction="to_quickbooks",
                    code="item_not_in_quickbooks" if from_qb else "waiting_for_item",
                    message=("An item on this invoice is not in QuickBooks, and items sync from QuickBooks to the "
                             "platform. Create the item in QuickBooks (or send items to QuickBooks in the sync "
                             "settings), then Resync." if from_qb else
                             "An item on this invoice is not in QuickBooks yet; the invoice syncs after it."),
                    run_id=run_id))
                return None
            refs.append({"item_list_id": link.qbo_id})
        return refs

    def _on_pull_items(self, item: WorkItem, result: Result) -> None:
        """QuickBooks -> platform (IndusTrack: "inventory, non-inventory, service, and equipment from QuickBooks"):
        every item type the platform has, active and inactive, matched by name the first time, then by link."""
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        from shared.domain.items import item_key
        from shared.fieldservice.models import ItemDraft, ItemType

        tenant = self.d.tenant_id
        rets = [r for r in result.rets if r.get("_ret") in FROM_DESKTOP_ITEM]
        approved = self._approved_keys()
        platform = {item_key(i.name): i for i in _all(self.d.platform.list_items, tenant)} if rets else {}
        for ret in rets:
            kind = ItemType(FROM_DESKTOP_ITEM[ret["_ret"]])
            sale = ret.get("SalesOrPurchase") or {}
            price = Decimal(ret.get("SalesPrice") or sale.get("Price") or "0")
            desc = ret.get("SalesDesc") or sale.get("Desc") or None
            active = ret.get("IsActive", "true") != "false"
            link = self.d.links.by_qbo(tenant, ENTITY["item"], ret["ListID"])
            match = platform.get(item_key(ret.get("Name", ""))) if link is None else None
            if not self._admit(approved, "import", "item", ret["ListID"], ret.get("FullName") or ret.get("Name"),
                               "update" if link or match else "create", [ret.get("Name"), str(price), desc, active]):
                continue
            existing = link.fsp_id if link is not None else match.id if match is not None else None
            if existing is not None:
                fsp_id = existing
                self.d.platform.update_item(tenant, fsp_id, name=ret.get("Name", "")[:100], type=kind, price=price,
                                            description=desc, active=active)
            else:
                fsp_id = self.d.platform.create_item(
                    tenant, ItemDraft(name=ret.get("Name", "")[:100], type=kind, price=price, description=desc,
                                      active=active), idempotency_key=f"qbd-{tenant}-item-{ret['ListID']}").id
            self.d.links.put(Link(tenant_id=tenant, entity=ENTITY["item"], fsp_id=fsp_id, qbo_id=ret["ListID"],
                                  sync_token=ret.get("EditSequence")))
        if not item.payload.get("full_names"):
            self._save_cursors(items=_newest([{"modified": r.get("TimeModified")} for r in rets]))
        if result.remaining:
            self.d.repo.update_work(item, payload={**item.payload, "iterator_id": result.iterator_id})
            return
        self.d.repo.finish_work(item)

    def _local_plan_items(self, item: WorkItem) -> None:
        """Platform -> QuickBooks: active platform items not yet in QuickBooks are added (looked up by name first),
        services and non-inventory with the income account, inventory and equipment as Inventory items with the
        income, cost of goods sold and asset accounts (IndusTrack seed)."""
        tenant, items, approved = self.d.tenant_id, self.d.settings.items, self._approved_keys()
        for platform_item in _all(self.d.platform.list_items, tenant):
            link = self.d.links.get(tenant, ENTITY["item"], platform_item.id)
            if link is not None:
                self._plan_item_edit(link, platform_item, item.run_id, approved)
                continue
            if not platform_item.active:
                continue
            kind = TO_DESKTOP_ITEM[str(platform_item.type)]
            body: dict[str, Any] = {"kind": kind, "name": qbxml._cut(platform_item.name.replace(":", "-"), 31),
                                    "price": str(platform_item.price), "desc": platform_item.description,
                                    "taxable": bool(platform_item.taxable)}
            if kind == "inventory":
                body.update(income_id=items.income_account_id, cogs_id=items.expense_account_id,
                            asset_id=items.asset_account_id)
            else:
                body["account_id"] = items.income_account_id
            if not self._admit(approved, "export", "item", platform_item.id, platform_item.name, "create", body):
                continue
            self.d.repo.enqueue(tenant, ITEM_ADD, f"item#{platform_item.id}", "item_add",
                                {"fsp_id": platform_item.id, "item": body,
                                 "fp": item_fingerprint(item_values(platform_item))}, item.run_id)

    def _plan_item_edit(self, link: Link, platform_item, run_id: str | None, approved: set) -> None:
        """An item sent to QuickBooks and edited on the platform since (name, price, description, taxable, active
        differ from the version sent: the link's fingerprint) goes as the Mod of the type it was added as, with the
        EditSequence held; a stale one is re-read and the change retried, as for customers. Items linked before
        edits were followed take their current version as the baseline."""
        if gone(link):
            return
        values = item_values(platform_item)
        fp = item_fingerprint(values)
        sent = (link.extra or {}).get("fp")
        if sent is None:
            link.extra = {**(link.extra or {}), "fp": fp}
            self.d.links.put(link)
            return
        if fp == sent or not self._admit(approved, "export", "item", platform_item.id, platform_item.name,
                                         "update", values):
            return
        self.d.repo.enqueue(self.d.tenant_id, ITEM_MOD, f"item-mod#{platform_item.id}#{fp}", "item_mod",
                            {"fsp_id": platform_item.id, "list_id": link.qbo_id, "fp": fp,
                             "edit_sequence": link.sync_token or "", "item_kind": (link.extra or {}).get("kind"),
                             "changes": values}, run_id)

    def _on_item_mod(self, item: WorkItem, result: Result) -> None:
        p = item.payload
        if item.mode == "reread":
            ret = result.rets[0] if result.rets else None
            kind = DESKTOP_ITEM_KIND.get((ret or {}).get("_ret", ""))
            if ret is None or kind is None:  # gone, or a type our Mods do not change
                self._error(item, str(result.status_code) if ret is None else "item_type_not_modifiable",
                            result.message if ret is None else
                            f"The QuickBooks item is a {ret.get('_ret', '').removesuffix('Ret')}, which the sync "
                            "does not change; edit it in QuickBooks.")
                self.d.repo.update_work(item, status="failed")
                return
            self.d.repo.update_work(item, mode="write", status="pending",
                                    payload={**p, "edit_sequence": ret.get("EditSequence"), "item_kind": kind})
            return
        if result.status_code == 0 and result.rets:
            link = self.d.links.get(self.d.tenant_id, ENTITY["item"], p["fsp_id"])
            if link is not None:
                link.sync_token = result.rets[0].get("EditSequence")
                link.extra = {**(link.extra or {}), "fp": p["fp"], "kind": p["item_kind"]}
                self.d.links.put(link)
            self.d.errors.resolve(self.d.tenant_id, f"item#{p['fsp_id']}")
            self.d.repo.finish_work(item)
            return
        if result.status_code == qbxml.STALE_EDIT_SEQUENCE and item.attempts < MAX_STALE_RETRIES:
            self.d.repo.update_work(item, mode="reread", status="pending")
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _on_item_add(self, item: WorkItem, result: Result) -> None:
        if item.mode == "lookup":
            if result.rets:
                self._link_item(item, result.rets[0])
            else:
                self.d.repo.update_work(item, mode="write", status="pending")
            return
        if result.status_code == 0 and result.rets:
            self._link_item(item, result.rets[0])
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _link_item(self, item: WorkItem, ret: dict) -> None:
        fsp_id = item.payload["fsp_id"]
        extra = {"kind": DESKTOP_ITEM_KIND.get(ret.get("_ret", "")), "fp": item.payload.get("fp")}
        self.d.links.put(Link(tenant_id=self.d.tenant_id, entity=ENTITY["item"], fsp_id=fsp_id, qbo_id=ret["ListID"],
                              sync_token=ret.get("EditSequence"), extra={k: v for k, v in extra.items() if v}))
        self.d.errors.resolve(self.d.tenant_id, f"item#{fsp_id}")
        self.d.repo.finish_work(item)

    def _local_plan_payments(self, item: WorkItem) -> None:
        """Platform payments of synced invoices, received under the invoice's customer or job (where the invoice
        is) and applied to it; above the open balance the rest stays unapplied on the payment (decision 19). No
        DepositToAccountRef: QuickBooks' own default, Undeposited Funds ("the account already selected in your
        QuickBooks settings", WORK seed)."""
        tenant, approved = self.d.tenant_id, self._approved_keys()
        for payment in _all(self.d.platform.list_payments, tenant):
            if payment.deleted_at is not None or self.d.links.get(tenant, ENTITY["payment"], payment.id) is not None:
                continue
            invoice = self.d.links.get(tenant, ENTITY["invoice"], payment.invoice_id)
            if invoice is None or not (invoice.extra or {}).get("customer_list_id"):
                continue  # its invoice syncs first; the payment follows in a later run
            if gone(invoice):
                continue  # QuickBooks does not apply a payment to a voided or deleted invoice
            open_balance = Decimal((invoice.extra or {}).get("open") or "0")
            amount = Decimal(payment.amount)
            body = {"customer_list_id": invoice.extra["customer_list_id"], "txn_date": payment.paid_on.isoformat(),
                    "ref_number": payment.reference, "total": str(amount),
                    "external_guid": external_guid(tenant, "payment", payment.id), "invoice_txn_id": invoice.qbo_id,
                    "deposit_account_list_id": self.d.settings.payments.deposit_account_id,
                    "applied": str(min(amount, open_balance))}
            if not self._admit(approved, "export", "payment", payment.id, payment.reference or str(amount), "create",
                               body):
                continue
            self.d.repo.enqueue(tenant, PAYMENT_ADD, f"payment#{payment.id}", "payment_add",
                                {"fsp_id": payment.id, "invoice_fsp_id": payment.invoice_id, "payment": body},
                                item.run_id)

    def _on_payment_add(self, item: WorkItem, result: Result) -> None:
        marker = item.payload["payment"]["external_guid"]
        if item.mode == "lookup":
            found = next((r for r in result.rets if (r.get("ExternalGUID") or "").upper() == marker.upper()), None)
            if found is not None:
                self._link_payment(item, found)
            else:
                self.d.repo.update_work(item, mode="write", status="pending")
            return
        if result.status_code == 0 and result.rets:
            self._link_payment(item, result.rets[0])
            return
        self._error(item, str(result.status_code), result.message)
        self.d.repo.update_work(item, status="failed")

    def _link_payment(self, item: WorkItem, ret: dict) -> None:
        tenant, p = self.d.tenant_id, item.payload
        self.d.links.put(Link(tenant_id=tenant, entity=ENTITY["payment"], fsp_id=p["fsp_id"], qbo_id=ret["TxnID"]))
        invoice = self.d.links.get(tenant, ENTITY["invoice"], p["invoice_fsp_id"])
        if invoice is not None:
            applied = sum((Decimal(a.get("Amount") or "0") for a in ret.get("AppliedToTxnRet", [])), Decimal("0"))
            open_balance = Decimal((invoice.extra or {}).get("open") or "0") - applied
            invoice.extra = {**(invoice.extra or {}), "open": str(max(open_balance, Decimal("0")))}
            self.d.links.put(invoice)
        self.d.errors.resolve(tenant, f"payment#{p['fsp_id']}")
        self.d.repo.finish_work(item)

    def _on_pull_list(self, item: WorkItem, result: Result) -> None:
        """The settings API's Desktop lists (shared/qbdesktop/lists.py), as this session's QuickBooks has them."""
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        kind = item.payload["list"]
        rows = [lists.list_row(kind, ret) for ret in result.rets]
        self.d.repo.change_state(self.d.tenant_id, lambda state: {
            **state, "lists": {**(state.get("lists") or {}), kind: rows}})
        self.d.repo.finish_work(item)

    def _on_pull_payments(self, item: WorkItem, result: Result) -> None:
        """Payments received or changed in QuickBooks since the cursor: the synced invoices they apply to are read
        again for their paid status (one InvoiceQuery by TxnID)."""
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        txn_ids = sorted({a.get("TxnID") for ret in result.rets for a in ret.get("AppliedToTxnRet", [])
                          if a.get("TxnID") and self.d.links.by_qbo(self.d.tenant_id, ENTITY["invoice"], a["TxnID"])})
        if txn_ids:
            self.d.repo.enqueue(self.d.tenant_id, PULL_PAID, f"paid-by-payment#{item.run_id}", "pull_paid",
                                {"txn_ids": txn_ids}, item.run_id)
        self._save_cursors(payments=_newest([{"modified": r.get("TimeModified")} for r in result.rets]))
        self.d.repo.finish_work(item)

    def _on_pull_deleted(self, item: WorkItem, result: Result) -> None:
        """Records deleted in QuickBooks since the cursor (ListDeletedQuery / TxnDeletedQuery): a linked client, site,
        item, invoice or payment is flagged in the error log and its link marked, so it is never written to again nor
        silently re-created in QuickBooks; the platform record stays."""
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        lists = item.payload["lists"]
        for ret in result.rets:
            del_type = ret.get("ListDelType" if lists else "TxnDelType", "")
            qbo_id = ret.get("ListID" if lists else "TxnID")
            shown = ret.get("FullName" if lists else "RefNumber") or qbo_id
            for entity in (DELETED_LISTS if lists else DELETED_TXNS).get(del_type, ()):
                link = self.d.links.by_qbo(self.d.tenant_id, ENTITY[entity], qbo_id)
                if link is not None and not gone(link):
                    label = {"client": "customer", "site": "job"}.get(entity, entity)
                    self._flag_gone(link, entity, "deleted_in_quickbooks",
                                    f"The QuickBooks {label} {shown} was deleted in QuickBooks "
                                    f"({ret.get('TimeDeleted')}). It is not re-created there nor written to again; "
                                    f"clear the link to send the {entity} to QuickBooks anew.", item.run_id,
                                    deleted_in_quickbooks=ret.get("TimeDeleted") or True)
        self._save_cursors(**{"deleted_lists" if lists else "deleted_txns": _newest(
            [{"modified": r.get("TimeDeleted")} for r in result.rets])})
        self.d.repo.finish_work(item)

    def _flag_gone(self, link: Link, entity: str, code: str, message: str, run_id: str | None, **marks) -> None:
        link.extra = {**(link.extra or {}), **marks}
        self.d.links.put(link)
        self.d.errors.record(ErrorEntry(tenant_id=self.d.tenant_id, entity=entity, entity_id=link.fsp_id,
                                        direction="to_quickbooks", code=code, message=message, run_id=run_id))

    def _on_pull_paid(self, item: WorkItem, result: Result) -> None:
        """Invoices paid in QuickBooks are marked paid on the platform (IndusTrack seed)."""
        if not result.ok:
            self._error(item, str(result.status_code), result.message)
            self.d.repo.update_work(item, status="failed")
            return
        approved = self._approved_keys()
        if not item.payload.get("txn_ids"):
            self._save_cursors(invoices=_newest([{"modified": r.get("TimeModified")} for r in result.rets]))
        for ret in result.rets:
            link = self.d.links.by_qbo(self.d.tenant_id, ENTITY["invoice"], ret["TxnID"])
            if link is None or gone(link):
                continue  # a voided invoice's zero balance is not a payment
            if Decimal(ret.get("Subtotal") or "0") == ZERO and Decimal(ret.get("BalanceRemaining") or "0") == ZERO:
                # Voided in QuickBooks (we never send a $0 invoice, so a synced one at zero was voided there).
                self._flag_gone(link, "invoice", "voided_in_quickbooks",
                                f"Invoice {ret.get('RefNumber') or ret['TxnID']} was voided in QuickBooks. It is not "
                                "synced again: no edit, payment or paid status follows it.", item.run_id,
                                voided=True)
                continue
            if ret.get("IsPaid") != "true":
                continue
            invoice = self.d.platform.get_invoice(self.d.tenant_id, link.fsp_id)
            if str(invoice.status) != "paid" and self._admit(approved, "import", "invoice", ret["TxnID"],
                                                             ret.get("RefNumber"), "update", {"paid": ret["TxnID"]}):
                self.d.platform.update_invoice(self.d.tenant_id, link.fsp_id, status="paid")
        self.d.repo.finish_work(item)

    # -- errors ---------------------------------------------------------------------------------------------------
    def _error(self, item: WorkItem, code: str, message: str) -> None:
        entity = {"customer_add": "client", "customer_mod": "client", "job_add": "site", "job_mod": "site",
                  "item_add": "item", "item_mod": "item",
                  "invoice_add": "invoice", "invoice_mod": "invoice", "invoice_void": "invoice",
                  "payment_add": "payment"}.get(item.kind, item.kind)
        entity_id = item.payload.get("fsp_id") or item.key
        self.d.errors.record(ErrorEntry(tenant_id=self.d.tenant_id, entity=entity, entity_id=entity_id,
                                        direction="to_quickbooks", code=code, message=message, run_id=item.run_id))


def _all(list_page, tenant_id: str, **kwargs):
    cursor = None
    while True:
        page = list_page(tenant_id, cursor=cursor, **kwargs)
        yield from page.items
        cursor = page.next_cursor
        if not cursor:
            return


def _address(addr: dict | None) -> dict | None:
    if not addr:
        return None
    return {"line1": addr.get("Addr1"), "line2": addr.get("Addr2"), "city": addr.get("City"),
            "state": addr.get("State") or None, "postal_code": addr.get("PostalCode"), "country": addr.get("Country")}


def compact_customer(ret: dict) -> dict:
    """A Desktop CustomerRet in the compact form the onboarding plan reads (shared.domain.parties)."""
    parent = (ret.get("ParentRef") or {}).get("ListID")
    return {"id": ret["ListID"], "sync_token": ret.get("EditSequence"), "name": ret.get("Name", ""),
            "full_name": ret.get("FullName"), "company": ret.get("CompanyName"), "first": ret.get("FirstName"),
            "last": ret.get("LastName"), "email": ret.get("Email"), "phone": ret.get("Phone"),
            "bill": _address(ret.get("BillAddress")), "ship": _address(ret.get("ShipAddress")),
            "active": ret.get("IsActive", "true") != "false", "job": parent is not None, "parent_id": parent,
            "level": int(ret.get("Sublevel") or 0), "modified": ret.get("TimeModified")}


def desktop_changes(values: dict) -> dict:
    """Merged client fields (shared.domain.clients FIELDS) as CustomerMod values: only what changed is sent, so a
    field edited in QuickBooks meanwhile is kept."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "address":
            out["bill"] = value or {}
        elif name == "active":
            out["active"] = bool(value)
        else:
            out[name] = value or ""
    return out


def _qbd_time(text: str | None) -> datetime | None:
    """TimeModified ("2026-11-20T09:15:00-05:00", local time with its offset) as an aware datetime."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _newest(rows: list[dict]) -> str | None:
    """The newest TimeModified among pulled rows, as QuickBooks wrote it (the next FromModifiedDate's base)."""
    stamps = [(t, row["modified"]) for row in rows if (t := _qbd_time(row.get("modified"))) is not None]
    return max(stamps)[1] if stamps else None


def _since(cursor: str | None) -> str | None:
    """FromModifiedDate for a cursor: OVERLAP earlier, in the cursor's own offset (QuickBooks' local time)."""
    when = _qbd_time(cursor)
    return (when - OVERLAP).isoformat(timespec="seconds") if when else None


def desktop_customer(draft: dict) -> dict:
    """The plan's customer (a CustomerDraft as a plain dict, shared.domain.parties) as qbXML CustomerAdd values."""
    return {"name": draft["display_name"], "active": draft.get("active", True), "company": draft.get("company"),
            "first": draft.get("first"), "last": draft.get("last"), "email": draft.get("email"),
            "phone": draft.get("phone"), "bill": draft.get("bill"), "ship": draft.get("ship")}
