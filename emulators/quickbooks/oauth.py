"""Intuit's OAuth 2.0 server as clients see it: authorization codes, the bearer token endpoint with refresh-token
rotation and a grace period, revocation, and access-token checks for the API.

Facts (qbo-facts.md "OAuth 2.0"): access tokens last 3600 s; refresh tokens roll for 100 days
(`x_refresh_token_expires_in` 8726400, oauth-token-response.json); a rotated-away refresh token keeps working for
about 24 h; a retired one gives `invalid_grant`; a reused authorization code poisons the grant; accounting-scope
grants end after at most 5 years (`x_refresh_token_hard_expires_in` on request). Tokens are opaque random strings,
each access token bound to the one realm its grant was issued for."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

ACCESS_TTL = 3600
REFRESH_TTL = 8726400
HARD_TTL = 5 * 365 * 86400
REFRESH_GRACE = 86400
CODE_TTL = 600  # not documented by Intuit; long enough for a person to click through, short enough to matter


class OAuthError(Exception):
    """An RFC 6749 error answer: `{"error": ..., "error_description": ...}` (oauth-token-error-invalid-grant.json)."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(f"{error}: {description}")
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict:
        return {"error_description": self.description, "error": self.error}


@dataclass(frozen=True)
class AccessCheck:
    realm_id: str | None
    reason: str  # empty when valid


