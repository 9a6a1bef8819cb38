"""Webhook hints applied at once, record by record (issue 12).

A hint names a record. When every hint of a worker batch names one the sync engine can apply by itself, the worker
reads those records by id and applies them through the engine's own steps (`SyncEngine.apply_records`) under the
tenant's sync gate: the change reaches the other side in about a second. Asking for a whole run instead would make
it wait for the pass in progress plus one more, each reading both sides by cursor.

A whole run is asked for (SyncRequests, as before) when a hint needs one: a deletion or merge (only CDC reports
deleted records), a kind the engine applies only in a run (job types and classes), more than MAX_RECORDS records (a
burst, where one CDC call beats hundreds of reads), review mode (its gate, in the run's tasks, holds what an admin
approves first), items not yet matched in full in their direction; or when another run holds the gate (noting the
change there makes that run go round again before it ends). A run never folds into a record-level apply: its
first task waits for the apply to give the gate back (`record_level`, shared/domain/sync_requests.py).

No change is dropped:
- a change noted at the gate while we hold it (Sync Now, a schedule folding into us) makes our release fail, and a
  run is asked for;
- a transient fault (429, 5xx, a refused token) frees the gate and hands the work to a run, whose state machine
  backs off and retries;
- any other failure frees the gate and raises: the worker reports the messages failed and SQS delivers them again.
Cursors are neither read nor moved here, so the next run meets these records again and finds them in step
(fingerprints, SyncTokens, request ids): nothing is written twice.

A record-level run appears in the run history (kind `sync`, `summary.trigger = "webhook"`) when it wrote or failed
something; one that only found its records in step (most often our own writes coming back as webhooks) leaves no
entry, so the history is not buried under echoes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared.domain.records import SyncRun
from shared.domain.sync_requests import RECORD_LEASE_S, RECORD_LEVEL, SyncGate, SyncRequests
from shared.domain.sync_run import NamedRecords

MAX_RECORDS = 100  # beyond this a burst is cheaper as one CDC call and a run's lists than as reads by id
QUICKBOOKS_ENTITIES = frozenset({"Customer", "Item", "Invoice", "Payment"})
QUICKBOOKS_OPERATIONS = frozenset({"Create", "Update", "Void", "Emailed"})  # Delete and Merge: CDC's deleted rows
PLATFORM_ACTIONS = {"client": {"created", "updated"}, "site": {"created", "updated"}, "item": {"created", "updated"},
                    "invoice": {"ready", "updated", "voided"}, "payment": {"created", "updated"}}
# Counts of a pass that found its records in step: such a pass changed nothing and leaves no history entry.
QUIET_COUNTS = frozenset({"customers_unchanged", "clients_unchanged", "invoices_unchanged",
                          "invoices_refused_unchanged", "quickbooks_jobs_not_imported"})


class NamedHint(Protocol):
    @property
    def entity(self) -> str: ...
    @property
    def entity_id(self) -> str: ...
    @property
    def operation(self) -> str: ...


class RunStore(Protocol):
    def create(self, run: SyncRun) -> None: ...


class RecordEngine(Protocol):
    """The part of the sync engine (shared/domain/sync_run.py) a record-level run uses."""

    def whole_run_needed(self, named: NamedRecords) -> str | None: ...
    def apply_records(self, state: dict, named: NamedRecords) -> dict: ...
    def mark_synced(self) -> None: ...


def named_records(hints: Sequence[tuple[str, NamedHint]]) -> tuple[NamedRecords | None, str | None]:
    """What (source, hint) pairs name, or None and why a whole run must apply them instead."""
    quickbooks: dict[str, set[str]] = {}
    platform: dict[str, set[str]] = {}
    for source, hint in hints:
        if source == "quickbooks":
            if hint.entity not in QUICKBOOKS_ENTITIES or hint.operation not in QUICKBOOKS_OPERATIONS:
                return None, f"QuickBooks {hint.entity} {hint.operation} is read by a run"
            quickbooks.setdefault(hint.entity, set()).add(hint.entity_id)
        else:
            if hint.operation not in PLATFORM_ACTIONS.get(hint.entity, ()):
                return None, f"platform {hint.entity}.{hint.operation} is read by a run"
            platform.setdefault(hint.entity, set()).add(hint.entity_id)
    named = NamedRecords({k: frozenset(v) for k, v in quickbooks.items()},
                         {k: frozenset(v) for k, v in platform.items()})
    if len(named) > MAX_RECORDS:
        return None, f"{len(named)} records at once are read by a run"
    return named, None


@dataclass(frozen=True)
class RecordOutcome:
    run_id: str | None  # the record-level run, or the run that covers the hints
    started: bool  # a sync execution was started for these hints
    by_record: bool  # applied here, record by record
    reason: str | None = None  # why a run does it instead


class RecordSync:
    def __init__(self, engine_for: Callable[[str], RecordEngine], gate: SyncGate, runs: RunStore,
                 requests: SyncRequests, transient: Callable[[Exception], bool],
                 new_run_id: Callable[[], str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        from shared.domain.admin import new_run_id as sortable_run_id

        self._engine_for, self._gate, self._runs, self._requests = engine_for, gate, runs, requests
        self._transient, self._clock = transient, clock
        self._new_run_id = new_run_id or (lambda: sortable_run_id(RECORD_LEVEL))

    def apply(self, tenant_id: str, hints: Sequence[tuple[str, NamedHint]]) -> RecordOutcome:
        named, reason = named_records(hints)
        engine = self._engine_for(tenant_id) if named is not None else None
        if engine is not None and named is not None:
            reason = engine.whole_run_needed(named)
        if engine is None or named is None or reason is not None:
            return self._to_run(tenant_id, reason)
        run_id = self._new_run_id()
        held = self._gate.acquire(tenant_id, run_id, RECORD_LEASE_S)
        if held.holder != run_id:
            return self._to_run(tenant_id, "another sync run of this company is in progress")
        started_at = self._clock()
        state: dict[str, Any] = {"tenant_id": tenant_id, "run_id": run_id}
        try:
            state = engine.apply_records(state, named)
        except Exception as exc:
            self._gate.abandon(tenant_id, run_id)
            counts = state.get("counts", {})
            if self._transient(exc):
                covered = self._to_run(tenant_id, f"{type(exc).__name__}: a run finishes the work")
                self._record(tenant_id, run_id, started_at, "succeeded",
                             {"counts": counts, "handed_to": covered.run_id, "reason": covered.reason}, always=True)
                return RecordOutcome(run_id, covered.started, True, covered.reason)
            self._record(tenant_id, run_id, started_at, "failed",
                         {"counts": counts, "error": {"type": type(exc).__name__, "message": str(exc)[:1000]}},
                         always=True)
            raise
        counts = state.get("counts", {})
        if self._gate.release(tenant_id, run_id, held.seen):
            recorded = self._record(tenant_id, run_id, started_at, "succeeded", {"counts": counts})
            if recorded:  # the connection's "last synced" moves when something synced, not for an echo
                engine.mark_synced()
            return RecordOutcome(run_id if recorded else None, False, True)
        # A change was noted while we held the gate: whoever noted it expects a run to see it.
        self._gate.abandon(tenant_id, run_id)
        covered = self._to_run(tenant_id, "changes were noted during the record-level run")
        self._record(tenant_id, run_id, started_at, "succeeded", {"counts": counts, "handed_to": covered.run_id})
        return RecordOutcome(run_id, covered.started, True, covered.reason)

    def _to_run(self, tenant_id: str, reason: str | None) -> RecordOutcome:
        requested = self._requests.request(tenant_id, "webhook")
        return RecordOutcome(requested.run.run_id, requested.started, False, reason)

    def _record(self, tenant_id: str, run_id: str, started_at: datetime, status: str, summary: dict,
                always: bool = False) -> bool:
        """Write the run's history entry, unless it only found its records in step."""
        if not always and not set(summary.get("counts", {})) - QUIET_COUNTS:
            return False
        # Written once, with its outcome: the apply is over, and a record that says "running" meanwhile would
        # cost a write and tell nobody anything (the gate, not the history, keeps runs apart).
        self._runs.create(SyncRun(tenant_id=tenant_id, run_id=run_id, kind="sync", status=status,
                                  started_at=started_at, phase="webhook", percent=100 if status == "succeeded" else 0,
                                  summary={**summary, "trigger": "webhook"}, finished_at=self._clock()))
        return True
