"""Domain records the sync keeps about itself: runs, the error log, and links between the two systems."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Cursor:
    """How far one kind of change has been applied: the instant, and the ids already applied at exactly that
    instant. The platform's `updated_since` is inclusive, so without them the newest record of every kind would be
    listed and judged again by every run; a record changed again has a later `updated_at` and is not among them."""

    at: datetime
    ids: frozenset[str] = frozenset()


@dataclass
class SyncRun:
    tenant_id: str
    run_id: str
    kind: str  # onboarding | sync
    status: str  # running | succeeded | failed
    started_at: datetime
    phase: str | None = None
    percent: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    summary: dict | None = None
    finished_at: datetime | None = None

    def public(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "status": self.status, "phase": self.phase,
                "percent": self.percent, "counts": self.counts, "summary": self.summary,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


@dataclass
class ErrorEntry:
    """One entity that failed to sync, with QuickBooks' (or the platform's) own code and message."""

    tenant_id: str
    entity: str
    entity_id: str
    direction: str  # to_quickbooks | to_platform
    code: str
    message: str
    detail: str = ""
    first_at: datetime | None = None
    last_at: datetime | None = None
    attempts: int = 1
    run_id: str | None = None
    resolved: bool = False
    name: str = ""  # what the admin recognises (display name, invoice number), when the step knows it
    dismissed: bool = False  # hidden from the unsynced list until it fails again
    retry_requested: bool = False  # an admin asked to resync it; the next run re-attempts it
    # What a `waiting_for_*` entry waits on, as "{link entity}#{platform id}" (its client's customer, its invoice):
    # the run re-attempts it only once that record is in QuickBooks, instead of re-reading it every run.
    waits_for: str = ""

    @property
    def key(self) -> str:
        return f"{self.entity}#{self.entity_id}"

    def public(self) -> dict:
        return {"id": self.key, "entity": self.entity, "entity_id": self.entity_id, "direction": self.direction,
                "code": self.code, "message": self.message, "detail": self.detail, "attempts": self.attempts,
                "first_at": self.first_at.isoformat() if self.first_at else None,
                "last_at": self.last_at.isoformat() if self.last_at else None, "run_id": self.run_id,
                "resolved": self.resolved}


@dataclass
class Link:
    """fsp id <-> QuickBooks id for one entity kind. `state` pending = a QuickBooks write is in flight under
    `request_id`; a retry reuses that id, so QuickBooks answers with the first result instead of writing twice."""

    tenant_id: str
    entity: str  # customer | site | item | invoice | payment | class
    fsp_id: str
    qbo_id: str | None = None
    sync_token: str | None = None
    fingerprint: str | None = None
    request_id: str | None = None
    state: str = "linked"  # pending | linked
    extra: dict = field(default_factory=dict)


BY_QBO_QUERIES_AT_MOST = 50


def links_by_qbo(links: Any, tenant_id: str, entity: str, qbo_ids: Iterable[str]) -> dict[str, Link]:
    """The links of these QuickBooks ids, by QuickBooks id. Every CDC row needs its link (our own writes come back
    in CDC, and the 2-minute cursor overlap brings the last pass's back again), so for more than a few rows one
    paged read of every link of the kind beats a GSI query per row; a few are asked of the index at once."""
    wanted = set(qbo_ids)
    if not wanted:
        return {}
    if len(wanted) > BY_QBO_QUERIES_AT_MOST:
        return {lk.qbo_id: lk for lk in links.all(tenant_id, entity) if lk.qbo_id in wanted}
    return links.by_qbo_many(tenant_id, entity, sorted(wanted))
