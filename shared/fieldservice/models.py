"""Platform records as frozen dataclasses. Money is Decimal, dates are `date`, timestamps are aware UTC `datetime`.

Only the HTTP adapter converts these to and from the wire (contracts/fieldservice.openapi.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class ItemType(StrEnum):
    SERVICE = "service"
    INVENTORY = "inventory"
    NON_INVENTORY = "non_inventory"
    EQUIPMENT = "equipment"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    READY_FOR_SYNC = "ready_for_sync"
    PAID = "paid"
    VOID = "void"


class PaymentMethod(StrEnum):
    CASH = "cash"
    CHECK = "check"
    CREDIT_CARD = "credit_card"
    ACH = "ach"
    OTHER = "other"


class Unset:
    """Marks an update argument as "leave unchanged", so that None can mean "clear"."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()


@dataclass(frozen=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None  # subdivision code, e.g. "CA"; missing more often than anything else
    postal_code: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class Contact:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass(frozen=True)
class ClientDraft:
    """What we send to create a client (QuickBooks -> platform)."""

    company_name: str | None = None
    contact: Contact = Contact()
    billing_address: Address | None = None
    active: bool = True


@dataclass(frozen=True)
class Client:
    id: str
    company_name: str | None
    contact: Contact
    billing_address: Address | None
    active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        """The name the platform shows: the company, else the contact's name."""
        return self.company_name or self.contact.full_name


@dataclass(frozen=True)
class SiteDraft:
    client_id: str
    name: str
    address: Address
    contact: Contact | None = None
    active: bool = True


@dataclass(frozen=True)
class Site:
    id: str
    client_id: str
    name: str
    address: Address
    contact: Contact | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JobType:
    id: str
    name: str
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ItemDraft:
    name: str
    type: ItemType
    price: Decimal
    cost: Decimal | None = None
    taxable: bool = True
    description: str | None = None
    sku: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    type: ItemType
    description: str | None
    sku: str | None
    price: Decimal
    cost: Decimal | None
    taxable: bool
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class InvoiceLine:
    id: str
    item_id: str | None
    description: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    external_number: str | None  # the QuickBooks DocNumber once synced
    client_id: str
    site_id: str | None
    job_id: str | None
    job_type_id: str | None
    status: InvoiceStatus
    issued_on: date
    due_on: date | None
    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    amount_paid: Decimal
    balance: Decimal
    memo: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Payment:
    id: str
    invoice_id: str
    client_id: str
    amount: Decimal
    paid_on: date
    method: PaymentMethod
    reference: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class PaymentDraft:
    """A payment recorded in the accounting system, sent to the platform (QuickBooks -> platform)."""

    invoice_id: str
    amount: Decimal
    paid_on: date | None
    method: PaymentMethod | str = PaymentMethod.OTHER
    reference: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_cursor: str | None = None
