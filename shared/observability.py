"""Powertools Logger, Metrics and Tracer for every handler, plus the rule that secrets never reach a log line.

The Tracer is built on a handler's first invocation, and only where tracing is on: constructing one imports the X-Ray
SDK, which pulls in all of botocore (about 400 ms of a cold start), even when tracing is off."""

from __future__ import annotations

import functools
import logging
import re
import threading
from functools import cache, lru_cache

from aws_lambda_powertools import Logger, Metrics, Tracer

# Keys whose values are secret wherever they appear in a structured log record.
SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "code", "authorization", "token", "state",
     "verifier_token", "api_key", "password", "ciphertext", "secret", "intuit-signature", "fsp-signature"}
)
_BEARER = re.compile(r"(?i)(bearer\s+|basic\s+)[A-Za-z0-9._~+/=-]+")
_TOKENISH = re.compile(r"\b(?:eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|(?:AB|RT1|L0)[A-Za-z0-9_-]{20,})\b")
REDACTED = "***"


def redact(value):
    """Recursively mask secret keys and token-looking strings."""
    if isinstance(value, dict):
        return {k: (REDACTED if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _TOKENISH.sub(REDACTED, _BEARER.sub(r"\1" + REDACTED, value))
    return value


class _RedactingFormatterMixin:
    def serialize(self, log: dict) -> str:  # type: ignore[override]
        return super().serialize(redact(log))  # type: ignore[misc]


@lru_cache(maxsize=1)
def _formatter_cls():
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    return type("RedactingFormatter", (_RedactingFormatterMixin, LambdaPowertoolsFormatter), {})


@cache
def get_logger(service: str = "qbsync") -> Logger:
    # Powertools loggers with one service name share a handler; the formatter is the single redaction point.
    return Logger(service=service, logger_formatter=_formatter_cls()(), utc=True)


@cache
def get_metrics(service: str = "qbsync") -> Metrics:
    return Metrics(service=service, namespace="qbsync")


class LazyTracer:
    """`capture_lambda_handler` of Powertools' Tracer, with the Tracer built when the handler first runs.

    Tracing is on where Powertools would enable it (inside Lambda, `POWERTOOLS_TRACE_DISABLED` not set); elsewhere
    the handler runs undecorated and the X-Ray SDK is never imported. Powertools' auto-patching of boto3 and
    requests still precedes every client, because clients are built lazily inside invocations."""

    def __init__(self, service: str):
        self.service = service
        self._lock = threading.Lock()
        self._tracer: Tracer | None = None

    @property
    def enabled(self) -> bool:
        return not Tracer._is_tracer_disabled()

    @property
    def tracer(self) -> Tracer:
        with self._lock:
            if self._tracer is None:
                self._tracer = Tracer(service=self.service)
            return self._tracer

    def capture_lambda_handler(self, handler):
        traced = None

        @functools.wraps(handler)
        def run(event, context):
            nonlocal traced
            if traced is None:
                traced = self.tracer.capture_lambda_handler(handler) if self.enabled else handler
            return traced(event, context)

        return run


@cache
def get_tracer(service: str = "qbsync") -> LazyTracer:
    return LazyTracer(service)


def bind_correlation(logger: Logger, tenant_id: str | None, run_id: str | None = None) -> None:
    """Correlation id = tenant + sync run, so one company's run can be followed across functions."""
    logger.set_correlation_id(":".join(p for p in (tenant_id, run_id) if p) or None)
    logger.append_keys(tenant_id=tenant_id, run_id=run_id)


logging.getLogger("botocore").setLevel(logging.WARNING)
logging.getLogger("urllib3").setLevel(logging.WARNING)
