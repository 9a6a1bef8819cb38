import json
import threading
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.wrappers import Request, Response

from emulators.common.server import start
from emulators.fieldservice.app import create_app
from emulators.fieldservice.contract import contract
from shared.fieldservice import webhooks
from shared.fieldservice.http_adapter import HttpFieldService


class ContractChecker:
    """A requests response hook: every API response must match the contract's schema for its operation/status."""

    def __init__(self):
        self.contract = contract()
        self.seen: set[str] = set()
        self.violations: list = []

    def __call__(self, response, *args, **kwargs):
        path = urlsplit(response.request.url).path.removeprefix("/v1")
        found = self.contract.operation(response.request.method, path)
        assert found is not None, f"not in the contract: {response.request.method} {path}"
        schema = self.contract.response_schema(response.request.method, path, response.status_code)
        assert schema is not None, f"{found[0]} does not document status {response.status_code}"
        errors = self.contract.field_errors(schema, response.json())
        if errors:
            self.violations.append((found[0], response.status_code, errors))
        self.seen.add(found[0])
        return response


class Receiver:
    """Our side of the webhook: verify with the shared code, dedupe on the event id, keep what was accepted."""

    def __init__(self, secret_of):
        self.secret_of, self.accepted, self.rejected, self.seen_ids = secret_of, [], [], set()
        self.lock = threading.Lock()
        self.fail_next = 0

    def __call__(self, environ, start_response):
        request = Request(environ)
        raw = request.get_data()
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return Response("boom", 500)(environ, start_response)
            try:
                event = webhooks.parse_event(raw)
                webhooks.verify(self.secret_of(event.tenant_id), raw, request.headers.get(webhooks.SIGNATURE_HEADER))
            except webhooks.WebhookError as exc:
                self.rejected.append(type(exc).__name__)
                return Response(json.dumps({"error": type(exc).__name__}), 401)(environ, start_response)
            if event.id in self.seen_ids:
                self.rejected.append("Duplicate")
                return Response("{}", 200)(environ, start_response)
            self.seen_ids.add(event.id)
            self.accepted.append((event, raw, request.headers.get(webhooks.SIGNATURE_HEADER)))
        return Response("{}", 200)(environ, start_response)


@pytest.fixture
def emulator():
    app = create_app(webhook_backoff=0.05)
    server = start(app, 0)
    yield app, server.url
    server.stop()
    app.close()


@pytest.fixture
def receiver(emulator):
    app, _ = emulator
    recv = Receiver(lambda tid: app.state.tenant(tid).webhook_secret)
    server = start(recv, 0)
    recv.url = server.url
    yield recv
    server.stop()


@pytest.fixture
def checker():
    return ContractChecker()


@pytest.fixture
def fsp(emulator, checker):
    _, url = emulator
    session = requests.Session()
    session.hooks["response"].append(checker)
    adapter = HttpFieldService(url, lambda tenant: f"key-{tenant}", session=session, sleep=lambda s: None)
    yield adapter
    adapter.close()
    assert checker.violations == []
