"""Repositories for settings, sync runs, the error log, links and run snapshots (storage models stay here)."""

from __future__ import annotations

import builtins
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from shared.data.models import ErrorItem, LinkItem, ReviewItem, ReviewLogItem, RunItem, SettingsItem
from shared.domain.pages import Page, decode_cursor, encode_cursor
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.domain.review import HeldEntry, ResultEntry, ReviewEntry, State
from shared.errors import Conflict

RESOLVED_ERROR_TTL_S = 90 * 86400
REVIEW_RESULT_TTL_S = 90 * 86400
SNAPSHOT_TTL_S = 14 * 86400
# Index queries a LinkRepo.by_qbo_many has in flight at once: a webhook batch names up to 50 QuickBooks records.
INDEX_QUERIES_AT_ONCE = 8


def _tenant(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _now() -> datetime:
    return datetime.now(UTC)


class SettingsRepo:
    def get(self, tenant_id: str) -> tuple[dict, int] | None:
        try:
            item = SettingsItem.get(_tenant(tenant_id), "SETTINGS", consistent_read=True)
        except SettingsItem.DoesNotExist:
            return None
        return item.body, int(item.version)

    def put(self, tenant_id: str, body: dict, expected_version: int, updated_by: str) -> int:
        """Optimistic: writes version expected+1 only if the current version is `expected_version`."""
        version = expected_version + 1
        current = SettingsItem(_tenant(tenant_id), "SETTINGS", body=body, version=version, updated_by=updated_by,
                               updated_at=_now())
        condition = (SettingsItem.pk.does_not_exist() if expected_version == 0
                     else SettingsItem.version == expected_version)
        try:
            current.save(condition=condition)
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise Conflict("settings were changed by someone else; reload and try again") from None
            raise
        SettingsItem(_tenant(tenant_id), f"SETTINGS#v{version:06d}", body=body, version=version,
                     updated_by=updated_by, updated_at=current.updated_at).save()
        return version


MAX_CHUNK_CHARS = 300_000  # hex of gzip'd JSON, well under DynamoDB's 400 KB item limit


class RunRepo:
    def _to_domain(self, i: RunItem) -> SyncRun:
        return SyncRun(tenant_id=i.pk.removeprefix("TENANT#"), run_id=i.run_id, kind=i.kind, status=i.status,
                       started_at=i.started_at, phase=i.phase, percent=int(i.percent or 0),
                       counts={k: int(v) for k, v in (i.counts.as_dict() if i.counts else {}).items()},
                       summary=i.summary, finished_at=i.finished_at)

    def create(self, run: SyncRun) -> None:
        """A run as it starts, or one already over (a record-level apply's, written once with its outcome)."""
        RunItem(_tenant(run.tenant_id), f"RUN#{run.run_id}", run_id=run.run_id, kind=run.kind, status=run.status,
                phase=run.phase, percent=run.percent, started_at=run.started_at, summary=run.summary,
                finished_at=run.finished_at).save()

    def create_once(self, run: SyncRun) -> bool:
        try:
            RunItem(_tenant(run.tenant_id), f"RUN#{run.run_id}", run_id=run.run_id, kind=run.kind, status=run.status,
                    phase=run.phase, percent=run.percent, started_at=run.started_at).save(
                condition=RunItem.sk.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def acquire_lock(self, tenant_id: str, name: str, owner: str, ttl_s: int) -> bool:
        """One holder at a time per tenant; a crashed holder's lease runs out instead of blocking forever."""
        now = time.time()
        item = RunItem(_tenant(tenant_id), f"LOCK#{name}", run_id=owner, kind="lock", status="held",
                       started_at=_now(), lease_until=now + ttl_s)
        try:
            item.save(condition=RunItem.sk.does_not_exist() | (RunItem.lease_until < now) | (RunItem.run_id == owner))
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lock(self, tenant_id: str, name: str, owner: str) -> None:
        try:
            RunItem(_tenant(tenant_id), f"LOCK#{name}").delete(condition=RunItem.run_id == owner)
        except DeleteError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise

    def get(self, tenant_id: str, run_id: str) -> SyncRun | None:
        try:
            return self._to_domain(RunItem.get(_tenant(tenant_id), f"RUN#{run_id}", consistent_read=True))
        except RunItem.DoesNotExist:
            return None

    def progress(self, tenant_id: str, run_id: str, phase: str, percent: int) -> None:
        RunItem(_tenant(tenant_id), f"RUN#{run_id}").update(
            actions=[RunItem.phase.set(phase), RunItem.percent.set(percent)])

    def finish(self, tenant_id: str, run_id: str, status: str, summary: dict, phase: str | None = None) -> None:
        RunItem(_tenant(tenant_id), f"RUN#{run_id}").update(actions=[
            RunItem.status.set(status), RunItem.summary.set(summary), RunItem.finished_at.set(_now()),
            RunItem.percent.set(100 if status == "succeeded" else RunItem.percent),
            *([RunItem.phase.set(phase)] if phase is not None else [])])

    def history(self, tenant_id: str, limit: int = 50) -> list[SyncRun]:
        items = RunItem.query(_tenant(tenant_id), RunItem.sk.startswith("RUN#"), scan_index_forward=False,
                              limit=limit)
        return [self._to_domain(i) for i in items]

    def history_page(self, tenant_id: str, cursor: str | None, limit: int) -> Page[SyncRun]:
        """Runs newest first (run ids are time-ordered), one page at a time."""
        start = decode_cursor(cursor, _tenant(tenant_id), "RUN#")
        items = RunItem.query(_tenant(tenant_id), RunItem.sk.startswith("RUN#"), scan_index_forward=False,
                              limit=limit, last_evaluated_key=start)
        runs = [self._to_domain(i) for i in items]
        return Page(runs, encode_cursor(items.last_evaluated_key) if len(runs) == limit else None)

    # Snapshots: compact, gzip'd pages of what a run loaded or planned, too big for Step Functions state.
    def put_chunk(self, tenant_id: str, run_id: str, name: str, index: int, rows: list, part: str = "") -> None:
        """Store `rows` under one chunk index, split into as many items as DynamoDB's 400 KB item limit needs."""
        blob = gzip.compress(json.dumps(rows, separators=(",", ":"), default=str).encode()).hex()
        if len(blob) > MAX_CHUNK_CHARS and len(rows) > 1:
            half = len(rows) // 2
            self.put_chunk(tenant_id, run_id, name, index, rows[:half], part + "0")
            self.put_chunk(tenant_id, run_id, name, index, rows[half:], part + "1")
            return
        RunItem(_tenant(tenant_id), f"SNAP#{run_id}#{name}#{index:05d}{part}", run_id=run_id, kind="snapshot",
                status="chunk", summary={"z": blob}, started_at=_now(),
                ttl=timedelta(seconds=SNAPSHOT_TTL_S)).save()

    def chunks(self, tenant_id: str, run_id: str, name: str) -> Iterator[list]:
        for item in RunItem.query(_tenant(tenant_id), RunItem.sk.startswith(f"SNAP#{run_id}#{name}#")):
            yield json.loads(gzip.decompress(bytes.fromhex(item.summary["z"])))


class ErrorRepo:
    def record(self, e: ErrorEntry) -> ErrorEntry:
        """Upsert by entity: attempts count up, first_at stays, a resolved entry is reopened."""
        now = _now()
        item = ErrorItem(_tenant(e.tenant_id), f"ERR#{e.key}")
        item.update(actions=[
            ErrorItem.entity.set(e.entity), ErrorItem.entity_id.set(e.entity_id), ErrorItem.direction.set(e.direction),
            ErrorItem.code.set(e.code), ErrorItem.message.set(e.message), ErrorItem.detail.set(e.detail or ""),
            ErrorItem.first_at.set(ErrorItem.first_at | now), ErrorItem.last_at.set(now),
            ErrorItem.attempts.add(1),
            ErrorItem.run_id.set(e.run_id or ""), ErrorItem.resolved.set(0), ErrorItem.ttl.remove(),
            ErrorItem.dismissed.remove(),  # failing again brings a dismissed entry back
            *([ErrorItem.name.set(e.name)] if e.name else []),
            ErrorItem.waits_for.set(e.waits_for) if e.waits_for else ErrorItem.waits_for.remove(),
        ])
        return e

    def resolve(self, tenant_id: str, key: str) -> bool:
        """Mark an entity's failure resolved (it synced, or its link was cleared); False if it had none."""
        try:
            ErrorItem(_tenant(tenant_id), f"ERR#{key}").update(
                actions=[ErrorItem.resolved.set(1),
                         # TTLAttribute takes a timedelta (from now); PynamoDB's annotation says datetime only.
                         ErrorItem.ttl.set(timedelta(seconds=RESOLVED_ERROR_TTL_S)),  # type: ignore[arg-type]
                         ErrorItem.retry.remove()],
                condition=ErrorItem.pk.exists() & (ErrorItem.resolved == 0))
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def open_keys(self, tenant_id: str) -> set[str]:
        """The keys of the tenant's open entries, in one query reading only keys and the resolved flag."""
        items = ErrorItem.query(_tenant(tenant_id), ErrorItem.sk.startswith("ERR#"),
                                filter_condition=ErrorItem.resolved == 0, attributes_to_get=["sk"])
        return {i.sk.removeprefix("ERR#") for i in items}

    @staticmethod
    def _to_domain(tenant_id: str, i: ErrorItem) -> ErrorEntry:
        return ErrorEntry(tenant_id=tenant_id, entity=i.entity, entity_id=i.entity_id, direction=i.direction,
                          code=i.code, message=i.message, detail=i.detail or "", first_at=i.first_at,
                          last_at=i.last_at, attempts=int(i.attempts), run_id=i.run_id or None,
                          resolved=bool(i.resolved), name=i.name or "", dismissed=bool(i.dismissed),
                          retry_requested=bool(i.retry), waits_for=i.waits_for or "")

    def list(self, tenant_id: str, include_resolved: bool = False, entity: str | None = None) -> list[ErrorEntry]:
        """Open entries (all entries with `include_resolved`), dismissed ones included: the engine works from this.
        `entity`: that kind's only, by key prefix. Resolved entries are left out by DynamoDB, not here: they stay
        90 days, and a busy tenant's partition is mostly those (issue 12: 0.2 s a read on the local stack)."""
        prefix = f"ERR#{entity}#" if entity else "ERR#"
        items = ErrorItem.query(_tenant(tenant_id), ErrorItem.sk.startswith(prefix),
                                filter_condition=None if include_resolved else ErrorItem.resolved == 0)
        return [self._to_domain(tenant_id, i) for i in items]

    def page(self, tenant_id: str, cursor: str | None, limit: int, include_resolved: bool = False,
             include_dismissed: bool = False) -> Page[ErrorEntry]:
        """The "Unsynced entities" list, one page at a time."""
        start = decode_cursor(cursor, _tenant(tenant_id), "ERR#")
        condition = None
        if not include_resolved:
            condition = ErrorItem.resolved == 0
        if not include_dismissed:
            hidden = ErrorItem.dismissed.does_not_exist() | (ErrorItem.dismissed == 0)
            condition = hidden if condition is None else condition & hidden
        items = ErrorItem.query(_tenant(tenant_id), ErrorItem.sk.startswith("ERR#"), filter_condition=condition,
                                limit=limit, last_evaluated_key=start)
        entries = [self._to_domain(tenant_id, i) for i in items]
        return Page(entries, encode_cursor(items.last_evaluated_key) if len(entries) == limit else None)

    def count_open(self, tenant_id: str) -> int:
        """Open entries an admin has not dismissed (the status page's "unsynced" count)."""
        hidden = ErrorItem.dismissed.does_not_exist() | (ErrorItem.dismissed == 0)
        return ErrorItem.count(_tenant(tenant_id), ErrorItem.sk.startswith("ERR#"),
                               filter_condition=(ErrorItem.resolved == 0) & hidden)

    def get(self, tenant_id: str, key: str) -> ErrorEntry | None:
        try:
            return self._to_domain(tenant_id, ErrorItem.get(_tenant(tenant_id), f"ERR#{key}", consistent_read=True))
        except ErrorItem.DoesNotExist:
            return None

    def _flag(self, tenant_id: str, key: str, actions: builtins.list, open_only: bool = True) -> bool:
        condition = ErrorItem.pk.exists() & (ErrorItem.resolved == 0) if open_only else ErrorItem.pk.exists()
        try:
            ErrorItem(_tenant(tenant_id), f"ERR#{key}").update(actions=actions, condition=condition)
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def dismiss(self, tenant_id: str, key: str) -> bool:
        """Hide an entry until it fails again (`record` brings it back); False if there is none. A resolved entry
        may be dismissed too (it is hidden already; the answer is the same as for an open one)."""
        return self._flag(tenant_id, key, [ErrorItem.dismissed.set(1)], open_only=False)

    def request_retry(self, tenant_id: str, key: str) -> bool:
        """"Resync": the next run re-attempts this record; False if the entry is not open."""
        return self._flag(tenant_id, key, [ErrorItem.retry.set(1), ErrorItem.dismissed.remove()])

    def retry_requested(self, tenant_id: str) -> builtins.list[ErrorEntry]:  # `list` is a method here
        """Open entries an admin asked to resync, for the engine to re-attempt."""
        return [self._to_domain(tenant_id, i) for i in ErrorItem.query(
            _tenant(tenant_id), ErrorItem.sk.startswith("ERR#"),
            filter_condition=(ErrorItem.retry == 1) & (ErrorItem.resolved == 0))]

    def clear_retry(self, tenant_id: str, key: str) -> None:
        """The engine re-attempted it (it then either resolved or recorded the entry again)."""
        try:
            ErrorItem(_tenant(tenant_id), f"ERR#{key}").update(actions=[ErrorItem.retry.remove()],
                                                             condition=ErrorItem.pk.exists())
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise


@lru_cache(maxsize=1)
def _index_queries() -> ThreadPoolExecutor:
    """Built on first use and kept by the warm environment (botocore's clients are safe to share between threads)."""
    return ThreadPoolExecutor(max_workers=INDEX_QUERIES_AT_ONCE, thread_name_prefix="link-index")


class LinkRepo:
    def _pk(self, tenant_id: str, entity: str) -> str:
        return f"TENANT#{tenant_id}#{entity}"

    def _to_domain(self, i: LinkItem, tenant_id: str, entity: str) -> Link:
        return Link(tenant_id=tenant_id, entity=entity, fsp_id=i.fsp_id, qbo_id=i.qbo_id, sync_token=i.sync_token,
                    fingerprint=i.fingerprint, request_id=i.request_id, state=i.state, extra=i.extra or {})

    def _item(self, link: Link) -> LinkItem:
        pk = self._pk(link.tenant_id, link.entity)
        return LinkItem(pk, f"FSP#{link.fsp_id}", gsi1pk=pk if link.qbo_id else None,
                        gsi1sk=f"QBO#{link.qbo_id}" if link.qbo_id else None, fsp_id=link.fsp_id, qbo_id=link.qbo_id,
                        sync_token=link.sync_token, fingerprint=link.fingerprint, request_id=link.request_id,
                        state=link.state, updated_at=_now(), extra=link.extra or None)

    def get(self, tenant_id: str, entity: str, fsp_id: str) -> Link | None:
        try:
            return self._to_domain(LinkItem.get(self._pk(tenant_id, entity), f"FSP#{fsp_id}", consistent_read=True),
                                   tenant_id, entity)
        except LinkItem.DoesNotExist:
            return None

    def get_many(self, tenant_id: str, entity: str, fsp_ids: Iterable[str]) -> dict[str, Link]:
        pk = self._pk(tenant_id, entity)
        keys = [(pk, f"FSP#{fsp_id}") for fsp_id in dict.fromkeys(fsp_ids)]
        return {i.fsp_id: self._to_domain(i, tenant_id, entity)
                for i in LinkItem.batch_get(keys, consistent_read=True)}

    def by_qbo(self, tenant_id: str, entity: str, qbo_id: str) -> Link | None:
        for i in LinkItem.by_qbo.query(self._pk(tenant_id, entity), LinkItem.gsi1sk == f"QBO#{qbo_id}"):
            return self._to_domain(i, tenant_id, entity)
        return None

    def by_qbo_many(self, tenant_id: str, entity: str, qbo_ids: Iterable[str]) -> dict[str, Link]:
        """An index query per id, all in flight at once: a batch cannot read a GSI, and one after another, a
        webhook batch's ten customers were ten round trips before its apply could start writing (issue 12)."""
        wanted = list(dict.fromkeys(qbo_ids))
        if len(wanted) <= 1:
            found = [self.by_qbo(tenant_id, entity, i) for i in wanted]
        else:
            found = list(_index_queries().map(lambda i: self.by_qbo(tenant_id, entity, i), wanted))
        return {link.qbo_id: link for link in found if link is not None and link.qbo_id}

    def all(self, tenant_id: str, entity: str) -> list[Link]:
        return [self._to_domain(i, tenant_id, entity) for i in LinkItem.query(self._pk(tenant_id, entity))]

    def put(self, link: Link) -> None:
        self._item(link).save()

    def put_many(self, links: Iterable[Link]) -> None:
        with LinkItem.batch_write() as batch:
            for link in links:
                batch.save(self._item(link))

    def put_pending(self, link: Link) -> Link:
        """Record intent before a QuickBooks write; an existing pending link wins (its request id is reused)."""
        try:
            self._item(link).save(condition=LinkItem.sk.does_not_exist())
            return link
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
        existing = self.get(link.tenant_id, link.entity, link.fsp_id)
        # Cleared between our write and our read (the other writer failed): ours is the intent now.
        return existing if existing is not None else self.put_pending(link)

    def clear(self, tenant_id: str, entity: str, fsp_id: str) -> None:
        LinkItem(self._pk(tenant_id, entity), f"FSP#{fsp_id}").delete()


class ReviewRepo:
    """Review mode's queue (shared/domain/review.py) in the sync-runs table: one item per held change, and a log of
    the wizard's successful and failed syncs. Every state change is a conditional write, so a run holding changes
    while an admin approves can neither undo the approval nor bring back a cleared entry unchanged."""

    _REOPENABLE = (State.WAITING, State.KEPT, State.SUCCEEDED, State.FAILED)

    @staticmethod
    def _sk(side: str, entity: str, entity_id: str) -> str:
        return f"REVIEW#{side}#{entity}#{entity_id}"

    @staticmethod
    def _entry(i) -> ReviewEntry:
        return ReviewEntry(i.side, i.entity, i.entity_id, i.name, i.change, i.version)

    def _held(self, i: ReviewItem) -> HeldEntry:
        return HeldEntry(self._entry(i), i.state, i.held_at, i.decided_at, i.decided_by or "", i.message or "")

    # -- the engine's port (ReviewQueue) ---------------------------------------------------------------------------
    def hold(self, tenant_id: str, entries) -> None:
        now = _now()
        for e in entries:
            reopen = (ReviewItem.pk.does_not_exist() | ReviewItem.state.is_in(*self._REOPENABLE)
                      | ((ReviewItem.state == State.CLEARED) & (ReviewItem.version != e.version)))
            try:
                ReviewItem(_tenant(tenant_id), self._sk(e.side, e.entity, e.entity_id)).update(actions=[
                    ReviewItem.side.set(e.side), ReviewItem.entity.set(e.entity), ReviewItem.entity_id.set(e.entity_id),
                    ReviewItem.name.set(e.name), ReviewItem.change.set(e.change), ReviewItem.version.set(e.version),
                    ReviewItem.state.set(State.WAITING), ReviewItem.held_at.set(now),
                    ReviewItem.decided_at.remove(), ReviewItem.decided_by.remove(), ReviewItem.message.remove(),
                ], condition=reopen)
            except UpdateError as exc:  # approved stays approved; cleared stays cleared until it changes
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise

    def approved(self, tenant_id: str) -> list[ReviewEntry]:
        return [self._entry(i) for i in ReviewItem.query(_tenant(tenant_id), ReviewItem.sk.startswith("REVIEW#"),
                                                         filter_condition=ReviewItem.state == State.APPROVED)]

    def kept(self, tenant_id: str) -> list[ReviewEntry]:
        return [self._entry(i) for i in ReviewItem.query(_tenant(tenant_id), ReviewItem.sk.startswith("REVIEW#"),
                                                         filter_condition=ReviewItem.state == State.KEPT)]

    def release(self, tenant_id: str) -> list[ReviewEntry]:
        """One query (every run makes it while review mode is off, so it stays one)."""
        out = []
        for i in ReviewItem.query(_tenant(tenant_id), ReviewItem.sk.startswith("REVIEW#"),
                                  filter_condition=ReviewItem.state.is_in(State.WAITING, State.KEPT, State.APPROVED)):
            if i.state != State.APPROVED:
                try:
                    i.update(actions=[ReviewItem.state.set(State.APPROVED), ReviewItem.decided_at.set(_now()),
                                      ReviewItem.decided_by.set("review mode turned off")],
                             condition=ReviewItem.state.is_in(State.WAITING, State.KEPT))
                except UpdateError as exc:  # decided meanwhile: the admin's decision stands
                    if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                        raise
                    continue
            out.append(self._entry(i))
        return out

    def done(self, tenant_id: str, entries, outcome: str, message: str = "") -> None:
        if outcome not in (State.SUCCEEDED, State.FAILED):
            raise ValueError(f"outcome must be succeeded or failed, not {outcome!r}")
        now = _now()
        for e in entries:
            try:
                ReviewItem(_tenant(tenant_id), self._sk(e.side, e.entity, e.entity_id)).update(
                    actions=[ReviewItem.state.set(outcome), ReviewItem.message.set(message),
                             ReviewItem.decided_at.set(now)],
                    condition=ReviewItem.state == State.APPROVED)
            except UpdateError as exc:
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
                continue  # not approved (never, or already reported): nothing to log twice
            sk = f"REVIEWLOG#{outcome}#{now.isoformat()}#{e.side}#{e.entity}#{e.entity_id}"
            ReviewLogItem(_tenant(tenant_id), sk,
                          side=e.side, entity=e.entity, entity_id=e.entity_id, name=e.name, change=e.change,
                          version=e.version, outcome=outcome, message=message or None, at=now,
                          ttl=timedelta(seconds=REVIEW_RESULT_TTL_S)).save()

    # -- the wizard (admin API) ------------------------------------------------------------------------------------
    def page(self, tenant_id: str, state: str, side: str | None, cursor: str | None, limit: int) -> Page[HeldEntry]:
        prefix = f"REVIEW#{side}#" if side else "REVIEW#"
        start = decode_cursor(cursor, _tenant(tenant_id), prefix)
        items = ReviewItem.query(_tenant(tenant_id), ReviewItem.sk.startswith(prefix),
                                 filter_condition=ReviewItem.state == state, limit=limit, last_evaluated_key=start)
        held = [self._held(i) for i in items]
        return Page(held, encode_cursor(items.last_evaluated_key) if len(held) == limit else None)

    def results(self, tenant_id: str, outcome: str, cursor: str | None, limit: int) -> Page[ResultEntry]:
        prefix = f"REVIEWLOG#{outcome}#"
        start = decode_cursor(cursor, _tenant(tenant_id), prefix)
        items = ReviewLogItem.query(_tenant(tenant_id), ReviewLogItem.sk.startswith(prefix), scan_index_forward=False,
                                    limit=limit, last_evaluated_key=start)
        rows = [ResultEntry(self._entry(i), i.outcome, i.message or "", i.at) for i in items]
        return Page(rows, encode_cursor(items.last_evaluated_key) if len(rows) == limit else None)

    def count(self, tenant_id: str, state: str) -> int:
        return ReviewItem.count(_tenant(tenant_id), ReviewItem.sk.startswith("REVIEW#"),
                                filter_condition=ReviewItem.state == state)

    def waiting(self, tenant_id: str) -> list[HeldEntry]:
        return [self._held(i) for i in ReviewItem.query(_tenant(tenant_id), ReviewItem.sk.startswith("REVIEW#"),
                                                        filter_condition=ReviewItem.state == State.WAITING)]

    def decide(self, tenant_id: str, entry: ReviewEntry, state: str, by: str) -> bool:
        """Move one waiting entry to approved, cleared or kept; False if it is no longer waiting."""
        try:
            ReviewItem(_tenant(tenant_id), self._sk(entry.side, entry.entity, entry.entity_id)).update(
                actions=[ReviewItem.state.set(state), ReviewItem.decided_at.set(_now()),
                         ReviewItem.decided_by.set(by or "admin")],
                condition=ReviewItem.state == State.WAITING)
        except UpdateError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True
