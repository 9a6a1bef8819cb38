"""Webhooks as change hints, from delivery to sync request.

Intake (the receiver): size, signature, strict parse, realm/tenant -> connection, enqueue. Nothing is written
before the enqueue, so a crash anywhere up to it leaves the sender's retry fully effective; a retry after it is
dropped by the FIFO queue's deduplication id (5 minutes) or, later, by the worker's ledger (docs/decisions.md).

Apply (the worker): each queued batch names its records; a hint whose change happened before the ledger's time
for its record (when an earlier apply started reading it, less the clocks' skew) is a duplicate (a redelivery, or
an older event arriving after a newer one); the fresh ones are applied at once,
record by record (shared/domain/record_sync.py), or, when they need one, ask for a sync run through SyncRequests,
which reads the truth through its cursors. The ledger is written only after the apply or the request, so a crash
between the two costs a repeated apply, never a lost one."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.connections import Connection, ConnectionRepo, Status
from shared.domain.sync_requests import SyncRequests
from shared.errors import BadRequest, PayloadTooLarge, Unauthorized
from shared.quickbooks import webhooks as qbo_webhooks
from shared.quickbooks.webhooks import ChangeHint
from shared.routes import MAX_BODY_BYTES

if TYPE_CHECKING:  # the receiver imports this module; the engine behind record-level apply is the worker's alone
    from shared.domain.record_sync import RecordOutcome

HINTS_PER_MESSAGE = 50  # a queued message stays far below SQS's 256 KB, and ten of them fit one SendMessageBatch
# A hint's time is to the second (QuickBooks' lastUpdated): it names an edit somewhere in the second after it.
HINT_RESOLUTION_S = 1.0
# How far the senders' clocks may be from ours; an apply covers only what happened this long before it began.
CLOCK_SKEW_S = 5.0

Short = Annotated[str, StringConstraints(max_length=200)]


class QueuedHint(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: Short
    entity_id: Short
    operation: Short
    occurred_at: Short = ""
    event_id: Short
    merged_from: Short = ""


class HintMessage(BaseModel):
    """One queued message: hints of one delivery for one tenant, in the order the sender listed them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tenant_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    source: Annotated[str, StringConstraints(pattern=r"^(quickbooks|fieldservice)$")]
    hints: list[QueuedHint] = Field(min_length=1, max_length=HINTS_PER_MESSAGE)

    def deduplication_id(self) -> str:
        """Equal for a redelivery of the same events (the queue drops it within 5 minutes); at most 128 chars."""
        ids = "|".join(h.event_id for h in self.hints)
        return hashlib.sha256(f"{self.source}|{self.tenant_id}|{ids}".encode()).hexdigest()


def messages(tenant_id: str, source: str, hints: Iterable[ChangeHint]) -> list[HintMessage]:
    queued = [QueuedHint(entity=h.entity, entity_id=h.entity_id, operation=h.operation, occurred_at=h.occurred_at,
                         event_id=h.event_id, merged_from=h.merged_from) for h in hints]
    return [HintMessage(tenant_id=tenant_id, source=source, hints=queued[i:i + HINTS_PER_MESSAGE])
            for i in range(0, len(queued), HINTS_PER_MESSAGE)]


class HintQueue(Protocol):
    def send(self, batch: list[HintMessage]) -> None:
        """All or nothing as far as the caller knows: raise unless every message was accepted."""


@dataclass
class Intake:
    accepted: int = 0
    ignored: list[dict] = field(default_factory=list)  # {"account", "reason", "events"}: logged by the receiver


def _usable(connection: Connection | None) -> str | None:
    """Why hints for this connection are dropped, or None when they are wanted."""
    if connection is None:
        return "unknown"
    if connection.status != Status.CONNECTED:
        return connection.status
    return None


class HintIntake:
    def __init__(self, connections: ConnectionRepo, queue: HintQueue, verifier_token: str,
                 fsp_verify: Callable[[bytes, str | None], list[ChangeHint]] | None = None,
                 max_body: int = MAX_BODY_BYTES):
        self._connections, self._queue = connections, queue
        self._verifier_token, self._fsp_verify, self._max_body = verifier_token, fsp_verify, max_body

    def _check_size(self, raw_body: bytes) -> None:
        if len(raw_body) > self._max_body:
            raise PayloadTooLarge(f"webhook bodies are limited to {self._max_body} bytes")

    def quickbooks(self, raw_body: bytes, signature: str | None) -> Intake:
        self._check_size(raw_body)
        try:
            qbo_webhooks.verify_signature(self._verifier_token, raw_body, signature)
        except qbo_webhooks.InvalidSignature as exc:
            raise Unauthorized(str(exc)) from None
        try:
            hints = qbo_webhooks.parse(raw_body)
        except qbo_webhooks.InvalidPayload as exc:
            raise BadRequest(str(exc)) from None
        by_realm: dict[str, list[ChangeHint]] = {}
        for hint in hints:
            by_realm.setdefault(hint.account, []).append(hint)
        result, batch = Intake(), []
        for realm, realm_hints in by_realm.items():
            candidates = self._connections.by_realm(realm)
            live = [c for c in candidates if c.status == Status.CONNECTED]
            if not live:
                # Acknowledged all the same: Intuit would retry a refusal for hours, and nothing here can change.
                reason = _usable(candidates[0]) if candidates else "unknown"
                result.ignored.append({"account": realm, "reason": f"realm {reason}", "events": len(realm_hints)})
            for connection in live:
                batch += messages(connection.tenant_id, "quickbooks", realm_hints)
                result.accepted += len(realm_hints)
        if batch:
            self._queue.send(batch)
        return result

    def fieldservice(self, raw_body: bytes, signature: str | None) -> Intake:
        self._check_size(raw_body)
        if self._fsp_verify is None:
            raise Unauthorized("platform webhooks are not configured")
        hints = self._fsp_verify(raw_body, signature)
        result = Intake()
        tenant_id = hints[0].account
        reason = _usable(self._connections.get(tenant_id))
        if reason:
            result.ignored.append({"account": tenant_id, "reason": f"tenant {reason}", "events": len(hints)})
            return result
        self._queue.send(messages(tenant_id, "fieldservice", hints))
        result.accepted = len(hints)
        return result


