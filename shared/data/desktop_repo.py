"""QuickBooks Desktop storage: the connection and its login, Web Connector sessions, and the per-connection work
queue (item layouts in shared/data/models.py). The queue lives in the sync_runs table under the tenant's key, so one
Query in sort-key order returns the work in the order the drain must do it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from shared.data.models import DesktopConnectionItem, DesktopLoginItem, DesktopSessionItem, DesktopWorkItem

SESSION_TTL = timedelta(hours=6)
QUEUE_PREFIX = "QBDQ#"
STATE_ATTEMPTS = 10  # writers of one connection's state are a session and an admin: a conflict is rare and short


def _tenant(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkItem:
    tenant_id: str
    sk: str
    kind: str
    payload: dict
    status: str
    mode: str
    attempts: int
    run_id: str | None

    @property
    def key(self) -> str:
        return self.sk.removeprefix(QUEUE_PREFIX)


def _work(i: DesktopWorkItem) -> WorkItem:
    return WorkItem(tenant_id=i.pk.removeprefix("TENANT#"), sk=i.sk, kind=i.kind, payload=dict(i.payload or {}),
                    status=i.status, mode=i.mode or "write", attempts=int(i.attempts or 0), run_id=i.run_id)


class DesktopRepo:
    # -- connection and login --------------------------------------------------------------------------------------
    def create_connection(self, tenant_id: str, user_name: str, owner_id: str, file_id: str,
                          password_hash: str) -> bool:
        """Both items or neither; False when the tenant already has a Desktop connection."""
        connection = Connection(region=DesktopConnectionItem.Meta.region)  # type: ignore[attr-defined]  # bind_tables
        try:
            with TransactWrite(connection=connection) as tx:
                tx.save(DesktopConnectionItem(_tenant(tenant_id), "DESKTOP", tenant_id=tenant_id, user_name=user_name,
                                              owner_id=owner_id, file_id=file_id, created_at=_now(), state={}),
                        condition=DesktopConnectionItem.pk.does_not_exist())
                tx.save(DesktopLoginItem(f"QBWCUSER#{user_name}", "DESKTOP", tenant_id=tenant_id,
                                         password_hash=password_hash),
                        condition=DesktopLoginItem.pk.does_not_exist())
        except TransactWriteError as exc:
            if "ConditionalCheckFailed" in str(getattr(exc, "cause_response_code", "")) or \
                    getattr(exc, "cancellation_reasons", None):
                return False
            raise
        return True

    def connection(self, tenant_id: str) -> DesktopConnectionItem | None:
        try:
            return DesktopConnectionItem.get(_tenant(tenant_id), "DESKTOP", consistent_read=True)
        except DesktopConnectionItem.DoesNotExist:
            return None

    def login(self, user_name: str) -> DesktopLoginItem | None:
        try:
            return DesktopLoginItem.get(f"QBWCUSER#{user_name}", "DESKTOP", consistent_read=True)
        except DesktopLoginItem.DoesNotExist:
            return None

    def set_password(self, user_name: str, password_hash: str) -> None:
        DesktopLoginItem(f"QBWCUSER#{user_name}", "DESKTOP").update(
            actions=[DesktopLoginItem.password_hash.set(password_hash)], condition=DesktopLoginItem.pk.exists())

    def update_connection(self, tenant_id: str, **fields) -> None:
        """Set these attributes; `state` only through change_state, whose write is conditional on what it read."""
        if "state" in fields:
            raise TypeError("the connection's state changes only through change_state")
        actions = [getattr(DesktopConnectionItem, name).set(value) for name, value in fields.items()]
        DesktopConnectionItem(_tenant(tenant_id), "DESKTOP").update(actions=actions,
                                                                     condition=DesktopConnectionItem.pk.exists())

    def change_state(self, tenant_id: str, change: Callable[[dict], dict], **fields) -> dict:
        """Read-modify-write of the connection's `state` (cursors, open runs, review, lists), conditional on the
        version read, so a Web Connector session and an admin action changing different keys at once both land: the
        loser reads again and re-applies its `change` (a pure function of the state it is given). `fields` are set
        in the same write. Returns the state written."""
        for _ in range(STATE_ATTEMPTS):
            item = self.connection(tenant_id)
            if item is None:
                raise LookupError(f"no Desktop connection for tenant {tenant_id}")
            version = item.state_version
            state = change(dict(item.state or {}))
            actions: list[Action] = [DesktopConnectionItem.state.set(state),
                                     DesktopConnectionItem.state_version.set((version or 0) + 1)]
            actions += [getattr(DesktopConnectionItem, name).set(value) for name, value in fields.items()]
            read_version = (DesktopConnectionItem.state_version.does_not_exist() if version is None
                            else DesktopConnectionItem.state_version == version)
            try:
                item.update(actions=actions, condition=DesktopConnectionItem.pk.exists() & read_version)
                return state
            except UpdateError as exc:
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"the Desktop connection state of tenant {tenant_id} kept changing under us")

    # -- sessions -------------------------------------------------------------------------------------------------
    def open_session(self, ticket: str, tenant_id: str) -> None:
        DesktopSessionItem(f"QBWC#{ticket}", "SESSION", tenant_id=tenant_id, ttl=SESSION_TTL, done=0,
                           facts={}).save(condition=DesktopSessionItem.pk.does_not_exist())

    def session(self, ticket: str) -> DesktopSessionItem | None:
        try:
            return DesktopSessionItem.get(f"QBWC#{ticket}", "SESSION", consistent_read=True)
        except DesktopSessionItem.DoesNotExist:
            return None

    def save_session(self, item: DesktopSessionItem) -> None:
        item.save()

    # -- work queue -----------------------------------------------------------------------------------------------
    def enqueue(self, tenant_id: str, order: int, key: str, kind: str, payload: dict,
                run_id: str | None = None) -> bool:
        """Add once: the same `key` at the same `order` is never queued twice (False when it already waits)."""
        try:
            DesktopWorkItem(_tenant(tenant_id), f"{QUEUE_PREFIX}{order:02d}#{key}", kind=kind, payload=payload,
                            status="pending", mode="write", attempts=0, run_id=run_id,
                            created_at=_now()).save(condition=DesktopWorkItem.sk.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def work(self, tenant_id: str, *, include_failed: bool = False, limit: int | None = None) -> list[WorkItem]:
        out = []
        for i in DesktopWorkItem.query(_tenant(tenant_id), DesktopWorkItem.sk.startswith(QUEUE_PREFIX),
                                       consistent_read=True):
            if i.status == "failed" and not include_failed:
                continue
            out.append(_work(i))
            if limit and len(out) >= limit:
                break
        return out

    def get_work(self, tenant_id: str, sk: str) -> WorkItem | None:
        try:
            return _work(DesktopWorkItem.get(_tenant(tenant_id), sk, consistent_read=True))
        except DesktopWorkItem.DoesNotExist:
            return None

    def update_work(self, item: WorkItem, **fields) -> None:
        for name, value in fields.items():
            setattr(item, name, value)
        DesktopWorkItem(_tenant(item.tenant_id), item.sk).update(
            actions=[getattr(DesktopWorkItem, name).set(value) for name, value in fields.items()],
            condition=DesktopWorkItem.sk.exists())

    def finish_work(self, item: WorkItem) -> None:
        DesktopWorkItem(_tenant(item.tenant_id), item.sk).delete()
