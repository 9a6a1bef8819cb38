"""The ports the sync domain works through, in one place. Domain code (onboarding, the sync engine and its entity
steps) depends on these Protocols only; the composition roots (functions/*/service.py) pass the DynamoDB
repositories (shared/data) and the QuickBooks and platform adapters, and the unit tests pass the fakes in
tests/fakes.py. mypy checks both sides of each seam (`make typecheck`, run by `make test`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.domain.connections import Connection
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.domain.run_log import ErrorLog
from shared.domain.settings import SyncSettings
from shared.fieldservice.port import FieldService
from shared.quickbooks.port import MoneyPort, QuickBooksPort


class QuickBooks(QuickBooksPort, MoneyPort, Protocol):
    """One QuickBooks company: the engine's questions and the money writes."""


class LinkStore(Protocol):
    """Platform id <-> QuickBooks id per entity kind, with what was last synced (shared/domain/records.Link)."""

    def get(self, tenant_id: str, entity: str, fsp_id: str) -> Link | None: ...
    def get_many(self, tenant_id: str, entity: str, fsp_ids: Iterable[str]) -> dict[str, Link]: ...
    def by_qbo(self, tenant_id: str, entity: str, qbo_id: str) -> Link | None: ...
    def by_qbo_many(self, tenant_id: str, entity: str, qbo_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these QuickBooks ids, by QuickBooks id (the ones without a link left out)."""
        ...
    def all(self, tenant_id: str, entity: str) -> list[Link]: ...
    def put(self, link: Link) -> None: ...
    def put_many(self, links: Iterable[Link]) -> None: ...
    def put_pending(self, link: Link) -> Link: ...
    def clear(self, tenant_id: str, entity: str, fsp_id: str) -> None: ...


class RunStore(Protocol):
    """Runs (history, progress) and the chunks a run keeps between its tasks."""

    def create(self, run: SyncRun) -> None: ...
    def get(self, tenant_id: str, run_id: str) -> SyncRun | None: ...
    def progress(self, tenant_id: str, run_id: str, phase: str, percent: int) -> None: ...
    def finish(self, tenant_id: str, run_id: str, status: str, summary: dict, phase: str | None = None) -> None:
        """`phase`: the run's last phase, recorded with its outcome (None: the last `progress` stands)."""
    def put_chunk(self, tenant_id: str, run_id: str, name: str, index: int, rows: list) -> None: ...
    def chunks(self, tenant_id: str, run_id: str, name: str) -> Iterator[list]: ...


class ErrorStore(ErrorLog, Protocol):
    """The error log as the engine uses it: record and resolve, plus the open entries it re-attempts."""

    def list(self, tenant_id: str, include_resolved: bool = False, entity: str | None = None) -> list[ErrorEntry]:
        """Open entries (all with `include_resolved`); `entity`: that kind's only."""
        ...
    def clear_retry(self, tenant_id: str, key: str) -> None: ...


class ConnectionStore(Protocol):
    def get(self, tenant_id: str) -> Connection | None: ...
    def save(self, connection: Connection) -> None: ...
    def mark_synced(self, tenant_id: str, at: datetime) -> None: ...


@dataclass
class Deps:
    """What onboarding and the sync engine need, for one tenant. `quickbooks` is a factory: the adapter is built on
    first use (tokens are refreshed on demand), never at import."""

    tenant_id: str
    quickbooks: Callable[[], QuickBooks]
    platform: FieldService
    links: LinkStore
    runs: RunStore
    errors: ErrorStore
    settings: SyncSettings
    connections: ConnectionStore
