"""In-memory fakes of the ports, with the same conditional semantics as the DynamoDB adapters."""

from __future__ import annotations

import threading
from dataclasses import replace

from shared.domain.connections import Connection
from shared.quickbooks.tokens import GrantRevoked, StoredTokens, TokenSet


class FakeTokenStore:
    def __init__(self):
        self._lock = threading.Lock()
        self.items: dict[str, StoredTokens] = {}

    def load(self, tenant_id):
        with self._lock:
            return self.items.get(tenant_id)

    def put_new(self, tenant_id, realm_id, tokens):
        with self._lock:
            self.items[tenant_id] = StoredTokens(tenant_id, realm_id, tokens, 0)

    def try_lease(self, tenant_id, owner, now, until):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur is None or (cur.lease_until is not None and cur.lease_until >= now):
                return False
            self.items[tenant_id] = replace(cur, lease_owner=owner, lease_until=until)
            return True

    def expire_access(self, tenant_id):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur is not None:
                self.items[tenant_id] = replace(cur, tokens=replace(cur.tokens, access_expires_at=0))

    def save_refreshed(self, tenant_id, owner, tokens):
        with self._lock:
            cur = self.items[tenant_id]
            if cur.lease_owner != owner:
                return False
            self.items[tenant_id] = replace(cur, tokens=tokens, generation=cur.generation + 1)
            return True

    def release(self, tenant_id, owner):
        with self._lock:
            cur = self.items.get(tenant_id)
            if cur and cur.lease_owner == owner:
                self.items[tenant_id] = replace(cur, lease_owner=None, lease_until=None)

    def delete(self, tenant_id):
        with self._lock:
            self.items.pop(tenant_id, None)


class FakeOAuth:
    """Rotates the refresh token on every refresh and retires the old one, like Intuit (without the grace)."""

    def __init__(self, clock):
        self.clock, self.refreshes, self.revoked, self.valid_refresh = clock, 0, [], {"r0"}
        self.exchanged: list[str] = []
        self._lock = threading.Lock()

    def authorization_url(self, state):
        return f"https://appcenter.example/connect?state={state}"

    def exchange(self, code, realm_id):
        self.exchanged.append(code)
        return TokenSet("a-new", "r0", self.clock() + 3600, self.clock() + 8_640_000)

    def refresh(self, refresh_token):
        with self._lock:
            if refresh_token not in self.valid_refresh:
                raise GrantRevoked("invalid_grant")
            self.refreshes += 1
            new = f"r{self.refreshes}"
            self.valid_refresh = {new}
            return TokenSet(f"a{self.refreshes}", new, self.clock() + 3600)

    def revoke(self, token):
        self.revoked.append(token)
        self.valid_refresh.discard(token)


class FakeConnections:
    def __init__(self):
        self.items: dict[str, Connection] = {}
        self.states: dict[str, tuple[str, int]] = {}

    def get(self, tenant_id):
        return self.items.get(tenant_id)

    def by_realm(self, realm_id):
        return [c for c in self.items.values() if c.realm_id == realm_id]

    def save(self, connection):
        self.items[connection.tenant_id] = connection

    def put_state(self, nonce, tenant_id, expires_at):
        self.states[nonce] = (tenant_id, expires_at)

    def consume_state(self, nonce):
        found = self.states.pop(nonce, None)
        return found[0] if found else None


class FakeSchedules:
    def __init__(self):
        self.paused, self.deleted, self.upserts = [], [], []

    def pause(self, tenant_id):
        self.paused.append(tenant_id)

    def delete(self, tenant_id):
        self.deleted.append(tenant_id)

    def upsert(self, tenant_id, expression, timezone):
        self.upserts.append((tenant_id, expression, timezone))


class FakeSyncGate:
    """The sync gate (shared/data/sync_gate.py) in memory, with the same conditions."""

    def __init__(self, clock=lambda: 0.0):
        from shared.domain.sync_requests import GateState

        self._state_type, self._clock, self._lock = GateState, clock, threading.Lock()
        self.items: dict[str, dict] = {}

    def _view(self, item):
        live = bool(item.get("holder")) and item.get("until", -1) >= self._clock()
        return self._state_type(item["holder"] if live else None, item.get("changes", 0), item.get("seen", 0))

    def note_change(self, tenant_id):
        with self._lock:
            item = self.items.setdefault(tenant_id, {"holder": ""})
            item["changes"] = item.get("changes", 0) + 1
            return self._view(item)

    def acquire(self, tenant_id, run_id, lease_s):
        with self._lock:
            item = self.items.setdefault(tenant_id, {"holder": ""})
            now = self._clock()
            if item["holder"] in ("", run_id) or item.get("until", -1) < now:
                item.update(holder=run_id, until=now + lease_s, seen=item.get("changes", 0))
            return self._view(item)

    def renew(self, tenant_id, run_id, lease_s):
        with self._lock:
            item = self.items.get(tenant_id)
            if not item or item["holder"] != run_id:
                return False
            item["until"] = self._clock() + lease_s
            return True

    def release(self, tenant_id, run_id, seen):
        with self._lock:
            item = self.items.get(tenant_id)
            if not item or item["holder"] != run_id or item.get("changes", 0) != seen:
                return False
            item.update(holder="", until=-1)
            return True

    def abandon(self, tenant_id, run_id):
        with self._lock:
            item = self.items.get(tenant_id)
            if item and item["holder"] == run_id:
                item.update(holder="", until=-1)

    def read(self, tenant_id):
        with self._lock:
            return self._view(self.items.get(tenant_id, {"holder": ""}))
