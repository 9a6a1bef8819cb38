import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.connections import Connection, Status
from shared.domain.hints import HINT_WINDOW_S, HintDispatcher
from shared.domain.platform_hints import platform_verifier, tenant_webhook_secret
from shared.errors import BadRequest, Unauthorized
from shared.fieldservice.webhooks import signature_header
from tests.fakes import FakeConnections

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


class _Runs:
    def __init__(self):
        self.created = {}

    def create_once(self, run):
        return self.created.setdefault(run.run_id, run) is run


class _Workflows:
    def __init__(self):
        self.started = []

    def start(self, kind, tenant_id, run_id, extra=None):
        self.started.append((kind, tenant_id, run_id))


def _dispatcher(status=Status.CONNECTED, onboarding="completed", now=1_800_000_000.0):
    connections = FakeConnections()
    connections.save(Connection("t1", status, realm_id="r1", onboarding={"status": onboarding}))
    runs, flows = _Runs(), _Workflows()
    clock = {"now": now}
    return HintDispatcher(connections, runs, flows, lambda: clock["now"]), runs, flows, clock


def test_a_burst_of_hints_starts_one_sync_per_window():
    dispatcher, runs, flows, clock = _dispatcher()
    first = {dispatcher.dispatch("t1") for _ in range(20)}
    clock["now"] += HINT_WINDOW_S
    second = dispatcher.dispatch("t1")
    assert len(first) == 1 and second not in first
    assert len(runs.created) == 2
    assert {run_id for _, _, run_id in flows.started} == first | {second}


@pytest.mark.parametrize("status,onboarding", [(Status.NEEDS_RECONNECT, "completed"),
                                               (Status.CONNECTED, "running")])
def test_no_sync_for_a_connection_that_cannot_take_one(status, onboarding):
    dispatcher, runs, flows, _ = _dispatcher(status, onboarding)
    assert dispatcher.dispatch("t1") is None
    assert not runs.created and not flows.started
