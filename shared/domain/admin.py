"""The admin API's use cases: settings, QuickBooks lists, enable/sync now, history, error log, links."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain.connections import Caller, ConnectionRepo, ScheduleLifecycle, Status
from shared.domain.pages import BAD_CURSOR, decode_id, encode_id
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.domain.review import HeldEntry, ReviewEntry, State
from shared.errors import BadRequest, Conflict, NeedsReconnect, NotConnected, NotFound
from shared.fieldservice.errors import ValidationFailed as PlatformInvalid
from shared.fieldservice.port import FieldService

LIST_CACHE_S = 60
QBO_LISTS = {"accounts": "Account", "classes": "Class", "vendors": "Vendor", "tax-codes": "TaxCode", "items": "Item"}


ERROR_FIELDS = ["entity", "entity_id", "direction", "code", "message", "detail", "attempts", "first_at", "last_at",
                "resolved", "name", "suggested_fix"]


def _cell(value: Any) -> Any:
    # Spreadsheet formulas in a record's text must never run when the admin opens the file.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def new_run_id(kind: str) -> str:
    # Time-ordered, so history sorts newest first by key.
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{kind}-{uuid.uuid4().hex[:8]}"


class ListCache:
    """QuickBooks lists for the settings page, kept briefly per container. The page's own reads are always live
    (`fresh`: an account added or class tracking turned on in QuickBooks shows at the next page load); the settings
    save that follows validates against what the page was shown, without reading every list again."""

    def __init__(self, ttl_s: float = LIST_CACHE_S, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._clock = ttl_s, clock
        self._data: dict[tuple[str, str], tuple[float, Any]] = {}

    def get(self, key: tuple, load: Callable[[], Any], fresh: bool = False) -> Any:
        hit = self._data.get(key)
        if hit and hit[0] > self._clock() and not fresh:
            return hit[1]
        value = load()
        self._data[key] = (self._clock() + self._ttl, value)
        return value


SUGGESTED_FIXES = {
    # QuickBooks' codes (qbo-facts.md, Errors) and the platform-side codes our steps record.
    "610": "The record was deleted or made inactive in QuickBooks. Check it there; if it is gone, use Clear ID so the "
           "next sync creates it again, then Resync.",
    "6240": "Another customer, vendor or employee in QuickBooks already uses this name (names are unique across all "
            "three). Rename one of them, then Resync.",
    "6140": "This invoice number is already used in QuickBooks. Change the number on one side, then Resync.",
    "5010": "The record changed in QuickBooks while it was being updated. Resync: it is read again first.",
    "2500": "The record refers to something QuickBooks does not have (an account, item, class or customer deleted or "
            "made inactive). Check the accounts and items in the sync settings, then Resync.",
    "2020": "QuickBooks needs a field this record does not have; the detail names it. Fill it in, then Resync.",
    "6000": "QuickBooks refused the record for a business rule; the message and detail say which. Fix the record, "
            "then Resync.",
    "6190": "QuickBooks says the company's subscription is not active. Check the subscription, then Resync.",
    "6210": "The date falls in a closed accounting period in QuickBooks. Change the closing date there or the date of "
            "the record, then Resync.",
    "6540": "The payment is deposited in QuickBooks and cannot be changed there; edit the deposit in QuickBooks first.",
    "120": "The QuickBooks user who connected lost access. Reconnect with a QuickBooks admin user.",
    "missing_state": "Fill in the State of the address, or turn on 'Use default State' in the sync settings, then "
                     "Resync.",
    # QuickBooks Desktop: what a QuickBooks user deleted or voided there (docs/qbdesktop.md, decision 46).
    "deleted_in_quickbooks": "It was deleted in QuickBooks and is not re-created there. If it should be in "
                             "QuickBooks again, use Clear ID, then Resync; otherwise Dismiss.",
    "customer_deleted_in_quickbooks": "Its customer (or job) was deleted in QuickBooks. Clear that client's ID so it "
                                      "is sent again, then Resync.",
    "voided_in_quickbooks": "It was voided in QuickBooks; the sync sends it no more. Void it on the platform too, "
                            "then Dismiss.",
}
WAITING_FIX = "This record waits for another one (its customer, site or invoice) to sync first; every run retries it."
MAX_PAGE = 500


def suggested_fix(code: str) -> str | None:
    if code.startswith("waiting_for_"):
        return WAITING_FIX
    return SUGGESTED_FIXES.get(code)


ERROR_ENTITY_OF_LINK = {"customer": "client"}  # the error log names a client's record by the platform's word
RE_ATTEMPTED = frozenset({"client", "site", "invoice", "payment"})  # the kinds a run re-reads from the error log
ID_CLEARED = ("Its QuickBooks ID was cleared by an admin (Clear ID); the next sync creates it in QuickBooks again and "
              "resolves this entry.")


def error_id(entry: ErrorEntry) -> str:
    """The unsynced entity's URL-safe id (its storage key holds '#', which a URL cannot carry)."""
    return encode_id(entry.entity, entry.entity_id)


