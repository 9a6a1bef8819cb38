"""The receiver over API Gateway events: every hostile or malformed body is a 4xx, enqueues nothing, logs no trace;
real notifications in both QuickBooks formats and from the platform are enqueued per tenant."""

import base64
import json
import time
from pathlib import Path

import pytest

from functions.webhooks import receiver
from shared.domain.connections import Status
from shared.domain.platform_hints import tenant_webhook_secret
from shared.fieldservice.webhooks import signature_header
from tests.unit.webhooks.helpers import MASTER, World, classic, qbo_signature

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbo"


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "webhooks", 512, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:webhooks"


@pytest.fixture
def world(monkeypatch):
    w = World()
    w.connect("t1", "r1")
    monkeypatch.setattr(receiver, "intake", lambda: w.intake)
    return w


def post(path, body: bytes, headers: dict, b64=False):
    event = {"version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "rawQueryString": "",
             "headers": {k.lower(): v for k, v in headers.items()},
             "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": "1.2.3.4"}, "stage": "$default",
                                "requestId": "r"},
             "body": base64.b64encode(body).decode() if b64 else body.decode("utf-8", "replace"),
             "isBase64Encoded": b64}
    response = receiver.app.resolve(event, Context())
    return response["statusCode"], json.loads(response["body"] or "null")


def qbo(body: bytes, content_type="application/json", signature=None):
    headers = {"content-type": content_type, "intuit-signature": signature or qbo_signature(body)}
    return post("/webhooks/quickbooks", body, headers, b64=True)


def platform(body: bytes, tenant="t1", header=None):
    header = header or signature_header(tenant_webhook_secret(MASTER, tenant), body)
    return post("/webhooks/fieldservice", body, {"content-type": "application/json", "fsp-signature": header})


def event(tenant="t1", event_id="evt_1", kind="invoice.ready", obj=None) -> bytes:
    return json.dumps({"id": event_id, "type": kind, "tenant_id": tenant, "created_at": "2026-11-24T10:00:00Z",
                       "data": {"object": obj or {"id": "inv_1", "status": "ready"}}}).encode()


def no_trace(caplog) -> bool:
    return not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text


DEEP = b"[" * 5000 + b"]" * 5000
HOSTILE_QBO = {
    "wrong type": b'{"eventNotifications": 5}',
    "entities not a list": json.dumps({"eventNotifications": [{"realmId": "r1", "dataChangeEvent": {
        "entities": "x"}}]}).encode(),
    "realm as number": json.dumps({"eventNotifications": [{"realmId": 5, "dataChangeEvent": {
        "entities": []}}]}).encode(),
    "unknown operation": classic("r1", {"name": "Customer", "id": "1", "operation": "Explode"}),
    "nested 5000 deep": DEEP,
    "nested object 5000 deep": b'{"eventNotifications":' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
    "huge array": b"[" + b",".join([b"{}"] * 60000) + b"]",
    "too many entities": classic("r1", *[{"name": "Customer", "id": str(i), "operation": "Update"}
                                          for i in range(1001)]),
    "not json": b"\xff\xfe{",
    "empty": b"",
    "null": b"null",
    "cloudevent without account": json.dumps([{"specversion": "1.0", "id": "e", "type": "qbo.customer.updated.v1",
                                               "intuitentityid": "1"}]).encode(),
    "cloudevent bad type": json.dumps([{"specversion": "1.0", "id": "e", "type": "qbo.customer.exploded.v1",
                                        "intuitentityid": "1", "intuitaccountid": "r1"}]).encode(),
    "overlong id": classic("r1", {"name": "Customer", "id": "9" * 5000, "operation": "Update"}),
    "too many notifications": json.dumps({"eventNotifications": [
        {"realmId": "r1", "dataChangeEvent": {"entities": [{"name": "Customer", "id": "1", "operation": "Update"}]}}
        for _ in range(101)]}).encode(),
    "cloudevents as a huge array": json.dumps([{"specversion": "1.0", "id": f"e{i}", "type": "qbo.customer.updated.v1",
                                               "intuitentityid": "1", "intuitaccountid": "r1"}
                                              for i in range(1001)]).encode(),
}


@pytest.mark.parametrize("name", HOSTILE_QBO)
def test_hostile_quickbooks_bodies_are_4xx_and_enqueue_nothing(world, name, caplog):
    status, body = qbo(HOSTILE_QBO[name])
    assert 400 <= status < 500 and body["error"]["code"] in ("bad_request", "payload_too_large")
    assert world.queue.messages == [] and no_trace(caplog)


def test_an_oversize_body_is_413_before_its_signature_is_checked(world):
    assert qbo(b" " * (256 * 1024 + 1), signature="AAAA")[0] == 413
    assert platform(b" " * (256 * 1024 + 1), header="t=1,v1=00")[0] == 413
    assert world.queue.messages == []


@pytest.mark.parametrize("signature", [None, "", "not base64!", qbo_signature(b"other body")])
def test_quickbooks_without_a_valid_signature_is_401(world, signature):
    body = classic()
    headers = {"content-type": "application/json"} | ({"intuit-signature": signature} if signature is not None else {})
    status, _ = post("/webhooks/quickbooks", body, headers)
    assert status == 401 and world.queue.messages == []


