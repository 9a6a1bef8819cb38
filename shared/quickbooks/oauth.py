"""intuit-oauth behind a small provider: authorization URL, code exchange, refresh, revoke."""

from __future__ import annotations

import time

from intuitlib.enums import Scopes
from intuitlib.exceptions import AuthClientError

from shared.quickbooks.client import IntuitApp, auth_client
from shared.quickbooks.errors import Throttled, Unavailable
from shared.quickbooks.tokens import GrantRevoked, TokenSet

# Asks Intuit for `x_refresh_token_hard_expires_in`, the seconds left before the grant's 5-year cap (qbo-facts, OAuth;
# fixtures/qbo/oauth-token-response-hard-expiry.json). intuit-oauth sends its requests through the AuthClient's own
# requests.Session, so a session header reaches the token endpoint without patching the library.
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"


class IntuitOAuth:
    def __init__(self, app: IntuitApp, clock=time.time):
        self._app, self._clock = app, clock

    def authorization_url(self, state: str) -> str:
        return auth_client(self._app).get_authorization_url([Scopes.ACCOUNTING], state_token=state)

    def exchange(self, code: str, realm_id: str) -> TokenSet:
        client = auth_client(self._app)
        client.headers[HARD_EXPIRY_HEADER] = "true"
        try:
            client.get_bearer_token(code, realm_id=realm_id)
        except AuthClientError as exc:
            raise GrantRevoked(_oauth_error(exc)) from None
        return self._tokens(client)

    def refresh(self, refresh_token: str) -> TokenSet:
        client = auth_client(self._app)
        client.headers[HARD_EXPIRY_HEADER] = "true"
        try:
            client.refresh(refresh_token=refresh_token)
        except AuthClientError as exc:
            if exc.status_code in (400, 401) and _oauth_error(exc) in ("invalid_grant", "invalid_client"):
                raise GrantRevoked(_oauth_error(exc)) from None
            if exc.status_code == 429:
                raise Throttled("3001", "Intuit's token endpoint is throttling", "", 429) from None
            if exc.status_code >= 500:
                # A token endpoint outage is the run's to wait out, like any QuickBooks 5xx; the grant is intact.
                raise Unavailable(str(exc.status_code), "Intuit's token endpoint is unavailable", "",
                                  exc.status_code) from None
            raise
        return self._tokens(client)

    def revoke(self, token: str) -> None:
        auth_client(self._app).revoke(token=token)

    def _tokens(self, client) -> TokenSet:
        now = self._clock()
        refresh_in = getattr(client, "x_refresh_token_expires_in", None)
        hard_in = getattr(client, "x_refresh_token_hard_expires_in", None)
        return TokenSet(client.access_token, client.refresh_token, now + float(client.expires_in or 3600),
                        now + float(refresh_in) if refresh_in else None,
                        now + float(hard_in) if hard_in is not None else None)


def _oauth_error(exc: AuthClientError) -> str:
    try:
        return str(exc.response.json().get("error", ""))
    except ValueError:
        return ""
