"""Connections and OAuth states in the connections table, converted to domain objects at this boundary."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from pynamodb.exceptions import DeleteError, UpdateError

from shared.data.models import ConnectionItem, StateItem
from shared.domain.connections import Connection

SK = "CONNECTION"


def _pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _to_domain(item: ConnectionItem) -> Connection:
    return Connection(tenant_id=item.tenant_id, status=item.status, realm_id=item.realm_id,
                      company_name=item.company_name, connected_at=item.connected_at,
                      disconnected_at=item.disconnected_at, last_sync_at=item.last_sync_at,
                      attention=list(item.attention or []), onboarding=item.onboarding)


class DynamoConnectionRepo:
    def get(self, tenant_id: str) -> Connection | None:
        try:
            return _to_domain(ConnectionItem.get(_pk(tenant_id), SK, consistent_read=True))
        except ConnectionItem.DoesNotExist:
            return None

    def by_realm(self, realm_id: str) -> list[Connection]:
        return [_to_domain(i) for i in ConnectionItem.by_realm.query(realm_id)]

    def save(self, c: Connection) -> None:
        ConnectionItem(_pk(c.tenant_id), SK, tenant_id=c.tenant_id, status=c.status, realm_id=c.realm_id,
                       company_name=c.company_name, connected_at=c.connected_at, disconnected_at=c.disconnected_at,
                       last_sync_at=c.last_sync_at, attention=c.attention or None, onboarding=c.onboarding).save()

    def update_onboarding(self, tenant_id: str, onboarding: dict) -> None:
        ConnectionItem(_pk(tenant_id), SK).update(actions=[ConnectionItem.onboarding.set(onboarding)],
                                                  condition=ConnectionItem.pk.exists())

    def mark_synced(self, tenant_id: str, at: datetime) -> None:
        """A sync run finished at `at` (the status page's "last sync"); an older run finishing late never moves it
        back. Called by the sync engine."""
        try:
            ConnectionItem(_pk(tenant_id), SK).update(
                actions=[ConnectionItem.last_sync_at.set(at)],
                condition=ConnectionItem.pk.exists() & (ConnectionItem.last_sync_at.does_not_exist()
                                                        | (ConnectionItem.last_sync_at < at)))
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    def put_state(self, nonce: str, tenant_id: str, expires_at: int) -> None:
        StateItem(f"STATE#{nonce}", "STATE", tenant_id=tenant_id, expires_at=expires_at,
                  ttl=datetime.fromtimestamp(expires_at + 3600, UTC)).save(condition=StateItem.pk.does_not_exist())

    def consume_state(self, nonce: str) -> str | None:
        """Delete-if-present: exactly one callback can consume a state."""
        try:
            item = StateItem.get(f"STATE#{nonce}", "STATE", consistent_read=True)
            item.delete(condition=StateItem.pk.exists())
        except (StateItem.DoesNotExist, DeleteError):
            return None
        return item.tenant_id if item.expires_at >= time.time() else None
