"""Webhook intake: verify, dedupe, enqueue. Nothing is read or written in either system here, so the answer
goes back within QuickBooks' 3 seconds; the worker reads the truth later."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from shared.domain.connections import ConnectionRepo, Status
from shared.domain.records import SyncRun
from shared.errors import BadRequest, Unauthorized
from shared.quickbooks import webhooks as qbo_webhooks
from shared.quickbooks.webhooks import ChangeHint


class HintQueue(Protocol):
    def send(self, tenant_id: str, hint: ChangeHint) -> None: ...


class Dedupe(Protocol):
    def first_time(self, key: str) -> bool: ...
    def forget(self, key: str) -> None: ...


class HintIntake:
    def __init__(self, connections: ConnectionRepo, dedupe: Dedupe, queue: HintQueue, verifier_token: str,
                 fsp_verify: Callable[[bytes, str | None], list[ChangeHint]] | None = None):
        self._connections, self._dedupe, self._queue = connections, dedupe, queue
        self._verifier_token, self._fsp_verify = verifier_token, fsp_verify

    def quickbooks(self, raw_body: bytes, signature: str | None) -> int:
        try:
            qbo_webhooks.verify_signature(self._verifier_token, raw_body, signature)
        except qbo_webhooks.InvalidSignature as exc:
            raise Unauthorized(str(exc)) from None
        try:
            hints = qbo_webhooks.parse(raw_body)
        except qbo_webhooks.InvalidPayload as exc:
            raise BadRequest(str(exc)) from None
        accepted = 0
        for hint in hints:
            for connection in self._connections.by_realm(hint.account):
                if connection.status == Status.CONNECTED:
                    accepted += self._accept(connection.tenant_id, hint)
        return accepted

    def fieldservice(self, raw_body: bytes, signature: str | None) -> int:
        if self._fsp_verify is None:
            raise Unauthorized("platform webhooks are not configured")
        accepted = 0
        for hint in self._fsp_verify(raw_body, signature):
            connection = self._connections.get(hint.account)
            if connection is not None and connection.status == Status.CONNECTED:
                accepted += self._accept(hint.account, hint)
        return accepted

    def _accept(self, tenant_id: str, hint: ChangeHint) -> int:
        key = f"hint#{tenant_id}#{hint.dedupe_key()}"
        if not self._dedupe.first_time(key):
            return 0
        try:
            self._queue.send(tenant_id, hint)
        except Exception:
            self._dedupe.forget(key)  # the sender's retry must not be taken for a duplicate
            raise
        return 1


HINT_WINDOW_S = 300


class HintDispatcher:
    """Turns verified hints into sync runs. Hints only say "something changed": the run reads the truth. All hints
    for a tenant within one window share one run id, and the run id is the execution name, so a burst of
    webhooks (or a redelivered message) starts one sync, not hundreds."""

    def __init__(self, connections: ConnectionRepo, runs, workflows, clock: Callable[[], float]):
        self._connections, self._runs, self._workflows, self._clock = connections, runs, workflows, clock

    def dispatch(self, tenant_id: str) -> str | None:
        connection = self._connections.get(tenant_id)
        if connection is None or connection.status != Status.CONNECTED:
            return None
        if (connection.onboarding or {}).get("status") != "completed":
            return None  # onboarding reads everything anyway
        window = int(self._clock()) // HINT_WINDOW_S * HINT_WINDOW_S
        started = datetime.fromtimestamp(window, UTC)
        digest = hashlib.sha256(tenant_id.encode()).hexdigest()[:8]
        run_id = f"{started.strftime('%Y%m%dT%H%M%S')}-hint-{digest}"
        self._runs.create_once(SyncRun(tenant_id=tenant_id, run_id=run_id, kind="sync", status="running",
                                       started_at=started, phase="queued"))
        self._workflows.start("sync", tenant_id, run_id, {"trigger": "webhook"})
        return run_id
