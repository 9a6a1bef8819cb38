"""Wires the admin use cases to their adapters, once per container."""

from __future__ import annotations

from functools import lru_cache

from shared.domain.admin import AdminService
from shared.runtime import runtime


@lru_cache(maxsize=1)
def service() -> AdminService:
    from shared.aws.workflows import StepFunctionsStarter
    from shared.data.repos import ErrorRepo, LinkRepo, ReviewRepo, RunRepo, SettingsRepo
    from shared.data.sync_gate import DynamoSyncGate
    from shared.domain.connections import ScheduleLifecycle
    from shared.domain.sync_requests import SyncRequests
    from shared.qbdesktop.lists import DesktopCompanies

    rt = runtime()
    runs, settings = RunRepo(), SettingsRepo()
    workflows = StepFunctionsStarter(rt.env.onboarding_state_machine_arn, rt.env.sync_state_machine_arn)
    return AdminService(rt.connections, settings, runs, ErrorRepo(), LinkRepo(), rt.quickbooks, workflows,
                        rt.schedules, sync_requests=SyncRequests(DynamoSyncGate(), runs, workflows),
                        review=ReviewRepo(), tokens=rt.token_store, lifecycle=ScheduleLifecycle(rt.schedules, settings),
                        desktop=DesktopCompanies(), platform=lambda: rt.fieldservice)
