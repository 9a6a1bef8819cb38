"""Connecting a tenant to one QuickBooks company, keeping it connected, and disconnecting (issue 5)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from shared.errors import BadRequest, Conflict, Forbidden, NotConnected, RealmNotGranted
from shared.quickbooks.errors import AuthFailed, QuickBooksError
from shared.quickbooks.tokens import TokenSet, TokenStore

STATE_TTL_S = 600
ADMIN_ROLE = "admin"


class Status:
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    role: str
    subject: str = ""

    def require_admin(self) -> None:
        # The seeds: restricted admins cannot set up the sync.
        if self.role != ADMIN_ROLE:
            raise Forbidden("only full admins can connect, change settings or disconnect QuickBooks")


@dataclass
class Connection:
    tenant_id: str
    status: str
    realm_id: str | None = None
    company_name: str | None = None
    connected_at: datetime | None = None
    disconnected_at: datetime | None = None
    last_sync_at: datetime | None = None
    attention: list[dict] = field(default_factory=list)
    onboarding: dict | None = None

    def public(self) -> dict:
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {"tenant_id": self.tenant_id, "status": self.status, "realm_id": self.realm_id,
                "company_name": self.company_name, "connected_since": iso(self.connected_at),
                "disconnected_at": iso(self.disconnected_at), "last_sync_at": iso(self.last_sync_at),
                "needs_attention": self.attention, "onboarding": self.onboarding}


class ConnectionRepo(Protocol):
    def get(self, tenant_id: str) -> Connection | None: ...
    def by_realm(self, realm_id: str) -> list[Connection]: ...
    def save(self, connection: Connection) -> None: ...
    def mark_synced(self, tenant_id: str, at: datetime) -> None: ...
    def put_state(self, nonce: str, tenant_id: str, expires_at: int) -> None: ...
    def consume_state(self, nonce: str) -> str | None: ...


class OAuthPort(Protocol):
    def authorization_url(self, state: str) -> str: ...
    def exchange(self, code: str, realm_id: str) -> TokenSet: ...
    def revoke(self, token: str) -> None: ...


class SchedulePort(Protocol):
    def upsert(self, tenant_id: str, expression: str, timezone: str) -> None: ...
    def pause(self, tenant_id: str) -> None: ...
    def delete(self, tenant_id: str) -> None: ...
    def describe(self, tenant_id: str) -> dict | None: ...


class SettingsReader(Protocol):
    def get(self, tenant_id: str) -> tuple[dict, int] | None: ...


class ScheduleLifecycle:
    """The tenant's sync schedule follows its connection: created when the integration is enabled, changed with the
    settings, paused while a reconnect is needed, restored on reconnect, deleted on disconnect."""

    def __init__(self, schedules: SchedulePort, settings: SettingsReader):
        self._schedules, self._settings = schedules, settings

    def apply(self, connection: Connection) -> None:
        from shared.domain.settings import SyncSettings, schedule_expression

        if connection.status == Status.DISCONNECTED:
            self._schedules.delete(connection.tenant_id)
            return
        if connection.status == Status.NEEDS_RECONNECT:
            self._schedules.pause(connection.tenant_id)
            return
        stored = self._settings.get(connection.tenant_id)
        if connection.status != Status.CONNECTED or not (connection.onboarding or {}).get("enabled") or not stored:
            return
        expression, timezone = schedule_expression(SyncSettings.model_validate(stored[0]))
        self._schedules.upsert(connection.tenant_id, expression, timezone)

    def in_force(self, tenant_id: str) -> dict | None:
        return self._schedules.describe(tenant_id)


class CompanyReader(Protocol):
    def __call__(self, realm_id: str, access_token: str) -> str | None:
        """The CompanyName of the company the grant is for."""
        ...


class StateSigner:
    """`state` = nonce.tenant.expiry.signature (HMAC-SHA256). The signature binds it to the tenant; the stored nonce
    makes it single-use; the expiry bounds it to minutes. intuit-oauth's own generator uses `random`, so we never
    let it make one."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time):
        self._key, self._clock = key, clock

    def issue(self, tenant_id: str) -> tuple[str, str, int]:
        nonce = secrets.token_urlsafe(18)
        expires = int(self._clock()) + STATE_TTL_S
        tenant = base64.urlsafe_b64encode(tenant_id.encode()).decode().rstrip("=")
        payload = f"{nonce}.{tenant}.{expires}"
        return f"{payload}.{self._sign(payload)}", nonce, expires

    def verify(self, state: str) -> tuple[str, str]:
        try:
            nonce, tenant, expires, sig = state.split(".")
        except ValueError:
            raise BadRequest("the sign-in link is not valid; start the connection again from Settings") from None
        if not hmac.compare_digest(sig, self._sign(f"{nonce}.{tenant}.{expires}")):
            raise BadRequest("the sign-in link is not valid; start the connection again from Settings")
        if not expires.isdigit() or int(expires) < self._clock():
            raise BadRequest("the sign-in link has expired; start the connection again from Settings")
        tenant_id = base64.urlsafe_b64decode(tenant + "=" * (-len(tenant) % 4)).decode()
        return nonce, tenant_id

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


