import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.platform_hints import platform_verifier, tenant_webhook_secret
from shared.errors import BadRequest, Unauthorized
from shared.fieldservice.webhooks import signature_header

MASTER = "master-secret"


def _event(tenant="t1", event_id="evt_1", kind="invoice.ready"):
    return json.dumps({"id": event_id, "type": kind, "tenant_id": tenant, "created_at": "2026-11-24T10:00:00Z",
                       "data": {"object": {"id": "inv_1"}}}).encode()


def test_a_tenant_signed_event_becomes_a_hint():
    body = _event()
    header = signature_header(tenant_webhook_secret(MASTER, "t1"), body)
    [hint] = platform_verifier(MASTER)(body, header)
    assert (hint.source, hint.account, hint.entity, hint.entity_id, hint.operation) == (
        "fieldservice", "t1", "invoice", "inv_1", "ready")


def test_another_tenants_secret_cannot_speak_for_this_tenant():
    body = _event(tenant="victim")
    header = signature_header(tenant_webhook_secret(MASTER, "attacker"), body)
    with pytest.raises(Unauthorized):
        platform_verifier(MASTER)(body, header)


def test_a_stale_delivery_is_refused():
    body = _event()
    header = signature_header(tenant_webhook_secret(MASTER, "t1"), body, timestamp=int(time.time()) - 3600)
    with pytest.raises(Unauthorized):
        platform_verifier(MASTER)(body, header)


@given(st.binary(max_size=200))
def test_garbage_is_a_client_error_never_a_crash(body):
    with pytest.raises((BadRequest, Unauthorized)):
        platform_verifier(MASTER)(body, "t=1,v1=00")


def test_secrets_differ_per_tenant_and_are_stable():
    assert tenant_webhook_secret(MASTER, "a") == tenant_webhook_secret(MASTER, "a")
    assert tenant_webhook_secret(MASTER, "a") != tenant_webhook_secret(MASTER, "b")
    assert tenant_webhook_secret(MASTER, "a") != tenant_webhook_secret("other", "a")


def test_the_tenant_is_read_shallowly_and_must_match_the_verified_event():
    from shared.fieldservice.webhooks import claimed_tenant

    assert claimed_tenant(b'{"data":{"tenant_id":"inner","x":["]"]},"tenant_id":"t\\u00e91"}') == "t\u00e91"
    assert claimed_tenant(_event(tenant="t7")) == "t7"
    body = _event(tenant="t1")[:-1] + b',"tenant_id":"t2"}'  # JSON keeps the last duplicate key
    header = signature_header(tenant_webhook_secret(MASTER, "t1"), body)
    with pytest.raises(BadRequest):
        platform_verifier(MASTER)(body, header)