class OAuthStore:
    def __init__(self) -> None:
        self.clients: dict[str, str] = {"local-client-id": "local-client-secret"}
        self.codes: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}
        self.access: dict[str, dict] = {}  # token -> {"grant", "expires"}
        self.refresh: dict[str, dict] = {}  # token -> {"grant", "issued", "superseded"}
        self.refresh_grace = REFRESH_GRACE
        self.access_ttl = ACCESS_TTL

    # -- clients and codes ----------------------------------------------------------------------------------------
    def register_client(self, client_id: str, client_secret: str) -> None:
        self.clients[client_id] = client_secret

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        known = self.clients.get(client_id)
        return known is not None and secrets.compare_digest(known.encode(), client_secret.encode())

    def issue_code(self, client_id: str, redirect_uri: str, realm_id: str, now: float) -> str:
        code = f"AB11{secrets.token_urlsafe(30)}"
        self.codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri, "realm_id": realm_id,
                            "issued": now, "grant": None}
        return code

    # -- token endpoint -------------------------------------------------------------------------------------------
    def exchange_code(self, client_id: str, code: str, redirect_uri: str, now: float, hard: bool) -> dict:
        entry = self.codes.get(code)
        if entry is None or entry["client_id"] != client_id:
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if entry["grant"] is not None:
            # A replayed code means it leaked or a client retried blindly: the grant it produced is revoked too.
            self.revoke_grant(entry["grant"])
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if now - entry["issued"] > CODE_TTL:
            raise OAuthError(400, "invalid_grant", "Token expired")
        if redirect_uri != entry["redirect_uri"]:
            raise OAuthError(400, "invalid_grant", "Redirect URI mismatch")
        grant_id = secrets.token_hex(8)
        entry["grant"] = grant_id
        self.grants[grant_id] = {"client_id": client_id, "realm_id": entry["realm_id"], "created": now,
                                 "revoked": False, "access": None, "refresh": None}
        self._new_access(grant_id, now)
        self._new_refresh(grant_id, now)
        return self._token_body(grant_id, now, hard)

    def refresh_grant(self, client_id: str, token: str, now: float, hard: bool) -> dict:
        entry = self.refresh.get(token)
        grant = self.grants.get(entry["grant"]) if entry else None
        if entry is None or grant is None or grant["revoked"] or grant["client_id"] != client_id:
            raise OAuthError(400, "invalid_grant", "Token invalid")
        if now >= entry["issued"] + REFRESH_TTL or now >= grant["created"] + HARD_TTL:
            raise OAuthError(400, "invalid_grant", "Token expired")
        if entry["superseded"] is not None:
            if now - entry["superseded"] > self.refresh_grace:
                raise OAuthError(400, "invalid_grant", "Token invalid")
            # Within the grace period a retired value answers with the grant's current pair, so a client that lost
            # the rotated response can recover it; an expired current access token is replaced first.
            if self.access[grant["access"]]["expires"] <= now:
                self._new_access(entry["grant"], now)
            return self._token_body(entry["grant"], now, hard)
        self._new_access(entry["grant"], now)
        self._new_refresh(entry["grant"], now)
        return self._token_body(entry["grant"], now, hard)

    def revoke_token(self, client_id: str, token: str) -> None:
        """Revoking either token of a grant ends the whole grant (a disconnect)."""
        entry = self.refresh.get(token) or self.access.get(token)
        if entry is None:
            return
        grant = self.grants.get(entry["grant"])
        if grant is not None and grant["client_id"] == client_id:
            self.revoke_grant(entry["grant"])

    def revoke_grant(self, grant_id: str) -> None:
        if grant_id in self.grants:
            self.grants[grant_id]["revoked"] = True

    # -- API checks -----------------------------------------------------------------------------------------------
    def check_access(self, token: str, now: float) -> AccessCheck:
        entry = self.access.get(token)
        grant = self.grants.get(entry["grant"]) if entry else None
        if entry is None or grant is None:
            return AccessCheck(None, "Token invalid")
        if grant["revoked"]:
            return AccessCheck(None, "Token revoked")
        if now >= entry["expires"]:
            return AccessCheck(None, f"Token expired: {token[:20]}")
        return AccessCheck(grant["realm_id"], "")

    def grants_for_realm(self, realm_id: str) -> list[dict]:
        return [{"grant_id": gid, **{k: g[k] for k in ("client_id", "realm_id", "created", "revoked")}}
                for gid, g in self.grants.items() if g["realm_id"] == realm_id]

    # -- internals ------------------------------------------------------------------------------------------------
    def _new_access(self, grant_id: str, now: float) -> None:
        token = secrets.token_urlsafe(48)
        self.access[token] = {"grant": grant_id, "expires": now + self.access_ttl}
        self.grants[grant_id]["access"] = token

    def _new_refresh(self, grant_id: str, now: float) -> None:
        grant = self.grants[grant_id]
        if grant["refresh"] is not None:
            self.refresh[grant["refresh"]]["superseded"] = now
        token = f"RT1-{secrets.token_urlsafe(36)}"
        self.refresh[token] = {"grant": grant_id, "issued": now, "superseded": None}
        grant["refresh"] = token

    def _token_body(self, grant_id: str, now: float, hard: bool) -> dict:
        grant = self.grants[grant_id]
        access, refresh = self.access[grant["access"]], self.refresh[grant["refresh"]]
        body = {"token_type": "bearer", "access_token": grant["access"],
                "expires_in": max(0, int(access["expires"] - now)), "refresh_token": grant["refresh"],
                "x_refresh_token_expires_in": max(0, int(refresh["issued"] + REFRESH_TTL - now))}
        if hard:
            body["x_refresh_token_hard_expires_in"] = max(0, int(grant["created"] + HARD_TTL - now))
        return body

    # -- persistence ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"clients": self.clients, "codes": self.codes, "grants": self.grants, "access": self.access,
                "refresh": self.refresh, "refresh_grace": self.refresh_grace, "access_ttl": self.access_ttl}

    @classmethod
    def from_json(cls, doc: dict) -> OAuthStore:
        store = cls()
        for key in ("clients", "codes", "grants", "access", "refresh"):
            getattr(store, key).update(doc.get(key) or {})
        for records in (store.codes, store.grants, store.access, store.refresh):
            for record in records.values():  # times come back as Decimal from an exact-decimal file
                for field in ("issued", "created", "expires", "superseded"):
                    if record.get(field) is not None:
                        record[field] = float(record[field])
        store.refresh_grace = float(doc.get("refresh_grace", REFRESH_GRACE))
        store.access_ttl = float(doc.get("access_ttl", ACCESS_TTL))
        return store

    def reset(self) -> None:
        fresh = OAuthStore()
        self.clients, self.codes, self.grants = fresh.clients, fresh.codes, fresh.grants
        self.access, self.refresh = fresh.access, fresh.refresh
