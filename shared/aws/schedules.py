"""One EventBridge Scheduler schedule per connection, starting the sync state machine for that tenant."""

from __future__ import annotations

import hashlib
import json
import re

from shared.aws.clients import client

_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]")


def schedule_name(tenant_id: str) -> str:
    """`sync-{readable part}-{hash}`: at most 64 characters of Scheduler's [0-9A-Za-z-_.] alphabet, and two tenants
    can never share one (the hash is of the whole id; cutting `sync-{tenant}` to 64 characters could collide)."""
    digest = hashlib.sha256(tenant_id.encode()).hexdigest()[:32]
    return f"sync-{_UNSAFE.sub('_', tenant_id)[:26]}-{digest}"


class SchedulerAdapter:
    def __init__(self, group: str, role_arn: str, target_arn: str):
        self._group, self._role, self._target = group, role_arn, target_arn

    def _name(self, tenant_id: str) -> str:
        return schedule_name(tenant_id)

    def upsert(self, tenant_id: str, expression: str, timezone: str) -> None:
        args = dict(Name=self._name(tenant_id), GroupName=self._group, ScheduleExpression=expression,
                    ScheduleExpressionTimezone=timezone, FlexibleTimeWindow={"Mode": "OFF"}, State="ENABLED",
                    Target={"Arn": self._target, "RoleArn": self._role,
                            "Input": json.dumps({"tenant_id": tenant_id, "trigger": "schedule"})})
        scheduler = client("scheduler")
        try:
            scheduler.update_schedule(**args)
        except scheduler.exceptions.ResourceNotFoundException:
            scheduler.create_schedule(**args)

    def pause(self, tenant_id: str) -> None:
        scheduler = client("scheduler")
        try:
            current = scheduler.get_schedule(Name=self._name(tenant_id), GroupName=self._group)
        except scheduler.exceptions.ResourceNotFoundException:
            return
        keep = {k: current[k] for k in ("ScheduleExpression", "FlexibleTimeWindow", "Target") if k in current}
        scheduler.update_schedule(Name=self._name(tenant_id), GroupName=self._group, State="DISABLED",
                                  ScheduleExpressionTimezone=current.get("ScheduleExpressionTimezone", "UTC"), **keep)

    def delete(self, tenant_id: str) -> None:
        scheduler = client("scheduler")
        try:
            scheduler.delete_schedule(Name=self._name(tenant_id), GroupName=self._group)
        except scheduler.exceptions.ResourceNotFoundException:
            return

    def describe(self, tenant_id: str) -> dict | None:
        """The schedule in force: expression, time zone, state (ENABLED | DISABLED) and when it was created."""
        scheduler = client("scheduler")
        try:
            current = scheduler.get_schedule(Name=self._name(tenant_id), GroupName=self._group)
        except scheduler.exceptions.ResourceNotFoundException:
            return None
        created = current.get("CreationDate")
        return {"expression": current["ScheduleExpression"],
                "timezone": current.get("ScheduleExpressionTimezone", "UTC"), "state": current.get("State", "ENABLED"),
                "created_at": created.isoformat() if created else None}
