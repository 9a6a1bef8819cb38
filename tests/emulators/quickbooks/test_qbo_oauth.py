"""Intuit's OAuth 2.0 server, driven by unmodified intuit-oauth and python-quickbooks."""

import base64

import pytest
import requests
from intuitlib.exceptions import AuthClientError
from quickbooks.exceptions import AuthorizationException
from quickbooks.objects.customer import Customer

from tests.emulators.quickbooks.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT,
    auth_client,
    authorize,
    connect,
    fixture,
    new_realm,
)

pytestmark = pytest.mark.integration


def _basic(client_id=CLIENT_ID, secret=CLIENT_SECRET):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_discovery_document_has_intuits_shape_and_points_here(emulator):
    _, url = emulator
    doc = requests.get(f"{url}/.well-known/openid_configuration", timeout=5).json()
    assert set(doc) == set(fixture("oauth-discovery-production.json"))
    assert doc["authorization_endpoint"] == f"{url}/connect/oauth2"
    assert doc["token_endpoint"] == f"{url}/oauth2/v1/tokens/bearer"
    assert doc["revocation_endpoint"] == f"{url}/oauth2/v1/tokens/revoke"
    client = auth_client(url)  # intuit-oauth reads it on construction
    assert client.token_endpoint == doc["token_endpoint"] and client.jwks_uri == doc["jwks_uri"]


def test_authorize_code_tokens_and_an_api_call(emulator):
    _, url = emulator
    realm = new_realm(url)
    client = auth_client(url)
    callback = authorize(url, client, realm)
    assert callback["state"] == "st-123" and callback["realmId"] == realm and callback["code"]
    client.get_bearer_token(callback["code"], realm_id=realm)
    assert client.expires_in == 3600 and client.x_refresh_token_expires_in == 8726400
    assert client.access_token and client.refresh_token and client.access_token != client.refresh_token
    conn = connect(url, realm)
    assert Customer.count(qb=conn.qb) == 5


def test_token_response_shape_and_hard_expiry_header(emulator):
    _, url = emulator
    realm = new_realm(url, seed=False)
    code = authorize(url, auth_client(url), realm)["code"]
    response = requests.post(f"{url}/oauth2/v1/tokens/bearer", headers={
        **_basic(), "x-include-refresh-token-hard-expires-in": "true"},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}, timeout=5)
    body = response.json()
    expected = set(fixture("oauth-token-response-hard-expiry.json"))
    assert response.status_code == 200 and set(body) == expected
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert 0 < body["x_refresh_token_hard_expires_in"] <= 5 * 365 * 86400


def test_consent_without_realm_picks_the_first_company(emulator):
    app, url = emulator
    callback = authorize(url, auth_client(url))
    assert callback["realmId"] == next(iter(app.state.companies))


def test_refresh_rotates_and_the_old_value_works_for_the_grace_period(clocked):
    _, url, clock = clocked
    realm = new_realm(url)
    client = auth_client(url)
    client.get_bearer_token(authorize(url, client, realm)["code"], realm_id=realm)
    first_access, first_refresh = client.access_token, client.refresh_token
    clock.now += 3000
    client.refresh()
    second_access, second_refresh = client.access_token, client.refresh_token
    assert second_refresh != first_refresh and second_access != first_access
    # A client that lost the rotated answer retries with the old value and gets the current pair back.
    clock.now += 600
    client.refresh(refresh_token=first_refresh)
    assert (client.access_token, client.refresh_token) == (second_access, second_refresh)
    # Past the grace period (about 24 h) the old value is retired: invalid_grant, as Intuit answers it.
    clock.now += 86400
    with pytest.raises(AuthClientError) as raised:
        client.refresh(refresh_token=first_refresh)
    assert raised.value.status_code == 400
    assert raised.value.response.json() == fixture("oauth-token-error-invalid-grant.json")
    client.refresh(refresh_token=second_refresh)  # the current value still works
    assert client.refresh_token not in (first_refresh, second_refresh)


def test_access_tokens_expire_after_an_hour(clocked):
    _, url, clock = clocked
    conn = connect(url, new_realm(url))
    clock.now += 3599
    assert conn.raw("GET", "preferences").status_code == 200
    clock.now += 2
    response = conn.raw("GET", "preferences")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body, shape = response.json(), fixture("fault-401-authentication-failed.json")
    assert set(body) == set(shape) and body["fault"]["error"][0]["code"] == "3200"
    assert body["fault"]["error"][0]["detail"].startswith("Token expired: ")
    with pytest.raises(AuthorizationException):  # python-quickbooks does not refresh on its own
        Customer.all(qb=conn.qb)


def test_a_reused_code_fails_and_revokes_the_grant_it_produced(emulator):
    _, url = emulator
    realm = new_realm(url)
    client = auth_client(url)
    code = authorize(url, client, realm)["code"]
    client.get_bearer_token(code, realm_id=realm)
    issued = client.access_token, client.refresh_token
    with pytest.raises(AuthClientError) as raised:
        auth_client(url).get_bearer_token(code, realm_id=realm)
    assert raised.value.status_code == 400 and raised.value.response.json()["error"] == "invalid_grant"
    headers = {"Authorization": f"Bearer {issued[0]}"}
    assert requests.get(f"{url}/v3/company/{realm}/preferences", headers=headers, timeout=5).status_code == 401
    with pytest.raises(AuthClientError):
        client.refresh(refresh_token=issued[1])


def test_revoke_ends_the_whole_grant(emulator):
    _, url = emulator
    conn = connect(url, new_realm(url))
    assert Customer.count(qb=conn.qb) == 5
    assert conn.auth.revoke(token=conn.auth.refresh_token) is True
    with pytest.raises(AuthorizationException) as raised:
        Customer.count(qb=conn.qb)
    assert raised.value.error_code == 401 and '"3200"' in raised.value.detail
    with pytest.raises(AuthClientError):
        conn.auth.refresh()


def test_client_authentication_and_realm_binding(emulator):
    _, url = emulator
    realm, other = new_realm(url), new_realm(url)
    code = authorize(url, auth_client(url), realm)["code"]
    refused = requests.post(f"{url}/oauth2/v1/tokens/bearer", headers=_basic(secret="wrong"),
                            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
                            timeout=5)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    conn = connect(url, realm)
    # An access token is bound to the company it was granted for.
    foreign = requests.get(f"{url}/v3/company/{other}/preferences",
                           headers={"Authorization": f"Bearer {conn.auth.access_token}"}, timeout=5)
    assert foreign.status_code == 403 and foreign.json()["fault"]["error"][0]["code"] == "3100"
    missing = requests.get(f"{url}/v3/company/{realm}/preferences", timeout=5)
    assert missing.status_code == 401


def test_registered_clients_only(emulator):
    _, url = emulator
    assert requests.get(f"{url}/connect/oauth2", params={"client_id": "nobody", "redirect_uri": REDIRECT,
                                                         "response_type": "code"}, timeout=5).status_code == 400
    requests.post(f"{url}/_emulator/oauth/clients", json={"client_id": "app-2", "client_secret": "s2"},
                  timeout=5).raise_for_status()
    response = requests.get(f"{url}/connect/oauth2", params={"client_id": "app-2", "redirect_uri": REDIRECT,
                                                             "response_type": "code", "state": "x"},
                            allow_redirects=False, timeout=5)
    assert response.status_code == 302
