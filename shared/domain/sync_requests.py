"""Asking for a sync run: "Sync Now", webhook hints and retries all come through here (schedules start the state
machine directly and pass the same gate in its first task).

A request notes a change at the tenant's sync gate first. If a run holds the gate, that run is bound to see the
change before it ends (its release fails while changes are unseen, so it runs again): nothing new is started and
the caller is told which run covers it. A record-level apply of webhook hints (shared/domain/record_sync.py) holding
the gate covers only its own records, so then a new run is started, and its first task waits for the apply to end.
Otherwise a new run is started under a fresh execution name; if two requests race past a free gate, the second run
folds into the first at its first task. Either way no request is
dropped, no request fails, and one run per tenant does the work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shared.domain.records import SyncRun

RECORD_LEVEL = "webhook"  # the kind in the run ids of record-level applies (shared/domain/record_sync.py)
RECORD_LEASE_S = 90  # their hold on the gate: longer than the worker's 60 s timeout, so a crashed one lapses


def record_level(run_id: str | None) -> bool:
    """Whether a gate holder is a record-level apply (seconds long, and it sees only the records it names), which a
    run waits for rather than folds into."""
    return bool(run_id) and f"-{RECORD_LEVEL}-" in str(run_id)


@dataclass(frozen=True)
class GateState:
    holder: str | None
    changes: int
    seen: int


class SyncGate(Protocol):
    def note_change(self, tenant_id: str) -> GateState: ...
    def acquire(self, tenant_id: str, run_id: str, lease_s: int) -> GateState: ...
    def renew(self, tenant_id: str, run_id: str, lease_s: int) -> bool: ...
    def release(self, tenant_id: str, run_id: str, seen: int) -> bool: ...
    def abandon(self, tenant_id: str, run_id: str) -> None: ...
    def read(self, tenant_id: str) -> GateState: ...


class RunStore(Protocol):
    def create(self, run: SyncRun) -> None: ...
    def get(self, tenant_id: str, run_id: str) -> SyncRun | None: ...


class Workflows(Protocol):
    def start(self, kind: str, tenant_id: str, run_id: str, extra: dict | None = None) -> str: ...


@dataclass(frozen=True)
class SyncRequested:
    run: SyncRun
    started: bool  # False: an existing run covers the request


class SyncRequests:
    def __init__(self, gate: SyncGate, runs: RunStore, workflows: Workflows):
        self._gate, self._runs, self._workflows = gate, runs, workflows

    def request(self, tenant_id: str, trigger: str) -> SyncRequested:
        from shared.domain.admin import new_run_id

        state = self._gate.note_change(tenant_id)
        if state.holder is not None and not record_level(state.holder):
            running = self._runs.get(tenant_id, state.holder)
            if running is not None:
                return SyncRequested(running, started=False)
        run = SyncRun(tenant_id=tenant_id, run_id=new_run_id("sync"), kind="sync", status="running",
                      started_at=datetime.now(UTC), phase="queued")
        self._runs.create(run)
        self._workflows.start("sync", tenant_id, run.run_id, {"trigger": trigger})
        return SyncRequested(run, started=True)
