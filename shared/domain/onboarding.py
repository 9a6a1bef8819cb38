"""Onboarding: make the two customer lists agree without a single duplicate (issue 6).

Each public method is one state-machine task; state stays small (ids, cursors, counts) and everything bulky is kept
as gzip'd snapshot chunks in the sync-runs table. Every step can be re-run after a crash:
- links are written before a step reports progress, and a matched or linked record is never created again;
- QuickBooks creates go out in batches whose `requestid` is derived from the batch's members, after pending links
  record that id, so a re-run sends the same id and QuickBooks answers with the first result instead of writing;
- platform creates carry an idempotency key derived from the QuickBooks id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from shared.domain import lanes, parties
from shared.domain.clients import (
    baseline,
    client_values,
    compact_client_values,
    compact_customer_values,
    fingerprints,
)
from shared.domain.ports import Deps
from shared.domain.records import ErrorEntry, Link
from shared.fieldservice.errors import PlatformRefused
from shared.quickbooks.errors import QuickBooksError, refused
from shared.quickbooks.port import MAX_PAGE, CustomerDraft, CustomerState
from shared.tasks import failure_of

# Creates per Lambda invocation: at most 20 batches of 30 and the 260 singles beside them at the sustained share
# (shared/domain/lanes.py), about 35 s at QuickBooks' limits: well inside the timeout, one checkpoint per task.
ROWS_PER_TASK = 860
PLATFORM_CREATES_PER_TASK = 500
PHASES = {  # phase -> (start %, end %)
    "loading_quickbooks": (0, 20), "loading_platform": (20, 35), "matching": (35, 45),
    "creating_in_quickbooks": (45, 70), "creating_on_platform": (70, 85), "sites": (85, 97), "summary": (97, 100),
}


SEPARATE = "separate"  # link kind: an admin's "keep separate" for one QuickBooks customer and one platform client


def separate_link(tenant_id: str, qbo_id: str, fsp_id: str) -> Link:
    return Link(tenant_id, SEPARATE, f"{fsp_id}~{qbo_id}", qbo_id)


def separate_pair(link: Link) -> tuple[str, str]:
    return link.qbo_id or "", link.fsp_id.rsplit("~", 1)[0]


def request_id(*parts: str) -> str:
    """A deterministic QuickBooks `requestid` (at most 50 characters; 36 inside a batch)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:36]


