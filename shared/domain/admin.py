"""The admin API's use cases: settings, QuickBooks lists, enable/sync now, history, error log, links."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.domain.connections import Caller, ConnectionRepo, Status
from shared.domain.records import Link, SyncRun
from shared.errors import BadRequest, Conflict, NotConnected, NotFound

LIST_CACHE_S = 60
QBO_LISTS = {
    "accounts": ("Account", "Active = true"),
    "classes": ("Class", "Active = true"),
    "vendors": ("Vendor", "Active = true"),
    "tax-codes": ("TaxCode", "Active = true"),
    "items": ("Item", "Active = true"),
}


ERROR_FIELDS = ["entity", "entity_id", "direction", "code", "message", "detail", "attempts", "first_at", "last_at",
                "resolved"]


def _cell(value: Any) -> Any:
    # Spreadsheet formulas in a record's text must never run when the admin opens the file.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def new_run_id(kind: str) -> str:
    # Time-ordered, so history sorts newest first by key.
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{kind}-{uuid.uuid4().hex[:8]}"


class ListCache:
    """QuickBooks lists for the settings page, read live and kept briefly per container."""

    def __init__(self, ttl_s: float = LIST_CACHE_S, clock: Callable[[], float] = time.monotonic):
        self._ttl, self._clock, self._data = ttl_s, clock, {}

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        hit = self._data.get(key)
        if hit and hit[0] > self._clock():
            return hit[1]
        value = load()
        self._data[key] = (self._clock() + self._ttl, value)
        return value


class AdminService:
    def __init__(self, connections: ConnectionRepo, settings_repo, runs, errors, links, quickbooks: Callable,
                 workflows, schedules, cache: ListCache | None = None):
        self._connections, self._settings, self._runs, self._errors = connections, settings_repo, runs, errors
        self._links, self._quickbooks, self._workflows, self._schedules = links, quickbooks, workflows, schedules
        self._cache = cache or ListCache()

    def _connected(self, caller: Caller):
        connection = self._connections.get(caller.tenant_id)
        if connection is None or connection.status == Status.DISCONNECTED:
            raise NotConnected("connect QuickBooks first")
        return connection

    # -- connection status -------------------------------------------------------------------------------------
    def connection(self, caller: Caller) -> dict:
        connection = self._connections.get(caller.tenant_id)
        if connection is None:
            return {"status": "not_connected", "tenant_id": caller.tenant_id}
        body = connection.public()
        history = self._runs.history(caller.tenant_id, limit=1)
        body["last_run"] = history[0].public() if history else None
        unsynced = self._errors.list(caller.tenant_id)
        body["unsynced_entities"] = len(unsynced)
        if unsynced:
            body["needs_attention"] = [*body["needs_attention"], {
                "kind": "unsynced", "message": f"{len(unsynced)} record(s) could not sync; see the error log"}]
        return body

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
        self._connected(caller)
        if not isinstance(payload, dict) or not isinstance(payload.get("settings"), dict):
            raise BadRequest('expected {"settings": {...}, "version": N}')
        version = payload.get("version", 0)
        if not isinstance(version, int) or version < 0:
            raise BadRequest("version must be the integer returned by GET /admin/settings")
        settings = validate_settings(payload["settings"], self.quickbooks_context(caller))
        body = settings.model_dump(mode="json")
        new_version = self._settings.put(caller.tenant_id, body, version, caller.subject or caller.tenant_id)
        self._apply_schedule(caller.tenant_id, settings)
        return {"settings": body, "version": new_version}

    def _apply_schedule(self, tenant_id: str, settings) -> None:
        from shared.domain.settings import schedule_expression

        connection = self._connections.get(tenant_id)
        if connection and connection.onboarding and connection.onboarding.get("enabled"):
            expression, tz = schedule_expression(settings)
            self._schedules.upsert(tenant_id, expression, tz)

    def quickbooks_context(self, caller: Caller):
        from shared.domain.settings import QuickBooksContext

        accounts = self.quickbooks_list(caller, "accounts")
        classes = self.quickbooks_list(caller, "classes")
        vendors = self.quickbooks_list(caller, "vendors")
        prefs = self.quickbooks_list(caller, "preferences")
        tracking = bool(prefs.get("AccountingInfoPrefs", {}).get("ClassTrackingPerTxn"))
        tax_codes = self.quickbooks_list(caller, "tax-codes")
        return QuickBooksContext(
            accounts={a["Id"]: (a.get("Name", ""), a.get("AccountType", ""), a.get("Active", True)) for a in accounts},
            classes={c["Id"] for c in classes}, class_tracking_enabled=tracking,
            vendors={v["Id"] for v in vendors}, tax_codes={c["Id"] for c in tax_codes},
            automated_sales_tax=bool(prefs.get("TaxPrefs", {}).get("PartnerTaxEnabled")))

    def quickbooks_list(self, caller: Caller, kind: str, account_type: str | None = None):
        self._connected(caller)
        if kind == "preferences":
            return self._cache.get((caller.tenant_id, kind), lambda: self._quickbooks(caller.tenant_id).preferences())
        if kind not in QBO_LISTS:
            raise NotFound(f"unknown QuickBooks list '{kind}'")
        entity, where = QBO_LISTS[kind]
        rows = self._cache.get((caller.tenant_id, kind),
                               lambda: list(self._quickbooks(caller.tenant_id).query_all(entity, where)))
        if account_type:
            rows = [r for r in rows if r.get("AccountType") == account_type]
        return rows

    # -- runs --------------------------------------------------------------------------------------------------
    def enable(self, caller: Caller) -> dict:
        """'Enable Integration': start onboarding with the saved settings and turn the schedule on."""
        caller.require_admin()
        connection = self._connected(caller)
        if self._settings.get(caller.tenant_id) is None:
            raise BadRequest("save the sync settings before enabling the integration")
        run = self._start(caller.tenant_id, "onboarding")
        connection.onboarding = {"enabled": True, "run_id": run.run_id}
        self._connections.save(connection)
        return run.public()

    def sync_now(self, caller: Caller) -> dict:
        self._connected(caller)
        return self._start(caller.tenant_id, "sync").public()

    def _start(self, tenant_id: str, kind: str) -> SyncRun:
        run = SyncRun(tenant_id=tenant_id, run_id=new_run_id(kind), kind=kind, status="running",
                      started_at=datetime.now(UTC), phase="queued")
        self._runs.create(run)
        self._workflows.start(kind, tenant_id, run.run_id)
        return run

    def runs(self, caller: Caller) -> list[dict]:
        return [r.public() for r in self._runs.history(caller.tenant_id)]

    def run(self, caller: Caller, run_id: str) -> dict:
        run = self._runs.get(caller.tenant_id, run_id)
        if run is None or run.kind == "snapshot":
            raise NotFound("no such sync run")
        return run.public()

    # -- error log and links -----------------------------------------------------------------------------------
    def errors(self, caller: Caller, include_resolved: bool = False) -> list[dict]:
        return [e.public() for e in self._errors.list(caller.tenant_id, include_resolved)]

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

    def retry(self, caller: Caller, key: str) -> dict:
        caller.require_admin()
        if self._errors.get(caller.tenant_id, key) is None:
            raise NotFound("no such error entry")
        return self.sync_now(caller)

    def clear_link(self, caller: Caller, entity: str, fsp_id: str) -> dict:
        """'Clear ID': forget the QuickBooks id (deleted or inactive there) so the next sync creates it again."""
        caller.require_admin()
        if self._links.get(caller.tenant_id, entity, fsp_id) is None:
            raise NotFound("no link for that record")
        self._links.clear(caller.tenant_id, entity, fsp_id)
        key = f"{entity}#{fsp_id}"
        if self._errors.get(caller.tenant_id, key) is not None:
            self._errors.resolve(caller.tenant_id, key)
        return {"cleared": key}

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
