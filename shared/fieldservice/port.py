"""The `FieldService` port: everything the sync needs from the platform, in domain types (see models.py).

Lists are ordered by (updated_at, id) and paged by an opaque cursor; `iter_all` walks every page. Creates take an
`idempotency_key`: the same key returns the first result, so a retried task never creates twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from shared.fieldservice.models import (
    UNSET,
    Address,
    Client,
    ClientDraft,
    Contact,
    Invoice,
    InvoiceStatus,
    Item,
    ItemDraft,
    ItemType,
    JobType,
    Page,
    Payment,
    PaymentDraft,
    Site,
    SiteDraft,
    Unset,
)

T = TypeVar("T")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class FieldService(Protocol):
    def list_clients(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                     limit: int = DEFAULT_LIMIT, active: bool | None = None) -> Page[Client]: ...

    def get_client(self, tenant_id: str, client_id: str) -> Client: ...

    def create_client(self, tenant_id: str, draft: ClientDraft, *, idempotency_key: str | None = None) -> Client: ...

    def update_client(self, tenant_id: str, client_id: str, *, company_name: str | None | Unset = UNSET,
                      contact: Contact | Unset = UNSET, billing_address: Address | None | Unset = UNSET,
                      active: bool | Unset = UNSET) -> Client: ...

    def list_sites(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                   limit: int = DEFAULT_LIMIT, client_id: str | None = None) -> Page[Site]: ...

    def get_site(self, tenant_id: str, site_id: str) -> Site: ...

    def create_site(self, tenant_id: str, draft: SiteDraft, *, idempotency_key: str | None = None) -> Site: ...

    def update_site(self, tenant_id: str, site_id: str, *, name: str | Unset = UNSET,
                    address: Address | Unset = UNSET, contact: Contact | None | Unset = UNSET,
                    active: bool | Unset = UNSET) -> Site: ...

    def list_job_types(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                       limit: int = DEFAULT_LIMIT) -> Page[JobType]: ...

    def get_job_type(self, tenant_id: str, job_type_id: str) -> JobType: ...

    def list_items(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                   limit: int = DEFAULT_LIMIT) -> Page[Item]: ...

    def get_item(self, tenant_id: str, item_id: str) -> Item: ...

    def create_item(self, tenant_id: str, draft: ItemDraft, *, idempotency_key: str | None = None) -> Item: ...

    def update_item(self, tenant_id: str, item_id: str, *, name: str | Unset = UNSET,
                    type: ItemType | Unset = UNSET, price: Decimal | Unset = UNSET,
                    cost: Decimal | None | Unset = UNSET, taxable: bool | Unset = UNSET,
                    description: str | None | Unset = UNSET, sku: str | None | Unset = UNSET,
                    active: bool | Unset = UNSET) -> Item: ...

    def list_invoices(self, tenant_id: str, *, status: InvoiceStatus | str | None = None,
                      updated_since: datetime | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT,
                      client_id: str | None = None) -> Page[Invoice]: ...

    def get_invoice(self, tenant_id: str, invoice_id: str) -> Invoice: ...

    def update_invoice(self, tenant_id: str, invoice_id: str, *, external_number: str | None | Unset = UNSET,
                       status: InvoiceStatus | str | Unset = UNSET,
                       tax_total: Decimal | Unset = UNSET) -> Invoice: ...

    def list_payments(self, tenant_id: str, *, updated_since: datetime | None = None, cursor: str | None = None,
                      limit: int = DEFAULT_LIMIT, invoice_id: str | None = None,
                      include_deleted: bool = False) -> Page[Payment]: ...

    def get_payment(self, tenant_id: str, payment_id: str) -> Payment: ...

    # Payments entered in the accounting system (QuickBooks -> platform).
    def create_payment(self, tenant_id: str, draft: PaymentDraft, *,
                       idempotency_key: str | None = None) -> Payment: ...

    def update_payment(self, tenant_id: str, payment_id: str, *, amount: Decimal | Unset = UNSET,
                       paid_on: date | None | Unset = UNSET, reference: str | None | Unset = UNSET) -> Payment: ...

    def delete_payment(self, tenant_id: str, payment_id: str) -> Payment: ...


def iter_all(list_page: Callable[..., Page[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
    """Every record of a list method, page after page: `iter_all(fsp.list_clients, tenant_id, updated_since=t)`."""
    cursor = kwargs.pop("cursor", None)
    while True:
        page = list_page(*args, cursor=cursor, **kwargs)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor
