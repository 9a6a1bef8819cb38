"""The QuickBooks port: what the domain needs from QuickBooks, in QuickBooks' own JSON shapes (money as Decimal)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

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


CDC_LOOKBACK_DAYS = 30  # QuickBooks' CDC answers for changes in the last 30 days only (qbo-facts.md, CDC)
CHANGE_KINDS = ("Customer", "Item", "Class", "Invoice", "Payment")


@dataclass(frozen=True)
class Changes:
    """What changed in QuickBooks since a cursor: rows per entity (tombstones have `status: "Deleted"`), and the
    QuickBooks time the answer was read at, from which the next cursor is taken."""

    rows: dict[str, list[dict[str, Any]]]
    read_at: datetime

    def of(self, entity: str) -> list[dict[str, Any]]:
        return self.rows.get(entity, [])


class QuickBooksPort(Protocol):
    realm_id: str

    def company_info(self) -> dict[str, Any]: ...
    def preferences(self) -> dict[str, Any]: ...
    def read(self, entity: str, entity_id: str) -> dict[str, Any]: ...
    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]: ...
    def update(self, entity: str, body: dict[str, Any], request_id: str | None = None,
               sparse: bool = True) -> dict[str, Any]: ...
    def batch(self, ops: list[BatchOp], request_id: str) -> list[BatchResult]: ...
    def concurrent(self, want: int) -> AbstractContextManager[int]:
        """How many calls this task may have in flight for the company at once while the block runs (at least 1,
        at most `want`): QuickBooks allows 10 per company across every caller."""
        ...

    def budget(self) -> Budget:
        """What the company may send right now without waiting, as every caller's pacing left it."""
        ...

    # -- questions the domain asks (the adapter alone owns the query language) --------------------------------
    def customers_page(self, start: int, size: int = MAX_PAGE) -> list[dict[str, Any]]:
        """One page of every customer, active or not, in Id order (`start` is 1-based)."""
        ...

    def every(self, entity: str, include_inactive: bool = False) -> Iterator[dict[str, Any]]:
        """Every object of a list entity (Account, Class, Item, Vendor, Employee, TaxCode), active ones only unless
        `include_inactive`, paged by the adapter."""
        ...

    def changes_since(self, entities: Sequence[str], since: datetime) -> Changes:
        """Every object of these kinds changed at or after `since`, deletions included: one CDC call when `since`
        is within CDC's look-back and the answer stays under its 1,000-object cap, else a paged query on
        MetaData.LastUpdatedTime."""
        ...

    def items_by(self, ids: Sequence[str], names: Sequence[str]) -> list[dict[str, Any]]:
        """Items with these Ids or these Names (QuickBooks item names are unique), 100 per query."""
        ...

    def classes_named(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Classes (active or not) with one of these Names, 100 per query."""
        ...

    def customers_named(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """Customers (active or not) whose DisplayName is one of `names`, 100 names per query."""
        ...


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
    ship_to: dict[str, str] | None = None  # ShipAddr (automated sales tax computes from it)
    qbo_id: str | None = None
    sync_token: str | None = None
    void: bool = False


@dataclass(frozen=True)
class InvoiceState:
    """An invoice as QuickBooks holds it after a write or a read."""

    qbo_id: str
    sync_token: str
    doc_number: str | None
    total: Decimal
    tax: Decimal
    balance: Decimal
    customer_id: str = ""
    voided: bool = False


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
class PaymentState:
    qbo_id: str
    sync_token: str
    total: Decimal
    unapplied: Decimal
    txn_date: date | None
    applied: tuple[tuple[str, Decimal], ...] = ()
    reference: str | None = None
    method_id: str | None = None
    deleted: bool = False


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
