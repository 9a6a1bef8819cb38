"""QuickBooks webhooks: signature check and strict parsing of both delivery formats into change hints.

Signature: `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)); no timestamp is signed, so replay
protection is dedupe (the queue's deduplication id, then the worker's per-record ledger).

Parsing happens only after the signature matched, and even then through Pydantic's JSON parser with declared types
and bounds: its recursion limit turns 5,000 nested brackets into a validation error (the standard library's
`json.loads` raises RecursionError), and every list and string has a maximum, so a hostile or broken body is a
client error, never a crash (limits in docs/webhooks.md)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

MAX_HINTS = 1000  # per delivery, over all realms; far above Intuit's batches, far below what exhausts a Lambda
MAX_NOTIFICATIONS = 100


class InvalidSignature(Exception):
    pass


class InvalidPayload(Exception):
    pass


@dataclass(frozen=True)
class ChangeHint:
    source: str  # quickbooks | fieldservice
    account: str  # QuickBooks realm id, or platform tenant id
    entity: str  # e.g. Customer, Invoice, Payment (QuickBooks names) / client, site, invoice, payment
    entity_id: str
    operation: str  # Create | Update | Delete | Merge | Void | Emailed (platform: its verb, e.g. ready, updated)
    occurred_at: str  # ISO 8601 as the sender wrote it (lastUpdated, CloudEvents time, platform created_at)
    event_id: str
    merged_from: str = ""  # Merge: the record merged away into entity_id (it is gone from QuickBooks)

    def dedupe_key(self) -> str:
        return hashlib.sha256(f"{self.source}|{self.event_id}".encode()).hexdigest()


def verify_signature(verifier_token: str, raw_body: bytes, signature: str | None) -> None:
    if not signature:
        raise InvalidSignature("missing intuit-signature")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("malformed intuit-signature") from None
    expected = hmac.new(verifier_token.encode(), raw_body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise InvalidSignature("intuit-signature does not match")


# -- the two formats, as declared types -------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$")]
Stamp = Annotated[str, StringConstraints(max_length=64)]

# Classic operations are QuickBooks' own words; CloudEvents spell them as past-tense verbs in `type`.
OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void", "Emailed")
_CLOUD_VERBS = {"created": "Create", "updated": "Update", "deleted": "Delete", "merged": "Merge", "voided": "Void",
                "emailed": "Emailed"}

# CloudEvents lower-case the entity; these are the API names with more than one capital (the rest capitalize).
_ENTITY_NAMES = {n.lower(): n for n in (
    "BillPayment", "CreditMemo", "JournalEntry", "PaymentMethod", "PurchaseOrder", "RefundReceipt", "SalesReceipt",
    "TaxAgency", "TimeActivity", "VendorCredit", "CompanyCurrency", "JournalCode")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _ClassicEntity(_Strict):
    name: Name
    id: Id
    operation: Literal["Create", "Update", "Delete", "Merge", "Void", "Emailed"]
    lastUpdated: Stamp = ""  # noqa: N815 - Intuit's field name
    deletedId: Id | None = None  # noqa: N815 - Merge: the record merged away


class _ChangeEvent(_Strict):
    entities: list[_ClassicEntity] = Field(max_length=MAX_HINTS)


class _Notification(_Strict):
    realmId: Id  # noqa: N815
    dataChangeEvent: _ChangeEvent  # noqa: N815


class _Classic(_Strict):
    eventNotifications: list[_Notification] = Field(min_length=1, max_length=MAX_NOTIFICATIONS)  # noqa: N815


class _CloudData(_Strict):
    deletedid: Id | None = None


class _CloudEvent(_Strict):
    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: Annotated[str, StringConstraints(
        pattern=r"^qbo\.[a-z][a-z0-9]{0,63}\.(created|updated|deleted|merged|voided|emailed)\.v[0-9]{1,3}$")]
    time: Stamp = ""
    intuitentityid: Id
    intuitaccountid: Id
    data: _CloudData | None = None


_BODY: TypeAdapter = TypeAdapter(
    _Classic | Annotated[list[_CloudEvent], Field(min_length=1, max_length=MAX_HINTS)] | _CloudEvent)


def parse(raw_body: bytes) -> list[ChangeHint]:
    """The hints in a verified delivery: classic `eventNotifications`, a CloudEvents array, or one CloudEvent."""
    try:
        doc = _BODY.validate_json(raw_body)
    except ValidationError as exc:
        raise InvalidPayload(_summary(exc)) from None
    if isinstance(doc, _Classic):
        hints = [_classic(n.realmId, e) for n in doc.eventNotifications for e in n.dataChangeEvent.entities]
        if not hints:
            raise InvalidPayload("classic notification without entities")
    else:
        hints = [_cloud(e) for e in (doc if isinstance(doc, list) else [doc])]
    if len(hints) > MAX_HINTS:
        raise InvalidPayload(f"more than {MAX_HINTS} events in one delivery")
    return hints


def _classic(realm: str, e: _ClassicEntity) -> ChangeHint:
    # Classic events carry no id of their own: the event is its record, operation and time.
    key = f"{realm}|{e.name}|{e.id}|{e.operation}|{e.lastUpdated}"
    return ChangeHint("quickbooks", realm, e.name, e.id, e.operation, e.lastUpdated, key, e.deletedId or "")


def _cloud(e: _CloudEvent) -> ChangeHint:
    _, entity, verb, _version = e.type.split(".")
    name = _ENTITY_NAMES.get(entity, entity.capitalize())
    merged_from = (e.data.deletedid if e.data else None) or ""
    return ChangeHint("quickbooks", e.intuitaccountid, name, e.intuitentityid, _CLOUD_VERBS[verb], e.time, e.id,
                      merged_from)


def _summary(exc: ValidationError) -> str:
    """A short reason that never echoes the body back."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or "body"
    return f"not a QuickBooks notification ({first['type']} at {where}; {exc.error_count()} problem(s))"
