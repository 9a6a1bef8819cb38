"""Helpers for the QuickBooks emulator tests: the OAuth round trip and clients built the way production builds them."""

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks

from shared.quickbooks.adapter import QuickBooksAdapter
from shared.quickbooks.client import MINOR_VERSION, StatusRecorder

# requests-oauthlib (under python-quickbooks) refuses plain http; the emulator is served on http://127.0.0.1.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbo"
CLIENT_ID, CLIENT_SECRET = "local-client-id", "local-client-secret"
REDIRECT = "http://127.0.0.1:9/oauth/callback"
_names = itertools.count(1)


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class ManualClock:
    """An injectable clock the tests move by hand (token expiry, throttle windows, CDC look-back)."""

    def __init__(self, start: float = 1_780_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Connected:
    url: str
    realm: str
    auth: AuthClient
    qb: QuickBooks
    adapter: QuickBooksAdapter
    recorder: object

    def raw(self, method: str, path: str, **kwargs) -> requests.Response:
        """A request with this connection's token, outside python-quickbooks (status codes, exact bodies)."""
        headers = {"Authorization": f"Bearer {self.auth.access_token}", "Accept": "application/json",
                   **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/v3/company/{self.realm}/{path}", headers=headers, timeout=10,
                                **kwargs)


def new_realm(url: str, **body) -> str:
    body.setdefault("company_name", f"Test Company {next(_names)}")
    response = requests.post(f"{url}/_emulator/realms", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["realm_id"]


def auth_client(url: str) -> AuthClient:
    return AuthClient(CLIENT_ID, CLIENT_SECRET, REDIRECT, f"{url}/.well-known/openid_configuration")


def authorize(url: str, client: AuthClient, realm: str | None = None) -> dict:
    """The consent round trip: follow the authorization URL, read code/state/realmId from the redirect."""
    consent = client.get_authorization_url([Scopes.ACCOUNTING], state_token="st-123")
    if realm:
        consent += f"&realmId={realm}"
    response = requests.get(consent, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def connect(url: str, realm: str) -> Connected:
    client = auth_client(url)
    callback = authorize(url, client, realm)
    client.get_bearer_token(callback["code"], realm_id=callback["realmId"])
    # Built as shared.quickbooks.client.quickbooks_client builds it, from the AuthClient itself: that factory's
    # copy.copy() of the template AuthClient (a requests.Session) drops every attribute but the Session's own.
    qb = QuickBooks(auth_client=client, company_id=realm, minorversion=MINOR_VERSION, use_decimal=True)
    qb.sandbox = False
    qb.api_url_v3 = f"{url}/v3"
    recorder = StatusRecorder()
    qb.session.hooks["response"].append(recorder)
    return Connected(url, realm, client, qb, QuickBooksAdapter(qb, recorder, realm), recorder)