def error_key(public_id: str) -> str:
    parts = decode_id(public_id, 2)
    if parts is None:
        raise NotFound("no such unsynced entity")
    return f"{parts[0]}#{parts[1]}"


def unsynced_row(entry: ErrorEntry) -> dict:
    row = entry.public()
    row.update(id=error_id(entry), name=entry.name, suggested_fix=suggested_fix(entry.code),
               dismissed=entry.dismissed, retry_requested=entry.retry_requested)
    return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def next_run_at(schedule: dict | None, now: datetime) -> datetime | None:
    """When EventBridge Scheduler starts the next run: rate() schedules tick from their creation, cron() at the
    stated minute and hour in the schedule's time zone."""
    if not schedule or schedule.get("state") != "ENABLED":
        return None
    expression = schedule["expression"]
    if expression.startswith("rate("):
        hours = int(expression[5:].split()[0])
        created = schedule.get("created_at")
        if not created:
            return None
        origin, step = datetime.fromisoformat(created), timedelta(hours=hours)
        if origin > now:
            return origin
        return origin + step * (((now - origin) // step) + 1)
    if expression.startswith("cron("):
        minute, hour = (int(p) for p in expression[5:].split()[:2])
        zone = ZoneInfo(schedule.get("timezone") or "UTC")
        local = now.astimezone(zone)
        candidate = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        return candidate.astimezone(UTC)
    return None


class AdminService:
    def __init__(self, connections: ConnectionRepo, settings_repo, runs, errors, links, quickbooks: Callable,
                 workflows, schedules, cache: ListCache | None = None, *, sync_requests=None, review=None,
                 tokens=None, lifecycle: ScheduleLifecycle | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), desktop=None,
                 platform: Callable[[], FieldService] | None = None):
        self._connections, self._settings, self._runs, self._errors = connections, settings_repo, runs, errors
        self._links, self._quickbooks, self._workflows, self._schedules = links, quickbooks, workflows, schedules
        self._cache = cache or ListCache()
        self._sync_requests, self._review, self._tokens, self._clock = sync_requests, review, tokens, clock
        self._lifecycle = lifecycle or ScheduleLifecycle(schedules, settings_repo)
        self._desktop = desktop  # QuickBooks Desktop connections (shared/qbdesktop/lists.DesktopCompanies)
        self._platform = platform  # the field-service platform, built on first use

    def _desktop_context(self, caller: Caller):
        """The Desktop company file's context when this tenant syncs through the Web Connector, else None."""
        return self._desktop.context(caller.tenant_id) if self._desktop is not None else None

    def _connected(self, caller: Caller):
        connection = self._connections.get(caller.tenant_id)
        if connection is None or connection.status == Status.DISCONNECTED:
            raise NotConnected("connect QuickBooks first")
        return connection

    # -- connection status -------------------------------------------------------------------------------------
    def connection(self, caller: Caller) -> dict:
        counts = {"unsynced": self._errors.count_open(caller.tenant_id),
                  "pending": self._review.count(caller.tenant_id, State.APPROVED) if self._review else 0,
                  "waiting_for_review": self._review.count(caller.tenant_id, State.WAITING) if self._review else 0}
        connection = self._connections.get(caller.tenant_id)
        desktop = self._desktop.status(caller.tenant_id) if connection is None and self._desktop else None
        if desktop is not None:
            return self._desktop_connection(caller.tenant_id, desktop, counts)
        if connection is None:
            return {"status": "not_connected", "tenant_id": caller.tenant_id, "counts": counts,
                    "unsynced_entities": counts["unsynced"], "needs_attention": []}
        body = connection.public()
        history = self._runs.history(caller.tenant_id, limit=1)
        body["last_run"] = history[0].public() if history else None
        body["counts"], body["unsynced_entities"] = counts, counts["unsynced"]
        if counts["unsynced"]:
            body["needs_attention"] = [*body["needs_attention"], {
                "kind": "unsynced", "message": f"{counts['unsynced']} record(s) could not sync; see Unsynced entities"}]
        if counts["waiting_for_review"]:
            body["needs_attention"] = [*body["needs_attention"], {
                "kind": "review", "message": f"{counts['waiting_for_review']} change(s) wait for approval in the "
                                             "Sync Wizard"}]
        body["onboarding"] = self._onboarding_progress(caller.tenant_id, connection.onboarding)
        body["token"] = self._token_health(connection)
        schedule = self._lifecycle.in_force(caller.tenant_id) if connection.status != Status.DISCONNECTED else None
        body["schedule"] = ({k: schedule[k] for k in ("expression", "timezone", "state")} if schedule else None)
        body["next_sync_at"] = _iso(next_run_at(schedule, self._clock()))
        return body

    def _desktop_connection(self, tenant_id: str, desktop: dict, counts: dict) -> dict:
        """A Desktop-only tenant answers as an Online one does (docs/qbdesktop.md): connected, its company, last and
        next sync, the counts, and "Pending until the Web Connector runs" (SingleOps) while work waits for a poll."""
        from shared.qbdesktop.phases import PENDING_PHASE, is_desktop_run
        from shared.qbdesktop.schedule import next_sync_at

        # Newest first by start: runs stored before Desktop run ids were time-ordered do not sort by key.
        history = sorted((r for r in self._runs.history(tenant_id, limit=200) if is_desktop_run(r.run_id)),
                         key=lambda r: r.started_at, reverse=True)
        finished = next((r for r in history if r.finished_at is not None), None)
        onboarding = next((r for r in history if r.kind == "onboarding"), None)
        stored = self._settings.get(tenant_id)
        schedule = dict((stored[0] if stored else {}).get("schedule") or {})
        waiting = desktop["queued"] > 0 or any(r.status in ("pending", "running") for r in history)
        attention = []
        if waiting:
            attention.append({"kind": "desktop_pending", "message": PENDING_PHASE})
        if desktop["last_error"]:
            attention.append({"kind": "desktop_error", "message": desktop["last_error"]})
        if counts["unsynced"]:
            attention.append({"kind": "unsynced",
                              "message": f"{counts['unsynced']} record(s) could not sync; see Unsynced entities"})
        if counts["waiting_for_review"]:
            attention.append({"kind": "review", "message": f"{counts['waiting_for_review']} change(s) wait for "
                                                           "approval in the Sync Wizard"})
        return {"tenant_id": tenant_id, "status": "connected", "quickbooks": "desktop", "realm_id": None,
                "company_name": desktop["company_name"], "connected_since": _iso(desktop["connected_since"]),
                "disconnected_at": None, "last_sync_at": _iso(finished.finished_at) if finished else None,
                "next_sync_at": _iso(next_sync_at(schedule, desktop["last_session_at"], self._clock())),
                "last_run": history[0].public() if history else None,
                "onboarding": {"enabled": desktop["onboarded"], "run_id": onboarding.run_id if onboarding else None,
                               "status": onboarding.status if onboarding else None,
                               "phase": onboarding.phase if onboarding else None,
                               "percent": onboarding.percent if onboarding else None},
                "counts": counts, "unsynced_entities": counts["unsynced"], "needs_attention": attention,
                "token": None, "schedule": None,
                "desktop": {"phase": PENDING_PHASE if waiting else "Up to date",
                            "last_session_at": _iso(desktop["last_session_at"]), "last_error": desktop["last_error"],
                            "queued_requests": desktop["queued"], "failed_requests": desktop["failed"],
                            "file_id": desktop["file_id"]}}

    def _onboarding_progress(self, tenant_id: str, onboarding: dict | None) -> dict | None:
        if not onboarding:
            return None
        run = self._runs.get(tenant_id, onboarding["run_id"]) if onboarding.get("run_id") else None
        return {"enabled": bool(onboarding.get("enabled")), "run_id": onboarding.get("run_id"),
                "status": run.status if run else None, "phase": run.phase if run else None,
                "percent": run.percent if run else None}

    def _token_health(self, connection) -> dict | None:
        stored = self._tokens.load(connection.tenant_id) if self._tokens is not None else None
        if stored is None:
            return None if self._tokens is None else {
                "refresh_expires_at": None, "hard_expires_at": None, "days_until_hard_expiry": None,
                "reconnect_needed": connection.status != Status.CONNECTED}
        now = self._clock().timestamp()
        refresh, hard = stored.tokens.refresh_expires_at, stored.tokens.hard_expires_at
        as_dt = lambda t: datetime.fromtimestamp(t, UTC).isoformat() if t else None  # noqa: E731
        expired = bool((refresh and refresh <= now) or (hard and hard <= now))
        return {"refresh_expires_at": as_dt(refresh), "hard_expires_at": as_dt(hard),
                "days_until_hard_expiry": max(0, int((hard - now) // 86400)) if hard else None,
                "reconnect_needed": expired or connection.status != Status.CONNECTED}

    # -- settings ----------------------------------------------------------------------------------------------
    def get_settings(self, caller: Caller) -> dict:
        from shared.domain.settings import default_settings

        stored = self._settings.get(caller.tenant_id)
        if stored is None:
            return {"settings": default_settings().model_dump(mode="json"), "version": 0}
        body, version = stored
        return {"settings": body, "version": version}

    def put_settings(self, caller: Caller, payload: dict) -> dict:
        from shared.domain.settings import validate_settings

        caller.require_admin()
        desktop = self._desktop_context(caller)
        if desktop is None:
            self._connected(caller)
        if not isinstance(payload, dict) or not isinstance(payload.get("settings"), dict):
            raise BadRequest('expected {"settings": {...}, "version": N}')
        version = payload.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise BadRequest("version must be the integer returned by GET /admin/settings")
        settings = validate_settings(payload["settings"], desktop or self.quickbooks_context(caller))
        body = settings.model_dump(mode="json")
        new_version = self._settings.put(caller.tenant_id, body, version, caller.subject or caller.tenant_id)
        connection = self._connections.get(caller.tenant_id) if desktop is None else None
        if connection is not None:
            self._lifecycle.apply(connection)  # changed with the settings (only once the integration is enabled)
        return {"settings": body, "version": new_version}

    def quickbooks_context(self, caller: Caller):
        from shared.domain.settings import QuickBooksContext

        accounts = self.quickbooks_list(caller, "accounts")
        classes = self.quickbooks_list(caller, "classes")
        vendors = self.quickbooks_list(caller, "vendors")
        prefs = self.quickbooks_list(caller, "preferences")
        # Either placement is enough: the push puts the class on the header and/or the lines as each is allowed.
        info = prefs.get("AccountingInfoPrefs", {})
        tracking = bool(info.get("ClassTrackingPerTxn") or info.get("ClassTrackingPerTxnLine"))
        tax_codes = self.quickbooks_list(caller, "tax-codes")
        return QuickBooksContext(
            accounts={a["Id"]: (a.get("Name", ""), a.get("AccountType", ""), a.get("Active", True)) for a in accounts},
            classes={c["Id"] for c in classes}, class_tracking_enabled=tracking,
            vendors={v["Id"] for v in vendors}, tax_codes={c["Id"] for c in tax_codes},
            automated_sales_tax=bool(prefs.get("TaxPrefs", {}).get("PartnerTaxEnabled")))

    def quickbooks_list(self, caller: Caller, kind: str, account_type: str | None = None, fresh: bool = False):
        desktop = self._desktop.rows(caller.tenant_id, kind) if self._desktop is not None else None
        if desktop is not None:  # what the Web Connector's last session read (docs/qbdesktop.md)
            if kind not in ("accounts", "classes", "vendors"):
                raise NotFound(f"the '{kind}' list is not read from QuickBooks Desktop")
            return [r for r in desktop if not account_type or r.get("AccountType") == account_type]
        self._connected(caller)
        if kind == "preferences":
            return self._cache.get((caller.tenant_id, kind), lambda: self._quickbooks(caller.tenant_id).preferences(),
                                   fresh)
        if kind not in QBO_LISTS:
            raise NotFound(f"unknown QuickBooks list '{kind}'")
        entity = QBO_LISTS[kind]
        rows = self._cache.get((caller.tenant_id, kind),
                               lambda: list(self._quickbooks(caller.tenant_id).every(entity)), fresh)
        if account_type:
            rows = [r for r in rows if r.get("AccountType") == account_type]
        return rows

    # -- the platform's own lists ------------------------------------------------------------------------------
    def platform_job_types(self, caller: Caller, cursor: str | None = None, limit: int = 100) -> dict:
        """The Job Types tab's rows: this tenant's job types as the platform has them (its cursor passes through
        untouched; one it refuses is our 400, since only a cursor the platform returned can continue a list)."""
        if self._platform is None:
            raise NotFound("the platform's job types are not available here")
        try:
            page = self._platform().list_job_types(caller.tenant_id, cursor=cursor, limit=min(limit, MAX_PAGE))
        except PlatformInvalid:
            if cursor:
                raise BadRequest(BAD_CURSOR) from None
            raise
        return {"items": [{"id": j.id, "name": j.name, "active": j.active} for j in page.items],
                "next_cursor": page.next_cursor}

    # -- runs --------------------------------------------------------------------------------------------------
    def enable(self, caller: Caller) -> dict:
        """'Enable Integration': start onboarding with the saved settings and turn the schedule on."""
        caller.require_admin()
        connection = self._connected(caller)
        if connection.status != Status.CONNECTED:
            raise NeedsReconnect("QuickBooks needs to be reconnected before the integration can be enabled")
        if self._settings.get(caller.tenant_id) is None:
            raise BadRequest("save the sync settings before enabling the integration")
        run = SyncRun(tenant_id=caller.tenant_id, run_id=new_run_id("onboarding"), kind="onboarding",
                      status="running", started_at=datetime.now(UTC), phase="queued")
        self._runs.create(run)
        self._workflows.start("onboarding", caller.tenant_id, run.run_id)
        connection.onboarding = {"enabled": True, "run_id": run.run_id}
        self._connections.save(connection)
        self._lifecycle.apply(connection)
        return {**run.public(), "started": True}

    def sync_now(self, caller: Caller, trigger: str = "sync_now") -> dict:
        """'Sync Now': a run already going covers the request (it sees the change before it ends), so a second
        click answers at once with that run instead of waiting for it."""
        connection = self._connected(caller)
        if connection.status != Status.CONNECTED:
            raise NeedsReconnect("QuickBooks needs to be reconnected before syncing")
        requested = self._sync_requests.request(caller.tenant_id, trigger)
        return {**requested.run.public(), "started": requested.started}

    def runs(self, caller: Caller, cursor: str | None = None, limit: int = 50) -> dict:
        page = self._runs.history_page(caller.tenant_id, cursor, min(limit, MAX_PAGE))
        return {"items": [r.public() for r in page.items], "next_cursor": page.next_cursor}

    def run(self, caller: Caller, run_id: str) -> dict:
        run = self._runs.get(caller.tenant_id, run_id)
        if run is None or run.kind == "snapshot":
            raise NotFound("no such sync run")
        return run.public()

    # -- unsynced entities and links ---------------------------------------------------------------------------
    def errors_page(self, caller: Caller, cursor: str | None = None, limit: int = 100, include_resolved: bool = False,
                    include_dismissed: bool = False) -> dict:
        page = self._errors.page(caller.tenant_id, cursor, min(limit, MAX_PAGE), include_resolved, include_dismissed)
        return {"items": [unsynced_row(e) for e in page.items], "next_cursor": page.next_cursor}

    def errors(self, caller: Caller, include_resolved: bool = False) -> list[dict]:
        return [unsynced_row(e) for e in self._errors.list(caller.tenant_id, include_resolved)]

    def errors_csv(self, caller: Caller) -> str:
        rows = self.errors(caller, include_resolved=True)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=ERROR_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
        return out.getvalue()

    def errors_xlsx(self, caller: Caller) -> bytes:
        """"View error log" as the Excel file admins know from their current sync tools."""
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "Sync errors"
        sheet.append([f.replace("_", " ").capitalize() for f in ERROR_FIELDS])
        for row in self.errors(caller, include_resolved=True):
            sheet.append([_cell(row.get(f)) for f in ERROR_FIELDS])
        sheet.freeze_panes = "A2"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def retry(self, caller: Caller, ids: list[str]) -> dict:
        """'Resync' one or many: mark each entry for the next run (which re-attempts it), then ask for a run."""
        caller.require_admin()
        self._connected(caller)
        keys = [error_key(i) for i in dict.fromkeys(ids)]
        entries = [self._errors.get(caller.tenant_id, k) for k in keys]
        missing = [i for i, e in zip(dict.fromkeys(ids), entries, strict=True) if e is None or e.resolved]
        if missing:
            raise NotFound(f"no open unsynced entity with id {missing[0]}")
        for key in keys:
            self._errors.request_retry(caller.tenant_id, key)
        return {"retry_requested": list(dict.fromkeys(ids)), "run": self.sync_now(caller, trigger="retry")}

    def dismiss(self, caller: Caller, public_id: str) -> dict:
        """Hide an unsynced entity until it fails again."""
        caller.require_admin()
        if not self._errors.dismiss(caller.tenant_id, error_key(public_id)):
            raise NotFound("no unsynced entity with that id")
        return {"id": public_id, "dismissed": True}

    def clear_link(self, caller: Caller, entity: str, fsp_id: str) -> dict:
        """'Clear ID': forget the QuickBooks id (deleted or inactive there) so the next sync creates it again."""
        caller.require_admin()
        if self._links.get(caller.tenant_id, entity, fsp_id) is None:
            raise NotFound("no link for that record")
        self._links.clear(caller.tenant_id, entity, fsp_id)
        logged = ERROR_ENTITY_OF_LINK.get(entity, entity)
        key = f"{logged}#{fsp_id}"
        existing = self._errors.get(caller.tenant_id, key)
        if (existing is None or existing.resolved) and logged in RE_ATTEMPTED:
            # Deleted in QuickBooks without an open error here: an entry says it waits for the next run.
            self._errors.record(ErrorEntry(caller.tenant_id, logged, fsp_id, "to_quickbooks", "id_cleared",
                                           ID_CLEARED))
        if self._errors.get(caller.tenant_id, key) is not None:
            # Its entry stays open, marked for the next run: nothing else would bring an unchanged record back, and
            # without the link that run creates it in QuickBooks (and resolves the entry once it is there).
            self._errors.request_retry(caller.tenant_id, key)
        return {"cleared": key}

    # -- review mode (the Sync Wizard) -------------------------------------------------------------------------
    def review_list(self, caller: Caller, side: str | None, state: str, cursor: str | None, limit: int) -> dict:
        as_of = self._clock()
        page = self._review.page(caller.tenant_id, state, side, cursor, min(limit, MAX_PAGE))
        return {"side": side, "items": [review_row(h) for h in page.items], "next_cursor": page.next_cursor,
                "as_of": as_of.isoformat()}

    def review_results(self, caller: Caller, outcome: str, cursor: str | None, limit: int) -> dict:
        page = self._review.results(caller.tenant_id, outcome, cursor, min(limit, MAX_PAGE))
        return {"items": [{"id": review_id(r.entry), "side": r.entry.side, "entity": r.entry.entity,
                           "entity_id": r.entry.entity_id, "name": r.entry.name, "change": r.entry.change,
                           "outcome": r.outcome, "message": r.message, "at": r.at.isoformat()} for r in page.items],
                "next_cursor": page.next_cursor}

    def review_count(self, caller: Caller) -> dict:
        return {"waiting": self._review.count(caller.tenant_id, State.WAITING),
                "pending": self._review.count(caller.tenant_id, State.APPROVED)}

    def review_approve(self, caller: Caller, checked: list[str], unchecked: str, as_of: str | None) -> dict:
        """'Approve Checked' with one rule for every unchecked entry ('Clear unchecked' or 'Keep checked'). Entries a
        run held after the admin loaded the list (`as_of`) are left waiting: the admin has not seen them."""
        caller.require_admin()
        cutoff = _parse_as_of(as_of)
        wanted = set(checked)
        by = caller.subject or caller.tenant_id
        rule = State.CLEARED if unchecked == "clear" else State.KEPT
        result = {"approved": 0, "cleared": 0, "kept": 0}
        seen: set[str] = set()
        for held in self._review.waiting(caller.tenant_id):
            rid = review_id(held.entry)
            seen.add(rid)
            if rid in wanted:
                if self._review.decide(caller.tenant_id, held.entry, State.APPROVED, by):
                    result["approved"] += 1
                continue
            if cutoff is not None and held.held_at is not None and held.held_at > cutoff:
                continue
            if self._review.decide(caller.tenant_id, held.entry, rule, by):
                result["cleared" if rule == State.CLEARED else "kept"] += 1
        return {**result, "not_waiting": sorted(wanted - seen)}

    # -- onboarding conflicts ----------------------------------------------------------------------------------
    def _onboarding_run(self, caller: Caller) -> str:
        connection = self._connected(caller)
        run_id = (connection.onboarding or {}).get("run_id")
        if not run_id:
            raise NotFound("onboarding has not run yet")
        return run_id

    def conflicts(self, caller: Caller) -> list[dict]:
        """Records onboarding would not merge or create because more than one candidate fits (see
        docs/matching.md); each shows its resolution once the admin has chosen one."""
        run_id = self._onboarding_run(caller)
        resolved = {(r["qbo_id"], r["fsp_id"]): r for chunk in self._runs.chunks(caller.tenant_id, run_id,
                                                                               "conflict_resolutions") for r in chunk}
        out = []
        for chunk in self._runs.chunks(caller.tenant_id, run_id, "conflicts"):
            for conflict in chunk:
                choices = [r for (q, f), r in resolved.items() if q in conflict["qbo_ids"] or f in conflict["fsp_ids"]]
                out.append({**conflict, "resolutions": choices})
        return out

    def resolve_conflict(self, caller: Caller, payload: dict) -> dict:
        """`link` pairs a QuickBooks customer with a platform client; `keep_separate` records that they differ, and
        the next onboarding run (`POST /admin/enable`) creates each on the other side."""
        caller.require_admin()
        run_id = self._onboarding_run(caller)
        if not isinstance(payload, dict) or payload.get("action") not in ("link", "keep_separate"):
            raise BadRequest('expected {"qbo_id", "fsp_id", "action": "link" | "keep_separate"}')
        qbo_id, fsp_id = str(payload.get("qbo_id") or ""), str(payload.get("fsp_id") or "")
        if not any(qbo_id in c["qbo_ids"] and fsp_id in c["fsp_ids"] for c in self.conflicts(caller)):
            raise NotFound("no open conflict names that QuickBooks customer and platform client together")
        if payload["action"] == "link":
            if self._links.get(caller.tenant_id, "customer", fsp_id) or \
                    self._links.by_qbo(caller.tenant_id, "customer", qbo_id):
                raise Conflict("one of the two is already linked to another record; clear that link first")
            self._links.put(Link(caller.tenant_id, "customer", fsp_id, qbo_id,
                                 extra={"evidence": ["resolved_by_admin"]}))
        else:
            from shared.domain.onboarding import separate_link

            self._links.put(separate_link(caller.tenant_id, qbo_id, fsp_id))
        resolutions = [r for chunk in self._runs.chunks(caller.tenant_id, run_id, "conflict_resolutions")
                       for r in chunk]
        resolution = {"qbo_id": qbo_id, "fsp_id": fsp_id, "action": payload["action"],
                      "by": caller.subject or caller.tenant_id, "at": datetime.now(UTC).isoformat()}
        self._runs.put_chunk(caller.tenant_id, run_id, "conflict_resolutions", 0, [*resolutions, resolution])
        return resolution


def review_id(entry: ReviewEntry) -> str:
    return encode_id(entry.side, entry.entity, entry.entity_id)


def review_row(held: HeldEntry) -> dict:
    e = held.entry
    return {"id": review_id(e), "side": e.side, "entity": e.entity, "entity_id": e.entity_id, "name": e.name,
            "change": e.change, "checked": True, "state": held.state, "held_at": _iso(held.held_at),
            "decided_at": _iso(held.decided_at)}


def _parse_as_of(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("as_of must be the as_of the review list returned") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