class ConnectionService:
    def __init__(self, repo: ConnectionRepo, tokens: TokenStore, oauth: OAuthPort, schedules: SchedulePort,
                 signer: StateSigner, read_company: CompanyReader, clock: Callable[[], float] = time.time,
                 lifecycle: ScheduleLifecycle | None = None):
        self._repo, self._tokens, self._oauth, self._schedules = repo, tokens, oauth, schedules
        self._signer, self._read_company, self._clock = signer, read_company, clock
        self._lifecycle = lifecycle

    def start_connect(self, caller: Caller) -> str:
        caller.require_admin()
        state, nonce, expires = self._signer.issue(caller.tenant_id)
        self._repo.put_state(nonce, caller.tenant_id, expires)
        return self._oauth.authorization_url(state)

    def complete_connect(self, code: str, state: str, realm_id: str) -> Connection:
        if not code or not state or not realm_id:
            raise BadRequest("QuickBooks did not return the expected parameters; start the connection again")
        nonce, tenant_id = self._signer.verify(state)
        if self._repo.consume_state(nonce) != tenant_id:
            raise BadRequest("this sign-in link was already used; start the connection again from Settings")
        existing = self._repo.get(tenant_id)
        if existing and existing.realm_id and existing.realm_id != realm_id:
            # Links point at the first company's ids; switching silently would duplicate everything.
            raise Conflict(f"this account is linked to the QuickBooks company '{existing.company_name}'. "
                           "Connecting a different company would duplicate records; contact support to move it.")
        others = [c for c in self._repo.by_realm(realm_id)
                  if c.tenant_id != tenant_id and c.status != Status.DISCONNECTED]
        tokens = self._oauth.exchange(code, realm_id)
        if others:
            self._oauth.revoke(tokens.refresh_token)
            raise Conflict("this QuickBooks company is already connected to another account; "
                           "disconnect it there first so records are not synced twice")
        company_name = self._company_or_revoke(realm_id, tokens)
        self._tokens.put_new(tenant_id, realm_id, tokens)
        connection = existing or Connection(tenant_id=tenant_id, status=Status.CONNECTED)
        connection.status, connection.realm_id = Status.CONNECTED, realm_id
        connection.company_name = company_name
        connection.connected_at = datetime.now(UTC)
        connection.disconnected_at = None
        connection.attention = [a for a in connection.attention if a.get("kind") != "reconnect"]
        self._repo.save(connection)
        if self._lifecycle is not None:
            self._lifecycle.apply(connection)  # a reconnect restores the schedule the integration had
        return connection

    def _company_or_revoke(self, realm_id: str, tokens: TokenSet) -> str | None:
        """The name of the company the grant is for. A `realmId` the consent did not grant (a tampered or mixed-up
        callback) is refused by QuickBooks for this token; the grant just exchanged is then revoked, never kept
        half-connected."""
        try:
            return self._read_company(realm_id, tokens.access_token)
        except QuickBooksError as exc:
            self._oauth.revoke(tokens.refresh_token)
            if isinstance(exc, AuthFailed):
                raise RealmNotGranted("QuickBooks did not grant access to the company this sign-in named. Nothing "
                                      "was connected; start the connection again from Settings and choose the "
                                      "company there.") from None
            raise

    def mark_synced(self, tenant_id: str, at: datetime) -> None:
        """A sync run finished: the status page's "last sync". Called by the sync engine."""
        self._repo.mark_synced(tenant_id, at)

    def status(self, caller: Caller) -> Connection:
        connection = self._repo.get(caller.tenant_id)
        if connection is None:
            return Connection(tenant_id=caller.tenant_id, status="not_connected")
        return connection

    def disconnect(self, caller: Caller) -> Connection:
        caller.require_admin()
        connection = self._repo.get(caller.tenant_id)
        if connection is None or connection.status == Status.DISCONNECTED:
            raise NotConnected("QuickBooks is not connected")
        stored = self._tokens.load(caller.tenant_id)
        if stored is not None:
            try:
                self._oauth.revoke(stored.tokens.refresh_token)
            finally:
                self._tokens.delete(caller.tenant_id)
        self._mark_disconnected(connection, Status.DISCONNECTED, None)
        self._schedules.delete(caller.tenant_id)
        return connection

    def grant_lost(self, tenant_id: str, reason: str) -> None:
        """invalid_grant, revocation, or a QuickBooks-initiated disconnect: stop and ask an admin to reconnect."""
        connection = self._repo.get(tenant_id)
        if connection is None:
            return
        self._schedules.pause(tenant_id)
        self._mark_disconnected(connection, Status.NEEDS_RECONNECT, reason)

    def _mark_disconnected(self, connection: Connection, status: str, reason: str | None) -> None:
        connection.status = status
        connection.disconnected_at = datetime.now(UTC)
        if reason:
            connection.attention = [a for a in connection.attention if a.get("kind") != "reconnect"] + [
                {"kind": "reconnect", "reason": reason,
                 "message": "QuickBooks disconnected. Reconnect from Settings > Integrations > QuickBooks Online."}]
        self._repo.save(connection)
