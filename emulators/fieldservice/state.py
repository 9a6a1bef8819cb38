"""The emulated platform's data: tenants, their records in wire form, idempotency keys and a per-tenant clock.

Records are stored exactly as the contract returns them. Lists sort by (updated_at, id) and page with a cursor
naming the last (updated_at, id) returned, so a record updated mid-walk moves behind the cursor and is returned
again instead of being skipped. Every change is reported to `on_event` as a webhook event."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

KINDS = {"clients": "cli", "sites": "site", "job_types": "jt", "items": "item", "invoices": "inv", "payments": "pay"}
ENTITY = {"clients": "client", "sites": "site", "job_types": "job_type", "items": "item", "invoices": "invoice",
          "payments": "payment"}
LOAD_ORDER = ("job_types", "items", "clients", "sites", "invoices", "payments")
CENT = Decimal("0.01")
PAYABLE = {"approved", "ready_for_sync", "paid"}


class EmulatorError(Exception):
    """An error the API answers with `{"error": {code, message, fields}}`."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


def invalid(field: str, code: str, message: str) -> EmulatorError:
    return EmulatorError(422, "validation_failed", message, [{"field": field, "code": code, "message": message}])


def format_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return parsed.astimezone(UTC)


def money(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):f}"


class Tenant:
    def __init__(self, tenant_id: str, api_key: str, webhook_secret: str, webhook_url: str | None, name: str = ""):
        self.id, self.api_key, self.webhook_secret, self.webhook_url = tenant_id, api_key, webhook_secret, webhook_url
        self.name = name or tenant_id
        self.records: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
        self.idempotency: dict[str, dict] = {}  # "kind|key" -> {"hash", "id"}
        self.counters: dict[str, int] = {}
        self.payments_of: dict[str, set[str]] = {}  # invoice id -> payment ids; derived, rebuilt on restore
        self.last_ts = datetime(2000, 1, 1, tzinfo=UTC)

    def config(self, secrets_too: bool = True) -> dict:
        doc = {"tenant_id": self.id, "name": self.name, "webhook_url": self.webhook_url,
               "counts": {kind: len(rows) for kind, rows in self.records.items()}}
        if secrets_too:
            doc.update(api_key=self.api_key, webhook_secret=self.webhook_secret)
        return doc

    def tick(self) -> str:
        """A strictly increasing `updated_at`, so (updated_at, id) order matches the order of changes."""
        now = datetime.now(UTC)
        self.last_ts = now if now > self.last_ts else self.last_ts + timedelta(microseconds=1)
        return format_ts(self.last_ts)

    def new_id(self, kind: str) -> str:
        while True:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            candidate = f"{KINDS[kind]}_{self.counters[kind]:06d}"
            if candidate not in self.records[kind]:
                return candidate

    def to_json(self) -> dict:
        return {"config": self.config(), "records": self.records, "idempotency": self.idempotency,
                "counters": self.counters, "last_ts": format_ts(self.last_ts)}

    @classmethod
    def from_json(cls, doc: dict) -> Tenant:
        cfg = doc["config"]
        tenant = cls(cfg["tenant_id"], cfg["api_key"], cfg["webhook_secret"], cfg.get("webhook_url"), cfg["name"])
        tenant.records.update(doc["records"])
        tenant.idempotency, tenant.counters = doc.get("idempotency", {}), doc.get("counters", {})
        tenant.last_ts = parse_ts(doc["last_ts"])
        for payment in tenant.records["payments"].values():
            tenant.payments_of.setdefault(payment["invoice_id"], set()).add(payment["id"])
        return tenant


def encode_cursor(updated_at: str, record_id: str, filters: str) -> str:
    raw = json.dumps([updated_at, record_id, filters], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, filters: str) -> tuple[str, str]:
    try:
        updated_at, record_id, bound = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise EmulatorError(400, "bad_request", "cursor is not one this API returned",
                            [{"field": "cursor", "code": "invalid", "message": "unreadable cursor"}]) from None
    if bound != filters:
        raise EmulatorError(400, "bad_request", "cursor was issued for other filters; pass the same filters",
                            [{"field": "cursor", "code": "invalid", "message": "filters changed"}])
    return updated_at, record_id