HOSTILE_PLATFORM = {
    "10 KB of nested brackets": b"[" * 5000 + b"]" * 5000,
    "nested objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "tenant only deep inside": b'{"data":{"tenant_id":"t1"}}',
    "tenant as number": b'{"tenant_id": 5}',
    "not json": b"\xff\xfe{",
    "huge array": b"[" + b"1," * 100000 + b"1]",
}


@pytest.mark.parametrize("name", HOSTILE_PLATFORM)
def test_unsigned_hostile_platform_bodies_are_4xx_without_a_parse(world, name, caplog):
    status, _ = post("/webhooks/fieldservice", HOSTILE_PLATFORM[name], {"fsp-signature": "t=1,v1=00"})
    assert 400 <= status < 500 and world.queue.messages == [] and no_trace(caplog)


SIGNED_BAD_PLATFORM = {
    "wrong types": b'{"tenant_id":"t1","id":5,"type":"invoice.ready","created_at":"x","data":{"object":{"id":"i"}}}',
    "deep object": b'{"tenant_id":"t1","id":"e","type":"invoice.ready","created_at":"x","data":{"object":'
                   + b'{"id":"i","x":' * 3000 + b"1" + b"}" * 3002,
    "unknown type": event(kind="invoice.exploded"),
    "two tenants": b'{"tenant_id":"t1","id":"e","type":"invoice.ready","created_at":"x","data":{"object":{"id":"i"}},'
                   b'"tenant_id":"t2"}',
    "object id not a string": b'{"tenant_id":"t1","id":"e","type":"invoice.ready","created_at":"x","data":'
                              b'{"object":{"id":{"nested":"x"}}}}',
}


@pytest.mark.parametrize("name", SIGNED_BAD_PLATFORM)
def test_signed_but_malformed_platform_bodies_are_400(world, name, caplog):
    status, _ = platform(SIGNED_BAD_PLATFORM[name])
    assert status == 400 and world.queue.messages == [] and no_trace(caplog)


def test_platform_signature_of_another_tenant_or_stale_is_401(world):
    assert platform(event(), header=signature_header(tenant_webhook_secret(MASTER, "t2"), event()))[0] == 401
    stale = signature_header(tenant_webhook_secret(MASTER, "t1"), event(), timestamp=int(time.time()) - 3600)
    assert platform(event(), header=stale)[0] == 401
    assert world.queue.messages == []


@pytest.mark.parametrize("content_type", ["application/json", "application/cloudevents+json"])
def test_both_quickbooks_formats_become_hints_naming_their_record(world, content_type):
    world.connect("t9", "310687")
    status, body = qbo((FIXTURES / "webhook-cloudevents.json").read_bytes(), content_type)
    assert status == 200 and body == {"accepted": 1, "ignored": 0}
    status, _ = qbo(classic(), content_type)
    cloud, plain = world.queue.drain()
    assert (cloud.tenant_id, cloud.source) == ("t9", "quickbooks")
    assert [(h.entity, h.entity_id, h.operation) for h in cloud.hints] == [("Class", "1234", "Create")]
    assert [(h.entity, h.entity_id, h.operation) for h in plain.hints] == [("Customer", "43", "Update")]


def test_unknown_realms_and_disconnected_connections_are_acknowledged_and_logged(world, caplog):
    world.connect("t2", "r2", status=Status.DISCONNECTED)
    body = json.dumps({"eventNotifications": [
        {"realmId": "r-unknown", "dataChangeEvent": {"entities": [{"name": "Customer", "id": "1",
                                                                   "operation": "Update"}]}},
        {"realmId": "r2", "dataChangeEvent": {"entities": [{"name": "Customer", "id": "2", "operation": "Update"}]}},
        {"realmId": "r1", "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "3", "operation": "Void"}]}},
    ]}).encode()
    status, answer = qbo(body)
    assert status == 200 and answer == {"accepted": 1, "ignored": 2}
    [message] = world.queue.drain()
    assert message.tenant_id == "t1" and message.hints[0].operation == "Void"
    assert {(r.account, r.reason) for r in caplog.records if r.msg == "webhook events ignored"} == {
        ("r-unknown", "realm unknown"), ("r2", "realm disconnected")}
    world.connect("t1", "r1", status=Status.NEEDS_RECONNECT)
    assert platform(event())[1] == {"accepted": 0, "ignored": 1} and world.queue.messages == []


def test_a_platform_event_becomes_one_hint_for_its_tenant(world):
    status, answer = platform(event(obj={"id": "inv_7"}))
    assert status == 200 and answer == {"accepted": 1, "ignored": 0}
    [message] = world.queue.drain()
    assert (message.tenant_id, message.source) == ("t1", "fieldservice")
    assert [(h.entity, h.entity_id, h.operation, h.event_id) for h in message.hints] == [
        ("invoice", "inv_7", "ready", "evt_1")]


def test_a_crash_before_the_enqueue_leaves_the_senders_retry_effective(world):
    world.queue.fail_next = 1
    with pytest.raises(ConnectionError):  # API Gateway answers 500; Intuit and the platform retry
        qbo(classic())
    assert world.queue.messages == []
    assert qbo(classic())[0] == 200 and len(world.queue.messages) == 1
    assert qbo(classic())[0] == 200 and len(world.queue.messages) == 1  # a retry after success: deduplicated
