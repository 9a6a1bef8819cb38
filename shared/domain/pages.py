"""Opaque pagination cursors for the admin API's lists (runs, unsynced entities, review lists).

A cursor is DynamoDB's LastEvaluatedKey, JSON then URL-safe base64, so a client cannot read meaning into it. It is
checked on the way back in: a cursor must name the caller's own partition and a sort key of the list it came from,
so a forged or foreign cursor is a 400 and never reaches DynamoDB (which would answer a ValidationException) nor
another tenant's rows."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.errors import BadRequest

T = TypeVar("T")
MAX_CURSOR_CHARS = 1024
BAD_CURSOR = "the cursor is not one this list returned; start again without it"


@dataclass
class Page(Generic[T]):
    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, pk: str, sk_prefix: str) -> dict[str, Any] | None:
    """The start key for a query of partition `pk` over sort keys starting with `sk_prefix`, or None for page one."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadRequest(BAD_CURSOR)
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(BAD_CURSOR) from None
    if not isinstance(key, dict) or set(key) != {"pk", "sk"}:
        raise BadRequest(BAD_CURSOR)
    if key["pk"] != {"S": pk} or not isinstance(key["sk"], dict) or set(key["sk"]) != {"S"} \
            or not isinstance(key["sk"]["S"], str) or not key["sk"]["S"].startswith(sk_prefix):
        raise BadRequest(BAD_CURSOR)
    return key


def encode_id(*parts: str) -> str:
    """A URL-safe, opaque id for a stored key made of parts that may hold any character ('#', '/', spaces)."""
    return base64.urlsafe_b64encode(json.dumps(list(parts), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_id(value: str, arity: int) -> tuple[str, ...] | None:
    try:
        parts = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(parts, list) or len(parts) != arity or not all(isinstance(p, str) and p for p in parts):
        return None
    return tuple(parts)
