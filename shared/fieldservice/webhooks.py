"""Signing and verification of platform webhooks, shared by the emulator (sender) and our receiver.

Header `FSP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>` (the Stripe scheme).
`verify` checks the signature in constant time over the raw bytes and rejects timestamps outside the tolerance, in
either direction. A delivery captured and replayed inside the window still verifies: receivers must dedupe on the
event `id` (retries keep the id and are re-signed with a fresh timestamp)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

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


MAX_TENANT_ID = 128
MAX_SCAN_DEPTH = 64
# Strings (escapes included) and the six structural characters; numbers, literals and whitespace fall between.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def claimed_tenant(raw_body: bytes) -> str:
    """The top-level `tenant_id` of an unverified body, read shallowly: one regex pass that tracks depth and builds
    nothing, so nesting, huge arrays or broken JSON cost a linear scan and a clear error, never recursion. It only
    chooses which tenant's secret to check the signature with; the verified event must name the same tenant."""
    depth, key, expect_value = 0, None, False
    for token in _TOKEN.finditer(raw_body):
        t = token.group()
        if t in (b"{", b"["):
            depth += 1
            if depth > MAX_SCAN_DEPTH:
                break
        elif t in (b"}", b"]"):
            depth -= 1
            if depth <= 0:
                break
        elif depth == 1 and t == b":":
            expect_value = key == b'"tenant_id"'
            continue
        elif depth == 1 and t.startswith(b'"'):
            if expect_value:
                try:
                    value = json.loads(t)
                except (ValueError, UnicodeDecodeError):
                    break
                if isinstance(value, str) and 0 < len(value) <= MAX_TENANT_ID:
                    return value
                break
            key = t
        expect_value = False
    raise InvalidPayload("no top-level tenant_id string in the body")


class _Object(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    object: _Object


Text = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    id: Text
    type: Text
    tenant_id: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TENANT_ID)]
    created_at: Text
    data: _Data


def parse_event(raw_body: bytes) -> WebhookEvent:
    """The event, strictly typed. Call it on verified bytes only (`construct_event`); before `verify`, read the
    tenant with `claimed_tenant`. Pydantic's parser bounds recursion, so deep nesting is InvalidPayload too."""
    try:
        doc = _Envelope.model_validate_json(raw_body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidPayload(f"not a platform event ({first['type']} at {where})") from None
    if doc.type not in EVENT_TYPES:
        raise InvalidPayload(f"unknown event type {doc.type!r}")
    return WebhookEvent(id=doc.id, type=doc.type, tenant_id=doc.tenant_id, created_at=doc.created_at,
                        object=doc.data.object.model_dump())


def construct_event(secret: str | Iterable[str], raw_body: bytes, header: str | None, now: float | None = None,
                    tolerance: int = DEFAULT_TOLERANCE) -> WebhookEvent:
    verify(secret, raw_body, header, now=now, tolerance=tolerance)
    return parse_event(raw_body)
