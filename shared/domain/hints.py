"""Webhook intake: verify, dedupe, enqueue. Nothing is read or written in either system here, so the answer
goes back within QuickBooks' 3 seconds; the worker reads the truth later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from shared.domain.connections import ConnectionRepo, Status
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
