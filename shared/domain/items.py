"""Items, one way, in the direction the admin chose (seeds: "an item that matches by name is updated, else created").

QuickBooks item names are unique, case-insensitively (a clash is 6240), so the name is the match key on both sides;
the link then keeps the pair together through renames. Equipment and inventory go to QuickBooks as NonInventory: a
QuickBooks Inventory item needs quantity tracking and an asset account the platform does not own (decision 21)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from shared.fieldservice.errors import PlatformRefused
from shared.fieldservice.models import ItemDraft, ItemType
from shared.fieldservice.port import iter_all
from shared.quickbooks import port as qbo_port
from shared.quickbooks.errors import QuickBooksError, refused
from shared.quickbooks.port import ItemState

NAME_MAX = 100  # QuickBooks Item.Name
TO_PLATFORM_TYPE = {"Service": ItemType.SERVICE, "NonInventory": ItemType.NON_INVENTORY,
                    "Inventory": ItemType.INVENTORY}


def item_key(name: str) -> str:
    return " ".join((name or "").replace(":", "-").split()).casefold()[:NAME_MAX]


def _qbo_name(name: str) -> str:
    return " ".join(name.replace(":", "-").split())[:NAME_MAX]


@dataclass
class ItemSync:
    tenant_id: str
    quickbooks: Any
    platform: Any
    links: Any
    settings: Any  # ItemSettings
    record_error: Any  # (entity, entity_id, code, message, detail) -> None
    request_id: Any  # (*parts) -> str

    def run_all(self) -> dict[str, int]:
        """The first pass in a direction: every item on both sides, matched by name."""
        qbo = {item_key(i.name): i for i in self.quickbooks.every_item()}
        fsp = self._platform_by_key(iter_all(self.platform.list_items, self.tenant_id, limit=1000))
        if self.settings.direction == "platform_to_quickbooks":
            return self._to_quickbooks(qbo, fsp)
        return self._to_platform(qbo, fsp)

    def _platform_by_key(self, items) -> dict[str, Any]:
        """Platform items by name key. QuickBooks holds one item per name and we match names ignoring case and
        spacing, so a second item whose name differs from another's only there cannot sync beside it: it is
        logged against itself (the admin renames one), never dropped without a word."""
        keyed: dict[str, Any] = {}
        for item in items:
            first = keyed.setdefault(item_key(item.name), item)
            if first is not item and self.settings.direction == "platform_to_quickbooks":
                self.record_error("item", item.id, "duplicate_name",
                                  f'Item "{item.name}" has the same name as item "{first.name}" apart from case '
                                  "or spacing. QuickBooks item names are unique, so only the first syncs; rename "
                                  "one of them.", "")
        return keyed

    def run(self, qbo_changed: list[ItemState], fsp_changed: list) -> dict[str, int]:
        """Only what changed since the cursors, in the chosen direction; the other side is read just for the
        records involved (linked ones by id, new ones by name)."""
        if self.settings.direction == "platform_to_quickbooks":
            fsp = self._platform_by_key(i for i in fsp_changed if i.active)
            if not fsp:
                return {}
            links = self.links.get_many(self.tenant_id, "item", [i.id for i in fsp.values()])
            linked = {links[i.id].qbo_id: key for key, i in fsp.items() if i.id in links and links[i.id].qbo_id}
            found = self.quickbooks.items_by(
                sorted(linked), [_qbo_name(i.name) for k, i in fsp.items() if k not in set(linked.values())])
            # A linked item is found by its id even after a rename on either side.
            qbo = {linked.get(row.qbo_id, item_key(row.name)): row for row in found}
            return self._to_quickbooks(qbo, fsp)
        qbo_rows = [r for r in qbo_changed if not r.deleted and r.name]
        if not qbo_rows:
            return {}
        fsp_by_key: dict[str, Any] = {}
        unlinked = []
        for row in qbo_rows:
            link = self.links.by_qbo(self.tenant_id, "item", row.qbo_id)
            if link is None:
                unlinked.append(row)
                continue
            fsp_by_key[item_key(row.name)] = self.platform.get_item(self.tenant_id, link.fsp_id)
        if unlinked:
            fsp_by_key.update({item_key(i.name): i for i in iter_all(self.platform.list_items, self.tenant_id,
                                                                     limit=1000)
                               if item_key(i.name) in {item_key(r.name) for r in unlinked}})
        return self._to_platform({item_key(r.name): r for r in qbo_rows}, fsp_by_key)

    def _link(self, fsp_id: str, qbo_id: str) -> None:
        from shared.domain.records import Link

        self.links.put(Link(self.tenant_id, "item", fsp_id, qbo_id))

    def _to_quickbooks(self, qbo: dict[str, ItemState], fsp: dict) -> dict[str, int]:
        counts = {"items_matched": 0, "items_created_in_quickbooks": 0, "items_updated_in_quickbooks": 0}
        for key, item in sorted(fsp.items()):
            if not item.active:
                continue
            try:
                current = qbo.get(key)
                if current is None:
                    created = self.quickbooks.create_item(self._quickbooks_draft(item),
                                                          request_id=self.request_id(self.tenant_id, "item", item.id))
                    self._link(item.id, created.qbo_id)
                    counts["items_created_in_quickbooks"] += 1
                    continue
                self._link(item.id, current.qbo_id)
                counts["items_matched"] += 1
                unchanged = qbo_port.ItemChange(current.qbo_id, current.sync_token or "")
                change = replace(
                    unchanged,
                    unit_price=item.price if item.price is not None and current.unit_price != item.price else None,
                    taxable=bool(item.taxable) if current.taxable != bool(item.taxable) else None,
                    description=item.description if item.description and current.description != item.description
                    else None)
                if change != unchanged:
                    self.quickbooks.update_item(change)
                    counts["items_updated_in_quickbooks"] += 1
            except QuickBooksError as exc:
                if not refused(exc):
                    raise  # throttling and outages pause the run; they are not this item's fault
                self.record_error("item", item.id, exc.code, exc.message, exc.detail)
        return counts

    def _quickbooks_draft(self, item) -> qbo_port.ItemDraft:
        return qbo_port.ItemDraft(
            name=_qbo_name(item.name), kind="Service" if item.type == ItemType.SERVICE else "NonInventory",
            income_account_id=self.settings.income_account_id, expense_account_id=self.settings.expense_account_id,
            taxable=bool(item.taxable), unit_price=item.price, purchase_cost=item.cost,
            description=(item.description or "")[:4000] or None, sku=(item.sku or "")[:100] or None)

    def _to_platform(self, qbo: dict[str, ItemState], fsp: dict) -> dict[str, int]:
        counts = {"items_matched": 0, "items_created_on_platform": 0, "items_updated_on_platform": 0}
        for key, item in sorted(qbo.items()):
            kind = TO_PLATFORM_TYPE.get(item.kind)
            if kind is None:
                continue  # Category, Group, Bundle: nothing the platform can bill
            price, cost = item.unit_price or Decimal("0"), item.purchase_cost
            try:
                current = fsp.get(key)
                if current is None:
                    draft = ItemDraft(name=item.name, type=kind, price=price, cost=cost,
                                      taxable=bool(item.taxable), description=item.description, sku=item.sku)
                    created = self.platform.create_item(self.tenant_id, draft, idempotency_key=self.request_id(
                        self.tenant_id, "item-from-qbo", item.qbo_id))
                    self._link(created.id, item.qbo_id)
                    counts["items_created_on_platform"] += 1
                    continue
                self._link(current.id, item.qbo_id)
                counts["items_matched"] += 1
                if current.price != price or (cost is not None and current.cost != cost):
                    self.platform.update_item(self.tenant_id, current.id, price=price,
                                              **({"cost": cost} if cost is not None else {}))
                    counts["items_updated_on_platform"] += 1
            except PlatformRefused as exc:  # throttling or an outage passes through: the run pauses and this replays
                self.record_error("item", item.qbo_id, exc.code, str(exc), "")
        return counts
