"""Cold start: handler modules import nothing that the first request can build lazily, and the Tracer (with the
X-Ray SDK behind it) is built only where tracing is on, on the first invocation."""

from __future__ import annotations

import subprocess
import sys

from shared.observability import LazyTracer

HANDLERS = ("functions.admin.handler", "functions.oauth.handler", "functions.onboard.handler",
            "functions.push_invoices.handler", "functions.push_payments.handler", "functions.webhooks.receiver",
            "functions.webhooks.worker", "functions.qbwc.handler")
# Each is needed only once a request talks to AWS or QuickBooks; importing one at module level costs 0.1-0.4 s of
# every cold start (bench/coldstart.py).
LAZY = ("aws_xray_sdk", "boto3", "botocore.client", "pynamodb", "quickbooks", "intuitlib.client", "requests",
        "openpyxl", "jwt")


def test_no_handler_module_imports_what_a_request_builds_lazily():
    probe = ("import sys\n" + "".join(f"import {m}\n" for m in HANDLERS)
             + f"print(sorted(m for m in sys.modules if m in {LAZY!r} or m.startswith('aws_xray_sdk')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "[]"


class _FakeTracer:
    def __init__(self):
        self.wrapped = []

    def capture_lambda_handler(self, handler):
        self.wrapped.append(handler)
        return lambda event, context: ("traced", handler(event, context))


def _lazy(monkeypatch, enabled: bool):
    built = []
    lazy = LazyTracer("svc")
    monkeypatch.setattr(LazyTracer, "enabled", property(lambda self: enabled))

    def tracer(self):
        built.append(self.service)
        return fake
    fake = _FakeTracer()
    monkeypatch.setattr(LazyTracer, "tracer", property(tracer))
    return lazy, built, fake


def test_tracing_on_builds_the_tracer_at_the_first_invocation_once(monkeypatch):
    lazy, built, fake = _lazy(monkeypatch, enabled=True)
    handler = lazy.capture_lambda_handler(lambda event, context: event["n"])
    assert built == []  # decorating at import builds nothing
    assert handler({"n": 1}, None) == ("traced", 1)
    assert handler({"n": 2}, None) == ("traced", 2)
    assert built == ["svc"] and len(fake.wrapped) == 1


def test_tracing_off_runs_the_handler_undecorated(monkeypatch):
    lazy, built, _ = _lazy(monkeypatch, enabled=False)
    handler = lazy.capture_lambda_handler(lambda event, context: event["n"])
    assert handler({"n": 3}, None) == 3
    assert built == []


def test_tracing_follows_powertools_rule(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert LazyTracer("svc").enabled
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not LazyTracer("svc").enabled
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED")
    monkeypatch.delenv("LAMBDA_TASK_ROOT")
    assert not LazyTracer("svc").enabled
