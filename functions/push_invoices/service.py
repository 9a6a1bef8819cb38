"""Wires the sync-run tasks (invoices, payments) to their adapters for one tenant."""

from __future__ import annotations

from shared.domain.invoices import Sync
from shared.runtime import runtime


def sync(tenant_id: str) -> Sync:
    return Sync(runtime().sync_deps(tenant_id))
