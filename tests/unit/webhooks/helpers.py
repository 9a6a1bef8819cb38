"""Fakes for the webhook path: a FIFO queue with SQS's deduplication window and a ledger; runs and workflows come
from tests/fakes.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from shared.domain.connections import Connection, Status
from shared.domain.hints import HintApplier, HintIntake
from shared.domain.platform_hints import platform_verifier
from shared.domain.sync_requests import SyncRequests
from tests.fakes import FakeConnections, FakeRunStore, FakeSyncGate, FakeWorkflows

TOKEN, MASTER = "verifier-token", "master-secret"


class FifoQueue:
    """SQS FIFO as far as senders see it: a deduplication id seen in the last 5 minutes is accepted and dropped."""

    def __init__(self, clock=lambda: 0.0):
        self.clock, self.messages, self._sent_at = clock, [], {}
        self.fail_next = 0

    def send(self, batch):
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("SQS unreachable")
        for m in batch:
            dedupe = m.deduplication_id()
            if self.clock() - self._sent_at.get(dedupe, -1e9) < 300:
                continue
            self._sent_at[dedupe] = self.clock()
            self.messages.append(m)

    def drain(self):
        out, self.messages = self.messages, []
        return out


class Ledger:
    def __init__(self):
        self.items = {}

    def seen_at(self, tenant_id, keys):
        self.reads = getattr(self, "reads", 0) + 1
        return {k: self.items.get((tenant_id, *k)) for k in keys}

    def mark(self, tenant_id, times):
        for (source, entity, entity_id), at in times.items():
            key = (tenant_id, source, entity, entity_id)
            self.items[key] = max(at, self.items.get(key, at))



class World:
    def __init__(self):
        self.connections = FakeConnections()
        self.queue, self.ledger, self.gate = FifoQueue(), Ledger(), FakeSyncGate()
        self.runs, self.flows = FakeRunStore(), FakeWorkflows()
        self.requests = SyncRequests(self.gate, self.runs, self.flows)
        self.intake = HintIntake(self.connections, self.queue, TOKEN, platform_verifier(MASTER))
        self.applier = HintApplier(self.connections, self.ledger, self.requests)

    def connect(self, tenant, realm, status=Status.CONNECTED, onboarding="completed"):
        self.connections.save(Connection(tenant, status, realm_id=realm,
                                         onboarding={"enabled": True, "status": onboarding}))

    def work(self):
        """The worker: every queued message, one tenant at a time, as the handler groups them."""
        applied = []
        by_tenant = {}
        for m in self.queue.drain():
            by_tenant.setdefault(m.tenant_id, []).append(m)
        for tenant, batch in by_tenant.items():
            applied.append(self.applier.apply(tenant, batch))
        return applied


def qbo_signature(body: bytes, token: str = TOKEN) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


def classic(realm="r1", *entities) -> bytes:
    entities = entities or ({"name": "Customer", "id": "43", "operation": "Update",
                             "lastUpdated": "2026-11-24T10:00:00.000Z"},)
    return json.dumps({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": list(entities)}}]},
                      separators=(",", ":")).encode()
