"""Review mode (the SingleOps "QuickBooks Sync Wizard"): when `review_mode` is on, the changes a run finds wait for an
admin instead of syncing.

- Two lists, "Import from QuickBooks" (side `import`) and "Export to QuickBooks" (side `export`); every waiting entry
  is checked by default.
- "Approve Checked" takes the checked ids and one rule for every unchecked entry: `clear` ("Clear Unchecked": they do
  not come back unless they change again, i.e. until `version` changes) or `keep` ("Keep checked": they leave the
  list now and reappear the next time a run finds them).
- Approved entries are pending until the next run, which syncs them (`approved`) and reports each (`done`); they
  then appear among the successful or failed syncs.

The engine calls `hold`, `approved`, `kept`, `release` and `done` (the `ReviewQueue` port) through its one seam,
`shared/domain/review_gate.py`; the admin API reads and approves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

SIDES = ("import", "export")
ENTITIES = ("customer", "site", "item", "invoice", "payment")
CHANGES = ("create", "update", "void", "delete")
OUTCOMES = ("succeeded", "failed")


class State:
    WAITING = "waiting"      # in the wizard's lists, checked by default
    KEPT = "kept"            # unchecked with "Keep checked": hidden until a run finds it again
    CLEARED = "cleared"      # unchecked with "Clear unchecked": hidden until its version changes
    APPROVED = "approved"    # "Pending syncs": the next run syncs it
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class ReviewEntry:
    side: str        # "import" (QuickBooks -> platform) | "export" (platform -> QuickBooks)
    entity: str      # customer | site | item | invoice | payment
    entity_id: str   # the id on the side the change came from
    name: str        # what the admin recognises (display name, invoice number)
    change: str      # create | update | void | delete
    version: str     # fingerprint of the change; a cleared entry comes back only when this changes


@dataclass(frozen=True)
class HeldEntry:
    """A ReviewEntry as stored, with where it stands in the wizard."""

    entry: ReviewEntry
    state: str
    held_at: datetime | None = None
    decided_at: datetime | None = None
    decided_by: str = ""
    message: str = ""  # the sync's failure message, for `failed`


@dataclass(frozen=True)
class ResultEntry:
    """One line of the "Successful syncs" / "Failed syncs" log (kept over time, newest first)."""

    entry: ReviewEntry
    outcome: str
    message: str
    at: datetime


class ReviewQueue(Protocol):
    """What the sync engine uses."""

    def hold(self, tenant_id: str, entries: Sequence[ReviewEntry]) -> None: ...
    def approved(self, tenant_id: str) -> list[ReviewEntry]: ...
    def kept(self, tenant_id: str) -> list[ReviewEntry]: ...
    def release(self, tenant_id: str) -> list[ReviewEntry]:
        """Review mode was turned off: every waiting or kept entry becomes approved (nothing held is lost); answers
        every approved entry."""
        ...
    def done(self, tenant_id: str, entries: Sequence[ReviewEntry], outcome: str, message: str = "") -> None: ...


def next_state(current: HeldEntry | None, incoming: ReviewEntry) -> str | None:
    """What `hold` does to a stored entry (None: leave it as it is). One rule set, used by the DynamoDB repository's
    conditions and by the fake, so both agree."""
    if current is None:
        return State.WAITING
    if current.state == State.APPROVED:
        return None  # approved stays approved: the next run syncs it as it is then
    if current.state == State.CLEARED and current.entry.version == incoming.version:
        return None  # cleared until it changes again
    return State.WAITING
