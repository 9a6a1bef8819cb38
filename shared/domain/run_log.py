"""What a sync run's steps report as they go: counts for the run summary, and error-log entries with QuickBooks' (or
the platform's) own code and message. Entity steps (clients, items, invoices, payments) take a `RunLog` instead of
the run's state, so they are testable alone and the engine owns where the figures go."""

from __future__ import annotations

from typing import Protocol

from shared.domain.records import ErrorEntry


class ErrorLog(Protocol):
    def record(self, e: ErrorEntry) -> ErrorEntry: ...
    def resolve(self, tenant_id: str, key: str) -> bool: ...
    def open_keys(self, tenant_id: str) -> set[str]:
        """The keys of the tenant's open (unresolved) entries: one query, keys only."""
        ...


class RunLog(Protocol):
    def count(self, key: str, n: int = 1) -> None: ...
    def error(self, entity: str, entity_id: str, direction: str, code: str, message: str,
              detail: str = "", waits_for: str = "") -> None: ...
    def resolved(self, entity: str, entity_id: str) -> None: ...


class StateRunLog:
    """A RunLog that keeps counts in the state-machine state (so a retried task resumes them) and writes errors to
    the error log under the run's id.

    Every record a run settles is `resolved`, and almost none has an open entry: the task reads the tenant's open
    keys once, at its first resolve, and writes only for those (issue 15: one conditional write per synced record
    was most of a big run's DynamoDB time). Entries recorded by this task join the set. Another writer adding an
    entry for the same record while the task runs is not expected (one run or hint apply per tenant at a time,
    decisions 18 and 36); if one did, its entry would stay open until the record syncs again."""

    def __init__(self, tenant_id: str, state: dict, errors: ErrorLog):
        self._tenant_id, self._state, self._errors = tenant_id, state, errors
        self._open: set[str] | None = None

    @property
    def counts(self) -> dict[str, int]:
        return self._state.setdefault("counts", {})

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def error(self, entity: str, entity_id: str, direction: str, code: str, message: str, detail: str = "",
              waits_for: str = "") -> None:
        entry = self._errors.record(ErrorEntry(self._tenant_id, entity, entity_id, direction, str(code), message,
                                               detail or "", run_id=self._state.get("run_id"), waits_for=waits_for))
        if self._open is not None:
            self._open.add(entry.key)
        self.count("errors")

    def resolved(self, entity: str, entity_id: str) -> None:
        if self._open is None:
            self._open = self._errors.open_keys(self._tenant_id)
        key = ErrorEntry(self._tenant_id, entity, entity_id, "", "", "").key
        if key not in self._open:
            return  # nothing open for this record: no write
        self._open.discard(key)
        if self._errors.resolve(self._tenant_id, key):
            self.count("errors_resolved")
