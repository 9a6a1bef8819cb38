"""Signing and verification of platform webhooks, shared by the emulator (sender) and our receiver.

Header `FSP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>` (the Stripe scheme).
`verify` checks the signature in constant time over the raw bytes and rejects timestamps outside the tolerance, in
either direction. A delivery captured and replayed inside the window still verifies: receivers must dedupe on the
event `id` (retries keep the id and are re-signed with a fresh timestamp)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SIGNATURE_HEADER = "FSP-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE = 300

EVENT_TYPES = frozenset({
    "client.created", "client.updated", "site.created", "site.updated", "job_type.created", "job_type.updated",
    "item.created", "item.updated", "invoice.ready", "invoice.updated", "invoice.voided",
    "payment.created", "payment.updated", "payment.deleted",
})


class WebhookError(Exception):
    """Base of every reason to refuse a delivery."""


class MalformedSignature(WebhookError):
    pass


class InvalidSignature(WebhookError):
    pass


class StaleTimestamp(WebhookError):
    pass


class InvalidPayload(WebhookError):
    pass


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    tenant_id: str
    created_at: str
    object: dict[str, Any]

    @property
    def entity(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def action(self) -> str:
        return self.type.split(".", 1)[1]


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex v1 signature of `body` sent at `timestamp`."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    return f"t={ts},{SCHEME}={sign(secret, body, ts)}"


def _parse_header(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise MalformedSignature(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise MalformedSignature("timestamp is not an integer") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise MalformedSignature(f"no timestamp in {SIGNATURE_HEADER}")
    if not signatures:
        raise MalformedSignature(f"no {SCHEME} signature in {SIGNATURE_HEADER}")
    return timestamp, signatures


def verify(secret: str | Iterable[str], raw_body: bytes, header: str | None, now: float | None = None,
           tolerance: int = DEFAULT_TOLERANCE) -> int:
    """Check `header` against the exact bytes received; return the signed timestamp.

    `secret` may be several secrets during a rotation. Raises MalformedSignature, InvalidSignature or StaleTimestamp.
    The signature is checked before the timestamp so a forger learns nothing about our clock."""
    timestamp, given = _parse_header(header)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    expected = [sign(s, raw_body, timestamp) for s in secrets if s]
    # Every pair is compared (no early exit) so timing does not reveal which candidate came close.
    matched = False
    for e in expected:
        for g in given:
            matched |= hmac.compare_digest(e.encode(), g.encode())
    if not matched:
        raise InvalidSignature("signature does not match")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise StaleTimestamp(f"timestamp {timestamp} is outside the {tolerance} s tolerance")
    return timestamp


def parse_event(raw_body: bytes) -> WebhookEvent:
    """The event envelope. Before `verify`, use it only to choose the tenant's secret."""
    try:
        doc = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("body is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidPayload("body is not a JSON object")
    fields = {k: doc.get(k) for k in ("id", "type", "tenant_id", "created_at")}
    missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
    obj = (doc.get("data") or {}).get("object") if isinstance(doc.get("data"), dict) else None
    if missing or not isinstance(obj, dict):
        raise InvalidPayload("event lacks " + ", ".join(missing or ["data.object"]))
    if fields["type"] not in EVENT_TYPES:
        raise InvalidPayload(f"unknown event type {fields['type']!r}")
    return WebhookEvent(object=obj, **fields)  # type: ignore[arg-type]


def construct_event(secret: str | Iterable[str], raw_body: bytes, header: str | None, now: float | None = None,
                    tolerance: int = DEFAULT_TOLERANCE) -> WebhookEvent:
    verify(secret, raw_body, header, now=now, tolerance=tolerance)
    return parse_event(raw_body)
