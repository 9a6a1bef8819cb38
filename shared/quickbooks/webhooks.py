"""QuickBooks webhooks: signature check and parsing of both delivery formats into change hints.

Signature: `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body)); no timestamp is signed, so replay
protection is dedupe on the hint key (the CloudEvents id, or realm+entity+id+operation+lastUpdated)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass


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
    operation: str  # Create | Update | Delete | Merge | Void | Emailed (lower-case for the platform)
    occurred_at: str
    event_id: str

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


def parse(raw_body: bytes) -> list[ChangeHint]:
    try:
        doc = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("body is not JSON") from None
    if isinstance(doc, list):
        return [_cloud_event(e) for e in doc]
    if isinstance(doc, dict) and "eventNotifications" in doc:
        return [h for n in doc["eventNotifications"] for h in _classic(n)]
    if isinstance(doc, dict) and doc.get("specversion"):
        return [_cloud_event(doc)]
    raise InvalidPayload("neither a classic nor a CloudEvents notification")


def _classic(notification: dict) -> list[ChangeHint]:
    realm = str(notification.get("realmId", ""))
    out = []
    for e in (notification.get("dataChangeEvent") or {}).get("entities", []):
        key = f"{realm}|{e.get('name')}|{e.get('id')}|{e.get('operation')}|{e.get('lastUpdated')}"
        out.append(ChangeHint("quickbooks", realm, str(e.get("name", "")), str(e.get("id", "")),
                              str(e.get("operation", "")), str(e.get("lastUpdated", "")), key))
    if not realm or not out:
        raise InvalidPayload("classic notification without realmId or entities")
    return out


_OPERATIONS = {"created": "Create", "updated": "Update", "deleted": "Delete", "merged": "Merge", "voided": "Void",
               "emailed": "Emailed"}


def _cloud_event(event: dict) -> ChangeHint:
    # type: qbo.<entity>.<operation>.v1
    try:
        _, entity, operation, _version = str(event["type"]).split(".")
        return ChangeHint("quickbooks", str(event["intuitaccountid"]), entity.capitalize(),
                          str(event["intuitentityid"]), _OPERATIONS.get(operation, operation.capitalize()),
                          str(event.get("time", "")), str(event["id"]))
    except (KeyError, ValueError):
        raise InvalidPayload("CloudEvent without type, id, intuitaccountid or intuitentityid") from None
