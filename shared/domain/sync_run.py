"""The sync run: every change since the last run, on both sides, applied through one engine (issue 10).

Each public method is one task of the sync state machine (infra/statemachines/sync.asl.json):
start -> items -> clients (paged) -> sites (paged) -> invoices (paged) -> payments (paged) -> finish, and finish
loops back to start while changes were noted during the run. A run with nothing to do ends at start, as finish
would end it (decision 54, `_nothing_to_do`).

- Change detection by cursor: QuickBooks through one CDC call for Customer, Item, Class, Invoice and Payment since
  the QuickBooks cursor (a query on MetaData.LastUpdatedTime past CDC's 30 days, inside the adapter), the platform
  through `updated_since` per kind. Cursors move in `finish` only (or in a `start` that found nothing to do), after
  every change was applied or recorded as failed, so a crash or a failed run replays instead of skipping; replays
  are harmless because every write compares against the last-synced fingerprints first.
- One run at a time: `start` takes the tenant's sync gate (shared/data/sync_gate.py). A run that finds another
  holding it folds into it (the change it was started for was noted at the gate, so the holder runs again before
  it ends) and ends as succeeded, never failed. Each task renews the lease, so a long run never outlives it.
- Transient faults belong to the run: 429, 5xx and a refused token raise out of the task and the state machine
  backs off and resumes from the task's cursor (shared/tasks.py); only a record QuickBooks refuses for itself is
  logged against that record.
- Review mode: every record found passes through one seam, `ReviewGate.admit` (shared/domain/review_gate.py), which
  holds what an admin must approve first and hands on the rest; approved entries sync at the next run and are
  reported in `finish`."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from shared.domain import lanes
from shared.domain.clients import ClientSync
from shared.domain.onboarding import ROWS_PER_TASK, Deps, Onboarding
from shared.domain.records import Cursor, links_by_qbo
from shared.domain.records import SyncRun as RunRecord
from shared.domain.review import ReviewQueue
from shared.domain.review_gate import IMPORT_KINDS, ReviewGate, entries_from_rows, entries_to_rows
from shared.domain.run_log import StateRunLog
from shared.domain.sync_requests import RECORD_LEASE_S, SyncGate, record_level
from shared.quickbooks.port import (
    CDC_LOOKBACK_DAYS,
    CHANGE_KINDS,
    Changed,
    CustomerState,
    InvoiceState,
    ItemState,
    KeptState,
    PaymentState,
)
from shared.tasks import failure_of

SYNC_LEASE_S = 900  # longer than one task's timeout; renewed by every task
PLATFORM_PAGE = 300  # a multiple of 30: every QuickBooks batch of a page is full but the last
# QuickBooks writes the clients step sends per task: onboarding's share per task (about 35 s at QuickBooks' limits),
# so the step's last tasks stay inside their timeout whatever a run carries (decision 49).
WRITES_PER_TASK = ROWS_PER_TASK
CURSOR_OVERLAP = timedelta(minutes=2)  # re-read the edge: a change committed as we read is never skipped
RECORD_LEVEL_POLL_S = 0.25  # how often a starting run looks whether a record-level apply gave the gate back
RECONCILE_EVERY = timedelta(hours=24)  # Intuit: webhooks can be missed; sweep CDC daily to catch up
RECONCILE_REACH = timedelta(hours=25)
PLATFORM_KINDS = ("items", "clients", "sites", "job_types", "invoices", "payments")
# Ids kept with a platform cursor (those applied at exactly its instant): the platform stamps updated_at to the
# microsecond, so these are one or a few; past this many the rest are simply listed again next run (never skipped).
EDGE_IDS_MAX = 100
ONBOARDED_KINDS = ("items", "clients", "sites")
QUIET_REASON = "nothing changed on either side since the last run"
# The phase a run's record ends with: the last step's (push_payments'), which every walked pass records; a pass that
# ends at its start records it with its outcome (no call of its own), so no finished run shows "reading_changes".
LAST_PHASE = "payments"


@dataclass(frozen=True)
class NamedRecords:
    """The records a batch of webhook hints names: QuickBooks Ids by entity (Customer, Item, Invoice, Payment) and
    platform ids by kind (client, site, item, invoice, payment)."""

    quickbooks: dict[str, frozenset[str]] = field(default_factory=dict)
    platform: dict[str, frozenset[str]] = field(default_factory=dict)

    def of(self, side: str, kind: str) -> frozenset[str]:
        return (self.quickbooks if side == "quickbooks" else self.platform).get(kind, frozenset())

    def __len__(self) -> int:
        return sum(len(ids) for ids in (*self.quickbooks.values(), *self.platform.values()))


class Cursors(Protocol):
    def get_all(self, tenant_id: str) -> dict[str, Cursor]: ...
    def put(self, tenant_id: str, name: str, at: datetime, ids: Collection[str] = ()) -> None: ...


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Stamped(Protocol):
    """A platform record as its lists order it."""

    @property
    def id(self) -> str: ...
    @property
    def updated_at(self) -> datetime: ...


Record = TypeVar("Record", bound=Stamped)

K = TypeVar("K", bound=KeptState)  # a QuickBooks state kept in the run's chunks


class SyncEngine:
    def __init__(self, deps: Deps, gate: SyncGate, cursors: Cursors, clock=lambda: datetime.now(UTC),
                 review: ReviewQueue | None = None, sleep=time.sleep):
        self.d, self.gate, self.cursors, self.clock = deps, gate, cursors, clock
        self.review, self.sleep = review, sleep

    # -- helpers -----------------------------------------------------------------------------------------------
    def _log(self, state: dict) -> StateRunLog:
        return StateRunLog(self.d.tenant_id, state, self.d.errors)

    def _review(self, state: dict, log: StateRunLog | None = None,
                conflicts: list[list[str]] | None = None) -> ReviewGate:
        """This pass's review gate: the approved entries taken in `start` (none stored when there were none);
        `conflicts`: the [QuickBooks ids, platform ids] onboarding conflicts hold, for the customer steps."""
        approved: list = []
        if state.get("review_approved"):
            approved = entries_from_rows([row for chunk in self.d.runs.chunks(
                self.d.tenant_id, state["run_id"], f"approved{state.get('pass', 0)}") for row in chunk])
        return ReviewGate(self.d, self.review, log or self._log(state), approved, prefs=lambda: self._prefs(state),
                          conflicts=conflicts)

    def _renew(self, state: dict) -> None:
        self.gate.renew(self.d.tenant_id, state["run_id"], SYNC_LEASE_S)

    def _progress(self, state: dict, phase: str, percent: int) -> None:
        self.d.runs.progress(self.d.tenant_id, state["run_id"], phase, percent)

    def _onboarding_started(self) -> datetime | None:
        connection = self.d.connections.get(self.d.tenant_id)
        onboarding = (connection.onboarding or {}) if connection else {}
        if onboarding.get("status") != "completed":
            return None
        run = self.d.runs.get(self.d.tenant_id, onboarding.get("run_id", "")) if onboarding.get("run_id") else None
        return run.started_at if run is not None else self.clock() - timedelta(days=CDC_LOOKBACK_DAYS - 1)

    def _onboarding(self, state: dict) -> Onboarding:
        return Onboarding(self.d)

    def _lanes(self, state: dict, step: str):
        """The task's lane splits (lanes.LaneChooser), named by the step and the cursor the task started from, so a
        retried task recalls the splits its first attempt chose."""
        qb = self.d.quickbooks()
        position = lanes.task_position(step, state.get("pass", 0), state.get("cursor") or {})
        return self._onboarding(state).lane_chooser(state, qb, position)

    def _create_customers(self, state: dict, entity: str, error_entity: str, chooser=None):
        qb = self.d.quickbooks()
        onboarding = self._onboarding(state)
        chooser = chooser or self._lanes(state, entity)
        return lambda rows, existing=None: onboarding._create_in_batches(state, qb, entity, error_entity, rows,
                                                                          chooser, existing)

    def _held(self) -> list[list[str]]:
        """Records in an onboarding conflict the admin has not resolved: neither matched nor created until then,
        as onboarding left them (the resolution's next onboarding run settles them)."""
        connection = self.d.connections.get(self.d.tenant_id)
        onboarding = (connection.onboarding or {}) if connection else {}
        run_id = onboarding.get("run_id")
        if not run_id or onboarding.get("conflicts") == 0:  # an onboarding before the count was kept: read them
            return [[], []]
        qbo, fsp = set(), set()
        for chunk in self.d.runs.chunks(self.d.tenant_id, run_id, "conflicts"):
            for conflict in chunk:
                qbo.update(conflict.get("qbo_ids", []))
                fsp.update(conflict.get("fsp_ids", []))
        return [sorted(qbo), sorted(fsp)]

    def _conflicts(self, state: dict) -> list[list[str]]:
        chunks = self.d.runs.chunks(self.d.tenant_id, state["run_id"], f"held{state.get('pass', 0)}")
        held: list[list[str]] = next(iter(chunks), [[], []])
        return held

    def _client_sync(self, state: dict, log, held: list[list[str]] | None = None, carry: bool = False) -> ClientSync:
        held = held if held is not None else self._conflicts(state)
        chooser = self._lanes(state, "clients")  # creates and updates of the task share its splits' order
        return ClientSync(self.d, log, self._create_customers(state, "customer", "client", chooser),
                          held_qbo=frozenset(held[0]), held_fsp=frozenset(held[1]), split=chooser.split, carry=carry)

    def _cdc(self, state: dict, entity: str, kind: type[K]) -> list[K]:
        """This pass's QuickBooks changes of one kind, as `start` kept them (typed states, JSON in the chunk)."""
        name = f"cdc{state.get('pass', 0)}_{entity}"
        return [kind.from_dict(row) for chunk in self.d.runs.chunks(self.d.tenant_id, state["run_id"], name)
                for row in chunk]

    def _invoice_tokens(self, state: dict) -> dict[str, str]:
        """QuickBooks id -> SyncToken of each invoice this pass's CDC reported."""
        return {s.qbo_id: s.sync_token for s in self._cdc(state, "Invoice", InvoiceState) if s.sync_token}

    def _since(self, state: dict, kind: str) -> datetime | None:
        return _at(state.get("since", {}).get(kind))

    def _fresh(self, state: dict, kind: str, records: Sequence[Record]) -> list[Record]:
        """The records `updated_since` listed, less those the last run applied at exactly the cursor's instant
        (`updated_since` is inclusive); each one kept moves this pass's edge. A record updated again since has a
        later `updated_at` and is kept."""
        at, applied = self._left_out(state, kind)
        fresh = [r for r in records if not (r.updated_at == at and r.id in applied)]
        for record in fresh:
            self._seen(state, kind, record)
        return fresh

    def _left_out(self, state: dict, kind: str) -> tuple[datetime | None, frozenset[str]]:
        """What `_fresh` leaves out of this run's pages: the cursor's instant and the ids the last run applied at it."""
        edge = (state.get("edge") or {}).get(kind)
        return (_at(edge["at"]), frozenset(edge["ids"])) if edge else (None, frozenset())

    def _seen(self, state: dict, kind: str, record: Stamped) -> None:
        """The newest instant applied in this pass, with the ids applied at exactly it (those of the stored cursor
        too, when this pass reached the same instant)."""
        newest = state.setdefault("newest", {})
        edge = newest.get(kind) or (state.get("edge") or {}).get(kind)
        if edge is None or datetime.fromisoformat(edge["at"]) < record.updated_at:
            newest[kind] = {"at": _iso(record.updated_at), "ids": [record.id]}
        elif datetime.fromisoformat(edge["at"]) == record.updated_at and record.id not in edge["ids"]:
            newest[kind] = {"at": edge["at"], "ids": [*edge["ids"], record.id][:EDGE_IDS_MAX]}

    def _page(self, state: dict, kind: str, lister, **filters):
        from dataclasses import replace

        cursor = state.get("cursor") or {}
        page = lister(self.d.tenant_id, updated_since=self._since(state, f"fsp:{kind}"), cursor=cursor.get("next"),
                      limit=PLATFORM_PAGE, **filters)
        return replace(page, items=tuple(self._fresh(state, f"fsp:{kind}", page.items)))

    # -- tasks -------------------------------------------------------------------------------------------------
    def start(self, state: dict) -> dict:
        from shared.domain.admin import new_run_id

        state = {k: v for k, v in state.items() if k not in ("cursor", "error", "money_prefs")}
        state.update(stop=False, again=False)
        if not state.get("run_id"):  # a scheduled run starts without a record
            state["run_id"] = new_run_id("sync")
            self.d.runs.create(RunRecord(tenant_id=self.d.tenant_id, run_id=state["run_id"], kind="sync",
                                         status="running", started_at=self.clock(), phase="queued"))
        held = self._acquire(state["run_id"])
        if held.holder != state["run_id"]:
            # Another run holds the gate. Noting a change there makes that run go round again before it ends, so
            # whatever this run was started for (a schedule, Sync Now) is covered. Nothing failed.
            noted = self.gate.note_change(self.d.tenant_id)
            if noted.holder is None:  # it ended between our two calls: the gate is ours to take now
                held = self.gate.acquire(self.d.tenant_id, state["run_id"], SYNC_LEASE_S)
            if held.holder != state["run_id"]:
                self.d.runs.finish(self.d.tenant_id, state["run_id"], "succeeded",
                                   {"counts": {}, "folded_into": noted.holder or held.holder,
                                    "reason": "another sync run of this company was in progress and covers this one"})
                return {**state, "stop": True}
        state["seen"] = held.seen
        started = self._onboarding_started()
        if started is None:
            state["skipped"] = "onboarding has not completed"
            self.gate.abandon(self.d.tenant_id, state["run_id"])
            return self._end(state, "skipped")
        self._progress(state, "reading_changes", 5)
        cursors = self.cursors.get_all(self.d.tenant_id)
        stored = {name: c.at for name, c in cursors.items()}
        state["edge"] = {name: {"at": _iso(c.at), "ids": sorted(c.ids)} for name, c in cursors.items()
                         if name.startswith("fsp:") and c.ids}
        now = self.clock()
        default = started - CURSOR_OVERLAP
        since: dict[str, datetime | None] = {f"qbo:{k}": stored.get(f"qbo:{k}", default) for k in CHANGE_KINDS}
        # Clients and sites were reconciled by onboarding, so their first cursor is its start. Invoices, payments
        # and job types were not: the first run reads them all (an invoice made ready long ago syncs too).
        since.update({f"fsp:{k}": stored.get(f"fsp:{k}", default if k in ONBOARDED_KINDS else None)
                      for k in PLATFORM_KINDS})
        last_sweep = stored.get("reconciled")
        if last_sweep is None:
            self.cursors.put(self.d.tenant_id, "reconciled", now)  # the first sweep is a day after onboarding
        elif now - last_sweep >= RECONCILE_EVERY:
            state["reconcile"] = True
            since = {k: v if v is None else min(v, now - RECONCILE_REACH) for k, v in since.items()}
        state["since"] = {k: _iso(v) if v is not None else None for k, v in since.items()}
        # Items turned on (or their direction changed) since the last run: match every item once, then by cursor.
        state["items_full"] = f"items_full:{self.d.settings.items.direction}" not in stored
        changes = self.d.quickbooks().changes_since(CHANGE_KINDS, min(since[f"qbo:{k}"] or now
                                                                      for k in CHANGE_KINDS))
        state["qbo_read_at"] = _iso(changes.read_at)
        state["pass"] = state.get("pass", 0) + 1
        approved = ReviewGate.snapshot(self.d, self.review)
        if not approved and self._nothing_to_do(state, changes):
            # The QuickBooks cursors move as `finish` moves them (nothing was read that is not applied); the platform
            # cursors stay, nothing past them was listed. A change noted at the gate since it was taken fails the
            # release: the run walks on and its `finish` goes round for it, as without this exit.
            self._move_quickbooks_cursors(state)
            if self.gate.release(self.d.tenant_id, state["run_id"], state.get("seen", 0)):
                return self._end({**state, "quiet": state["pass"] == 1}, "succeeded", phase=LAST_PHASE)
        conflicts = self._held()
        self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], f"held{state['pass']}", 0, conflicts)
        state["review_approved"] = len(approved)
        if approved:
            self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], f"approved{state['pass']}", 0,
                                  entries_to_rows(approved))
        log = self._log(state)
        review = ReviewGate(self.d, self.review, log, approved, prefs=lambda: self._prefs(state), conflicts=conflicts)
        for entity in CHANGE_KINDS:
            rows: Sequence[Changed] = changes.of(entity)
            log.count(f"quickbooks_{entity.lower()}_changes", len(rows))
            if entity in IMPORT_KINDS and self._imports(state, entity):
                rows = review.admit("import", IMPORT_KINDS[entity], rows)
            self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], f"cdc{state['pass']}_{entity}", 0,
                                  [r.as_dict() for r in rows])
        return state

    def _nothing_to_do(self, state: dict, changes) -> bool:
        """Whether this pass's steps would find nothing to apply (decision 54): no QuickBooks change since its
        cursors, nothing new on the platform since its cursors for any kind the settings sync, and none of the work
        the steps do without a change: the daily sweep, items' first full match in a direction, a record an admin
        asked to retry, one waiting on a record that is now in QuickBooks. (Approved review entries are the
        caller's to check: taking them has effects.) Any doubt walks the steps: an exit here that is wrong loses
        a change."""
        s = self.d.settings
        if state.get("reconcile") or (state.get("items_full") and s.items.enabled):
            return False
        if any(changes.of(entity) for entity in CHANGE_KINDS):
            return False
        entities = {"client": True, "site": s.sites.enabled, "invoice": s.invoices.enabled,
                    "payment": s.payments.enabled}
        entries = self.d.errors.list(self.d.tenant_id)
        if any(e.retry_requested for e in entries):
            return False
        waiting = [e for e in entries if entities.get(e.entity) and e.code.startswith("waiting_for_")]
        if any(not e.waits_for for e in waiting):  # re-read by every pass (`_waiting`)
            return False
        if self._dependencies_ready([e.waits_for for e in waiting]):
            return False
        listers = {"clients": (True, self.d.platform.list_clients, {}),
                   "items": (s.items.enabled and s.items.direction == "platform_to_quickbooks",
                             self.d.platform.list_items, {}),
                   "job_types": (s.job_types.enabled and s.job_types.always_create_class,
                                 self.d.platform.list_job_types, {}),
                   "sites": (s.sites.enabled, self.d.platform.list_sites, {}),
                   "invoices": (s.invoices.enabled, self.d.platform.list_invoices, {}),
                   "payments": (s.payments.enabled, self.d.platform.list_payments, {"include_deleted": True})}
        return not any(self._changed_on_platform(state, kind, lister, filters)
                       for kind, (synced, lister, filters) in listers.items() if synced)

    def _changed_on_platform(self, state: dict, kind: str, lister, filters: dict) -> bool:
        """Whether the platform lists a record of `kind` past its cursor that the last run did not apply: one page,
        one longer than the ids kept at the cursor's instant (the list is in `updated_at` order, so a page holding
        only those ids and no next page means nothing else changed)."""
        name = f"fsp:{kind}"
        at, applied = self._left_out(state, name)
        page = lister(self.d.tenant_id, updated_since=self._since(state, name), cursor=None, limit=len(applied) + 1,
                      **filters)
        return bool(page.next_cursor) or any(not (r.updated_at == at and r.id in applied) for r in page.items)

    def _move_quickbooks_cursors(self, state: dict) -> None:
        read_at = _at(state.get("qbo_read_at"))
        if read_at is not None:
            for kind in CHANGE_KINDS:
                self.cursors.put(self.d.tenant_id, f"qbo:{kind}", read_at - CURSOR_OVERLAP)

    def _acquire(self, run_id: str):
        """Take the gate; a record-level apply holding it (seconds long, it covers only its own records) is waited
        for, never folded into: at worst until its lease lapses."""
        held = self.gate.acquire(self.d.tenant_id, run_id, SYNC_LEASE_S)
        for _ in range(int(RECORD_LEASE_S / RECORD_LEVEL_POLL_S) + 1):
            if not record_level(held.holder) or held.holder == run_id:
                break
            self.sleep(RECORD_LEVEL_POLL_S)
            held = self.gate.acquire(self.d.tenant_id, run_id, SYNC_LEASE_S)
        return held

    def _imports(self, state: dict, entity: str) -> bool:
        """Whether this pass applies QuickBooks' changes of this kind from CDC (the others are read, never written;
        items' first pass in a direction reads every item instead, in `sync_items`)."""
        s = self.d.settings
        if entity == "Item":
            return (bool(s.items.enabled) and s.items.direction == "quickbooks_to_platform"
                    and not state.get("items_full"))
        return {"Invoice": bool(s.invoices.enabled), "Payment": bool(s.payments.enabled)}.get(entity, True)

    def _item_sync(self, log):
        from shared.domain.items import ItemSync
        from shared.domain.onboarding import request_id

        settings = self.d.settings.items
        direction = "to_quickbooks" if settings.direction == "platform_to_quickbooks" else "to_platform"

        def record(entity: str, entity_id: str, code: str, message: str, detail: str) -> None:
            log.error(entity, entity_id, direction, code, message, detail)

        return ItemSync(self.d.tenant_id, self.d.quickbooks(), self.d.platform, self.d.links, settings, record,
                        request_id)

    def sync_items(self, state: dict) -> dict:
        from shared.fieldservice.port import iter_all

        self._renew(state)
        self._progress(state, "items", 10)
        settings = self.d.settings.items
        log = self._log(state)
        if not settings.enabled:
            self._job_type_classes(state, log)
            return state
        direction = "to_quickbooks" if settings.direction == "platform_to_quickbooks" else "to_platform"
        fsp_changed = []
        if direction == "to_quickbooks":
            fsp_changed = self._fresh(state, "fsp:items", list(iter_all(
                self.d.platform.list_items, self.d.tenant_id, updated_since=self._since(state, "fsp:items"),
                limit=1000)))

        sync = self._item_sync(log)
        review = self._review(state, log)
        qbo_changed = self._cdc(state, "Item", ItemState)
        if review.active:
            if state.get("items_full"):  # the first pass in a direction: every item of the sending side is a change
                if direction == "to_quickbooks":
                    fsp_changed = list(iter_all(self.d.platform.list_items, self.d.tenant_id, limit=1000))
                else:
                    qbo_changed = review.admit("import", "item", list(self.d.quickbooks().every_item()))
            if direction == "to_quickbooks":
                fsp_changed = review.admit("export", "item", fsp_changed)
            counts = sync.run(qbo_changed, fsp_changed)
        else:
            counts = sync.run_all() if state.get("items_full") else sync.run(qbo_changed, fsp_changed)
        for key, n in counts.items():
            log.count(key, n)
        self._job_type_classes(state, log)
        return state

    def _job_type_classes(self, state: dict, log) -> None:
        from shared.domain.classes import JobTypeClasses
        from shared.fieldservice.port import iter_all

        settings = self.d.settings.job_types
        if not (settings.enabled and settings.always_create_class):
            return
        job_types = self._fresh(state, "fsp:job_types", list(iter_all(
            self.d.platform.list_job_types, self.d.tenant_id, updated_since=self._since(state, "fsp:job_types"),
            limit=1000)))
        JobTypeClasses(self.d, log).new_job_types(job_types)

    def sync_clients(self, state: dict) -> dict:
        self._renew(state)
        cursor = state.get("cursor") or {}
        log = self._log(state)
        customers = self._cdc(state, "Customer", CustomerState)
        conflicts = self._conflicts(state)
        clients = self._client_sync(state, log, conflicts, carry=True)
        review = self._review(state, log, conflicts)
        carried = f"carried{state.get('pass', 0)}"  # each page's QuickBooks writes, sent by the step's last task
        if cursor.get("step", "platform") == "platform":
            page = self._page(state, "clients", self.d.platform.list_clients)
            log.count("platform_client_changes", len(page.items))
            changed = list(page.items)
            if not cursor.get("next"):
                changed += self._waiting(state, "client", self.d.platform.get_client, {c.id for c in changed},
                                         review)
            changed = review.admit("export", "customer", changed, refetch=not cursor.get("next"))
            clients.apply_platform_page(changed, customers)
            # Kept before the cursor moves: a retried page rewrites its own chunk; nothing is sent, so nothing of
            # it is lost if the run stops before the last task (its cursors have not moved either).
            page_no = cursor.get("page", 0)
            self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], carried, page_no, clients.carried())
            state["cursor"] = {**cursor, "next": page.next_cursor, "done": False, "page": page_no + 1,
                               "step": "platform" if page.next_cursor else "quickbooks"}
            self._progress(state, "clients", 25)
            return state
        if cursor["step"] == "quickbooks":  # after every page: their writes, and the QuickBooks changes left
            clients.resume([row for chunk in self.d.runs.chunks(self.d.tenant_id, state["run_id"], carried)
                            for row in chunk])
            admitted, platform_now = review.quickbooks_rest(customers)
            clients.apply_quickbooks_rest(admitted, platform_now)
            rest = clients.send(WRITES_PER_TASK)
            # What one task could not send, in shares of one task each, kept before the cursor moves, as a page's
            # writes are (a retried task forms and rewrites the same shares); each later task reads only its own.
            shares = [rest[i:i + WRITES_PER_TASK] for i in range(0, len(rest), WRITES_PER_TASK)]
            for number, share in enumerate(shares, 1):
                self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], f"{carried}-send{number}", 0, share)
            following, last = 1, len(shares)
        else:  # "send": one share an earlier task of the step kept (at most WRITES_PER_TASK: nothing is left)
            clients.resume([row for chunk in self.d.runs.chunks(self.d.tenant_id, state["run_id"],
                                                                f"{carried}-send{cursor['share']}") for row in chunk])
            clients.send(WRITES_PER_TASK)
            following, last = cursor["share"] + 1, cursor["shares"]
        if following <= last:
            state["cursor"] = {**cursor, "step": "send", "share": following, "shares": last, "done": False}
            self._progress(state, "clients", 30)
            return state
        state["cursor"] = {**cursor, "done": True}
        self._progress(state, "clients", 40)
        return state

    def sync_sites(self, state: dict) -> dict:
        from shared.domain.sites import SiteSync

        self._renew(state)
        cursor = state.get("cursor") or {}
        if not self.d.settings.sites.enabled:
            state["cursor"] = {**cursor, "done": True}
            return state
        page = self._page(state, "sites", self.d.platform.list_sites)
        log = self._log(state)
        review = self._review(state, log)
        sites = list(page.items)
        if not cursor.get("next"):
            sites += self._waiting(state, "site", self.d.platform.get_site, {s.id for s in sites}, review)
        sites = review.admit("export", "site", sites, refetch=not cursor.get("next"))
        SiteSync(self.d, log, self._create_customers(state, "site", "site")).apply(sites)
        state["cursor"] = {**cursor, "next": page.next_cursor, "done": not page.next_cursor}
        self._progress(state, "sites", 50)
        return state

    def push_invoices(self, state: dict) -> dict:
        """Platform invoices changed since the cursor, page by page; on the first page also the invoices that wait
        on another record (their client) or that an admin asked to retry, since neither changed by itself."""
        self._renew(state)
        cursor = state.get("cursor") or {}
        if not self.d.settings.invoices.enabled:
            state["cursor"] = {**cursor, "done": True}
            return state
        page = self._page(state, "invoices", self.d.platform.list_invoices)
        invoices = list(page.items)
        review = self._review(state)
        if not cursor.get("next"):
            self._progress(state, "invoices", 60)
            invoices += self._waiting(state, "invoice", self.d.platform.get_invoice, {i.id for i in invoices},
                                      review)
        invoices = review.admit("export", "invoice", invoices, refetch=not cursor.get("next"))
        sync = self._invoice_sync(state, self._log(state))
        # QuickBooks' changes are applied after the payments (push_payments), but their SyncTokens are known now: an
        # invoice whose payments moved it since our last write is updated at once, not after a 5010 round trip.
        sync.push(invoices, reported=lambda: self._invoice_tokens(state))
        self._keep_prefs(state, sync)
        state["cursor"] = {**cursor, "next": page.next_cursor, "done": not page.next_cursor}
        return state

    def push_payments(self, state: dict) -> dict:
        """Platform payments changed since the cursor (deletions included), then what QuickBooks changed in
        invoices and payments (this pass's CDC rows): payments entered there, balances, voids."""
        from shared.domain.payments import PaymentSync

        self._renew(state)
        cursor = state.get("cursor") or {}
        log = self._log(state)
        if self.d.settings.payments.enabled:
            page = self._page(state, "payments", self.d.platform.list_payments, include_deleted=True)
            payments = list(page.items)
            review = self._review(state, log)
            if not cursor.get("next"):
                self._progress(state, "payments", 80)
                payments += self._waiting(state, "payment", self.d.platform.get_payment, {p.id for p in payments},
                                          review)
            payments = review.admit("export", "payment", payments, refetch=not cursor.get("next"))
            PaymentSync(self.d, log).push(payments)
            if page.next_cursor:
                state["cursor"] = {**cursor, "next": page.next_cursor, "done": False}
                return state
            PaymentSync(self.d, log).quickbooks_changed(self._cdc(state, "Payment", PaymentState))
        if self.d.settings.invoices.enabled:
            sync = self._invoice_sync(state, log)
            sync.quickbooks_changed(self._cdc(state, "Invoice", InvoiceState))
            self._keep_prefs(state, sync)
        state["cursor"] = {**cursor, "done": True}
        self._progress(state, LAST_PHASE, 95)
        return state

    def _invoice_sync(self, state: dict, log):
        """QuickBooks' money preferences are read at most once per pass, and only by a pass that writes money: the
        first InvoiceSync that needs them reads them, and the state keeps them for the tasks after it."""
        from shared.domain.invoices import InvoiceSync
        from shared.quickbooks.port import MoneyPrefs

        cached = state.get("money_prefs")
        return InvoiceSync(self.d, log, prefs=MoneyPrefs(**cached) if cached else None)

    def _prefs(self, state: dict):
        """The money preferences for whoever must have them now (review mode judging an invoice), kept for the pass."""
        from dataclasses import asdict

        from shared.quickbooks.port import MoneyPrefs

        if "money_prefs" not in state:
            state["money_prefs"] = asdict(self.d.quickbooks().money_prefs())
        return MoneyPrefs(**state["money_prefs"])

    def _keep_prefs(self, state: dict, sync) -> None:
        from dataclasses import asdict

        if sync.prefs_read is not None:
            state["money_prefs"] = asdict(sync.prefs_read)

    def _waiting(self, state: dict, entity: str, fetch, already: set[str], review: ReviewGate | None = None) -> list:
        """Records with an open error entry that no change of their own will bring back: waiting on another record
        that is now in QuickBooks, or retried by an admin. A retried record that QuickBooks refused may go again
        (with a new request id); the admin's Retry is a decision, so review mode does not hold it again. One still
        waiting is not re-read: a quiet run costs no platform reads."""
        from shared.domain.attempts import clear_refusal
        from shared.fieldservice.errors import PlatformRefused

        entries = self.d.errors.list(self.d.tenant_id, entity=entity)
        if review is not None:
            for entry in entries:
                if entry.retry_requested:
                    review.retried(entity, entry.entity_id)
        entries = [e for e in entries if e.entity_id not in already
                   and (e.code.startswith("waiting_for_") or e.retry_requested)]
        ready = self._dependencies_ready([e.waits_for for e in entries if e.waits_for and not e.retry_requested])
        found = []
        for entry in entries:
            if entry.retry_requested:
                clear_refusal(self.d.links, self.d.tenant_id, entity, entry.entity_id)
                self.d.errors.clear_retry(self.d.tenant_id, entry.key)
            elif entry.waits_for and entry.waits_for not in ready:
                continue
            try:
                found.append(fetch(self.d.tenant_id, entry.entity_id))
            except PlatformRefused as exc:  # throttling or an outage passes through: the run pauses and this replays
                self._log(state).error(entity, entry.entity_id, "to_quickbooks", exc.code, str(exc))
        return found

    def _dependencies_ready(self, keys: list[str]) -> set[str]:
        """Of "{link entity}#{platform id}" keys, those whose record is linked to a QuickBooks record now."""
        by_entity: dict[str, set[str]] = {}
        for key in keys:
            kind, _, fsp_id = key.partition("#")
            by_entity.setdefault(kind, set()).add(fsp_id)
        ready = set()
        for kind, ids in by_entity.items():
            for fsp_id, link in self.d.links.get_many(self.d.tenant_id, kind, sorted(ids)).items():
                if link.state == "linked" and link.qbo_id:
                    ready.add(f"{kind}#{fsp_id}")
        return ready

    # -- records named by webhooks (shared/domain/record_sync.py holds the gate around this) -----------------------
    def whole_run_needed(self, named: NamedRecords) -> str | None:
        """Why these records must wait for a whole run rather than be applied one by one, or None."""
        s = self.d.settings
        if s.review_mode and self.review is not None:
            return "review mode: a run holds every change for approval"
        items = named.of("quickbooks", "Item") | named.of("platform", "item")
        if items and s.items.enabled and f"items_full:{s.items.direction}" not in self.cursors.get_all(
                self.d.tenant_id):
            return "items in this direction are matched in full by a run first"
        return None

    def apply_records(self, state: dict, named: NamedRecords) -> dict:
        """The records a batch of webhook hints names, read by id now and applied through the same steps as a run
        (items, clients, sites, invoices, payments, in that order), with the settings in force. No cursor is read or
        moved: the next run meets these records again and finds them in step (fingerprints, SyncTokens, request
        ids), so nothing is written twice. Records waiting on one this apply linked (a site or an invoice on its
        client's customer, a payment on its invoice) go too; an apply that linked nothing reads no error log.
        The caller asked `whole_run_needed` first."""
        from shared.domain.payments import PaymentSync
        from shared.domain.sites import SiteSync

        s, log = self.d.settings, self._log(state)
        items = named.of("quickbooks", "Item") | named.of("platform", "item")
        qb = self.d.quickbooks()
        imports = {"Customer": True, "Item": s.items.enabled and s.items.direction == "quickbooks_to_platform",
                   "Invoice": s.invoices.enabled, "Payment": s.payments.enabled}
        found = qb.by_ids({entity: sorted(ids) for entity, ids in named.quickbooks.items()
                           if ids and imports.get(entity)})
        if items and s.items.enabled:
            to_quickbooks = s.items.direction == "platform_to_quickbooks"
            fsp_items = self._fetch(state, "item", self.d.platform.get_item, named.of("platform", "item")) \
                if to_quickbooks else []
            for key, n in self._item_sync(log).run(list(found.items), fsp_items).items():
                log.count(key, n)
        def linked(*keys: str) -> int:  # how many records this apply has linked so far (what others wait on)
            return sum(log.counts.get(k, 0) for k in keys)

        self._apply_named_clients(state, log, list(found.customers), named.of("platform", "client"))
        customers_linked = linked("customers_created_in_quickbooks", "clients_matched") > 0
        if s.sites.enabled:
            sites = self._fetch(state, "site", self.d.platform.get_site, named.of("platform", "site"))
            if customers_linked:
                sites += self._waiting(state, "site", self.d.platform.get_site, {x.id for x in sites})
            SiteSync(self.d, log, self._create_customers(state, "site", "site")).apply(sites)
        invoice_sync = self._invoice_sync(state, log)
        if s.invoices.enabled:
            invoices = self._fetch(state, "invoice", self.d.platform.get_invoice, named.of("platform", "invoice"))
            if customers_linked or linked("sub_customers_created_in_quickbooks"):
                invoices += self._waiting(state, "invoice", self.d.platform.get_invoice, {i.id for i in invoices})
            invoice_sync.push(invoices)
        if s.payments.enabled:
            payments = self._fetch(state, "payment", self.d.platform.get_payment, named.of("platform", "payment"))
            if linked("invoices_created_in_quickbooks"):
                payments += self._waiting(state, "payment", self.d.platform.get_payment, {p.id for p in payments})
            PaymentSync(self.d, log).push(payments)
            PaymentSync(self.d, log).quickbooks_changed(found.payments)
        if s.invoices.enabled:
            invoice_sync.quickbooks_changed(found.invoices)
        return state

    def _apply_named_clients(self, state: dict, log, customers: list[CustomerState],
                             client_ids: frozenset[str]) -> None:
        """Named customers and clients merged as pairs: a linked customer QuickBooks changed is merged with its
        client as the platform holds it now (the per-field fingerprints tell which side changed what), a named
        client with its customer as CDC would report it; then new, deleted and unchanged customers as a run's
        QuickBooks step treats them."""
        if not customers and not client_ids:
            return
        links = links_by_qbo(self.d.links, self.d.tenant_id, "customer", [c.qbo_id for c in customers])
        wanted = set(client_ids)
        for customer in customers:
            link = links.get(customer.qbo_id)
            if link is not None and link.state == "linked" and customer.sync_token != link.sync_token:
                wanted.add(link.fsp_id)
        held = self._held()
        sync = self._client_sync(state, log, held)
        clients = self._fetch(state, "client", self.d.platform.get_client, frozenset(wanted))
        sync.apply_platform_page(clients, customers)
        paired = {c.id for c in clients}
        rest = [c for c in customers if getattr(links.get(c.qbo_id), "fsp_id", None) not in paired]
        # The pages settled only the links of the clients they judged (paired, left out here): the rest stand.
        sync.apply_quickbooks_rest(rest, True, linked=links)

    def _fetch(self, state: dict, entity: str, get, ids: frozenset[str]) -> list:
        """Platform records by id; one the platform no longer has is left out (its deletion is a run's to see)."""
        from shared.fieldservice.errors import NotFound, PlatformRefused

        found = []
        for fsp_id in sorted(ids):
            try:
                found.append(get(self.d.tenant_id, fsp_id))
            except NotFound:
                continue
            except PlatformRefused as exc:
                self._log(state).error(entity, fsp_id, "to_quickbooks", exc.code, str(exc))
        return found

    def finish(self, state: dict) -> dict:
        """Move every cursor past what this pass applied, then give the gate up; if a change was noted meanwhile,
        go round again under the same run instead."""
        self._review(state).report()
        self._move_quickbooks_cursors(state)
        for kind, newest in (state.get("newest") or {}).items():
            self.cursors.put(self.d.tenant_id, kind, datetime.fromisoformat(newest["at"]), newest["ids"])
        if state.get("reconcile"):
            self.cursors.put(self.d.tenant_id, "reconciled", self.clock())
        if state.get("items_full") and self.d.settings.items.enabled:
            self.cursors.put(self.d.tenant_id, f"items_full:{self.d.settings.items.direction}", self.clock())
        if not self.gate.release(self.d.tenant_id, state["run_id"], state.get("seen", 0)):
            held = self.gate.acquire(self.d.tenant_id, state["run_id"], SYNC_LEASE_S)
            self._log(state).count("passes_for_changes_during_the_run")
            return {**state, "seen": held.seen, "again": True, "reconcile": False, "newest": {},
                    "cursor": {"done": False}}
        return self._end(state, "succeeded")

    def _end(self, state: dict, status: str, phase: str | None = None) -> dict:
        summary: dict[str, Any] = {"counts": state.get("counts", {})}
        if state.get("skipped"):
            summary["reason"] = state["skipped"]
        if state.get("quiet"):
            summary["reason"] = QUIET_REASON
        if state.get("reconcile"):
            summary["reconciliation"] = "daily sweep of the last 25 hours of changes"
        self.d.runs.finish(self.d.tenant_id, state["run_id"], status, summary, phase)
        if status == "succeeded":
            self.mark_synced()
        return {**state, "stop": True, "again": False}

    def mark_synced(self) -> None:
        self.d.connections.mark_synced(self.d.tenant_id, self.clock())

    def record_failure(self, state: dict) -> dict:
        if not state.get("run_id"):
            from shared.domain.admin import new_run_id

            state["run_id"] = new_run_id("sync")
            self.d.runs.create(RunRecord(tenant_id=self.d.tenant_id, run_id=state["run_id"], kind="sync",
                                         status="running", started_at=self.clock(), phase="queued"))
        self.d.runs.finish(self.d.tenant_id, state["run_id"], "failed",
                           {"counts": state.get("counts", {}), "error": failure_of(state)})
        self.gate.abandon(self.d.tenant_id, state["run_id"])
        return state
