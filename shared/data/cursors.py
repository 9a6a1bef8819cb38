"""Change cursors: per tenant, one instant per side and entity kind ("qbo:Customer", "fsp:clients"), with the ids
already applied at exactly that instant. The sync run reads changes at or after a cursor and moves it only once those
changes are applied or recorded as failed, so a crash replays instead of skipping."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from shared.data.models import CursorItem
from shared.domain.records import Cursor


class DynamoCursors:
    def get_all(self, tenant_id: str) -> dict[str, Cursor]:
        return {item.sk.removeprefix("CURSOR#"): Cursor(item.at, frozenset(item.ids or ()))
                for item in CursorItem.query(f"TENANT#{tenant_id}", CursorItem.sk.startswith("CURSOR#"),
                                             consistent_read=True)}

    def put(self, tenant_id: str, name: str, at: datetime, ids: Collection[str] = ()) -> None:
        CursorItem(f"TENANT#{tenant_id}", f"CURSOR#{name}", at=at, ids=set(ids) or None).save()
