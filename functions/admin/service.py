"""Wires the admin use cases to their adapters, once per container."""

from __future__ import annotations

from functools import lru_cache

from shared.domain.admin import AdminService
from shared.runtime import runtime


@lru_cache(maxsize=1)
def service() -> AdminService:
    from shared.aws.workflows import StepFunctionsStarter
    from shared.data.repos import ErrorRepo, LinkRepo, RunRepo, SettingsRepo

    rt = runtime()
    return AdminService(rt.connections, SettingsRepo(), RunRepo(), ErrorRepo(), LinkRepo(), rt.quickbooks,
                        StepFunctionsStarter(rt.env.onboarding_state_machine_arn, rt.env.sync_state_machine_arn),
                        rt.schedules)
