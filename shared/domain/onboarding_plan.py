"""The onboarding plan: from both customer lists (and what is already linked), decide what matches, what to create on
each side, which QuickBooks jobs are service locations (sites, never clients) and what the admin must resolve.

Pure and deterministic: the same inputs give the same plan, so a re-run after a crash forms the same QuickBooks
batches and sends the same `requestid`s. See docs/matching.md for the rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain import matching, parties
from shared.domain.clients import compact_client_values, compact_customer_values, fingerprints
from shared.domain.names import quickbooks_display_name
from shared.domain.settings import MissingState, resolve_state

MISSING_STATE = "missing_state"
NO_NAME_MESSAGE = ("The Client record has no company or contact name, so QuickBooks cannot create a customer for it. "
                   "Add a name on the platform and synchronize again.")


@dataclass
class Plan:
    matches: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # (qbo_id, fsp_id, evidence)
    site_matches: list[tuple[str, str]] = field(default_factory=list)  # (qbo_id, fsp_site_id)
    # {fsp_id, customer}: `customer` is a CustomerDraft as a plain dict (CustomerDraft.as_dict), never QuickBooks JSON
    to_quickbooks: list[dict] = field(default_factory=list)
    to_platform: list[dict] = field(default_factory=list)  # {qbo_id, client, sync_token}
    # {qbo_id, parent_qbo_id, name, address, active, sync_token, held: what QuickBooks holds (ship_key, active)}
    sites_to_platform: list[dict] = field(default_factory=list)
    sites_to_quickbooks: list[dict] = field(default_factory=list)  # {fsp_id, client_id, customer: a job's draft}
    conflicts: list[dict] = field(default_factory=list)  # {kind, qbo_ids, fsp_ids, reason}
    skipped: list[dict] = field(default_factory=list)  # error-log entries: {id, entity, direction, code, message}
    notes: dict[str, int] = field(default_factory=dict)  # informational counts for the summary


def _party(row: dict, address: dict | None) -> matching.Party:
    return matching.Party(id=row["id"], name=row.get("name") or "", company=row.get("company"),
                          first=row.get("first"), last=row.get("last"), email=row.get("email"),
                          phone=row.get("phone"), address_key=parties.address_key(address),
                          active=row.get("active", True))


def _note(plan: Plan, key: str, n: int = 1) -> None:
    plan.notes[key] = plan.notes.get(key, 0) + n


def _state_for(address: dict | None, settings) -> tuple[str | None, str | None]:
    """(state, problem): a missing state is filled from the default of the address's own country when "Use default
    State" is on (a US default is never written into a Canadian address); the problem names the record's country."""
    try:
        return resolve_state((address or {}).get("state"), (address or {}).get("country"), settings), None
    except MissingState as exc:
        return None, exc.message


def _is_location(job: dict) -> bool:
    return bool(job.get("ship") and job["ship"].get("line1"))


def plan_onboarding(qbo: list[dict], clients: list[dict], sites: list[dict], existing: dict[str, str], settings,
                    names_taken: list[str], existing_sites: dict[str, str] | None = None,
                    separate: frozenset[tuple[str, str]] = frozenset()) -> Plan:
    """`separate`: (QuickBooks id, platform id) pairs an admin declared different businesses; a conflict made only
    of such pairs is settled, and each record is created on the other side like any unmatched one."""
    plan = Plan()
    direction = settings.clients.direction
    top = sorted((c for c in qbo if not c["job"]), key=lambda c: c["id"])
    jobs = sorted((c for c in qbo if c["job"]), key=lambda c: c["id"])
    by_qbo = {c["id"]: c for c in qbo}
    clients = sorted(clients, key=lambda c: c["id"])
    linked_fsp = set(existing.values())

    # 1. Customers <-> clients. Already-linked pairs stay as they are (a reconnect resumes, never re-matches).
    for qbo_id, fsp_id in sorted(existing.items()):
        if qbo_id in by_qbo:
            plan.matches.append((qbo_id, fsp_id, ("linked",)))
    free_qbo = [c for c in top if c["id"] not in existing]
    free_fsp = [c for c in clients if c["id"] not in linked_fsp]
    result = matching.match_parties([_party(c, c.get("bill")) for c in free_qbo],
                                    [_party(c, c.get("address")) for c in free_fsp])
    plan.matches.extend((m.qbo_id, m.fsp_id, tuple(m.evidence)) for m in result.matches)
    in_conflict_qbo: set[str] = set()
    in_conflict_fsp: set[str] = set()
    for conflict in result.conflicts:
        if all((q, f) in separate for q in conflict.qbo_ids for f in conflict.fsp_ids):
            _note(plan, "conflicts_kept_separate")
            continue
        plan.conflicts.append({"kind": conflict.kind, "qbo_ids": list(conflict.qbo_ids),
                               "fsp_ids": list(conflict.fsp_ids), "reason": conflict.reason})
        in_conflict_qbo.update(conflict.qbo_ids)
        in_conflict_fsp.update(conflict.fsp_ids)
    qbo_to_fsp = {q: f for q, f, _ in plan.matches}
    fsp_linked = {f: q for q, f, _ in plan.matches}

    # 2. Platform clients missing in QuickBooks (never an inactive one: onboarding does not revive dead records).
    taken_exact = {n.casefold().strip() for n in names_taken} | {c["name"].casefold().strip() for c in qbo}
    if direction in ("two_way", "platform_master"):
        for client in (c for c in free_fsp if c["id"] not in fsp_linked and c["id"] not in in_conflict_fsp):
            if not client.get("active", True):
                _note(plan, "inactive_not_copied")
                continue
            try:
                display, adjustments = quickbooks_display_name(client["name"] or "", taken_exact)
            except ValueError:
                plan.skipped.append({"id": client["id"], "entity": "client", "direction": "to_quickbooks",
                                     "code": "no_name", "message": NO_NAME_MESSAGE})
                continue
            taken_exact.add(display.casefold())
            if adjustments:
                _note(plan, "names_adjusted_for_quickbooks")
            state, _ = _state_for(client.get("address"), settings)
            plan.to_quickbooks.append({"fsp_id": client["id"],
                                       "customer": parties.customer_draft(client, display, state).as_dict(),
                                       "adjustments": adjustments,
                                       "fp_p": fingerprints(compact_client_values(client))})

    # 3. QuickBooks customers missing on the platform.
    to_platform_ids = set()
    if direction in ("two_way", "quickbooks_master"):
        for customer in (c for c in free_qbo if c["id"] not in qbo_to_fsp and c["id"] not in in_conflict_qbo):
            if not customer["active"]:
                _note(plan, "inactive_not_copied")
                continue
            state, problem = _state_for(customer.get("bill"), settings)
            if customer.get("bill") and problem:
                plan.skipped.append({"id": customer["id"], "entity": "customer", "direction": "to_platform",
                                     "code": MISSING_STATE, "message": problem})
                continue
            country = parties.country_code((customer.get("bill") or {}).get("country"),
                                           settings.clients.default_country)
            plan.to_platform.append({"qbo_id": customer["id"], "sync_token": customer.get("sync_token"),
                                     "client": parties.client_draft_dict(customer, state, country),
                                     "fp_q": fingerprints(compact_customer_values(customer))})
            to_platform_ids.add(customer["id"])

    if settings.sites.enabled:
        names = {c["id"]: c.get("name") or "" for c in clients}
        linked_sites = existing_sites or {}
        jobs = [j for j in jobs if j["id"] not in linked_sites]
        sites = [s for s in sites if s["id"] not in set(linked_sites.values())]
        _plan_sites(plan, jobs, sites, by_qbo, qbo_to_fsp, to_platform_ids, fsp_linked, taken_exact, settings, names)
    else:
        _note(plan, "quickbooks_jobs_left_alone", len(jobs))
    return plan


