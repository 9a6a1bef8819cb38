"""Wires the sync run's tasks (shared/domain/sync_run.py) to their adapters for one tenant."""

from __future__ import annotations

from shared.domain.sync_run import SyncEngine
from shared.runtime import runtime


def sync(tenant_id: str) -> SyncEngine:
    from shared.data.cursors import DynamoCursors
    from shared.data.repos import ReviewRepo
    from shared.data.sync_gate import DynamoSyncGate

    return SyncEngine(runtime().sync_deps(tenant_id), DynamoSyncGate(), DynamoCursors(), review=ReviewRepo())
