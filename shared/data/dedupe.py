"""The hint ledger: per record, the time of the newest webhook hint already applied (idempotency table, Powertools
layout `id` + `expiration`). A redelivery, or an older event arriving after a newer one, finds a time at or after
its own and asks for nothing; the worker writes here only after its sync request, so a crash in between costs a
repeated request, never a lost one."""

from __future__ import annotations

import hashlib
import time

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from shared.data.models import SeenItem

TRANSACTION_ITEMS = 100  # DynamoDB's TransactWriteItems limit
KEEP_S = 7 * 86400  # longer than Intuit's retry schedule for one notification and the platform's replay window


def _key(tenant_id: str, source: str, entity: str, entity_id: str) -> str:
    digest = hashlib.sha256(f"{source}|{entity}|{entity_id}".encode()).hexdigest()[:32]
    return f"hint#{tenant_id}#{digest}"


class DynamoHintLedger:
    def seen_at(self, tenant_id: str, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], float | None]:
        """For each (source, entity, entity_id): the time before which its changes are applied, in one consistent
        batch read (100 keys a call) instead of a read per hint."""
        ids = {_key(tenant_id, *k): k for k in keys}
        found: dict[tuple[str, str, str], float | None] = dict.fromkeys(keys)
        for item in SeenItem.batch_get(list(ids), consistent_read=True):
            found[ids[item.id]] = float(item.at) if item.at is not None else None
        return found

    def mark(self, tenant_id: str, times: dict[tuple[str, str, str], float]) -> None:
        """Remember each record's time unless a later one is already remembered: the conditional puts of a batch
        in one transaction (100 to a call); when one of them finds a later time (an older event arriving late) the
        transaction writes nothing, and each is put alone with its condition."""
        items = [SeenItem(_key(tenant_id, *k), expiration=int(time.time()) + KEEP_S, at=at) for k, at in times.items()]
        for i in range(0, len(items), TRANSACTION_ITEMS):
            chunk = items[i:i + TRANSACTION_ITEMS]
            try:
                # The model's own connection (its botocore client, built once per container at first use and
                # dropped when bind_tables rebinds the tables): a new Connection per call built a client each time,
                # about 0.1 s, which was most of the worker's DynamoDB time for the ledger (issue 12's profile).
                with TransactWrite(connection=SeenItem._get_connection().connection) as tx:
                    for item in chunk:
                        tx.save(item, condition=_not_older(item))
            except TransactWriteError as exc:
                reasons = [r for r in (getattr(exc, "cancellation_reasons", None) or []) if r is not None]
                if not reasons or any(r.code != "ConditionalCheckFailed" for r in reasons):
                    raise
                for item in chunk:
                    _put_unless_older(item)


def _not_older(item: SeenItem):
    return SeenItem.id.does_not_exist() | SeenItem.at.does_not_exist() | (SeenItem.at < item.at)


def _put_unless_older(item: SeenItem) -> None:
    try:
        item.save(condition=_not_older(item))
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise  # a later time is already remembered otherwise: nothing to do
