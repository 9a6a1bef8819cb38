"""First-writer-wins markers for deliveries that may repeat (webhooks are hints: at least once, any order)."""

from __future__ import annotations

import time

from pynamodb.exceptions import PutError

from shared.data.models import SeenItem

KEEP_S = 7 * 86400  # longer than Intuit's retry schedule for one notification (hours) and the FSP replay window


class DynamoDedupe:
    def first_time(self, key: str) -> bool:
        try:
            SeenItem(key, expiration=int(time.time()) + KEEP_S).save(condition=SeenItem.id.does_not_exist())
            return True
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise

    def forget(self, key: str) -> None:
        SeenItem(key, expiration=0).delete()
