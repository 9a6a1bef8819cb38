"""The shared pacing state of pacing.py in DynamoDB: one item per company and limit, updated optimistically."""

from __future__ import annotations

from pynamodb.exceptions import PutError

from shared.data.models import PaceItem
from shared.quickbooks.pacing import Limit, gcra

KEEP_S = 3600  # an idle company's item expires; a missing item means "no recent calls", which is the truth
MAX_CONFLICTS = 50


class DynamoPaceStore:
    def reserve(self, key: str, now: float, limit: Limit, max_wait_s: float) -> float | None:
        for _ in range(MAX_CONFLICTS):
            try:
                current = PaceItem.get(f"PACE#{key}", consistent_read=True)
                tat = float(current.tat)
                condition = PaceItem.tat == current.tat
            except PaceItem.DoesNotExist:
                tat, condition = None, PaceItem.id.does_not_exist()
            wait, new_tat = gcra(tat, now, limit)
            if wait > max_wait_s:
                return None
            try:
                PaceItem(f"PACE#{key}", tat=new_tat, expiration=int(now) + KEEP_S).save(condition=condition)
                return wait
            except PutError as exc:
                if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"pacing slot for {key} contended {MAX_CONFLICTS} times in a row")
