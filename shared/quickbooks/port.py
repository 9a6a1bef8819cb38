"""The QuickBooks port: what the domain needs from QuickBooks, in QuickBooks' own JSON shapes (money as Decimal)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

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


class QuickBooksPort(Protocol):
    realm_id: str

    def company_info(self) -> dict[str, Any]: ...
    def preferences(self) -> dict[str, Any]: ...
    def query_page(self, entity: str, where: str = "", start: int = 1, size: int = MAX_PAGE,
                   order_by: str = "Id") -> list[dict[str, Any]]: ...
    def query_all(self, entity: str, where: str = "") -> Iterator[dict[str, Any]]: ...
    def count(self, entity: str, where: str = "") -> int: ...
    def read(self, entity: str, entity_id: str) -> dict[str, Any]: ...
    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]: ...
    def update(self, entity: str, body: dict[str, Any], request_id: str | None = None,
               sparse: bool = True) -> dict[str, Any]: ...
    def batch(self, ops: list[BatchOp], request_id: str) -> list[BatchResult]: ...
    def cdc(self, entities: list[str], changed_since: str) -> dict[str, list[dict[str, Any]]]: ...
