"""PynamoDB storage models. They live only in the data-access layer; repositories convert them to domain objects.
Key layouts match the tables CDK declares in infra/ (checked by tests against the synthesized template)."""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class _Base(Model):
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class ByRealmIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_realm"
        projection = AllProjection()

    realm_id = UnicodeAttribute(hash_key=True)


class ConnectionItem(_Base):
    """pk TENANT#{tenant}, sk CONNECTION. The only item type carrying `realm_id`, so the GSI stays sparse."""

    class Meta:
        table_name = "connections"

    tenant_id = UnicodeAttribute()
    realm_id = UnicodeAttribute(null=True)
    company_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    connected_at = UTCDateTimeAttribute(null=True)
    disconnected_at = UTCDateTimeAttribute(null=True)
    last_sync_at = UTCDateTimeAttribute(null=True)
    attention = JSONAttribute(null=True)
    onboarding = JSONAttribute(null=True)
    by_realm = ByRealmIndex()


class TokenItem(_Base):
    """pk TENANT#{tenant}, sk TOKENS: KMS ciphertext of the token pair plus the refresh lease."""

    class Meta:
        table_name = "connections"

    token_realm = UnicodeAttribute()
    ciphertext = BinaryAttribute(legacy_encoding=False)
    access_expires_at = NumberAttribute()
    refresh_expires_at = NumberAttribute(null=True)
    hard_expires_at = NumberAttribute(null=True)  # the grant's 5-year cap (x_refresh_token_hard_expires_in)
    generation = NumberAttribute(default=0)
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)


class SettingsItem(_Base):
    """pk TENANT#{tenant}, sk SETTINGS (current) and SETTINGS#v{n} (history)."""

    class Meta:
        table_name = "connections"

    body = JSONAttribute()
    version = NumberAttribute()
    updated_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class StateItem(_Base):
    """pk STATE#{nonce}, sk STATE: a single-use OAuth `state`, expiring by TTL (and checked, since TTL is lazy)."""

    class Meta:
        table_name = "connections"

    tenant_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute(null=True)


class CursorItem(_Base):
    """pk TENANT#{tenant}, sk CURSOR#{side}:{kind}: how far one kind of change has been applied (sync_run.py), and
    the ids applied at exactly that instant (none stored as absent: DynamoDB has no empty set)."""

    class Meta:
        table_name = "connections"

    at = UTCDateTimeAttribute()
    ids = UnicodeSetAttribute(null=True)


class LinksByQbo(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_qbo"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class LinkItem(_Base):
    """pk TENANT#{tenant}#{entity}, sk FSP#{fsp_id}; gsi1 = same pk / QBO#{qbo_id} to look up from QuickBooks' side."""

    class Meta:
        table_name = "links"

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    fsp_id = UnicodeAttribute()
    qbo_id = UnicodeAttribute(null=True)
    sync_token = UnicodeAttribute(null=True)
    fingerprint = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    state = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()
    extra = JSONAttribute(null=True)
    by_qbo = LinksByQbo()


class RunItem(_Base):
    """pk TENANT#{tenant}, sk RUN#{run_id}: one sync run (onboarding or scheduled) with progress and summary."""

    class Meta:
        table_name = "sync_runs"

    run_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    phase = UnicodeAttribute(null=True)
    percent = NumberAttribute(default=0)
    counts: MapAttribute = MapAttribute(null=True)
    summary = JSONAttribute(null=True)
    started_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    ttl = TTLAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # LOCK# and GATE# items only: epoch seconds
    changes = NumberAttribute(null=True)  # GATE# items only: changes noted so far (sync_gate.py)
    seen = NumberAttribute(null=True)  # GATE# items only: the `changes` the holder has read up to


class ErrorItem(_Base):
    """pk TENANT#{tenant}, sk ERR#{entity}#{id}: the current failure of one entity (the "unsynced entities" list)."""

    class Meta:
        table_name = "errors"

    entity = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    direction = UnicodeAttribute()
    code = UnicodeAttribute()
    message = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    first_at = UTCDateTimeAttribute()
    last_at = UTCDateTimeAttribute()
    attempts = NumberAttribute(default=0)
    run_id = UnicodeAttribute(null=True)
    resolved = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)
    name = UnicodeAttribute(null=True)
    dismissed = NumberAttribute(null=True)  # 1: hidden from the unsynced list until it fails again
    retry = NumberAttribute(null=True)  # 1: an admin asked to resync it; the engine re-attempts and clears it
    waits_for = UnicodeAttribute(null=True)  # "{link entity}#{platform id}" a waiting_for_* entry waits on