def _plan_sites(plan: Plan, jobs: list[dict], sites: list[dict], by_qbo: dict, qbo_to_fsp: dict,
                to_platform_ids: set, fsp_linked: dict, taken_exact: set, settings, client_names: dict) -> None:
    """Sub-customers <-> sites, both ways, during onboarding only. A job with its own service address is a
    location of its parent and becomes a site; a job without one is a project and stays in QuickBooks."""
    sites_by_client: dict[str, list[dict]] = {}
    for site in sorted(sites, key=lambda s: s["id"]):
        sites_by_client.setdefault(site["client_id"], []).append(site)
    matched_sites: set[str] = set()
    for job in jobs:
        parent = by_qbo.get(job.get("parent_id") or "")
        if parent is None or parent["job"] or not _is_location(job):
            _note(plan, "quickbooks_projects_left_alone")
            continue
        client_id = qbo_to_fsp.get(parent["id"])
        if client_id is None and parent["id"] not in to_platform_ids:
            _note(plan, "jobs_of_unlinked_customers")
            continue
        key = parties.address_key(job["ship"])
        candidates = [s for s in sites_by_client.get(client_id or "", [])
                      if s["id"] not in matched_sites and key and parties.address_key(s["address"]) == key]
        if candidates:
            matched_sites.add(candidates[0]["id"])
            plan.site_matches.append((job["id"], candidates[0]["id"]))
            continue
        ship = job["ship"]
        if settings.sites.use_client_address_state:
            bill = parent.get("bill") or {}
            ship = {**ship, "state": ship.get("state") or bill.get("state"),
                    "country": ship.get("country") or bill.get("country")}
        state, problem = _state_for(ship, settings)
        if problem:
            plan.skipped.append({"id": job["id"], "entity": "sub_customer", "direction": "to_platform",
                                 "code": MISSING_STATE, "message": problem})
            continue
        country = parties.country_code(ship.get("country"), settings.clients.default_country)
        plan.sites_to_platform.append({"qbo_id": job["id"], "parent_qbo_id": parent["id"],
                                       "name": job["name"][:200], "active": job["active"],
                                       "address": {**ship, "state": state, "country": country},
                                       "sync_token": job.get("sync_token"),
                                       "held": {"ship_key": key, "active": bool(job["active"])}})

    for client_id, client_sites in sorted(sites_by_client.items()):
        if client_id not in fsp_linked and not any(r["fsp_id"] == client_id for r in plan.to_quickbooks):
            continue
        parent_qbo = by_qbo.get(fsp_linked.get(client_id, ""))
        if parent_qbo is not None and not parent_qbo["active"]:
            _note(plan, "sites_of_inactive_customers_left_alone", len(client_sites))
            continue  # QuickBooks refuses a job under an inactive customer (610)
        for site in client_sites:
            if site["id"] in matched_sites or not site.get("active", True):
                continue
            name = site["name"] or (site["address"] or {}).get("line1") or site["id"]
            if name.casefold().strip() in taken_exact:
                # Site names repeat across clients ("Main Office"); the client's name keeps them apart first.
                name = f"{name} ({client_names.get(client_id, '')})"
            try:
                display, _ = quickbooks_display_name(name, taken_exact)
            except ValueError:
                continue  # a site always has an address line to name it by; nothing printable means nothing to send
            taken_exact.add(display.casefold())
            state, _ = _state_for(site.get("address"), settings)
            plan.sites_to_quickbooks.append({"fsp_id": site["id"], "client_id": client_id,
                                             "customer": parties.sub_customer_draft(site, display, state).as_dict()})
