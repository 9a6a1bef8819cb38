"""Attempts: what a QuickBooks `requestid` names for invoices and payments.

A `requestid` names one attempt at one version of one record. Before a batch goes out, each member's link records
its attempt (a fresh random id, the batch's `requestid`, its `bId`, the operation and the version's fingerprint), so:
- a crash-retry of the same attempt finds it on the link and resends the batch under the same `requestid`, and
  QuickBooks replays its first answer instead of writing again (nothing duplicated);
- once QuickBooks answered (accepted or refused), the attempt is taken off the link; the next attempt, automatic or
  by the admin's Retry, draws a new id, so QuickBooks cannot replay an old refusal;
- "Clear ID" deletes the link with its attempt, so the next sync creates exactly one new record.
A batch's `requestid` is derived from its members' attempt ids, so it is new whenever any member's attempt is.
A write sent in the single lane (shared/domain/lanes.py) is a batch of one whose attempt says so (`lane: single`):
its resend goes as a single request again, under the same `requestid`."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from shared.domain import lanes
from shared.domain.records import Link

if TYPE_CHECKING:
    from shared.domain.ports import LinkStore


def batch_request_id(attempt_ids: Iterable[str]) -> str:
    return hashlib.sha256("|".join(sorted(attempt_ids)).encode()).hexdigest()[:36]  # 36: the batch limit


def new_attempt_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Write:
    """One record to write: `op` is create, update, void or delete; `fp` the fingerprint of the version sent."""

    key: str
    op: str
    fp: str
    subject: Any
    link: Link | None = None
    bid: str = ""
    extra: dict = field(default_factory=dict)  # what the domain needs to build the draft (e.g. applied amounts)

    @property
    def planned(self) -> Link:
        """The link carrying this write's attempt: every write has one once `Attempts.batches` planned it."""
        if self.link is None:
            raise RuntimeError(f"write {self.key} was sent before Attempts.batches recorded its attempt")
        return self.link


@dataclass
class Batch:
    request_id: str
    writes: list[Write]
    resent: bool = False
    single: bool = False  # one write as its own request (the single lane), not a batch request


def in_flight(link: Link | None) -> dict | None:
    return (link.extra or {}).get("attempt") if link is not None else None


class Attempts:
    def __init__(self, links: LinkStore, tenant_id: str, entity: str, new_id: Callable[[], str] = new_attempt_id):
        self._links, self._tenant_id, self._entity, self._new_id = links, tenant_id, entity, new_id

    def batches(self, fresh: list[Write], resend: list[Write],
                split: Callable[[list[Write]], list[lanes.Work[Write]]] = lanes.split) -> list[Batch]:
        """Resends first (grouped by the request they went out in, same `requestid`, `bId`s and lane), then the
        fresh writes as `split` lays them out (batches of 30, and single requests beside them when the lanes
        choose so), each write's attempt recorded on its link before anything is sent."""
        out: dict[str, Batch] = {}
        for w in resend:
            attempt = in_flight(w.link) or {}
            w.bid, w.op, w.fp = attempt["bid"], attempt["op"], attempt["fp"]
            out.setdefault(attempt["batch"], Batch(attempt["batch"], [], resent=True,
                                                   single=attempt.get("lane") == "single")).writes.append(w)
        batches = list(out.values())
        pending: list[Link] = []
        for piece in split(fresh):
            chunk = list(piece.rows)
            ids = [self._new_id() for _ in chunk]
            rid = batch_request_id(ids)
            single = piece.lane == "single"
            for n, (w, attempt_id) in enumerate(zip(chunk, ids, strict=True)):
                w.bid = str(n + 1)
                attempt = {"id": attempt_id, "batch": rid, "bid": w.bid, "op": w.op, "fp": w.fp,
                           **({"lane": "single"} if single else {})}
                base = w.link or Link(self._tenant_id, self._entity, w.key, state="pending")
                w.link = replace(base, request_id=attempt_id, extra={**(base.extra or {}), "attempt": attempt})
                pending.append(w.link)
            batches.append(Batch(rid, chunk, single=single))
        if pending:
            self._links.put_many(pending)
        return batches

    @staticmethod
    def settled(link: Link, **changes: Any) -> Link:
        """The link once QuickBooks answered: the attempt is gone, the changes applied."""
        extra = {k: v for k, v in (link.extra or {}).items() if k != "attempt"}
        extra.update(changes.pop("extra", {}))
        return replace(link, request_id=None, extra=extra, **changes)


def clear_refusal(links: LinkStore, tenant_id: str, entity: str, fsp_id: str) -> bool:
    """What the admin's Retry means for an invoice or payment: the version QuickBooks refused may be sent again (the
    next sync run re-attempts it, with a new request id). False when there was no refusal to clear."""
    link = links.get(tenant_id, entity, fsp_id)
    if link is None or not (link.extra or {}).get("refused"):
        return False
    links.put(replace(link, extra={**link.extra, "refused": None}))
    return True
