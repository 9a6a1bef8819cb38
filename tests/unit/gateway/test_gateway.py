import json

import pytest
from werkzeug.test import Client

from qbsync.local.devauth import JwtVerifier, issue_token
from qbsync.local.gateway import Gateway
from shared.routes import ROUTES


@pytest.fixture
def calls():
    return []


@pytest.fixture
def client(tmp_path, calls):
    def invoke(handler, event):
        calls.append((handler, event))
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({"ok": True})}

    gateway = Gateway(invoke, JwtVerifier(str(tmp_path)).claims, max_body=1024)
    return Client(gateway), str(tmp_path)


def test_every_route_in_the_table_is_served(client, calls):
    c, state = client
    token = issue_token("t1", state_dir=state)
    for route in ROUTES:
        path = route.path.replace("{proxy+}", "connection")
        response = c.open(path, method=route.method, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, route
    assert {h for h, _ in calls} == {f"functions.{r.function}.{r.handler}" for r in ROUTES}


def test_unknown_route_is_404_and_handler_not_called(client, calls):
    c, _ = client
    assert c.get("/nope").status_code == 404
    assert c.delete("/oauth/callback").status_code == 404
    assert calls == []


def test_admin_routes_need_a_valid_jwt(client, calls, tmp_path):
    c, state = client
    assert c.get("/admin/settings").status_code == 401
    assert c.get("/admin/settings", headers={"Authorization": "Bearer garbage"}).status_code == 401
    other = tmp_path / "other"
    forged = issue_token("t1", state_dir=str(other))
    assert c.get("/admin/settings", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = issue_token("t1", state_dir=state, ttl_s=-10)
    assert c.get("/admin/settings", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert calls == []


def test_claims_reach_the_handler_as_api_gateway_puts_them(client, calls):
    c, state = client
    c.put("/admin/settings?x=1", data=b'{"a": 1}', content_type="application/json",
          headers={"Authorization": f"Bearer {issue_token('t9', role='restricted', state_dir=state)}"})
    (_, event), = calls
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["tenant_id"], claims["role"]) == ("t9", "restricted")
    assert event["routeKey"] == "PUT /admin/{proxy+}" and event["pathParameters"] == {"proxy": "settings"}
    assert event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"x": "1"}


def test_oversize_body_is_413(client, calls):
    c, _ = client
    assert c.post("/webhooks/quickbooks", data=b"x" * 2048).status_code == 413
    assert calls == []


def test_handler_crash_is_a_plain_500(tmp_path):
    def boom(handler, event):
        raise RuntimeError("secret detail")

    response = Client(Gateway(boom, JwtVerifier(str(tmp_path)).claims)).post("/webhooks/quickbooks", data=b"{}")
    assert response.status_code == 500 and b"secret detail" not in response.data
