"""The sync gate: one item per tenant (pk TENANT#{tenant}, sk GATE#sync in the sync-runs table) that is both the
run lock and a counter of changes noted since.

Why one item: "is a run going, and will it see this change?" must be answered atomically. A change is noted with
`ADD changes 1`; the holder records the counter it has read up to (`seen`) when it takes the gate, and gives the gate
up only while `changes == seen`. A change noted after the holder read its side therefore makes the release fail, and
the holder runs again instead of ending: no hint is dropped, and no second run races the first."""

from __future__ import annotations

import time

from pynamodb.exceptions import UpdateError

from shared.data.models import RunItem
from shared.domain.sync_requests import GateState

GATE = "GATE#sync"


def _key(tenant_id: str) -> RunItem:
    return RunItem(f"TENANT#{tenant_id}", GATE)


def _failed_condition(exc: UpdateError) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoSyncGate:
    def __init__(self, clock=time.time):
        self._clock = clock

    def note_change(self, tenant_id: str) -> GateState:
        """Count one change; returns the gate as it is now (a live holder will see the change before it ends)."""
        item = _key(tenant_id)
        item.update(actions=[RunItem.changes.add(1), RunItem.run_id.set(RunItem.run_id | ""),
                             RunItem.kind.set("gate"), RunItem.status.set(RunItem.status | "free"),
                             RunItem.started_at.set(RunItem.started_at | _now())])
        return self._state(item)

    def acquire(self, tenant_id: str, run_id: str, lease_s: int) -> GateState:
        """Take the gate (free, expired, or already ours) and record the changes read from now on as seen. Returns
        the gate; `holder != run_id` means another run holds it."""
        now = self._clock()
        item = _key(tenant_id)
        try:
            item.update(
                actions=[RunItem.run_id.set(run_id), RunItem.lease_until.set(now + lease_s),
                         RunItem.status.set("held"), RunItem.kind.set("gate"),
                         RunItem.changes.set(RunItem.changes | 0), RunItem.seen.set(RunItem.changes | 0),
                         RunItem.started_at.set(_now())],
                condition=(RunItem.sk.does_not_exist() | (RunItem.run_id == run_id) | (RunItem.run_id == "")
                           | RunItem.lease_until.does_not_exist() | (RunItem.lease_until < now)))
        except UpdateError as exc:
            if not _failed_condition(exc):
                raise
            return self.read(tenant_id)
        return self._state(item)

    def renew(self, tenant_id: str, run_id: str, lease_s: int) -> bool:
        """Extend our lease (each task does, so a long run never outlives it); False if the gate is not ours."""
        try:
            _key(tenant_id).update(actions=[RunItem.lease_until.set(self._clock() + lease_s)],
                                   condition=RunItem.run_id == run_id)
        except UpdateError as exc:
            if not _failed_condition(exc):
                raise
            return False
        return True

    def release(self, tenant_id: str, run_id: str, seen: int) -> bool:
        """Give the gate up if no change was noted since `seen`; False means changes arrived: run again."""
        try:
            _key(tenant_id).update(actions=[RunItem.run_id.set(""), RunItem.status.set("free"),
                                            RunItem.lease_until.remove()],
                                   condition=(RunItem.run_id == run_id) & (RunItem.changes == seen))
        except UpdateError as exc:
            if not _failed_condition(exc):
                raise
            return False
        return True

    def abandon(self, tenant_id: str, run_id: str) -> None:
        """A failed run frees the gate whatever was noted: the next trigger (schedule, hint) starts afresh."""
        try:
            _key(tenant_id).update(actions=[RunItem.run_id.set(""), RunItem.status.set("free"),
                                            RunItem.lease_until.remove()],
                                   condition=RunItem.run_id == run_id)
        except UpdateError as exc:
            if not _failed_condition(exc):
                raise

    def read(self, tenant_id: str) -> GateState:
        try:
            item = RunItem.get(f"TENANT#{tenant_id}", GATE, consistent_read=True)
        except RunItem.DoesNotExist:
            return GateState(None, 0, 0)
        return self._state(item)

    def _state(self, item: RunItem) -> GateState:
        live = bool(item.run_id) and item.lease_until is not None and float(item.lease_until) >= self._clock()
        return GateState(item.run_id if live else None, int(item.changes or 0), int(item.seen or 0))


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
