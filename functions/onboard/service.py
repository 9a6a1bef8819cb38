"""Wires the onboarding tasks to their adapters for one tenant."""

from __future__ import annotations

from shared.domain.onboarding import Onboarding
from shared.runtime import runtime


def onboarding(tenant_id: str) -> Onboarding:
    return Onboarding(runtime().sync_deps(tenant_id))
