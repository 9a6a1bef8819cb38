"""Builds python-quickbooks clients for one connection from a stored, valid access token.

Why a template AuthClient: intuit-oauth fetches the discovery document on every AuthClient construction; one
template per container (built lazily) is copied per connection so a cold start pays that call once.
Why never `enable_global()` and never a missing access token: see docs/decisions.md (cross-tenant leak and a
silent refresh that would bypass the refresh lease)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests
from intuitlib.client import AuthClient
from quickbooks import QuickBooks

MINOR_VERSION = 75
_lock = threading.Lock()
_templates: dict[tuple[str, str, str], AuthClient] = {}
_SESSION_FIELDS = frozenset(requests.Session.__attrs__)


@dataclass(frozen=True)
class IntuitApp:
    client_id: str
    client_secret: str
    redirect_uri: str
    discovery_url: str
    api_url: str


def auth_client(app: IntuitApp, *, access_token: str | None = None, refresh_token: str | None = None,
                realm_id: str | None = None) -> AuthClient:
    key = (app.client_id, app.discovery_url, app.redirect_uri)
    with _lock:
        template = _templates.get(key)
        if template is None:
            template = AuthClient(app.client_id, app.client_secret, app.redirect_uri, app.discovery_url)
            _templates[key] = template
    # AuthClient is a requests.Session, whose pickling protocol (used by copy) keeps only the session's own fields;
    # a fresh session carrying the template's OAuth fields gives each connection its own connection pool too.
    client = AuthClient.__new__(AuthClient)
    requests.Session.__init__(client)
    for name, value in vars(template).items():
        if name not in _SESSION_FIELDS:
            setattr(client, name, value)
    client.access_token, client.refresh_token, client.realm_id = access_token, refresh_token, realm_id
    client.state_token = None
    return client


class StatusRecorder:
    """A requests response hook: python-quickbooks turns QuickBooks' XML 429 body into a generic 'Error reading json
    response' (code 10000); the recorded status lets the adapter classify the failure by type instead of text.
    Kept per thread: the lanes (shared/domain/lanes.py) send on several threads through one client, and a hook runs
    on the thread that sent the request."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def last_status(self) -> int | None:
        return getattr(self._local, "status", None)

    @last_status.setter
    def last_status(self, status: int | None) -> None:
        self._local.status = status

    def __call__(self, response, *args, **kwargs):
        self.last_status = response.status_code
        return response


def quickbooks_client(app: IntuitApp, *, access_token: str, realm_id: str) -> tuple[QuickBooks, StatusRecorder]:
    if not access_token:
        raise ValueError("a QuickBooks client needs a valid access token (the library would refresh on its own)")
    qb = QuickBooks(auth_client=auth_client(app, access_token=access_token, realm_id=realm_id),
                    company_id=realm_id, minorversion=MINOR_VERSION, use_decimal=True)
    qb.sandbox = False
    qb.api_url_v3 = app.api_url.rstrip("/")
    recorder = StatusRecorder()
    qb.session.hooks["response"].append(recorder)
    return qb, recorder
