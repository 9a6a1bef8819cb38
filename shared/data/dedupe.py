"""The hint ledger: per record, the time of the newest webhook hint already applied (idempotency table, Powertools
layout `id` + `expiration`). A redelivery, or an older event arriving after a newer one, finds a time at or after
its own and asks for nothing; the worker writes here only after its sync request, so a crash in between costs a
repeated request, never a lost one."""

from __future__ import annotations

import hashlib
import time

from pynamodb.exceptions import PutError

from shared.data.models import SeenItem

KEEP_S = 7 * 86400  # longer than Intuit's retry schedule for one notification and the platform's replay window


def _key(tenant_id: str, source: str, entity: str, entity_id: str) -> str:
    digest = hashlib.sha256(f"{source}|{entity}|{entity_id}".encode()).hexdigest()[:32]
    return f"hint#{tenant_id}#{digest}"


class DynamoHintLedger:
    def seen_at(self, tenant_id: str, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], float | None]:
        """For each (source, entity, entity_id): when its newest applied hint happened, in one consistent batch read
        (100 keys a call) instead of a read per hint."""
        ids = {_key(tenant_id, *k): k for k in keys}
        found: dict[tuple[str, str, str], float | None] = dict.fromkeys(keys)
        for item in SeenItem.batch_get(list(ids), consistent_read=True):
            found[ids[item.id]] = float(item.at) if item.at is not None else None
        return found

    def mark(self, tenant_id: str, source: str, entity: str, entity_id: str, at: float) -> None:
        item = SeenItem(_key(tenant_id, source, entity, entity_id), expiration=int(time.time()) + KEEP_S, at=at)
        try:
            item.save(condition=SeenItem.id.does_not_exist() | SeenItem.at.does_not_exist() | (SeenItem.at < at))
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise  # a later time is already remembered otherwise: nothing to do
