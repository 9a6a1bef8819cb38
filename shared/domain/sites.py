"""Sites -> sub-customers after onboarding (platform -> QuickBooks only, as the seeds say): a new site becomes a
QuickBooks job under its client's customer; a changed one updates its address and active flag. "Use client
State/Country for sites" fills a site address's missing State and Country from its client's billing address."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

from shared.domain import parties
from shared.domain.names import quickbooks_display_name
from shared.domain.records import Link
from shared.domain.run_log import RunLog
from shared.domain.settings import MissingState, resolve_state
from shared.fieldservice.errors import PlatformRefused
from shared.fieldservice.models import Site
from shared.quickbooks import errors as qbo_errors
from shared.quickbooks.port import CustomerChange, PostalAddress

WAITING_FOR_CLIENT = ("The site's client is not in QuickBooks yet, so the site cannot become a sub-customer. It "
                      "syncs once its client does.")


def _site_fingerprint(site: dict) -> str:
    blob = json.dumps([site["name"], site["address"], site["active"]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class SiteSync:
    def __init__(self, deps, log: RunLog, create_in_batches: Callable[[list[dict]], int]):
        self.d, self.log, self._create_in_batches = deps, log, create_in_batches

    def apply(self, sites: Sequence[Site]) -> None:
        if not sites:
            return
        tenant = self.d.tenant_id
        links = self.d.links.get_many(tenant, "site", [s.id for s in sites])
        parents = self.d.links.get_many(tenant, "customer", sorted({s.client_id for s in sites}))
        clients: dict[str, dict | None] = {}
        new_rows, changed = [], []
        for site in sites:
            row = self._compact(site, clients)
            if row is None:
                continue
            link = links.get(site.id)
            if link is not None and link.qbo_id:
                if link.fingerprint != _site_fingerprint(row):
                    changed.append((link, row))
                continue
            parent = parents.get(site.client_id)
            if parent is None or not parent.qbo_id:
                self.log.error("site", site.id, "to_quickbooks", "waiting_for_client", WAITING_FOR_CLIENT,
                               waits_for=f"customer#{site.client_id}")
                continue
            if site.active:
                new_rows.append((row, parent.qbo_id))
        self._create(new_rows)
        for link, row in changed:
            self._update(link, row)

    def _compact(self, site: Site, clients: dict[str, dict | None]) -> dict | None:
        row = parties.compact_site(site)
        address = dict(row["address"] or {})
        if self.d.settings.sites.use_client_address_state and not (address.get("state") and address.get("country")):
            if site.client_id not in clients:
                try:
                    clients[site.client_id] = parties.compact_client(
                        self.d.platform.get_client(self.d.tenant_id, site.client_id))
                except PlatformRefused as exc:  # throttling or an outage passes through: the run pauses, replays this
                    self.log.error("site", site.id, "to_quickbooks", exc.code, str(exc))
                    return None
            bill = (clients[site.client_id] or {}).get("address") or {}
            address = {**address, "state": address.get("state") or bill.get("state"),
                       "country": address.get("country") or bill.get("country")}
        try:
            state = resolve_state(address.get("state"), address.get("country"), self.d.settings)
        except MissingState:
            state = None  # QuickBooks takes a ship-to address without a State
        return {**row, "address": {**address, "state": state}}

    def _create(self, rows: list[tuple[dict, str]]) -> None:
        if not rows:
            return
        names = [r["name"] or (r["address"] or {}).get("line1") or r["id"] for r, _ in rows]
        taken = {c.display_name.casefold() for c in self.d.quickbooks().customers_named(names)}
        todo = []
        for (row, parent_qbo_id), name in zip(rows, names, strict=True):
            try:
                display, _ = quickbooks_display_name(name, taken)
            except ValueError:
                continue
            taken.add(display.casefold())
            draft = parties.sub_customer_draft(row, display, row["address"].get("state"), parent_qbo_id)
            todo.append({"fsp_id": row["id"], "customer": draft.as_dict(), "_row": row})
        created = 0
        for i in range(0, len(todo), 30):
            created += self._create_in_batches([{k: v for k, v in r.items() if k != "_row"}
                                                for r in todo[i:i + 30]])
        self.log.count("sub_customers_created_in_quickbooks", created)
        made = self.d.links.get_many(self.d.tenant_id, "site", [r["fsp_id"] for r in todo])
        finished = []
        for r in todo:
            link = made.get(r["fsp_id"])
            if link is not None and link.qbo_id:
                link.fingerprint = _site_fingerprint(r["_row"])
                finished.append(link)
                self.log.resolved("site", r["fsp_id"])
        self.d.links.put_many(finished)

    def _update(self, link: Link, row: dict, retried: bool = False) -> None:
        if link.fingerprint is None or link.sync_token is None:
            # Linked by onboarding, before fingerprints: compare with what QuickBooks holds (kept by onboarding for
            # the sites it created, else read once); write only if it differs.
            held = link.extra.get("held") if link.sync_token is not None else None
            if held is None:
                compact = self.d.quickbooks().read_customer(link.qbo_id or "").compact()
                link.sync_token = compact["sync_token"]
                held = {"ship_key": parties.address_key(compact.get("ship")), "active": bool(compact["active"])}
            if held["ship_key"] == parties.address_key(row["address"]) and held["active"] == bool(row["active"]):
                link.fingerprint = _site_fingerprint(row)
                self.d.links.put(link)
                return
        ship = parties.postal_address(row["address"], row["address"].get("state")) or PostalAddress()
        change = CustomerChange(link.qbo_id or "", link.sync_token or "", ship=ship, bill=ship,
                                active=bool(row["active"]))
        try:
            updated = self.d.quickbooks().update_customer(change)
        except qbo_errors.StaleObject:
            if retried:
                raise
            link.sync_token = self.d.quickbooks().read_customer(link.qbo_id or "").sync_token
            self._update(link, row, retried=True)
            return
        except qbo_errors.QuickBooksError as exc:
            if not qbo_errors.refused(exc):
                raise
            self.log.error("site", row["id"], "to_quickbooks", exc.code, exc.message, exc.detail)
            return
        link.sync_token, link.fingerprint = updated.sync_token, _site_fingerprint(row)
        self.d.links.put(link)
        self.log.count("sub_customers_updated_in_quickbooks")
        self.log.resolved("site", row["id"])
