"""`HttpFieldService`: the one adapter of the `FieldService` port, over the HTTP contract in
contracts/fieldservice.openapi.yaml. Wire <-> domain conversion lives here and nowhere else.

Retries: 429 and 5xx, timeouts and dropped connections are retried with full-jitter exponential backoff, honouring
`Retry-After`. Creates always carry an `Idempotency-Key` (ours, or a fresh one per call), so a retried POST whose
first attempt did land returns that first result instead of creating twice."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import requests

from shared.fieldservice.errors import (
    Conflict,
    FieldError,
    FieldServiceError,
    NotFound,
    PlatformRefused,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from shared.fieldservice.models import (
    UNSET,
    Address,
    Client,
    ClientDraft,
    Contact,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Item,
    ItemDraft,
    ItemType,
    JobType,
    Page,
    Payment,
    PaymentDraft,
    PaymentMethod,
    Site,
    SiteDraft,
    Unset,
)
from shared.fieldservice.port import DEFAULT_LIMIT, MAX_LIMIT

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


# -- wire -> domain -------------------------------------------------------------------------------------------------
def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _opt_ts(value: str | None) -> datetime | None:
    return _ts(value) if value else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _money(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _address(d: dict | None) -> Address | None:
    if d is None:
        return None
    return Address(line1=d.get("line1"), line2=d.get("line2"), city=d.get("city"), state=d.get("state"),
                   postal_code=d.get("postal_code"), country=d.get("country"))


def _contact(d: dict | None) -> Contact | None:
    if d is None:
        return None
    return Contact(first_name=d.get("first_name"), last_name=d.get("last_name"), email=d.get("email"),
                   phone=d.get("phone"))


def client_from_wire(d: dict) -> Client:
    return Client(id=d["id"], company_name=d.get("company_name"), contact=_contact(d.get("contact")) or Contact(),
                  billing_address=_address(d.get("billing_address")), active=d["active"],
                  created_at=_ts(d["created_at"]), updated_at=_ts(d["updated_at"]))


def site_from_wire(d: dict) -> Site:
    return Site(id=d["id"], client_id=d["client_id"], name=d["name"], address=_address(d["address"]) or Address(),
                contact=_contact(d.get("contact")), active=d["active"], created_at=_ts(d["created_at"]),
                updated_at=_ts(d["updated_at"]))


def job_type_from_wire(d: dict) -> JobType:
    return JobType(id=d["id"], name=d["name"], active=d["active"], created_at=_ts(d["created_at"]),
                   updated_at=_ts(d["updated_at"]))


def item_from_wire(d: dict) -> Item:
    return Item(id=d["id"], name=d["name"], type=ItemType(d["type"]), description=d.get("description"),
                sku=d.get("sku"), price=Decimal(d["price"]), cost=_money(d.get("cost")), taxable=d["taxable"],
                active=d["active"], created_at=_ts(d["created_at"]), updated_at=_ts(d["updated_at"]))


def _line(d: dict) -> InvoiceLine:
    return InvoiceLine(id=d["id"], item_id=d.get("item_id"), description=d.get("description"),
                       quantity=Decimal(d["quantity"]), unit_price=Decimal(d["unit_price"]),
                       amount=Decimal(d["amount"]), taxable=d["taxable"])


def invoice_from_wire(d: dict) -> Invoice:
    return Invoice(id=d["id"], number=d["number"], external_number=d.get("external_number"),
                   client_id=d["client_id"], site_id=d.get("site_id"), job_id=d.get("job_id"),
                   job_type_id=d.get("job_type_id"), status=InvoiceStatus(d["status"]),
                   issued_on=date.fromisoformat(d["issued_on"]), due_on=_day(d.get("due_on")),
                   currency=d["currency"], lines=tuple(_line(x) for x in d["lines"]), subtotal=Decimal(d["subtotal"]),
                   tax_total=Decimal(d["tax_total"]), total=Decimal(d["total"]),
                   amount_paid=Decimal(d["amount_paid"]), balance=Decimal(d["balance"]), memo=d.get("memo"),
                   created_at=_ts(d["created_at"]), updated_at=_ts(d["updated_at"]))


def payment_from_wire(d: dict) -> Payment:
    return Payment(id=d["id"], invoice_id=d["invoice_id"], client_id=d["client_id"], amount=Decimal(d["amount"]),
                   paid_on=date.fromisoformat(d["paid_on"]), method=PaymentMethod(d["method"]),
                   reference=d.get("reference"), created_at=_ts(d["created_at"]), updated_at=_ts(d["updated_at"]),
                   deleted_at=_opt_ts(d.get("deleted_at")))


# -- domain -> wire -------------------------------------------------------------------------------------------------
def format_ts(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_money(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be Decimal, not {type(value).__name__}")
    return f"{value.quantize(Decimal('0.01')):f}"


def _address_wire(a: Address | None) -> dict | None:
    if a is None:
        return None
    return {"line1": a.line1, "line2": a.line2, "city": a.city, "state": a.state, "postal_code": a.postal_code,
            "country": a.country}


def _contact_wire(c: Contact | None) -> dict | None:
    if c is None:
        return None
    return {"first_name": c.first_name, "last_name": c.last_name, "email": c.email, "phone": c.phone}


def client_to_wire(draft: ClientDraft) -> dict:
    return {"company_name": draft.company_name, "contact": _contact_wire(draft.contact),
            "billing_address": _address_wire(draft.billing_address), "active": draft.active}


def site_to_wire(draft: SiteDraft) -> dict:
    return {"client_id": draft.client_id, "name": draft.name, "address": _address_wire(draft.address),
            "contact": _contact_wire(draft.contact), "active": draft.active}


def item_to_wire(draft: ItemDraft) -> dict:
    return {"name": draft.name, "type": ItemType(draft.type).value, "description": draft.description,
            "sku": draft.sku, "price": format_money(draft.price),
            "cost": None if draft.cost is None else format_money(draft.cost), "taxable": draft.taxable,
            "active": draft.active}


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "contact": _contact_wire, "billing_address": _address_wire, "address": _address_wire,
    "price": format_money, "cost": lambda v: None if v is None else format_money(v),
    "type": lambda v: ItemType(v).value, "status": lambda v: InvoiceStatus(v).value,
    "tax_total": format_money, "amount": format_money, "paid_on": lambda v: None if v is None else v.isoformat(),
}


def _changes(**fields: Any) -> dict:
    body = {k: _CONVERT.get(k, lambda v: v)(v) for k, v in fields.items() if not isinstance(v, Unset)}
    if not body:
        raise ValueError("nothing to update")
    return body


class HttpFieldService:
    """The platform over HTTP. `base_url` is the API root, with or without its `/v1` version segment;
    `api_key` is one key or a function tenant_id -> key."""

    def __init__(self, base_url: str, api_key: str | Callable[[str], str], session: requests.Session | None = None,
                 timeout: tuple[float, float] = (3.05, 20), max_retries: int = 4, backoff_base: float = 0.5,
                 backoff_cap: float = 20.0, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        root = base_url.rstrip("/")
        self._root = root if root.endswith("/v1") else f"{root}/v1"
        self._key_for = api_key if callable(api_key) else (lambda _tenant: api_key)
        self._session = session or requests.Session()
        self._timeout, self._max_retries = timeout, max_retries
        self._backoff_base, self._backoff_cap = backoff_base, backoff_cap
        self._sleep, self._rng = sleep, rng or random.Random()  # noqa: S311 - jitter, not secrets

    def close(self) -> None:
        self._session.close()

    # -- transport --------------------------------------------------------------------------------------------------
    def _request(self, method: str, tenant_id: str, path: str, *, params: dict | None = None,
                 body: dict | None = None, idempotency_key: str | None = None) -> dict:
        url = f"{self._root}/tenants/{tenant_id}{path}"
        headers = {"Authorization": f"Bearer {self._key_for(tenant_id)}", "Accept": "application/json"}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        attempt = 0
        while True:
            try:
                response = self._session.request(method, url, params=params, json=body, headers=headers,
                                                 timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self._max_retries:
                    raise Unavailable(f"{method} {path}: {type(exc).__name__}", code="unavailable") from exc
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response.json()
            if response.status_code in RETRY_STATUSES and attempt < self._max_retries:
                retry_after = _retry_after(response)
                self._sleep(retry_after if retry_after is not None else self._backoff(attempt))
                attempt += 1
                continue
            raise _error(response, method, path)

    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self._backoff_cap, self._backoff_base * 2 ** attempt))

    def _page(self, tenant_id: str, path: str, convert: Callable[[dict], T], *, updated_since: datetime | None,
              cursor: str | None, limit: int, **filters: Any) -> Page[T]:
        params: dict[str, Any] = {"limit": max(1, min(MAX_LIMIT, limit))}
        if updated_since is not None:
            params["updated_since"] = format_ts(updated_since)
        if cursor:
            params["cursor"] = cursor
        for key, value in filters.items():
            if value is not None:
                params[key] = str(value).lower() if isinstance(value, bool) else str(value)
        doc = self._request("GET", tenant_id, path, params=params)
        return Page(tuple(convert(d) for d in doc["data"]), doc.get("next_cursor"))

    # -- clients ----------------------------------------------------------------------------------------------------
    def list_clients(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                     limit: int = DEFAULT_LIMIT, active: bool | None = None) -> Page[Client]:
        return self._page(tenant_id, "/clients", client_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit, active=active)

    def get_client(self, tenant_id: str, client_id: str) -> Client:
        return client_from_wire(self._request("GET", tenant_id, f"/clients/{_seg(client_id)}"))

    def create_client(self, tenant_id: str, draft: ClientDraft, *, idempotency_key: str | None = None) -> Client:
        return client_from_wire(self._request("POST", tenant_id, "/clients", body=client_to_wire(draft),
                                              idempotency_key=idempotency_key))

    def update_client(self, tenant_id: str, client_id: str, *, company_name: str | None | Unset = UNSET,
                      contact: Contact | Unset = UNSET, billing_address: Address | None | Unset = UNSET,
                      active: bool | Unset = UNSET) -> Client:
        body = _changes(company_name=company_name, contact=contact, billing_address=billing_address, active=active)
        return client_from_wire(self._request("PATCH", tenant_id, f"/clients/{_seg(client_id)}", body=body))

    # -- sites ------------------------------------------------------------------------------------------------------
    def list_sites(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                   limit: int = DEFAULT_LIMIT, client_id: str | None = None) -> Page[Site]:
        return self._page(tenant_id, "/sites", site_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit, client_id=client_id)

    def get_site(self, tenant_id: str, site_id: str) -> Site:
        return site_from_wire(self._request("GET", tenant_id, f"/sites/{_seg(site_id)}"))

    def create_site(self, tenant_id: str, draft: SiteDraft, *, idempotency_key: str | None = None) -> Site:
        return site_from_wire(self._request("POST", tenant_id, "/sites", body=site_to_wire(draft),
                                            idempotency_key=idempotency_key))

    def update_site(self, tenant_id: str, site_id: str, *, name: str | Unset = UNSET,
                    address: Address | Unset = UNSET, contact: Contact | None | Unset = UNSET,
                    active: bool | Unset = UNSET) -> Site:
        body = _changes(name=name, address=address, contact=contact, active=active)
        return site_from_wire(self._request("PATCH", tenant_id, f"/sites/{_seg(site_id)}", body=body))

    # -- job types and items ----------------------------------------------------------------------------------------
    def list_job_types(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                       limit: int = DEFAULT_LIMIT) -> Page[JobType]:
        return self._page(tenant_id, "/job_types", job_type_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit)

    def get_job_type(self, tenant_id: str, job_type_id: str) -> JobType:
        return job_type_from_wire(self._request("GET", tenant_id, f"/job_types/{_seg(job_type_id)}"))

    def list_items(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                   limit: int = DEFAULT_LIMIT) -> Page[Item]:
        return self._page(tenant_id, "/items", item_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit)

    def get_item(self, tenant_id: str, item_id: str) -> Item:
        return item_from_wire(self._request("GET", tenant_id, f"/items/{_seg(item_id)}"))

    def create_item(self, tenant_id: str, draft: ItemDraft, *, idempotency_key: str | None = None) -> Item:
        return item_from_wire(self._request("POST", tenant_id, "/items", body=item_to_wire(draft),
                                            idempotency_key=idempotency_key))

    def update_item(self, tenant_id: str, item_id: str, *, name: str | Unset = UNSET,
                    type: ItemType | Unset = UNSET, price: Decimal | Unset = UNSET,
                    cost: Decimal | None | Unset = UNSET, taxable: bool | Unset = UNSET,
                    description: str | None | Unset = UNSET, sku: str | None | Unset = UNSET,
                    active: bool | Unset = UNSET) -> Item:
        body = _changes(name=name, type=type, price=price, cost=cost, taxable=taxable, description=description,
                        sku=sku, active=active)
        return item_from_wire(self._request("PATCH", tenant_id, f"/items/{_seg(item_id)}", body=body))

    # -- invoices and payments --------------------------------------------------------------------------------------
    def list_invoices(self, tenant_id: str, *, status: InvoiceStatus | str | None = None,
                      updated_since: datetime | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT,
                      client_id: str | None = None) -> Page[Invoice]:
        return self._page(tenant_id, "/invoices", invoice_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit, status=None if status is None else InvoiceStatus(status).value,
                          client_id=client_id)

    def get_invoice(self, tenant_id: str, invoice_id: str) -> Invoice:
        return invoice_from_wire(self._request("GET", tenant_id, f"/invoices/{_seg(invoice_id)}"))

    def update_invoice(self, tenant_id: str, invoice_id: str, *, external_number: str | None | Unset = UNSET,
                       status: InvoiceStatus | str | Unset = UNSET, tax_total: Decimal | Unset = UNSET) -> Invoice:
        body = _changes(external_number=external_number, status=status, tax_total=tax_total)
        return invoice_from_wire(self._request("PATCH", tenant_id, f"/invoices/{_seg(invoice_id)}", body=body))

    def list_payments(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                      limit: int = DEFAULT_LIMIT, invoice_id: str | None = None,
                      include_deleted: bool = False) -> Page[Payment]:
        return self._page(tenant_id, "/payments", payment_from_wire, updated_since=updated_since, cursor=cursor,
                          limit=limit, invoice_id=invoice_id, include_deleted=include_deleted or None)

    def get_payment(self, tenant_id: str, payment_id: str) -> Payment:
        return payment_from_wire(self._request("GET", tenant_id, f"/payments/{_seg(payment_id)}"))

    def create_payment(self, tenant_id: str, draft: PaymentDraft, *, idempotency_key: str | None = None) -> Payment:
        body = {"invoice_id": draft.invoice_id, "amount": format_money(draft.amount),
                "paid_on": (draft.paid_on or datetime.now(UTC).date()).isoformat(),
                "method": str(getattr(draft.method, "value", draft.method)), "reference": draft.reference}
        return payment_from_wire(self._request("POST", tenant_id, "/payments", body=body,
                                               idempotency_key=idempotency_key))

    def update_payment(self, tenant_id: str, payment_id: str, *, amount: Decimal | Unset = UNSET,
                       paid_on: date | None | Unset = UNSET, reference: str | None | Unset = UNSET) -> Payment:
        body = _changes(amount=amount, paid_on=paid_on, reference=reference)
        return payment_from_wire(self._request("PATCH", tenant_id, f"/payments/{_seg(payment_id)}", body=body))

    def delete_payment(self, tenant_id: str, payment_id: str) -> Payment:
        return payment_from_wire(self._request("DELETE", tenant_id, f"/payments/{_seg(payment_id)}"))


def _seg(record_id: str) -> str:
    """One path segment: ids are opaque, so a '/' or '?' in one must not change the route."""
    return requests.utils.quote(record_id, safe="")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(MAX_RETRY_AFTER, seconds))


_ERRORS: dict[int, type[PlatformRefused]] = {400: ValidationFailed, 422: ValidationFailed, 401: Unauthorized,
                                             403: Unauthorized, 404: NotFound, 409: Conflict}


def _error(response: requests.Response, method: str, path: str) -> FieldServiceError:
    try:
        err = response.json().get("error") or {}
    except ValueError:
        err = {}
    if not isinstance(err, dict):
        err = {}
    status = response.status_code
    code = str(err.get("code") or status)
    message = f"{method} {path}: {err.get('message') or response.reason or status}"
    if status == 429:
        return RateLimited(message, code=code, status=status, retry_after=_retry_after(response))
    if status >= 500:
        return Unavailable(message, code=code, status=status)
    cls = _ERRORS.get(status, PlatformRefused)  # any other 4xx: the platform's answer about this request
    if cls is ValidationFailed:
        fields = tuple(FieldError(str(f.get("field", "")), str(f.get("code", "")), str(f.get("message", "")))
                       for f in err.get("fields") or [] if isinstance(f, dict))
        return ValidationFailed(message, code=code, status=status, fields=fields)
    return cls(message, code=code, status=status)