class ReviewItem(_Base):
    """pk TENANT#{tenant}, sk REVIEW#{side}#{entity}#{entity_id}: one change held by review mode (shared/domain/
    review.py), in the sync-runs table beside the runs it waits for."""

    class Meta:
        table_name = "sync_runs"

    side = UnicodeAttribute()
    entity = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    name = UnicodeAttribute()
    change = UnicodeAttribute()
    version = UnicodeAttribute()
    state = UnicodeAttribute()
    held_at = UTCDateTimeAttribute()
    decided_at = UTCDateTimeAttribute(null=True)
    decided_by = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)


class ReviewLogItem(_Base):
    """pk TENANT#{tenant}, sk REVIEWLOG#{outcome}#{at}#{side}#{entity}#{entity_id}: the wizard's successful and
    failed syncs, newest first, expiring after RESULT_TTL."""

    class Meta:
        table_name = "sync_runs"

    side = UnicodeAttribute()
    entity = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    name = UnicodeAttribute()
    change = UnicodeAttribute()
    version = UnicodeAttribute()
    outcome = UnicodeAttribute()
    message = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    ttl = TTLAttribute(null=True)


class SeenItem(Model):
    """The idempotency table (Powertools layout: `id`, `expiration`): per record, the newest webhook hint applied."""

    class Meta:
        table_name = "idempotency"

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()
    status = UnicodeAttribute(default="COMPLETED")
    at = NumberAttribute(null=True)  # epoch seconds of that hint (shared/data/dedupe.py)


class PaceItem(Model):
    """The idempotency table again: one item per QuickBooks company with a theoretical arrival time per limit
    (pacing.py, pace_store.py); the company's concurrency slots are another item (`PACE#{realm}#slots`)."""

    class Meta:
        table_name = "idempotency"

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute()
    tat_request = NumberAttribute(null=True)
    tat_batch = NumberAttribute(null=True)


class DesktopConnectionItem(_Base):
    """pk TENANT#{tenant}, sk DESKTOP: the tenant's QuickBooks Desktop (Web Connector) connection."""

    class Meta:
        table_name = "connections"

    tenant_id = UnicodeAttribute()
    user_name = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    file_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_session_at = UTCDateTimeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    company_name = UnicodeAttribute(null=True)
    state = JSONAttribute(null=True)  # watermarks, onboarding done, class tracking seen in the file
    state_version = NumberAttribute(null=True)  # bumped by each change of `state` (DesktopRepo.change_state)


class DesktopLoginItem(_Base):
    """pk QBWCUSER#{user name}, sk DESKTOP: what authenticate reads. The password only as a slow hash."""

    class Meta:
        table_name = "connections"

    tenant_id = UnicodeAttribute()
    password_hash = UnicodeAttribute()


class DesktopSessionItem(_Base):
    """pk QBWC#{ticket}, sk SESSION: one Web Connector session (the request in flight, the last error), by TTL."""

    class Meta:
        table_name = "sync_runs"

    tenant_id = UnicodeAttribute()
    in_flight = UnicodeAttribute(null=True)  # the work item's sk whose request QuickBooks holds
    last_error = UnicodeAttribute(null=True)
    done = NumberAttribute(default=0)
    facts = JSONAttribute(null=True)
    closed = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)


class DesktopWorkItem(_Base):
    """pk TENANT#{tenant}, sk QBDQ#{order}#{key}: one unit of Desktop work waiting for the Web Connector."""

    class Meta:
        table_name = "sync_runs"

    kind = UnicodeAttribute()
    payload = JSONAttribute()
    status = UnicodeAttribute()  # pending | sent | failed
    mode = UnicodeAttribute(default="write")  # write | lookup (after a lost reply) | reread (stale EditSequence)
    attempts = NumberAttribute(default=0)
    run_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


ALL_MODELS: tuple[type[Model], ...] = (ConnectionItem, TokenItem, SettingsItem, StateItem, CursorItem, LinkItem,
                                       RunItem, ErrorItem, SeenItem, PaceItem, DesktopConnectionItem, DesktopLoginItem,
                                       DesktopSessionItem, DesktopWorkItem, ReviewItem, ReviewLogItem)
TABLE_OF: dict[type[Model], str] = {
    ConnectionItem: "connections", TokenItem: "connections", SettingsItem: "connections", StateItem: "connections",
    CursorItem: "connections",
    LinkItem: "links", RunItem: "sync_runs", ErrorItem: "errors", SeenItem: "idempotency", PaceItem: "idempotency",
    DesktopConnectionItem: "connections", DesktopLoginItem: "connections", DesktopSessionItem: "sync_runs",
    DesktopWorkItem: "sync_runs", ReviewItem: "sync_runs", ReviewLogItem: "sync_runs",
}


def bind_tables(names: dict[str, str], region: str) -> None:
    """Point every model at its physical table. Called once per container from the handler's env model; the endpoint
    comes from botocore's own configuration (AWS_ENDPOINT_URL), so the local stack needs no code path of its own."""
    for model, logical in TABLE_OF.items():
        model.Meta.table_name = names[logical]
        model.Meta.region = region
        model._connection = None
