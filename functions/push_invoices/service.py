"""Wires the sync run's tasks (shared/domain/sync_run.py) to their adapters for one tenant."""

from __future__ import annotations

from shared.runtime import runtime


def sync(tenant_id: str):
    return runtime().sync_engine(tenant_id)