# -- the worker side ---------------------------------------------------------------------------------------------

class HintLedger(Protocol):
    def seen_at(self, tenant_id: str, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], float | None]:
        """For each (source, entity, entity_id): the time (epoch seconds) before which every change of it has been
        applied, if any; one read for the whole batch."""

    def mark(self, tenant_id: str, times: dict[tuple[str, str, str], float]) -> None:
        """Remember each (source, entity, entity_id)'s time unless a later time is already remembered."""


def occurred_epoch(stamp: str) -> float | None:
    """Seconds since the epoch of the sender's ISO 8601 time (Intuit writes `-0700`, `.000Z` and nanoseconds)."""
    try:
        moment = datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


@dataclass(frozen=True)
class Applied:
    fresh: list[QueuedHint]
    duplicates: list[QueuedHint]
    run_id: str | None = None
    started: bool = False
    ignored: str | None = None  # why nothing was asked (connection gone, onboarding not completed)
    by_record: bool = False  # applied at once, record by record (shared/domain/record_sync.py)


class RecordLevel(Protocol):
    """Applies the records hints name at once (shared/domain/record_sync.py), or hands them to a run."""

    def apply(self, tenant_id: str, hints: Sequence[tuple[str, QueuedHint]]) -> RecordOutcome: ...


class HintApplier:
    def __init__(self, connections: ConnectionRepo, ledger: HintLedger, requests: SyncRequests,
                 records: RecordLevel | None = None, clock: Callable[[], float] = time.time):
        self._connections, self._ledger, self._requests, self._records = connections, ledger, requests, records
        self._clock = clock

    def apply(self, tenant_id: str, batch: list[HintMessage]) -> Applied:
        """Hints of one tenant, in queue order, already validated: at most one sync request for all of them."""
        hints = [(m.source, h) for m in batch for h in m.hints]
        connection = self._connections.get(tenant_id)
        reason = _usable(connection)
        if reason is None and (connection.onboarding or {}).get("status") != "completed":  # type: ignore[union-attr]
            reason = "onboarding not completed (it reads everything)"
        if reason is not None:
            return Applied([], [], ignored=reason if reason != "unknown" else "no connection")
        fresh: list[tuple[str, QueuedHint]] = []
        duplicates = []
        timed = {(source, h.entity, h.entity_id) for source, h in hints if occurred_epoch(h.occurred_at) is not None}
        # Not the hints' own times: two edits of a record in one second carry the same lastUpdated, and the second
        # is only covered if the apply read the record after it. What an apply reads is the record as it is when it
        # starts, so it covers every edit made before then (less the skew between the sender's clock and ours).
        starting = self._clock()
        covered = self._ledger.seen_at(tenant_id, sorted(timed)) if timed else {}
        in_batch: dict[tuple[str, str, str], float] = {}  # newest fresh time per record; the apply reads after it
        for source, hint in hints:
            key = (source, hint.entity, hint.entity_id)
            at = occurred_epoch(hint.occurred_at)
            if at is None:
                fresh.append((source, hint))  # no usable time: never taken for a duplicate
                continue
            last = covered[key]
            if (last is not None and at + HINT_RESOLUTION_S <= last) or (key in in_batch and at <= in_batch[key]):
                duplicates.append(hint)
                continue
            fresh.append((source, hint))
            in_batch[key] = at
        if not fresh:
            return Applied([], duplicates)
        if self._records is not None:
            outcome = self._records.apply(tenant_id, fresh)
            run_id, started, by_record = outcome.run_id, outcome.started, outcome.by_record
        else:
            requested = self._requests.request(tenant_id, "webhook")
            run_id, started, by_record = requested.run.run_id, requested.started, False
        if in_batch:
            self._ledger.mark(tenant_id, dict.fromkeys(in_batch, starting - CLOCK_SKEW_S))
        return Applied([h for _, h in fresh], duplicates, run_id, started, by_record=by_record)
