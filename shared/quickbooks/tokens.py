"""Token use: a valid access token per connection, refreshed at most once at a time across all Lambdas.

The refresh is serialized by a lease on the token item (conditional write). The winner refreshes with Intuit and
writes the rotated pair with a condition on its lease, so the newest refresh token is never lost; a loser waits for
the generation to move and re-reads instead of refreshing again (a second refresh would retire the first result)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from shared.errors import NeedsReconnect, NotConnected

REFRESH_SKEW_S = 300
LEASE_S = 20


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    access_expires_at: float
    refresh_expires_at: float | None = None
    hard_expires_at: float | None = None  # the grant's 5-year cap: no refresh works after it (qbo-facts, OAuth)

    def __repr__(self) -> str:  # never print a token, even in a traceback or a test failure
        return (f"TokenSet(access_expires_at={self.access_expires_at}, refresh_expires_at={self.refresh_expires_at}, "
                f"hard_expires_at={self.hard_expires_at})")


@dataclass(frozen=True)
class StoredTokens:
    tenant_id: str
    realm_id: str
    tokens: TokenSet
    generation: int
    lease_owner: str | None = None
    lease_until: float | None = None


class TokenStore(Protocol):
    def load(self, tenant_id: str) -> StoredTokens | None: ...
    def put_new(self, tenant_id: str, realm_id: str, tokens: TokenSet) -> None: ...
    def try_lease(self, tenant_id: str, owner: str, now: float, until: float) -> bool: ...
    def save_refreshed(self, tenant_id: str, owner: str, tokens: TokenSet) -> bool: ...
    def release(self, tenant_id: str, owner: str) -> None: ...
    def delete(self, tenant_id: str) -> None: ...
    def expire_access(self, tenant_id: str) -> None: ...


class GrantRevoked(Exception):
    """Intuit answered invalid_grant: the refresh token is retired, expired or revoked."""


class OAuthProvider(Protocol):
    def refresh(self, refresh_token: str) -> TokenSet: ...


class TokenService:
    def __init__(self, store: TokenStore, provider: OAuthProvider, on_grant_lost: Callable[[str, str], None],
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 wait_s: float = 15.0):
        self._store, self._provider, self._on_grant_lost = store, provider, on_grant_lost
        self._clock, self._sleep, self._wait_s = clock, sleep, wait_s

    def access(self, tenant_id: str) -> tuple[str, str]:
        """(access token, realm id) valid for at least REFRESH_SKEW_S seconds."""
        current = self._load(tenant_id)
        if self._fresh(current):
            return current.tokens.access_token, current.realm_id
        owner = uuid.uuid4().hex
        deadline = self._clock() + self._wait_s
        while True:
            now = self._clock()
            if self._store.try_lease(tenant_id, owner, now, now + LEASE_S):
                return self._refresh_under_lease(tenant_id, owner)
            self._sleep(0.05)
            current = self._load(tenant_id)
            if self._fresh(current):
                return current.tokens.access_token, current.realm_id
            if self._clock() > deadline:
                raise TimeoutError("token refresh lease not obtained in time")

    def distrust(self, tenant_id: str) -> None:
        """After a 401 on a token that should be valid (the grant was revoked in QuickBooks, or the token is bad):
        the next `access` refreshes, which either heals it or finds `invalid_grant` and marks the connection."""
        self._store.expire_access(tenant_id)

    def _refresh_under_lease(self, tenant_id: str, owner: str) -> tuple[str, str]:
        try:
            current = self._load(tenant_id)  # another container may have refreshed between our read and the lease
            if self._fresh(current):
                return current.tokens.access_token, current.realm_id
            try:
                refreshed = self._provider.refresh(current.tokens.refresh_token)
            except GrantRevoked:
                self._on_grant_lost(tenant_id, "invalid_grant")
                raise NeedsReconnect("QuickBooks refused the stored grant; an admin must reconnect") from None
            if refreshed.refresh_expires_at is None:
                refreshed = replace(refreshed, refresh_expires_at=current.tokens.refresh_expires_at)
            if refreshed.hard_expires_at is None:
                refreshed = replace(refreshed, hard_expires_at=current.tokens.hard_expires_at)
            if not self._store.save_refreshed(tenant_id, owner, refreshed):
                raise RuntimeError("refresh lease lost before the rotated tokens were stored")
            return refreshed.access_token, current.realm_id
        finally:
            self._store.release(tenant_id, owner)

    def _load(self, tenant_id: str) -> StoredTokens:
        stored = self._store.load(tenant_id)
        if stored is None:
            raise NotConnected("no QuickBooks connection for this tenant")
        return stored

    def _fresh(self, stored: StoredTokens) -> bool:
        return stored.tokens.access_expires_at - REFRESH_SKEW_S > self._clock()
