"""The QuickBooks port: what the domain needs from QuickBooks. Writes take typed drafts and answer typed results
(money as Decimal); what QuickBooks sends on its own (CDC changes, reads, lists) comes back typed too. Only the
adapter (shared/quickbooks/adapter.py, with the JSON mapping in shapes.py) and the QuickBooks fakes in tests turn
them into QuickBooks' JSON and back (decision 42)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol, Self

from shared.quickbooks.pacing import Budget

MAX_PAGE = 1000  # QuickBooks' MAXRESULTS ceiling
MAX_BATCH = 30  # operations per batch request


@dataclass(frozen=True)
class BatchOp:
    bid: str
    operation: str  # create | update | delete
    entity: str
    body: dict[str, Any]


@dataclass(frozen=True)
class BatchResult:
    bid: str
    entity: dict[str, Any] | None = None
    fault: dict[str, Any] | None = None  # {"code", "message", "detail"}
    extra: dict[str, Any] = field(default_factory=dict)


CDC_LOOKBACK_DAYS = 30  # QuickBooks' CDC answers for changes in the last 30 days only, by its clock (qbo-facts.md)
CHANGE_KINDS = ("Customer", "Item", "Class", "Invoice", "Payment")


@dataclass(frozen=True)
class Changes:
    """What changed in QuickBooks since a cursor, typed per kind in QuickBooks' order, and the QuickBooks time the
    answer was read at, from which the next cursor is taken. A deletion (CDC's `status: "Deleted"`) is its kind's
    state with `deleted` set and only its Id: CDC names nothing more, not even a merge's surviving record."""

    read_at: datetime
    customers: tuple[CustomerState, ...] = ()
    items: tuple[ItemState, ...] = ()
    classes: tuple[ClassState, ...] = ()
    invoices: tuple[InvoiceState, ...] = ()
    payments: tuple[PaymentState, ...] = ()

    def of(self, entity: str) -> tuple[Changed, ...]:
        """The changes of one of CHANGE_KINDS."""
        kinds: dict[str, tuple[Changed, ...]] = {"Customer": self.customers, "Item": self.items,
                                                 "Class": self.classes, "Invoice": self.invoices,
                                                 "Payment": self.payments}
        return kinds[entity]


class QuickBooksPort(Protocol):
    realm_id: str

    def company_name(self) -> str | None:
        """CompanyInfo's CompanyName."""
        ...

    def preferences(self) -> dict[str, Any]:
        """The Preferences object as QuickBooks sends it: the admin API hands it to the settings page as it is (the
        sync engine asks `money_prefs` instead)."""
        ...

    def read_customer(self, qbo_id: str) -> CustomerState: ...
    def read_item(self, qbo_id: str) -> ItemState: ...
    def read_invoice(self, qbo_id: str) -> InvoiceState: ...
    def read_payment(self, qbo_id: str) -> PaymentState: ...

    def concurrent(self, want: int) -> AbstractContextManager[int]:
        """How many calls this task may have in flight for the company at once while the block runs (at least 1,
        at most `want`): QuickBooks allows 10 per company across every caller."""
        ...

    def budget(self) -> Budget:
        """What the company may send right now without waiting, as every caller's pacing left it."""
        ...

    # -- writes: typed drafts in, typed results out (the adapter alone owns QuickBooks' JSON bodies) -------------
    def create_customer(self, draft: CustomerDraft, request_id: str) -> CustomerState:
        """One customer or job; a refusal raises its typed QuickBooksError."""
        ...

    def create_customers(self, drafts: Sequence[CustomerDraft], request_id: str) -> list[CustomerResult]:
        """One batch of at most 30 creates; result `bid` is the draft's index in `drafts`."""
        ...

    def update_customer(self, change: CustomerChange, request_id: str | None = None) -> CustomerState:
        """One sparse update carrying the change's SyncToken (5010 raises StaleObject)."""
        ...

    def update_customers(self, changes: Sequence[CustomerChange], request_id: str) -> list[CustomerResult]:
        """One batch of at most 30 sparse updates; result `bid` is the change's index in `changes`."""
        ...

    def create_item(self, draft: ItemDraft, request_id: str) -> ItemState: ...
    def update_item(self, change: ItemChange) -> ItemState: ...
    def create_class(self, draft: ClassDraft, request_id: str) -> str:
        """The new class's Id."""
        ...

    # -- questions the domain asks (the adapter alone owns the query language) --------------------------------
    def customers_page(self, start: int, size: int = MAX_PAGE) -> list[CustomerState]:
        """One page of every customer, active or not, in Id order (`start` is 1-based)."""
        ...

    def every(self, entity: str) -> Iterator[dict[str, Any]]:
        """Every active object of a list entity (Account, Class, Item, Vendor, TaxCode) as QuickBooks sends it, paged
        by the adapter: the admin API hands these rows to the settings page as they are (the sync engine asks the
        typed questions below instead)."""
        ...

    def every_item(self) -> Iterator[ItemState]:
        """Every active item, paged by the adapter."""
        ...

    def vendor_and_employee_names(self) -> list[str]:
        """The DisplayName of every vendor and employee, active or not: they share the customers' name space
        (6240)."""
        ...

    def changes_since(self, entities: Sequence[str], since: datetime) -> Changes:
        """Every object of these kinds changed at or after `since`, deletions included: one CDC call when QuickBooks
        accepts `since` (CDC's 30 days are counted on QuickBooks' clock, not ours) and the answer stays under its
        1,000-object cap, else a paged query on MetaData.LastUpdatedTime. `read_at` is QuickBooks' time."""
        ...

    def items_by(self, ids: Sequence[str], names: Sequence[str]) -> list[ItemState]:
        """Items with these Ids or these Names (QuickBooks item names are unique), 100 per query."""
        ...

    def classes_named(self, names: Sequence[str]) -> list[ClassState]:
        """Classes (active or not) with one of these Names, 100 per query."""
        ...

    def customers_named(self, names: Sequence[str]) -> list[CustomerState]:
        """Customers (active or not) whose DisplayName is one of `names`, 100 names per query."""
        ...

    def by_ids(self, ids: dict[str, Sequence[str]]) -> Changes:
        """The objects with these Ids per kind (Customer, Item, Invoice, Payment), active or not, 100 per query:
        what a webhook names, read as CDC would report it (no cursor is taken from its `read_at`). An Id QuickBooks
        no longer has is left out."""
        ...


# -- what a run keeps of QuickBooks' states between tasks (its chunks are JSON) --------------------------------------

def _plain(value: Any) -> Any:
    """JSON-safe: Decimals and times as text (never through a float), dataclasses as dicts, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


class KeptState:
    """A state a run keeps in its chunks between tasks: `as_dict` for the chunk, `from_dict` to take it back. Each
    state names the fields whose JSON form is not their value (`_revive`: field -> how to turn it back)."""

    _revive: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def as_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(self)
        return plain

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(**{k: cls._revive[k](v) if v is not None and k in cls._revive else v
                      for k, v in d.items()})


def _address(d: dict[str, Any]) -> PostalAddress:
    return PostalAddress(**d)


def _applied(pairs: list[list[str]]) -> tuple[tuple[str, Decimal], ...]:
    return tuple((txn, Decimal(amount)) for txn, amount in pairs)


# -- customers, items and classes: drafts, changes and what QuickBooks holds ---------------------------------------

@dataclass(frozen=True)
class PostalAddress:
    """A QuickBooks address (BillAddr / ShipAddr); `state` is its CountrySubDivisionCode. Empty parts are not sent."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @classmethod
    def of(cls, parts: dict[str, Any] | None) -> PostalAddress | None:
        """From the domain's address dict (line1, line2, city, state, postal_code, country), None for none."""
        if not parts:
            return None
        return cls(**{k: parts.get(k) for k in ("line1", "line2", "city", "state", "postal_code", "country")})


@dataclass(frozen=True)
class CustomerDraft:
    """A new customer, or a job (`job`: a sub-customer billed with its parent, under `parent_id`). Values are as
    they are to be stored (cleaned by the domain); None is left out, never sent empty."""

    display_name: str
    company: str | None = None
    first: str | None = None
    last: str | None = None
    email: str | None = None
    phone: str | None = None
    bill: PostalAddress | None = None
    ship: PostalAddress | None = None
    job: bool = False
    parent_id: str | None = None
    active: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (onboarding keeps drafts in its run chunks); `from_dict` turns it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CustomerDraft:
        return cls(**{**d, "bill": PostalAddress.of(d.get("bill")), "ship": PostalAddress.of(d.get("ship"))})


CUSTOMER_TEXT = ("company", "first", "last", "email", "phone")


@dataclass(frozen=True)
class CustomerChange:
    """A sparse update of one customer: only the fields set here are sent (None: unchanged); a text field named in
    `clear` is blanked in QuickBooks."""

    qbo_id: str
    sync_token: str
    company: str | None = None
    first: str | None = None
    last: str | None = None
    email: str | None = None
    phone: str | None = None
    bill: PostalAddress | None = None
    ship: PostalAddress | None = None
    active: bool | None = None
    clear: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.clear <= set(CUSTOMER_TEXT):
            raise ValueError(f"only text fields can be cleared: {sorted(self.clear - set(CUSTOMER_TEXT))}")


@dataclass(frozen=True)
class CustomerState(KeptState):
    """A customer (or job) as QuickBooks holds it, after a write, a read or a CDC change."""

    _revive = {"bill": _address, "ship": _address, "updated_at": datetime.fromisoformat}

    qbo_id: str
    sync_token: str | None = None
    display_name: str = ""
    company: str | None = None
    first: str | None = None
    last: str | None = None
    email: str | None = None
    phone: str | None = None
    bill: PostalAddress | None = None
    ship: PostalAddress | None = None
    active: bool = True
    job: bool = False  # a job with a parent
    parent_id: str | None = None
    level: int = 0
    updated_at: datetime | None = None  # MetaData.LastUpdatedTime
    deleted: bool = False  # a CDC tombstone

    def compact(self) -> dict[str, Any]:
        """The compact, JSON-safe form onboarding keeps between tasks (shared/domain/parties.py)."""
        return {"id": self.qbo_id, "sync_token": self.sync_token, "name": self.display_name,
                "company": self.company, "first": self.first, "last": self.last, "email": self.email,
                "phone": self.phone, "bill": asdict(self.bill) if self.bill else None,
                "ship": asdict(self.ship) if self.ship else None, "active": self.active, "job": self.job,
                "parent_id": self.parent_id, "level": self.level}


@dataclass(frozen=True)
class CustomerResult:
    bid: str
    customer: CustomerState | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class ItemDraft:
    """A new item. `kind` is QuickBooks' item Type as we create them: Service or NonInventory (decision 21)."""

    name: str
    kind: str
    income_account_id: str | None
    expense_account_id: str | None
    taxable: bool
    unit_price: Decimal | None = None
    purchase_cost: Decimal | None = None
    description: str | None = None
    sku: str | None = None


@dataclass(frozen=True)
class ItemChange:
    """A sparse update of one item: only the fields set here are sent (None: unchanged)."""

    qbo_id: str
    sync_token: str
    unit_price: Decimal | None = None
    taxable: bool | None = None
    description: str | None = None


@dataclass(frozen=True)
class ItemState(KeptState):
    _revive = {"unit_price": Decimal, "purchase_cost": Decimal}

    qbo_id: str
    sync_token: str | None = None
    name: str = ""
    kind: str = ""  # QuickBooks' Type: Service, NonInventory, Inventory, Category, Group, ...
    unit_price: Decimal | None = None
    purchase_cost: Decimal | None = None
    taxable: bool | None = None  # None: QuickBooks said nothing
    description: str | None = None
    sku: str | None = None
    active: bool = True
    deleted: bool = False


@dataclass(frozen=True)
class ClassDraft:
    name: str


@dataclass(frozen=True)
class ClassState(KeptState):
    qbo_id: str
    name: str
    active: bool = True


# -- money: invoices and payments (shared/domain/invoices.py, payments.py) -----------------------------------------
# Domain code passes these typed drafts and reads typed results; only the adapter knows QuickBooks' JSON. Each write
# is one item of a batch of at most 30; the batch's `requestid` is chosen by the domain (recorded in the records'
# links before the call), so a crash-retry resends the same id and QuickBooks replays its first answer.

@dataclass(frozen=True)
class Fault:
    code: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class SalesLine:
    item_id: str
    qty: Decimal
    unit_price: Decimal
    amount: Decimal
    description: str = ""
    tax_code_id: str | None = None  # line TaxCodeRef (US: TAX / NON); None = let QuickBooks decide
    class_id: str | None = None


@dataclass(frozen=True)
class InvoiceDraft:
    """One invoice write: create (no qbo_id), update (qbo_id + sync_token, the whole invoice), or void."""

    bid: str
    customer_id: str = ""
    lines: tuple[SalesLine, ...] = ()
    txn_date: date | None = None
    due_date: date | None = None
    doc_number: str | None = None
    class_id: str | None = None
    private_note: str = ""
    txn_tax_code_id: str | None = None  # TxnTaxDetail.TxnTaxCodeRef
    total_tax: Decimal | None = None  # TxnTaxDetail.TotalTax: the tax the platform states, honoured by QuickBooks
    ship_to: PostalAddress | None = None  # ShipAddr (automated sales tax computes from it)
    qbo_id: str | None = None
    sync_token: str | None = None
    void: bool = False


@dataclass(frozen=True)
class InvoiceState(KeptState):
    """An invoice as QuickBooks holds it after a write, a read or a CDC change (a deleted one is also `voided`:
    nothing is owed on it)."""

    _revive = {"total": Decimal, "tax": Decimal, "balance": Decimal}

    qbo_id: str
    sync_token: str
    doc_number: str | None
    total: Decimal
    tax: Decimal
    balance: Decimal
    customer_id: str = ""
    voided: bool = False
    deleted: bool = False  # a CDC tombstone


@dataclass(frozen=True)
class InvoiceResult:
    bid: str
    invoice: InvoiceState | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class PaymentDraft:
    """One payment write: create, update (qbo_id + sync_token) or delete. `applied` is (invoice Id, amount)."""

    bid: str
    customer_id: str = ""
    total: Decimal = Decimal(0)
    txn_date: date | None = None
    applied: tuple[tuple[str, Decimal], ...] = ()
    deposit_account_id: str | None = None
    method_id: str | None = None
    reference: str | None = None
    private_note: str = ""
    qbo_id: str | None = None
    sync_token: str | None = None
    delete: bool = False


@dataclass(frozen=True)
class PaymentState(KeptState):
    _revive = {"total": Decimal, "unapplied": Decimal, "txn_date": date.fromisoformat, "applied": _applied}

    qbo_id: str
    sync_token: str
    total: Decimal
    unapplied: Decimal
    txn_date: date | None
    applied: tuple[tuple[str, Decimal], ...] = ()
    reference: str | None = None
    method_id: str | None = None
    deleted: bool = False  # a CDC tombstone
    customer_name: str | None = None  # CustomerRef's name, as QuickBooks shows the payer


Changed = CustomerState | ItemState | ClassState | InvoiceState | PaymentState


@dataclass(frozen=True)
class PaymentResult:
    bid: str
    payment: PaymentState | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class MoneyPrefs:
    """The preferences the money path acts on (Preferences.SalesFormsPrefs / TaxPrefs)."""

    custom_txn_numbers: bool = False
    automated_sales_tax: bool = False  # TaxPrefs.PartnerTaxEnabled
    class_per_txn: bool = False
    class_per_line: bool = False


class MoneyPort(Protocol):
    def money_prefs(self) -> MoneyPrefs: ...
    def push_invoices(self, drafts: Sequence[InvoiceDraft], request_id: str,
                      single: bool = False) -> list[InvoiceResult]:
        """One batch request of up to 30 drafts, or with `single` one draft as its own request (the single lane);
        either way a refusal of a record comes back as its fault."""
        ...

    def open_balances(self, qbo_ids: Sequence[str]) -> dict[str, InvoiceState]: ...
    def push_payments(self, drafts: Sequence[PaymentDraft], request_id: str,
                      single: bool = False) -> list[PaymentResult]: ...
    def payment_method_id(self, name: str, credit_card: bool, request_id: str) -> str: ...