class Onboarding:
    def __init__(self, deps: Deps):
        self.d = deps

    # -- helpers -----------------------------------------------------------------------------------------------
    def _progress(self, state: dict, phase: str, fraction: float = 0.0) -> None:
        lo, hi = PHASES[phase]
        self.d.runs.progress(self.d.tenant_id, state["run_id"], phase, int(lo + (hi - lo) * min(1.0, fraction)))

    def _count(self, state: dict, key: str, n: int = 1) -> None:
        counts = state.setdefault("counts", {})
        counts[key] = counts.get(key, 0) + n

    def _error(self, state: dict, entity: str, entity_id: str, direction: str, code: str, message: str,
               detail: str = "") -> None:
        self.d.errors.record(ErrorEntry(self.d.tenant_id, entity, entity_id, direction, code, message, detail,
                                        run_id=state["run_id"]))
        self._count(state, "errors")

    def _rows(self, state: dict, name: str) -> list:
        return [row for chunk in self.d.runs.chunks(self.d.tenant_id, state["run_id"], name) for row in chunk]

    # -- tasks -------------------------------------------------------------------------------------------------
    def enable(self, state: dict) -> dict:
        state = {"tenant_id": state["tenant_id"], "run_id": state["run_id"], "counts": {}}
        self._progress(state, "loading_quickbooks")
        return state

    def load_quickbooks_customers(self, state: dict) -> dict:
        cursor = state["cursor"]
        start, page = cursor.get("start", 1), cursor.get("page", 0)
        # Inactive customers too: inactive maps to inactive, and an inactive name still blocks a DisplayName.
        rows = self.d.quickbooks().customers_page(start, MAX_PAGE)
        self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], "qbo", page, [r.compact() for r in rows])
        self._count(state, "quickbooks_customers_loaded", len(rows))
        done = len(rows) < MAX_PAGE
        state["cursor"] = {"task": cursor.get("task"), "done": done, "start": start + len(rows), "page": page + 1}
        self._progress(state, "loading_quickbooks", 1.0 if done else 0.5)
        return state

    def _names_taken(self) -> list[str]:
        """Vendor and employee names also block a customer DisplayName (6240), inactive ones included."""
        return self.d.quickbooks().vendor_and_employee_names()

    def load_platform_clients(self, state: dict) -> dict:
        cursor = state["cursor"]
        kind, page = cursor.get("kind", "clients"), cursor.get("page", 0)
        lister = self.d.platform.list_clients if kind == "clients" else self.d.platform.list_sites
        result = lister(self.d.tenant_id, cursor=cursor.get("next"), limit=MAX_PAGE)
        compact = parties.compact_client if kind == "clients" else parties.compact_site
        self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], f"fsp_{kind}", page,
                              [compact(r) for r in result.items])
        self._count(state, f"platform_{kind}_loaded", len(result.items))
        if result.next_cursor:
            state["cursor"] = {**cursor, "kind": kind, "page": page + 1, "next": result.next_cursor, "done": False}
        elif kind == "clients":
            state["cursor"] = {**cursor, "kind": "sites", "page": 0, "next": None, "done": False}
        else:
            state["cursor"] = {**cursor, "done": True}
        self._progress(state, "loading_platform", 1.0 if state["cursor"]["done"] else 0.5)
        return state

    def match(self, state: dict) -> dict:
        from shared.domain.onboarding_plan import plan_onboarding

        self._progress(state, "matching")
        qbo = self._rows(state, "qbo")
        clients = self._rows(state, "fsp_clients")
        sites = self._rows(state, "fsp_sites")
        existing = {link.qbo_id: link.fsp_id for link in self.d.links.all(self.d.tenant_id, "customer")
                    if link.qbo_id}
        existing_sites = {link.qbo_id: link.fsp_id for link in self.d.links.all(self.d.tenant_id, "site")
                          if link.qbo_id}
        separate = frozenset(separate_pair(link) for link in self.d.links.all(self.d.tenant_id, SEPARATE))
        plan = plan_onboarding(qbo, clients, sites, existing, self.d.settings, self._names_taken(), existing_sites,
                               separate)
        # Each side's values now are its baseline: later edits are told apart from differences found at matching.
        qbo_by_id, fsp_by_id = {r["id"]: r for r in qbo}, {c["id"]: c for c in clients}
        new_links = [Link(self.d.tenant_id, "customer", fsp_id, qbo_id, sync_token=qbo_by_id[qbo_id].get("sync_token"),
                          extra={"evidence": list(evidence),
                                 "fp": baseline(compact_client_values(fsp_by_id[fsp_id]),
                                                compact_customer_values(qbo_by_id[qbo_id]))})
                     for qbo_id, fsp_id, evidence in plan.matches if existing.get(qbo_id) != fsp_id]
        self.d.links.put_many(new_links)
        site_links = [Link(self.d.tenant_id, "site", fsp_id, qbo_id) for qbo_id, fsp_id in plan.site_matches]
        self.d.links.put_many(site_links)
        for name, rows in (("to_qbo", plan.to_quickbooks), ("to_fsp", plan.to_platform),
                           ("sites_to_fsp", plan.sites_to_platform), ("sites_to_qbo", plan.sites_to_quickbooks),
                           ("conflicts", plan.conflicts)):
            for i in range(0, max(1, len(rows)), 5000):
                self.d.runs.put_chunk(self.d.tenant_id, state["run_id"], name, i // 5000, rows[i:i + 5000])
        self._count(state, "clients_matched", len(plan.matches))
        self._count(state, "sites_matched", len(plan.site_matches))
        self._count(state, "conflicts", len(plan.conflicts))
        for skipped in plan.skipped:
            self._error(state, skipped["entity"], skipped["id"], skipped["direction"], skipped["code"],
                        skipped["message"])
        self._count(state, "skipped", len(plan.skipped))
        for key, n in plan.notes.items():
            self._count(state, key, n)
        self._progress(state, "matching", 1.0)
        return state

    def create_in_quickbooks(self, state: dict) -> dict:
        cursor = state["cursor"]
        todo = self._rows(state, "to_qbo")
        index = cursor.get("index", 0)
        end = min(len(todo), index + ROWS_PER_TASK)
        if end > index:
            self._create_customer_batch(state, self.d.quickbooks(), todo[index:end], f"customer-{index}")
        index = end
        state["cursor"] = {**cursor, "index": index, "done": index >= len(todo)}
        self._progress(state, "creating_in_quickbooks", index / max(1, len(todo)))
        return state

    def _create_customer_batch(self, state: dict, qb, batch: list[dict], position: str) -> None:
        chooser = self.lane_chooser(state, qb, position)
        created = self._create_in_batches(state, qb, "customer", "client", batch, chooser)
        self._count(state, "customers_created_in_quickbooks", created)

    def lane_chooser(self, state: dict, qb, position: str) -> lanes.LaneChooser:
        """How this task splits its writes between the lanes: from the company's pacing budget, remembered in the
        run under the task's position so a re-run splits them the same way."""
        return lanes.LaneChooser(qb.budget, lanes.RunSplits(self.d.runs, self.d.tenant_id, state["run_id"]),
                                 position)

    def _create_in_batches(self, state: dict, qb, entity: str, error_entity: str, rows: list[dict],
                           chooser: lanes.LaneChooser, existing: Mapping[str, Link] | None = None) -> int:
        """Create QuickBooks customers for `rows` ({fsp_id, customer}) without ever creating one twice, in both of
        QuickBooks' lanes when the set is large (shared/domain/lanes.py: batches of 30 and single creates beside
        them when the company's batch budget would make them wait, on as many threads as the company's
        concurrency slots this task holds).

        Intent is recorded first, for the whole set before any piece goes (pending links carrying each piece's
        `requestid`, 25 to a DynamoDB call), and what QuickBooks created is linked once the set's calls are done or
        stopped, also in one go: a set's links cost a few DynamoDB calls, not three for every single create. A
        re-run forms the same pieces from the same rows (the chooser recalls its split), resends the same ids and
        QuickBooks replays its first answer; a row left pending by a piece of other members is looked up by the
        DisplayName we sent before it is created again.

        Rows handed to it are unlinked when the run chose them (the onboarding plan, a sync run's new clients), so
        a row already linked was linked by an earlier attempt of the same task, whose counts died with it: it is
        counted as created here, once, and not sent again."""
        work = chooser.split(rows)
        if existing is None:  # the rows' links, unless the caller read them a moment ago
            existing = self.d.links.get_many(self.d.tenant_id, entity, [r["fsp_id"] for r in rows])
        created, linked = 0, []
        pending: list[Link] = []
        sends: list[lanes.Work[tuple[str, tuple[dict, ...]]]] = []
        for piece in work:
            lane = "batch" if piece.lane == "batch" else "single"
            members = [r for r in piece.rows if not (existing.get(r["fsp_id"]) and existing[r["fsp_id"]].qbo_id)]
            created += len(piece.rows) - len(members)
            if not members:
                continue
            rid = request_id(self.d.tenant_id, f"{entity}-{lane}", *sorted(r["fsp_id"] for r in members))
            stale = [r for r in members if r["fsp_id"] in existing and existing[r["fsp_id"]].request_id != rid]
            if stale:
                recovered = self._recover_pending(qb, entity, stale)
                linked += recovered
                done = {link.fsp_id for link in recovered}
                members = [r for r in members if r["fsp_id"] not in done]
                if not members:
                    continue
                rid = request_id(self.d.tenant_id, f"{entity}-{lane}", *sorted(r["fsp_id"] for r in members))
            pending += [Link(self.d.tenant_id, entity, r["fsp_id"], request_id=rid, state="pending") for r in members]
            sends.append(lanes.Work(piece.lane, ((rid, tuple(members)),)))
        self.d.links.put_many(pending)

        def send(piece: lanes.Work[tuple[str, tuple[dict, ...]]]):
            rid, members = piece.rows[0]
            return self._send(qb, "batch" if piece.lane == "batch" else "single", list(members), rid)

        def record(answers: list[tuple[dict, CustomerState | None, dict]]) -> None:
            for row, customer, fault in answers:
                if customer is not None:
                    extra = {}
                    if entity == "customer":  # what each side holds now: the baseline for the everyday merge
                        extra = {"fp": {"p": row.get("fp_p") or {},
                                        "q": fingerprints(compact_customer_values(customer.compact()))}}
                    linked.append(Link(self.d.tenant_id, entity, row["fsp_id"], customer.qbo_id,
                                       sync_token=customer.sync_token, extra=extra))
                    continue
                recovered = self._recover_duplicate(qb, entity, row, fault)
                if recovered is not None:
                    linked.append(recovered)
                    continue
                self.d.links.clear(self.d.tenant_id, entity, row["fsp_id"])
                self._error(state, error_entity, row["fsp_id"], "to_quickbooks", fault.get("code", ""),
                            fault.get("message", ""), fault.get("detail", ""))

        try:
            with qb.concurrent(lanes.PARALLEL if len(sends) > 1 else 1) as workers:
                lanes.run_lanes(sends, send, record, workers)
        finally:
            self.d.links.put_many(linked)  # what QuickBooks answered, also when a later call stopped the set
        return created + len(linked)

    @staticmethod
    def _send(qb, lane: str, rows: list[dict], rid: str) -> list[tuple[dict, CustomerState | None, dict]]:
        """(row, customer created or None, QuickBooks' fault or {}) for each row: one batch, or one create whose
        refusal for the record itself comes back as its fault (throttling and outages raise: the task retries)."""
        drafts = [CustomerDraft.from_dict(r["customer"]) for r in rows]
        if lane == "single":
            try:
                return [(rows[0], qb.create_customer(drafts[0], request_id=rid), {})]
            except QuickBooksError as exc:
                if not refused(exc):
                    raise
                return [(rows[0], None, {"code": exc.code, "message": exc.message, "detail": exc.detail})]
        return [(rows[int(result.bid)], result.customer, vars(result.fault) if result.fault else {})
                for result in qb.create_customers(drafts, request_id=rid)]

    def _recover_pending(self, qb, entity: str, rows: list[dict]) -> list[Link]:
        drafts = {r["fsp_id"]: CustomerDraft.from_dict(r["customer"]) for r in rows}
        found = {c.display_name.casefold(): c
                 for c in qb.customers_named(sorted({d.display_name for d in drafts.values()}))}
        links = []
        for row in rows:
            draft = drafts[row["fsp_id"]]
            hit = found.get(draft.display_name.casefold())
            if hit is not None and parties.same_person(hit, draft):
                links.append(Link(self.d.tenant_id, entity, row["fsp_id"], hit.qbo_id, sync_token=hit.sync_token))
        return links

    def _recover_duplicate(self, qb, entity: str, row: dict, fault: dict) -> Link | None:
        """6240 on a name we created in an earlier, interrupted attempt: link it instead of failing."""
        if fault.get("code") != "6240":
            return None
        links = self._recover_pending(qb, entity, [row])
        return links[0] if links else None

    def create_on_platform(self, state: dict) -> dict:
        cursor = state["cursor"]
        todo = self._rows(state, "to_fsp")
        index = cursor.get("index", 0)
        end = min(len(todo), index + PLATFORM_CREATES_PER_TASK)
        linked = []
        # The plan leaves out linked customers, and a retried task sends the same idempotency keys, so the
        # platform answers with the client it already created.
        for row in todo[index:end]:
            client = self._on_platform(state, "customer", row["qbo_id"], self.d.platform.create_client,
                                       parties.client_draft(row["client"]))
            if client is not None:
                fp = {"p": fingerprints(client_values(client)), "q": row.get("fp_q") or {}}
                linked.append(Link(self.d.tenant_id, "customer", client.id, row["qbo_id"],
                                   sync_token=row.get("sync_token"), extra={"fp": fp}))
        self.d.links.put_many(linked)
        self._count(state, "clients_created_on_platform", len(linked))
        state["cursor"] = {**cursor, "index": end, "done": end >= len(todo)}
        self._progress(state, "creating_on_platform", end / max(1, len(todo)))
        return state

    def _on_platform(self, state: dict, entity: str, qbo_id: str, create, draft):
        """One platform create, keyed by the QuickBooks id so a retried task cannot create it twice."""
        try:
            return create(self.d.tenant_id, draft, idempotency_key=request_id(self.d.tenant_id, entity, qbo_id))
        # Throttling or an outage passes through: the run pauses and the retried task replays this key
        except PlatformRefused as exc:
            self._error(state, entity, qbo_id, "to_platform", exc.code, str(exc))
            return None

    def sync_sites(self, state: dict) -> dict:
        cursor = state["cursor"]
        step = cursor.get("step", "to_fsp")
        index = cursor.get("index", 0)
        if step == "to_fsp":
            todo = self._rows(state, "sites_to_fsp")
            end = min(len(todo), index + PLATFORM_CREATES_PER_TASK)
            self._sites_to_platform(state, todo[index:end])
            if end >= len(todo):
                state["cursor"] = {**cursor, "step": "to_qbo", "index": 0, "done": False}
            else:
                state["cursor"] = {**cursor, "index": end, "done": False}
        else:
            todo = self._rows(state, "sites_to_qbo")
            end = min(len(todo), index + ROWS_PER_TASK)
            self._sites_to_quickbooks(state, todo[index:end], f"site-{index}")
            state["cursor"] = {**cursor, "index": end, "done": end >= len(todo)}
        self._progress(state, "sites", 0.5 if step == "to_fsp" else 1.0)
        return state

    def _sites_to_platform(self, state: dict, rows: list[dict]) -> None:
        linked = []
        # One read of the customer links per task instead of one index query per row.
        client_of = {link.qbo_id: link.fsp_id for link in self.d.links.all(self.d.tenant_id, "customer")
                     if link.qbo_id}
        for row in rows:
            parent_fsp_id = client_of.get(row["parent_qbo_id"])
            if parent_fsp_id is None:
                self._error(state, "sub_customer", row["qbo_id"], "to_platform", "parent_not_linked",
                            "The parent QuickBooks customer is not linked to a client, so its job cannot become a "
                            "site.")
                continue
            created = self._on_platform(state, "sub_customer", row["qbo_id"], self.d.platform.create_site,
                                        parties.site_draft(row, parent_fsp_id))
            if created is None:
                continue
            # What QuickBooks holds for the job, so the first sync compares against it without reading it again.
            linked.append(Link(self.d.tenant_id, "site", created.id, row["qbo_id"], sync_token=row.get("sync_token"),
                               extra={"held": row["held"]} if row.get("held") else {}))
        self.d.links.put_many(linked)
        self._count(state, "sites_created_on_platform", len(linked))

    def _sites_to_quickbooks(self, state: dict, rows: list[dict], position: str) -> None:
        qb = self.d.quickbooks()
        parents = self.d.links.get_many(self.d.tenant_id, "customer", [r["client_id"] for r in rows])
        ready = []
        for row in rows:
            parent = parents.get(row["client_id"])
            if parent is None or not parent.qbo_id:
                self._error(state, "site", row["fsp_id"], "to_quickbooks", "parent_not_linked",
                            "The site's client is not in QuickBooks yet, so the site cannot become a sub-customer.")
                continue
            ready.append({**row, "customer": {**row["customer"], "parent_id": parent.qbo_id}})
        chooser = self.lane_chooser(state, qb, position)
        created = self._create_in_batches(state, qb, "site", "site", ready, chooser)
        self._count(state, "sub_customers_created_in_quickbooks", created)

    def summarize(self, state: dict) -> dict:
        counts = state.get("counts", {})
        summary = {"counts": counts, "settings": self.d.settings.model_dump(mode="json"),
                   "conflicts": len(self._rows(state, "conflicts"))}
        # The connection first: whoever sees the run succeeded (the page, Sync Now, a webhook hint) must find the
        # connection onboarded, or a sync run started at once is skipped and a hint is ignored. A retry after a
        # failure in between finishes the run.
        self._mark_connection(state, "completed", conflicts=summary["conflicts"])
        self.d.runs.finish(self.d.tenant_id, state["run_id"], "succeeded", summary)
        return {**state, "summary": summary}

    def record_failure(self, state: dict) -> dict:
        summary = {"counts": state.get("counts", {}), "error": failure_of(state)}
        self._mark_connection(state, "failed")  # the connection first, as in summarize()
        self.d.runs.finish(self.d.tenant_id, state["run_id"], "failed", summary)
        return {**state, "summary": summary}

    def _mark_connection(self, state: dict, status: str, conflicts: int | None = None) -> None:
        """`conflicts`: how many the run left for the admin, kept with the connection so that every sync pass and
        webhook apply after it knows whether there are any to hold without reading the run's chunks."""
        connection = self.d.connections.get(self.d.tenant_id)
        if connection is not None:
            onboarding = {k: v for k, v in (connection.onboarding or {}).items() if k != "conflicts"}
            connection.onboarding = {**onboarding, "status": status, "run_id": state["run_id"],
                                     **({"conflicts": conflicts} if conflicts is not None else {})}
            self.d.connections.save(connection)


__all__ = ["Onboarding", "Deps", "request_id", "QuickBooksError"]