class State:
    def __init__(self, on_event: Callable[[Tenant, str, dict], None] | None = None):
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.on_event = on_event or (lambda tenant, event_type, obj: None)
        self.default_webhook_url: str | None = None
        self.version = 0  # bumped on every change; the saver compares it

    # -- tenants --------------------------------------------------------------------------------------------------
    def create_tenant(self, tenant_id: str | None = None, api_key: str | None = None,
                      webhook_secret: str | None = None, webhook_url: str | None = None, name: str = "") -> Tenant:
        with self.lock:
            tenant_id = tenant_id or f"t_{secrets.token_hex(4)}"
            if tenant_id in self.tenants:
                raise EmulatorError(409, "conflict", f"tenant {tenant_id} exists")
            tenant = Tenant(tenant_id, api_key or f"fsp_key_{secrets.token_urlsafe(18)}",
                            webhook_secret or f"whsec_{secrets.token_urlsafe(24)}", webhook_url, name)
            self.tenants[tenant_id] = tenant
            self.version += 1
            return tenant

    def tenant(self, tenant_id: str) -> Tenant:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise EmulatorError(404, "not_found", f"no tenant {tenant_id}")
        return tenant

    def webhook_url_of(self, tenant: Tenant) -> str | None:
        return tenant.webhook_url or self.default_webhook_url

    # -- reads ----------------------------------------------------------------------------------------------------
    def get(self, tenant: Tenant, kind: str, record_id: str) -> dict:
        with self.lock:
            record = tenant.records[kind].get(record_id)
            if record is None:
                raise EmulatorError(404, "not_found", f"no {ENTITY[kind]} {record_id}")
            return dict(record)

    def list(self, tenant: Tenant, kind: str, *, limit: int, cursor: str | None, updated_since: datetime | None,
             filters: dict[str, Any]) -> dict:
        bound = json.dumps([updated_since and format_ts(updated_since), sorted(filters.items())])
        after = decode_cursor(cursor, bound) if cursor else None
        since = format_ts(updated_since) if updated_since else None
        with self.lock:
            rows = [r for r in tenant.records[kind].values()
                    if (since is None or r["updated_at"] >= since) and _matches(r, filters)
                    and (after is None or (r["updated_at"], r["id"]) > after)]
            rows.sort(key=lambda r: (r["updated_at"], r["id"]))
            page = [dict(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = encode_cursor(page[-1]["updated_at"], page[-1]["id"], bound) if more else None
        return {"data": page, "next_cursor": next_cursor}

    # -- writes ---------------------------------------------------------------------------------------------------
    def create(self, tenant: Tenant, kind: str, body: dict, idempotency_key: str | None = None) -> tuple[dict, bool]:
        """(record, replayed). The same key with the same body returns the first record."""
        with self.lock:
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            slot = f"{kind}|{idempotency_key}" if idempotency_key else None
            if slot and slot in tenant.idempotency:
                seen = tenant.idempotency[slot]
                if seen["hash"] != digest:
                    raise EmulatorError(409, "conflict", "Idempotency-Key was already used with a different body")
                return dict(tenant.records[kind][seen["id"]]), True
            record = self._put(tenant, kind, None, body)
            if slot:
                tenant.idempotency[slot] = {"hash": digest, "id": record["id"]}
            return record, False

    def update(self, tenant: Tenant, kind: str, record_id: str, changes: dict) -> dict:
        with self.lock:
            current = self.get(tenant, kind, record_id)
            if kind == "invoices" and changes.get("status") == "paid" and current["status"] not in PAYABLE:
                raise EmulatorError(409, "conflict", f"a {current['status']} invoice cannot be marked paid")
            if kind == "payments" and current.get("deleted_at"):
                raise EmulatorError(409, "conflict", "a deleted payment cannot be changed")
            return self._put(tenant, kind, record_id, {**current, **changes})

    def upsert(self, tenant: Tenant, kind: str, body: dict, emit: bool = True) -> dict:
        """A change made by a platform user (control API): any field, any status."""
        with self.lock:
            return self._put(tenant, kind, body.get("id"), body, emit=emit)

    def load(self, tenant: Tenant, dataset: dict[str, list[dict]], emit: bool = False) -> dict[str, int]:
        """Records in the contract's shape (ids kept; `updated_at` kept when given, so history stays realistic).
        Derived fields (line amounts, totals, amounts paid, payment client) are recomputed, not trusted."""
        unknown = set(dataset) - set(KINDS)
        if unknown:
            raise invalid(sorted(unknown)[0], "unknown_field", f"unknown record kinds: {', '.join(sorted(unknown))}")
        counts = {}
        with self.lock:
            for kind in LOAD_ORDER:
                rows = dataset.get(kind) or []
                for i, body in enumerate(rows):
                    try:
                        self._put(tenant, kind, body.get("id"), body, emit=emit,
                                  stamp=body.get("updated_at"))
                    except EmulatorError as exc:
                        for f in exc.fields:
                            f["field"] = f"{kind}.{i}.{f['field']}"
                        raise
                    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
                        raise invalid(f"{kind}.{i}", "invalid", f"{kind}[{i}] is not a valid record: {exc!r}") from None
                counts[kind] = len(rows)
        return counts

    def delete_payment(self, tenant: Tenant, payment_id: str) -> dict:
        with self.lock:
            payment = self.get(tenant, "payments", payment_id)
            if payment["deleted_at"] is None:
                payment["deleted_at"] = payment["updated_at"] = tenant.tick()
                tenant.records["payments"][payment_id] = payment
                self._recompute_paid(tenant, payment["invoice_id"])
                self._changed(tenant, "payment.deleted", payment)
            return dict(payment)

    def _put(self, tenant: Tenant, kind: str, record_id: str | None, body: dict, *,
             emit: bool = True, stamp: str | None = None) -> dict:
        previous = tenant.records[kind].get(record_id) if record_id else None
        record_id = record_id or tenant.new_id(kind)
        record = {k: v for k, v in body.items() if k not in {"id", "created_at", "updated_at"}}
        record = getattr(self, f"_shape_{kind}")(tenant, record, previous)
        if stamp:
            given = parse_ts(stamp)
            tenant.last_ts = max(tenant.last_ts, given)
            stamp = format_ts(given)
        else:
            stamp = tenant.tick()
        record = {"id": record_id, **record,
                  "created_at": (previous or {}).get("created_at") or body.get("created_at") or stamp,
                  "updated_at": stamp}
        tenant.records[kind][record_id] = record
        if kind == "payments":
            tenant.payments_of.setdefault(record["invoice_id"], set()).add(record_id)
            self._recompute_paid(tenant, record["invoice_id"])
            if previous and previous["invoice_id"] != record["invoice_id"]:
                tenant.payments_of[previous["invoice_id"]].discard(record_id)
                self._recompute_paid(tenant, previous["invoice_id"])
        if emit:
            self._changed(tenant, self._event_type(kind, previous, record), record)
        else:
            self.version += 1
        return dict(record)

    def _changed(self, tenant: Tenant, event_type: str, record: dict) -> None:
        self.version += 1
        self.on_event(tenant, event_type, dict(record))

    @staticmethod
    def _event_type(kind: str, previous: dict | None, record: dict) -> str:
        if kind == "invoices":
            was = (previous or {}).get("status")
            if record["status"] == "ready_for_sync" and was != "ready_for_sync":
                return "invoice.ready"
            if record["status"] == "void" and was != "void":
                return "invoice.voided"
            return "invoice.updated"
        return f"{ENTITY[kind]}.{'updated' if previous else 'created'}"

    # -- per-kind shaping: defaults, references, derived fields ---------------------------------------------------
    def _ref(self, tenant: Tenant, kind: str, field: str, record_id: str | None) -> None:
        if record_id is not None and record_id not in tenant.records[kind]:
            raise invalid(field, "not_found", f"{field} {record_id} does not exist")

    def _shape_clients(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        out = {"company_name": r.get("company_name"), "contact": _contact(r.get("contact")),
               "billing_address": _address(r.get("billing_address")), "active": r.get("active", True)}
        named = (out["company_name"] or "").strip() or out["contact"]["first_name"] or out["contact"]["last_name"]
        if not named:
            raise invalid("company_name", "required", "a client needs a company name or a contact first/last name")
        return out

    def _shape_sites(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        if previous and r.get("client_id") != previous["client_id"]:
            raise invalid("client_id", "immutable", "a site cannot move to another client")
        self._ref(tenant, "clients", "client_id", r.get("client_id"))
        contact = r.get("contact")
        return {"client_id": r["client_id"], "name": r["name"], "address": _address(r.get("address")),
                "contact": None if contact is None else _contact(contact), "active": r.get("active", True)}

    def _shape_job_types(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        return {"name": r["name"], "active": r.get("active", True)}

    def _shape_items(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        return {"name": r["name"], "type": r["type"], "description": r.get("description"), "sku": r.get("sku"),
                "price": r["price"], "cost": r.get("cost"), "taxable": r.get("taxable", True),
                "active": r.get("active", True)}

    def _shape_invoices(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        self._ref(tenant, "clients", "client_id", r.get("client_id"))
        self._ref(tenant, "sites", "site_id", r.get("site_id"))
        self._ref(tenant, "job_types", "job_type_id", r.get("job_type_id"))
        if r.get("site_id") and tenant.records["sites"][r["site_id"]]["client_id"] != r["client_id"]:
            raise invalid("site_id", "mismatch", "the site belongs to another client")
        lines, subtotal = [], Decimal(0)
        for i, line in enumerate(r.get("lines") or []):
            self._ref(tenant, "items", f"lines.{i}.item_id", line.get("item_id"))
            try:
                amount = Decimal(line["quantity"]) * Decimal(line["unit_price"])
            except (KeyError, InvalidOperation):
                raise invalid(f"lines.{i}", "invalid", "a line needs a decimal quantity and unit_price") from None
            lines.append({"id": line.get("id") or f"{i + 1}", "item_id": line.get("item_id"),
                          "description": line.get("description"), "quantity": line["quantity"],
                          "unit_price": line["unit_price"], "amount": money(amount),
                          "taxable": line.get("taxable", True)})
            subtotal += Decimal(lines[-1]["amount"])
        tax = Decimal(r.get("tax_total") or "0")
        number = r.get("number") or (previous or {}).get("number")
        if not number:
            tenant.counters["invoice_number"] = tenant.counters.get("invoice_number", 1000) + 1
            number = str(tenant.counters["invoice_number"])
        out = {"number": number, "external_number": r.get("external_number"), "client_id": r["client_id"],
               "site_id": r.get("site_id"), "job_id": r.get("job_id"), "job_type_id": r.get("job_type_id"),
               "status": r.get("status", "draft"), "issued_on": r.get("issued_on") or date.today().isoformat(),
               "due_on": r.get("due_on"), "currency": r.get("currency", "USD"), "lines": lines,
               "subtotal": money(subtotal), "tax_total": money(tax), "total": money(subtotal + tax),
               "amount_paid": (previous or {}).get("amount_paid", "0.00"), "balance": "0.00", "memo": r.get("memo")}
        out["balance"] = money(Decimal(out["total"]) - Decimal(out["amount_paid"]))
        return out

    def _shape_payments(self, tenant: Tenant, r: dict, previous: dict | None) -> dict:
        self._ref(tenant, "invoices", "invoice_id", r.get("invoice_id"))
        invoice = tenant.records["invoices"][r["invoice_id"]]
        return {"invoice_id": r["invoice_id"], "client_id": invoice["client_id"], "amount": r["amount"],
                "paid_on": r["paid_on"], "method": r.get("method", "other"), "reference": r.get("reference"),
                "deleted_at": r.get("deleted_at")}

    def _recompute_paid(self, tenant: Tenant, invoice_id: str) -> None:
        """Payments change what is owed, not the status: marking paid is a user's or an integration's act."""
        invoice = tenant.records["invoices"].get(invoice_id)
        if invoice is None:
            return
        payments = (tenant.records["payments"][pid] for pid in tenant.payments_of.get(invoice_id, ()))
        paid = sum((Decimal(p["amount"]) for p in payments if p["deleted_at"] is None), Decimal(0))
        invoice["amount_paid"], invoice["balance"] = money(paid), money(Decimal(invoice["total"]) - paid)

    # -- persistence ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        with self.lock:
            return {"tenants": {tid: t.to_json() for tid, t in self.tenants.items()},
                    "default_webhook_url": self.default_webhook_url}

    def restore(self, doc: dict) -> None:
        with self.lock:
            self.tenants = {tid: Tenant.from_json(t) for tid, t in doc.get("tenants", {}).items()}
            self.default_webhook_url = doc.get("default_webhook_url") or self.default_webhook_url

    def reset(self) -> None:
        with self.lock:
            self.tenants.clear()
            self.version += 1


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def _contact(c: dict | None) -> dict:
    c = c or {}
    return {k: c.get(k) for k in ("first_name", "last_name", "email", "phone")}


def _address(a: dict | None) -> dict | None:
    if a is None:
        return None
    return {k: a.get(k) for k in ("line1", "line2", "city", "state", "postal_code", "country")}


def _matches(record: dict, filters: dict[str, Any]) -> bool:
    for key, value in filters.items():
        if key == "include_deleted":
            if not value and record.get("deleted_at") is not None:
                return False
        elif record.get(key) != value:
            return False
    return True
