"""Clients <-> customers after onboarding: field-level, two-way merge against what each side last held.

Each link keeps, per side, a fingerprint per field of the value that side held when we last synced it
(`Link.extra["fp"] = {"p": {...}, "q": {...}}`), set when the pair is linked (onboarding or later). A field whose
value on one side differs from that side's fingerprint changed there; changed on one side only, it goes to the other;
changed on both, the most recent edit wins (QuickBooks `MetaData.LastUpdatedTime` against the platform's
`updated_at`) and the run records which side won. Fields that differed when the pair was linked and were not edited
since are left as they are: onboarding links records, it does not overwrite either. Our own writes come back through
CDC and `updated_since` with values equal to their fingerprints, so they are recognised and never echoed, and a
side that is not among this run's changes is known to be unchanged without reading it. The direction setting decides
which side may write to the other (IndusTrack seed: "QuickBooks will act as the Master ... changes made in IndusTrack
will not synchronize to QuickBooks"), new records included; under QuickBooks-master the link also keeps when each
platform edit kept on the platform was made (`"pk"`, see `merge`).

Pure decisions live in `merge`; `ClientSync` applies them through the two ports, QuickBooks updates 30 to a batch."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain import lanes, matching, parties
from shared.domain.names import normalize_email, normalize_phone, quickbooks_display_name
from shared.domain.records import Link, links_by_qbo
from shared.domain.run_log import RunLog
from shared.domain.settings import MissingState, resolve_state
from shared.fieldservice.errors import PlatformRefused
from shared.fieldservice.models import Address, Client, Contact
from shared.quickbooks import errors as qbo_errors
from shared.quickbooks.errors import refused
from shared.quickbooks.port import CUSTOMER_TEXT, CustomerChange, CustomerState

FIELDS = ("company", "first", "last", "email", "phone", "address", "active")
ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code", "country")
DELETED_MESSAGE = ("This customer was deleted or merged in QuickBooks, so its platform client is no longer linked to "
                   "a QuickBooks customer. Link the client to the surviving customer with Clear ID and a sync (it is "
                   "matched by name), or make the client inactive.")


# -- values and fingerprints -------------------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(str(value).split())
    return cleaned or None


def _address(addr: dict | None) -> dict | None:
    if not addr or not any(addr.get(k) for k in ("line1", "city", "postal_code")):
        return None
    out = {k: _text(addr.get(k)) for k in ADDRESS_PARTS}
    out["country"] = parties.country_code(out["country"]) if out["country"] else None
    return out


def customer_values(customer: CustomerState) -> dict[str, Any]:
    """A QuickBooks Customer as the platform-comparable field values."""
    return compact_customer_values(customer.compact())


def compact_customer_values(compact: dict) -> dict[str, Any]:
    return {"company": _text(compact["company"]), "first": _text(compact["first"]), "last": _text(compact["last"]),
            "email": _text(compact["email"]), "phone": _text(compact["phone"]), "address": _address(compact["bill"]),
            "active": bool(compact["active"])}


def client_values(client: Client) -> dict[str, Any]:
    return compact_client_values(parties.compact_client(client))


def compact_client_values(compact: dict) -> dict[str, Any]:
    return {"company": _text(compact["company"]), "first": _text(compact["first"]), "last": _text(compact["last"]),
            "email": _text(compact["email"]), "phone": _text(compact["phone"]),
            "address": _address(compact["address"]), "active": bool(compact["active"])}


def _comparable(name: str, value: Any) -> Any:
    """What must be equal for two values to be the same: case, spacing, punctuation in phone numbers and the ':'
    QuickBooks refuses in names do not make a change."""
    if value is None:
        return None
    if name == "email":
        return normalize_email(value)
    if name == "phone":
        return normalize_phone(value)
    if name == "address":
        return {k: (v or "").casefold() for k, v in value.items() if k != "state" or v}
    if name == "active":
        return bool(value)
    return str(value).replace(":", "-").casefold()


def fingerprint(name: str, value: Any) -> str:
    blob = json.dumps(_comparable(name, value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fingerprints(values: dict[str, Any]) -> dict[str, str]:
    return {name: fingerprint(name, values[name]) for name in FIELDS}


# -- the merge ---------------------------------------------------------------------------------------------------

@dataclass
class Merge:
    to_platform: dict[str, Any] = field(default_factory=dict)
    to_quickbooks: dict[str, Any] = field(default_factory=dict)
    conflicts: list[dict] = field(default_factory=list)  # {field, winner}
    platform_fp: dict[str, str] = field(default_factory=dict)  # each side's fingerprints once this is applied
    quickbooks_fp: dict[str, str] = field(default_factory=dict)
    platform_kept: dict[str, str] = field(default_factory=dict)  # field -> when its platform edit was kept there

    @property
    def writes(self) -> bool:
        return bool(self.to_platform or self.to_quickbooks)

    def base(self) -> dict[str, dict[str, str]]:
        """What the link keeps (`Link.extra["fp"]`) once this is applied, for the next merge."""
        return {"p": self.platform_fp, "q": self.quickbooks_fp,
                **({"pk": self.platform_kept} if self.platform_kept else {})}


def baseline(platform: dict[str, Any] | None, quickbooks: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """The fingerprints a newly linked pair starts from: what each side holds now."""
    return {"p": fingerprints(platform) if platform else {}, "q": fingerprints(quickbooks) if quickbooks else {}}


def merge(base: dict[str, dict[str, str]], platform: dict[str, Any] | None, quickbooks: dict[str, Any] | None,
          platform_at: datetime | None, quickbooks_at: datetime | None, direction: str) -> Merge:
    """`platform` / `quickbooks` are the values of a side that changed in this run, None for a side that did not.
    A field without a fingerprint on a side (a pair linked before fingerprints) takes the value seen now as its
    baseline: it is recorded, not propagated. The value that loses a conflict is recorded as seen on its side also
    when the direction keeps the winner where it is, so it does not come back as an edit with the next change of
    its record.

    QuickBooks-master keeps a platform edit on the platform without writing to QuickBooks, so nothing tells the run
    whether QuickBooks changed the field after the run's CDC read; the next run's CDC reports such an edit. The link
    keeps when each kept edit was made (`pk`, the platform record's `updated_at`), and a QuickBooks edit of that
    field made before it is a conflict the platform's edit won. (The mirror cannot happen: a platform edit made
    before a QuickBooks edit that a run's CDC read saw was made before the run's pages, so they listed it.)"""
    bp, bq = dict(base.get("p") or {}), dict(base.get("q") or {})
    kept = dict(base.get("pk") or {})
    out = Merge(platform_fp=bp, quickbooks_fp=bq, platform_kept=kept)
    platform_newer = platform_at is not None and (quickbooks_at is None or platform_at > quickbooks_at)
    for name in FIELDS:
        p_fp = fingerprint(name, platform[name]) if platform is not None else None
        q_fp = fingerprint(name, quickbooks[name]) if quickbooks is not None else None
        p_changed = p_fp is not None and name in bp and p_fp != bp[name]
        q_changed = q_fp is not None and name in bq and q_fp != bq[name]
        if p_fp is not None and name not in bp:
            bp[name] = p_fp
        if q_fp is not None and name not in bq:
            bq[name] = q_fp
        if not (p_changed or q_changed):
            continue
        # A side that changed has a fingerprint; the winner below is always such a side.
        p_now, q_now = p_fp or "", q_fp or ""
        if p_changed and q_changed:
            if p_now == q_now:  # the same edit on both sides
                bp[name] = bq[name] = p_now
                kept.pop(name, None)
                continue
            winner = "platform" if platform_newer else "quickbooks"
            out.conflicts.append({"field": name, "winner": winner})
        elif q_changed and name in kept and quickbooks_at is not None and (
                quickbooks_at < datetime.fromisoformat(kept[name])):
            out.conflicts.append({"field": name, "winner": "platform"})
            bq[name] = q_now  # made before the platform's kept edit, reported by a later run: seen, and lost
            continue
        else:
            winner = "platform" if p_changed else "quickbooks"
        if winner == "platform" and platform is not None:
            bp[name] = p_now
            if direction != "quickbooks_master":
                out.to_quickbooks[name] = platform[name]
                bq[name] = p_now
            else:  # QuickBooks is the master: the platform's edit stays there
                if q_changed:
                    bq[name] = q_now  # QuickBooks' losing edit: seen, not an edit again with its next change
                if platform_at is not None:
                    kept[name] = platform_at.isoformat()
        elif quickbooks is not None:
            bq[name] = q_now
            if direction != "platform_master":
                out.to_platform[name] = quickbooks[name]
                bp[name] = q_now
            elif p_changed:
                bp[name] = p_now  # the platform's losing edit (platform-master keeps QuickBooks'): seen
        if bp.get(name) == bq.get(name):
            kept.pop(name, None)  # in step: nothing of either side's is kept apart
    return out


def client_update(client: Client, changed: dict[str, Any], settings) -> dict[str, Any]:
    """The platform's update_client arguments for merged fields (both QuickBooks adapters use it); MissingState when
    an address without a State cannot be filled."""
    kwargs: dict[str, Any] = {}
    if "company" in changed:
        kwargs["company_name"] = changed["company"]
    if changed.keys() & {"first", "last", "email", "phone"}:
        c = client.contact
        kwargs["contact"] = Contact(first_name=changed.get("first", c.first_name),
                                    last_name=changed.get("last", c.last_name),
                                    email=changed.get("email", c.email), phone=changed.get("phone", c.phone))
    if "address" in changed:
        addr = changed["address"]
        if addr:
            state = resolve_state(addr.get("state"), addr.get("country"), settings)
            kwargs["billing_address"] = Address(**{**addr, "state": state})
        else:
            kwargs["billing_address"] = None
    if "active" in changed:
        kwargs["active"] = bool(changed["active"])
    return kwargs


def newer_than_synced(theirs: str | None, ours: str | None) -> bool:
    """Whether QuickBooks' copy of a customer (its SyncToken `theirs`) is a later version than the one we last
    wrote or read (`ours`). QuickBooks increments an object's SyncToken whenever it is modified (Intuit's API
    reference: "As soon as an application modifies an object, its SyncToken is incremented"), so a CDC row read at
    the start of a run is an older version than the one our own update in the same run produced (a client updated
    on an earlier platform page comes back on a later one, since a record updated while paging moves to the end of
    the platform's order): such a row is no edit made in QuickBooks and must not be merged back over our write."""
    if ours is None or theirs is None:
        return True
    if theirs.isdigit() and ours.isdigit():
        return int(theirs) > int(ours)
    return theirs != ours


# -- applying it -------------------------------------------------------------------------------------------------

@dataclass
class _Pending:
    """A QuickBooks update waiting for its batch, with what its link becomes once QuickBooks accepts it."""

    link: Link
    change: CustomerChange
    fp: dict
    changed: Client | None
    retried: bool
    values: dict[str, Any] = field(default_factory=dict)  # the merged fields `change` carries
    carried: bool = False  # queued by an earlier task of the step: on a 5010 its client is read again


class ClientSync:
    """One slice of client changes: platform clients changed since the cursor and QuickBooks customers from CDC."""

    def __init__(self, deps, log: RunLog, create_in_batches, held_qbo: frozenset[str] = frozenset(),
                 held_fsp: frozenset[str] = frozenset(), split=lanes.split, carry: bool = False):
        self.d, self.log = deps, log
        self._split = split  # the task's lane splits (lanes.LaneChooser.split), shared with its creates
        self._pending: list[_Pending] = []
        # carry: a platform page keeps its QuickBooks writes (`carried`) for the step's last task to send with
        # every other page's (`resume`), so a run's writes fill whole batches instead of one part-full batch per
        # page and its new clients' names are looked up together.
        self._carry = carry
        self._to_create: list[dict] = []  # compact clients no QuickBooks customer matched, to create there
        self._seen: list[str] = []  # the clients a page judged (this task's, or the pages' `resume` took back)
        self._settling: list[Link] = []  # links settled since the last write of them (`_write_settled`)
        self._held_qbo, self._held_fsp = held_qbo, held_fsp
        # New QuickBooks customers a page found in a possible duplicate with a new client: the admin decides, so
        # the step's last task must not create them on the platform either (they reach it as the pages' rows).
        self._conflicted_qbo: set[str] = set()
        self._create_in_batches = create_in_batches  # Onboarding's exactly-once batch create (shared rule)
        self.direction = deps.settings.clients.direction

    # The two public steps --------------------------------------------------------------------------------------
    def apply_platform_page(self, clients: Sequence[Client], customers: Sequence[CustomerState]) -> None:
        """One page of platform clients changed since the cursor, merged with the QuickBooks changes of the same
        records (`customers`: every customer CDC reported this run); new clients are matched against the new
        QuickBooks customers first, then created."""
        try:
            self._platform_page(clients, customers)
        finally:  # the page's settled links in one batch, also when a later write of the page failed
            self._write_settled()

    def _platform_page(self, clients: Sequence[Client], customers: Sequence[CustomerState]) -> None:
        tenant = self.d.tenant_id
        customers = _top_level(customers)
        by_fsp = self.d.links.get_many(tenant, "customer", [c.id for c in clients]) if clients else {}
        wanted = {lk.qbo_id for lk in by_fsp.values() if lk.qbo_id}
        qbo_rows = {c.qbo_id: c for c in customers}
        new_clients = []
        self._seen += [c.id for c in clients]
        for client in clients:
            link = by_fsp.get(client.id)
            if link is None or not link.qbo_id:
                new_clients.append(client)
                continue
            if link.state != "linked" or link.extra.get("deleted_in_quickbooks"):
                continue
            row = qbo_rows.get(link.qbo_id) if link.qbo_id in wanted else None
            if row is not None and row.deleted:
                self._deleted_in_quickbooks(link, row)
                continue
            if row is not None and not newer_than_synced(row.sync_token, link.sync_token):
                row = None  # unchanged in QuickBooks since we last synced it (or our own write of this run)
            self._merge_linked(link, client, row)
        self._create_new(new_clients, self._unlinked_namesakes(customers, new_clients), create_customers=False)
        if not self._carry:
            self._send_creates()
            self.flush()

    def carried(self) -> list[list]:
        """This task's QuickBooks writes as rows for the run to keep (`resume` takes them back): the clients it
        judged, the updates it merged (each with the SyncToken it was merged against) and the clients to create."""
        return [["seen", self._seen], ["conflicted", sorted(self._conflicted_qbo)],
                *(["update", self._carried_update(p)] for p in self._pending),
                *(["create", compact] for compact in self._to_create)]

    def resume(self, rows: Sequence[list]) -> None:
        """Take back the writes of the step's pages (their `carried` rows, in page order), to go out with this
        task's: a client a later page judged again takes that page's outcome only (its link was not settled in
        between, so that page merged against the same fingerprints and queued the same write if one was due)."""
        updates: dict[str, dict] = {}
        creates: dict[str, dict] = {}
        for kind, row in rows:
            if kind == "seen":
                self._seen += row
                for fsp_id in row:
                    updates.pop(fsp_id, None)
                    creates.pop(fsp_id, None)
            elif kind == "conflicted":
                self._conflicted_qbo.update(row)
            elif kind == "update":
                updates[row["fsp_id"]] = row
            else:
                creates[row["id"]] = row
        links = self.d.links.get_many(self.d.tenant_id, "customer", list(updates)) if updates else {}
        for fsp_id, row in updates.items():
            link = links.get(fsp_id)
            if link is None or not link.qbo_id:
                continue  # cleared by an admin since: the next run sees the client as new
            change = self._customer_change(link.qbo_id, row["token"], row["values"])
            self._pending.append(_Pending(link, change, row["fp"], None, False, row["values"], carried=True))
        self._to_create += creates.values()

    def _unlinked_namesakes(self, customers: Sequence[CustomerState],
                            clients: Sequence[Client]) -> list[CustomerState]:
        """The run's new QuickBooks customers that a page's new clients could match: not deleted, sharing a name
        key with one of them (nothing else can match or conflict, matching.sharing_a_name), and not linked yet.
        Only their links are read, not the links of every customer CDC reported (after onboarding, thousands, for
        every page)."""
        if not clients:
            return []
        rows = {c.qbo_id: c for c in customers if not c.deleted}
        namesakes = matching.sharing_a_name([_party(c.compact(), "bill") for c in rows.values()],
                                            [_party(parties.compact_client(c), "address") for c in clients])
        linked = self._links_by_qbo([p.id for p in namesakes])
        return [rows[p.id] for p in namesakes if p.id not in linked]

    def apply_quickbooks_rest(self, customers: Sequence[CustomerState], platform_now: bool,
                              linked: Mapping[str, Link] | None = None) -> None:
        """After every platform page: the QuickBooks changes whose client no page judged, deletions, and new
        QuickBooks customers no platform client matched. A page judged the version of its client it listed, with
        this run's CDC row of its customer; a client no page judged may still have changed on the platform since
        the cursor (edited after its page was listed, or applied at the cursor's instant by the last run), so with
        `platform_now` it is merged as the platform holds it now, both sides by their fingerprints (without it,
        QuickBooks' side alone: review mode may hold what the platform changed). `linked`: links the caller read a
        moment ago for some of these customers, whose clients the pages did not judge (a record-level apply: one GSI
        query per customer, each twice, was a quarter of the worker's time in issue 12's profile); a customer
        without one is read again, since a page may have linked it meanwhile."""
        try:
            self._quickbooks_rest(customers, platform_now, linked)
        finally:
            self._write_settled()

    def _quickbooks_rest(self, customers: Sequence[CustomerState], platform_now: bool,
                         linked: Mapping[str, Link] | None) -> None:
        top = _top_level(customers)
        self.log.count("quickbooks_jobs_not_imported", len(customers) - len(top))
        customers = top
        known = {c.qbo_id: linked[c.qbo_id] for c in customers if linked and c.qbo_id in linked}
        by_qbo = {**known, **self._links_by_qbo([c.qbo_id for c in customers if c.qbo_id not in known])}
        judged = set(self._seen)  # merged with their page (an update it queued goes with this flush)
        new_customers = []
        for row in customers:
            link = by_qbo.get(row.qbo_id)
            if link is not None and link.fsp_id in judged:
                continue
            if row.deleted:
                if link is not None and not link.extra.get("deleted_in_quickbooks"):
                    self._deleted_in_quickbooks(link, row)
                continue
            if link is None:
                new_customers.append(row)
                continue
            if link.state != "linked" or link.extra.get("deleted_in_quickbooks"):
                continue
            if not newer_than_synced(row.sync_token, link.sync_token):
                self.log.count("customers_unchanged")  # our own write coming back through CDC, or an older copy
                continue
            try:
                client = self.d.platform.get_client(self.d.tenant_id, link.fsp_id)
            except PlatformRefused as exc:  # throttling or an outage passes through: the run pauses and this replays
                self.log.error("client", link.fsp_id, "to_platform", exc.code, str(exc))
                continue
            self._merge_linked(link, client if platform_now else None, row, client)
        self._create_new([], new_customers, create_customers=True)
        if not self._carry:
            self._send_creates()
            self.flush()

    def send(self, limit: int) -> list[list]:
        """The carrying step's sends: at most `limit` of the queued QuickBooks writes, creates first, then updates
        (a task's writes must fit its time at QuickBooks' limits: 10,000 new clients in one task outlived the task's
        timeout). Answers the rest as carried rows, for the step's next task to `resume` and send. The slice is
        taken in queue order, so a retried task sends the same writes under the same requestids."""
        self._to_create, rest_creates = self._to_create[:limit], self._to_create[limit:]
        room = max(0, limit - len(self._to_create))
        self._pending, rest_updates = self._pending[:room], self._pending[room:]
        self._send_creates()
        self.flush()
        return [*(["update", self._carried_update(p)] for p in rest_updates),
                *(["create", compact] for compact in rest_creates)]

    @staticmethod
    def _carried_update(pending: _Pending) -> dict[str, Any]:
        return {"fsp_id": pending.link.fsp_id, "token": pending.change.sync_token, "values": pending.values,
                "fp": pending.fp}

    def _send_creates(self) -> None:
        to_create, self._to_create = self._to_create, []
        self._clients_to_quickbooks(to_create)

    def _links_by_qbo(self, qbo_ids: list[str]) -> dict[str, Link]:
        return links_by_qbo(self.d.links, self.d.tenant_id, "customer", qbo_ids)

    # Linked pairs ---------------------------------------------------------------------------------------------
    def _merge_linked(self, link: Link, client: Client | None, row: CustomerState | None,
                      current: Client | None = None) -> None:
        """`client`: changed on the platform in this run (None: it did not, and `current` may hold it); `row`: the
        QuickBooks customer as CDC reported it (None: unchanged there)."""
        result = merge(link.extra.get("fp") or {}, client_values(client) if client is not None else None,
                       customer_values(row) if row is not None else None,
                       client.updated_at if client is not None else None, row.updated_at if row is not None else None,
                       self.direction)
        token = row.sync_token if row is not None else link.sync_token
        self._apply(link, client or current, token, result, client)

    def _apply(self, link: Link, client: Client | None, token: str | None, result: Merge,
               changed: Client | None, retried: bool = False) -> None:
        new_fp = result.base()
        if not result.writes and new_fp == link.extra.get("fp") and token == link.sync_token:
            self.log.count("clients_unchanged")  # an echo of our own write, or an edit that changed nothing
            return
        for conflict in result.conflicts:
            self.log.count(f"client_conflicts_{conflict['winner']}_won")
        if result.to_platform:
            try:
                client = client or self.d.platform.get_client(self.d.tenant_id, link.fsp_id)
                self._update_client(client, result.to_platform)
                self.log.count("clients_updated_on_platform")
            except MissingState as exc:
                self.log.error("customer", link.qbo_id or "", "to_platform", exc.code, exc.message)
                return
            except PlatformRefused as exc:  # throttling or an outage passes through: the run pauses and this replays
                self.log.error("customer", link.qbo_id or "", "to_platform", exc.code, str(exc))
                return
        if result.to_quickbooks:
            if token is None:  # linked before SyncTokens were kept: one read to learn it
                token = self.d.quickbooks().read_customer(link.qbo_id or "").sync_token
            change = self._customer_change(link.qbo_id or "", token or "", result.to_quickbooks)
            self._pending.append(_Pending(link, change, new_fp, changed, retried, result.to_quickbooks))  # flushed
            return
        self._settled(link, token, new_fp)

    def _settled(self, link: Link, token: str | None, new_fp: dict) -> None:
        """Written with the rest of its page or flush (`_write_settled`, at the end of each public step, also when
        it fails): one BatchWriteItem instead of a PutItem per record (issue 12's profile). A plain put needs no
        condition, so nothing is lost by batching; a task dying before the write leaves the link as a crash
        between a write and its put always did: the next pass merges the record again against the old
        fingerprints and SyncToken (the update requests replay by requestid)."""
        link.sync_token, link.extra = token, {**link.extra, "fp": new_fp}
        self._settling.append(link)
        self.log.resolved("client", link.fsp_id)
        self.log.resolved("customer", link.qbo_id or "")

    def _write_settled(self) -> None:
        # One item per key: a batch write refuses duplicate keys, and the latest settlement of a record is its state.
        settled = list({(link.entity, link.fsp_id): link for link in self._settling}.values())
        self._settling = []
        if settled:
            self.d.links.put_many(settled)

    def flush(self) -> None:
        """Send the queued QuickBooks updates: 30 to a batch, and single updates beside the batches when the
        company's batch budget would make them wait (shared/domain/lanes.py). Each request's requestid is derived
        from its members and their SyncTokens, so a crash-retry replays QuickBooks' first answer; a stale
        SyncToken (5010) is re-read and merged again once."""
        try:
            while self._pending:
                pending, self._pending = self._pending, []
                qb = self.d.quickbooks()
                work = self._split(pending)
                with qb.concurrent(lanes.PARALLEL if len(work) > 1 else 1) as workers:
                    lanes.run_lanes(work, functools.partial(self._send_updates, qb), self._updated, workers)
        finally:  # what QuickBooks took is settled even when a later batch failed (run_lanes records it first)
            self._write_settled()

    def _send_updates(self, qb, piece: lanes.Work) -> list[tuple[_Pending, CustomerState | None, dict]]:
        """(pending, customer as updated or None, QuickBooks' fault) for each member; on a worker thread."""
        from shared.domain.onboarding import request_id

        members: list[_Pending] = list(piece.rows)
        if piece.lane == "single":
            member = members[0]
            rid = request_id(self.d.tenant_id, "customer-update-single",
                             f"{member.link.fsp_id}:{member.change.sync_token}")
            try:
                return [(member, qb.update_customer(member.change, request_id=rid), {})]
            except qbo_errors.QuickBooksError as exc:
                if not (refused(exc) or isinstance(exc, qbo_errors.StaleObject)):
                    raise  # throttling or an outage: the run pauses and this replays
                return [(member, None, {"code": exc.code, "message": exc.message, "detail": exc.detail})]
        rid = request_id(self.d.tenant_id, "customer-update",
                         *sorted(f"{p.link.fsp_id}:{p.change.sync_token}" for p in members))
        return [(members[int(r.bid)], r.customer, vars(r.fault) if r.fault else {})
                for r in qb.update_customers([p.change for p in members], request_id=rid)]

    def _updated(self, results: list[tuple[_Pending, CustomerState | None, dict]]) -> None:
        for pending, customer, fault in results:
            if customer is not None:
                self.log.count("customers_updated_in_quickbooks")
                self._settled(pending.link, customer.sync_token, pending.fp)
                continue
            error = qbo_errors.classify(fault.get("code", ""), fault.get("message", ""), fault.get("detail", ""))
            if isinstance(error, qbo_errors.StaleObject) and not pending.retried:
                self._stale(pending)
            elif refused(error) or isinstance(error, qbo_errors.StaleObject):
                self.log.error("client", pending.link.fsp_id, "to_quickbooks", error.code, error.message,
                               error.detail)
            else:
                raise error  # throttling or an outage inside the batch: the run pauses and this replays

    def _stale(self, pending: _Pending) -> None:
        """Edited in QuickBooks since we read it: merge again against what QuickBooks holds now."""
        fresh = self.d.quickbooks().read_customer(pending.link.qbo_id or "")
        client = pending.changed
        if pending.carried:  # merged by an earlier task: its client as the platform holds it now
            client = self.d.platform.get_client(self.d.tenant_id, pending.link.fsp_id)
        result = merge(pending.link.extra.get("fp") or {}, client_values(client) if client is not None else None,
                       customer_values(fresh), client.updated_at if client is not None else None, fresh.updated_at,
                       self.direction)
        self._apply(pending.link, client, fresh.sync_token, result, client, retried=True)

    def _customer_change(self, qbo_id: str, token: str, changed: dict[str, Any]) -> CustomerChange:
        """The sparse update for merged fields: a field merged to nothing is cleared in QuickBooks (an address
        merged to nothing is left as QuickBooks holds it)."""
        values: dict[str, Any] = {}
        for name in CUSTOMER_TEXT:
            if name in changed and changed[name]:
                value = changed[name]
                values[name] = value[:30] if name == "phone" else value if name == "email" else (
                    value.replace(":", "-")[:parties.NAME_FIELD_MAX])
        clear = frozenset(name for name in CUSTOMER_TEXT if name in changed and not changed[name])
        if "active" in changed:
            values["active"] = bool(changed["active"])
        if changed.get("address"):
            value = changed["address"]
            try:
                state = resolve_state(value.get("state"), value.get("country"), self.d.settings)
            except MissingState:
                state = None  # QuickBooks takes an address without a State; only the platform requires one
            values["bill"] = parties.postal_address(value, state)
        return CustomerChange(qbo_id, token, clear=clear, **values)

    def _update_client(self, client: Client, changed: dict[str, Any]) -> None:
        self.d.platform.update_client(self.d.tenant_id, client.id, **client_update(client, changed, self.d.settings))

    def _deleted_in_quickbooks(self, link: Link, row: CustomerState) -> None:
        """Never recreated silently: flagged in the error log until the admin relinks or clears it."""
        link.extra = {**link.extra, "deleted_in_quickbooks": True}
        self.d.links.put(link)
        self.log.error("client", link.fsp_id, "to_quickbooks", "deleted_in_quickbooks", DELETED_MESSAGE,
                       f"QuickBooks customer {row.qbo_id}")

    # New records ----------------------------------------------------------------------------------------------
    def _create_new(self, clients: list[Client], customers: list[CustomerState], create_customers: bool) -> None:
        to_qbo = self.direction in ("two_way", "platform_master")
        to_fsp = self.direction in ("two_way", "quickbooks_master")
        held = len([c for c in clients if c.id in self._held_fsp]) + len(
            [c for c in customers if c.qbo_id in self._held_qbo])
        self.log.count("held_for_onboarding_conflicts", held)
        clients = [c for c in clients if c.id not in self._held_fsp]
        customers = [c for c in customers if c.qbo_id not in self._held_qbo]
        clients = [c for c in clients if c.active] if to_qbo else []
        customers = [c for c in customers if c.active] if to_fsp else []
        if not clients and not customers:
            return
        # Someone entered the same company on both sides since the last run: match as onboarding does.
        matched = matching.match_parties(
            [_party(c.compact(), "bill") for c in customers],
            [_party(parties.compact_client(c), "address") for c in clients])
        linked_fsp, linked_qbo = set(), set()
        rows = {c.qbo_id: c for c in customers}
        by_id = {c.id: c for c in clients}
        for m in matched.matches:
            self._link_pair(parties.compact_client(by_id[m.fsp_id]), rows[m.qbo_id])
            linked_fsp.add(m.fsp_id)
            linked_qbo.add(m.qbo_id)
        for conflict in matched.conflicts:  # ambiguous: neither created, the admin decides (as in onboarding)
            linked_fsp.update(conflict.fsp_ids)
            linked_qbo.update(conflict.qbo_ids)
            self._conflicted_qbo.update(conflict.qbo_ids)
            for fsp_id in conflict.fsp_ids:
                self.log.error("client", fsp_id, "to_quickbooks", "possible_duplicate", conflict.reason)
        self._to_create += [parties.compact_client(c) for c in clients if c.id not in linked_fsp]
        if create_customers:  # only once every platform page had its chance to match them
            self._customers_to_platform([c for c in customers
                                         if c.qbo_id not in linked_qbo and c.qbo_id not in self._conflicted_qbo])

    def _link_pair(self, client: dict, customer: CustomerState) -> None:
        """Matched as onboarding matches: linked as they are, each side's values its baseline (nothing is
        overwritten because the same company was entered twice). `client`: parties.compact_client."""
        link = Link(self.d.tenant_id, "customer", client["id"], customer.qbo_id, sync_token=customer.sync_token,
                    extra={"evidence": ["matched_after_onboarding"]})
        self.log.count("clients_matched")
        self._settled(link, customer.sync_token,
                      baseline(compact_client_values(client), compact_customer_values(customer.compact())))

    def _clients_to_quickbooks(self, clients: list[dict]) -> None:
        """`clients`: parties.compact_client of each, once per client."""
        if not clients:
            return
        # Linked already: created by an earlier attempt of this task (its answer was lost), whose counts died with
        # it. Handed on as they are, so the attempt forms the same pieces and counts them as created, once; found by
        # name they would count as matched.
        earlier = self.d.links.get_many(self.d.tenant_id, "customer", [c["id"] for c in clients])
        existing = {r.display_name.casefold(): r
                    for r in self.d.quickbooks().customers_named([c["name"] for c in clients if c["name"]])}
        taken = set(existing)
        rows: list[dict[str, Any]] = []
        for compact in clients:
            link = earlier.get(compact["id"])
            if link is not None and link.qbo_id:
                rows.append({"fsp_id": compact["id"], "customer": None})
                continue
            hit = existing.get((compact["name"] or "").casefold())
            if hit is not None and parties.same_person(hit, parties.customer_draft(compact, hit.display_name, None)):
                self._link_pair(compact, hit)  # already in QuickBooks under this name (entered there, never linked)
                continue
            try:
                display, _ = quickbooks_display_name(compact["name"] or "", taken)
            except ValueError:
                from shared.domain.onboarding_plan import NO_NAME_MESSAGE

                self.log.error("client", compact["id"], "to_quickbooks", "no_name", NO_NAME_MESSAGE)
                continue
            taken.add(display.casefold())
            state = None
            if compact.get("address"):
                try:
                    state = resolve_state(compact["address"].get("state"), compact["address"].get("country"),
                                          self.d.settings)
                except MissingState:
                    state = None  # QuickBooks takes an address without a State; only the platform requires one
            rows.append({"fsp_id": compact["id"], "customer": parties.customer_draft(compact, display, state).as_dict(),
                         "fp_p": fingerprints(compact_client_values(compact))})
        if rows:  # in both lanes when there are many (Onboarding._create_in_batches)
            self.log.count("customers_created_in_quickbooks", self._create_in_batches(rows, existing=earlier))
        for row in rows:
            self.log.resolved("client", row["fsp_id"])

    def _customers_to_platform(self, customers: list[CustomerState]) -> None:
        from shared.domain.onboarding import request_id

        linked = []
        for customer in customers:
            compact = customer.compact()
            state, country = None, None
            if compact.get("bill"):
                try:
                    state = resolve_state(compact["bill"].get("state"), compact["bill"].get("country"),
                                          self.d.settings)
                except MissingState as exc:
                    self.log.error("customer", customer.qbo_id, "to_platform", exc.code, exc.message)
                    continue
                country = parties.country_code(compact["bill"].get("country"), self.d.settings.clients.default_country)
            draft = parties.client_draft(parties.client_draft_dict(compact, state, country))
            try:
                client = self.d.platform.create_client(self.d.tenant_id, draft, idempotency_key=request_id(
                    self.d.tenant_id, "customer", customer.qbo_id))
            # Throttling or an outage passes through: the run pauses and this replays (idempotency key)
            except PlatformRefused as exc:
                self.log.error("customer", customer.qbo_id, "to_platform", exc.code, str(exc))
                continue
            linked.append(Link(self.d.tenant_id, "customer", client.id, customer.qbo_id,
                               sync_token=customer.sync_token,
                               extra={"fp": baseline(client_values(client), compact_customer_values(compact))}))
            self.log.resolved("customer", customer.qbo_id)
        self.d.links.put_many(linked)
        self.log.count("clients_created_on_platform", len(linked))


def _top_level(customers: Sequence[CustomerState]) -> list[CustomerState]:
    """Sub-customers go platform -> QuickBooks only after onboarding (sites), so their changes are not imported."""
    return [c for c in customers if not c.job]


def _party(compact: dict, address_key: str) -> matching.Party:
    return matching.Party(id=compact["id"], name=compact.get("name") or "", company=compact.get("company"),
                          first=compact.get("first"), last=compact.get("last"), email=compact.get("email"),
                          phone=compact.get("phone"), address_key=parties.address_key(compact.get(address_key)),
                          active=compact.get("active", True))
