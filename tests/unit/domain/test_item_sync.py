"""Items, one way, with fakes (shared/domain/items.py): matched by name or by link, created when missing, updated
only where a value differs, in the direction the admin chose; a record QuickBooks or the platform refuses is logged
for that item and the others go on, while throttling pauses the run."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.domain.items import ItemSync
from shared.domain.onboarding import request_id
from shared.domain.records import Link
from shared.domain.settings import ItemSettings
from shared.fieldservice.errors import Unavailable, ValidationFailed
from shared.quickbooks.errors import BusinessValidation, Throttled
from shared.quickbooks.shapes import item_state
from tests.fakes import FakeBooks, FakeLinkStore, FakePlatform

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TO_QBO = "platform_to_quickbooks"
TO_FSP = "quickbooks_to_platform"


class World:
    def __init__(self, direction):
        self.books, self.platform, self.links = FakeBooks(lambda: T0), FakePlatform(lambda: T0), FakeLinkStore()
        self.errors: list[tuple] = []
        self.settings = ItemSettings(enabled=True, direction=direction, income_account_id="79",
                                     expense_account_id="80")

    def sync(self):
        return ItemSync("t1", self.books, self.platform, self.links, self.settings,
                        lambda *entry: self.errors.append(entry), request_id)

    def qbo_item(self, name, kind="Service", price=None, cost=None, **fields):
        body = {"Name": name, "Type": kind, "Taxable": True, **fields}
        if price is not None:
            body["UnitPrice"] = Decimal(price)
        if cost is not None:
            body["PurchaseCost"] = Decimal(cost)
        return self.books.add("Item", body)

    def qbo_changes(self):
        return [item_state(r) for r in self.books.rows["Item"].values()]


# -- platform -> QuickBooks ---------------------------------------------------------------------------------------

def test_first_pass_to_quickbooks_links_an_item_matching_by_name_and_creates_the_others():
    w = World(TO_QBO)
    w.qbo_item("Drain  clean", price="95.00")
    w.platform.add_item("i1", "drain Clean", price="95.00")  # case and spacing differ: the same QuickBooks name
    w.platform.add_item("i2", "Water Heater", type="equipment", price="900.00")
    counts = w.sync().run_all()
    assert counts == {"items_matched": 1, "items_created_in_quickbooks": 1, "items_updated_in_quickbooks": 0}
    assert len(w.books.rows["Item"]) == 2
    assert w.links.get("t1", "item", "i1").qbo_id == "1"
    created = w.books.rows["Item"][w.links.get("t1", "item", "i2").qbo_id]
    assert created["Type"] == "NonInventory"  # equipment has no quantity tracking in QuickBooks (decision 21)


def test_a_platform_item_named_like_another_apart_from_case_is_logged_not_dropped_without_a_word():
    w = World(TO_QBO)
    w.platform.add_item("i1", "Drain Clean", price="95.00")
    w.platform.add_item("i2", "drain  clean", price="99.00")  # QuickBooks can hold only one of the two
    counts = w.sync().run_all()
    assert counts["items_created_in_quickbooks"] == 1 and len(w.books.rows["Item"]) == 1
    assert w.links.get("t1", "item", "i1").qbo_id and w.links.get("t1", "item", "i2") is None
    [(entity, entity_id, code, message, _)] = w.errors
    assert (entity, entity_id, code) == ("item", "i2", "duplicate_name") and '"Drain Clean"' in message


def test_a_matched_item_is_updated_in_quickbooks_only_with_the_values_that_differ():
    w = World(TO_QBO)
    w.qbo_item("Drain Clean", price="80.00", Description="Drain cleaning")
    w.platform.add_item("i1", "Drain Clean", price="95.00", description="Drain cleaning")
    counts = w.sync().run_all()
    assert counts["items_updated_in_quickbooks"] == 1
    row = w.books.rows["Item"]["1"]
    assert row["UnitPrice"] == Decimal("95.00") and row["SyncToken"] == "1"


def test_a_matched_item_with_the_same_values_is_not_written_to_quickbooks():
    w = World(TO_QBO)
    w.qbo_item("Drain Clean", price="95.00", Description="Drain cleaning")
    w.platform.add_item("i1", "Drain Clean", price="95.00", description="Drain cleaning")
    counts = w.sync().run_all()
    assert counts == {"items_matched": 1, "items_created_in_quickbooks": 0, "items_updated_in_quickbooks": 0}
    assert "update" not in w.books.calls


def test_an_inactive_platform_item_is_not_sent_to_quickbooks():
    w = World(TO_QBO)
    w.platform.add_item("i1", "Old Service", price="10.00", active=False)
    counts = w.sync().run_all()
    assert counts["items_created_in_quickbooks"] == 0 and not w.books.rows["Item"]
    assert w.links.get("t1", "item", "i1") is None


def test_platform_changes_that_are_all_inactive_make_no_quickbooks_call():
    w = World(TO_QBO)
    item = w.platform.add_item("i1", "Old Service", price="10.00", active=False)
    assert w.sync().run([], [item]) == {}
    assert w.books.calls == []


def test_an_item_quickbooks_refuses_is_logged_for_that_item_and_the_next_one_is_still_created():
    w = World(TO_QBO)
    w.platform.add_item("i1", "A Refused", price="10.00")
    w.platform.add_item("i2", "B Fine", price="20.00")
    w.books.fail_next = [BusinessValidation("6000", "A business validation error has occurred", "bad item", 400)]
    counts = w.sync().run_all()
    assert w.errors == [("item", "i1", "6000", "A business validation error has occurred", "bad item")]
    assert counts["items_created_in_quickbooks"] == 1 and w.links.get("t1", "item", "i2") is not None
    assert w.links.get("t1", "item", "i1") is None


def test_throttling_while_sending_items_pauses_the_run_instead_of_logging_the_item():
    w = World(TO_QBO)
    w.platform.add_item("i1", "Drain Clean", price="10.00")
    w.books.fail_next = [Throttled("3001", "ThrottleExceeded")]
    with pytest.raises(Throttled):
        w.sync().run_all()
    assert w.errors == []


# -- QuickBooks -> platform ---------------------------------------------------------------------------------------

def test_first_pass_to_the_platform_matches_by_name_updates_the_price_and_creates_the_others():
    w = World(TO_FSP)
    w.qbo_item("Drain Clean", price="95.00")
    w.qbo_item("Water Heater", kind="NonInventory", price="900.00", cost="600.00")
    w.platform.add_item("i1", "drain clean", price="80.00")
    counts = w.sync().run_all()
    assert counts == {"items_matched": 1, "items_created_on_platform": 1, "items_updated_on_platform": 1}
    assert w.platform.items["i1"].price == Decimal("95.00")
    created = w.platform.items[w.links.by_qbo("t1", "item", "2").fsp_id]
    assert (created.type, created.price, created.cost) == ("non_inventory", Decimal("900.00"), Decimal("600.00"))


def test_a_quickbooks_item_without_a_price_reaches_the_platform_at_zero():
    w = World(TO_FSP)
    w.qbo_item("Consultation")
    w.sync().run_all()
    (item,) = w.platform.items.values()
    assert item.price == Decimal("0")


def test_quickbooks_categories_and_bundles_are_not_imported():
    w = World(TO_FSP)
    w.qbo_item("Plumbing", kind="Category")
    w.qbo_item("Install Kit", kind="Group")
    counts = w.sync().run_all()
    assert counts["items_created_on_platform"] == 0 and not w.platform.items


def test_a_matched_platform_item_with_the_same_price_and_no_quickbooks_cost_is_not_updated():
    w = World(TO_FSP)
    w.qbo_item("Drain Clean", price="95.00")  # no PurchaseCost: the platform's cost is left as it is
    w.platform.add_item("i1", "Drain Clean", price="95.00", cost="40.00")
    counts = w.sync().run_all()
    assert counts["items_updated_on_platform"] == 0 and "update_item" not in w.platform.calls
    assert w.platform.items["i1"].cost == Decimal("40.00")


def test_a_changed_quickbooks_cost_reaches_the_platform_even_when_the_price_is_the_same():
    w = World(TO_FSP)
    w.qbo_item("Drain Clean", price="95.00", cost="45.00")
    w.platform.add_item("i1", "Drain Clean", price="95.00", cost="40.00")
    counts = w.sync().run_all()
    assert counts["items_updated_on_platform"] == 1 and w.platform.items["i1"].cost == Decimal("45.00")


def test_an_item_the_platform_refuses_is_logged_under_its_quickbooks_id_and_the_next_one_is_still_created():
    w = World(TO_FSP)
    w.qbo_item("A Refused", price="10.00")
    w.qbo_item("B Fine", price="20.00")
    create = w.platform.create_item

    def refuse_first(tenant_id, draft, *, idempotency_key=None):
        if draft.name == "A Refused":
            raise ValidationFailed("name is reserved", status=422)
        return create(tenant_id, draft, idempotency_key=idempotency_key)

    w.platform.create_item = refuse_first
    counts = w.sync().run_all()
    assert w.errors == [("item", "1", "validation_failed", "name is reserved", "")]
    assert counts["items_created_on_platform"] == 1 and w.links.by_qbo("t1", "item", "2") is not None


def test_a_platform_outage_while_creating_an_item_there_pauses_the_run_and_logs_nothing_against_it():
    w = World(TO_FSP)
    w.qbo_item("Drain Clean", price="95.00")

    def down(tenant_id, draft, *, idempotency_key=None):
        raise Unavailable("platform down", status=503)

    w.platform.create_item = down
    with pytest.raises(Unavailable):
        w.sync().run_all()
    assert w.errors == []


def test_a_linked_item_renamed_in_quickbooks_updates_its_platform_item_instead_of_creating_one():
    w = World(TO_FSP)
    w.platform.add_item("i1", "Drain Clean", price="80.00")
    w.qbo_item("Drain Cleaning", price="95.00")  # renamed in QuickBooks after the link was made
    w.links.put(Link("t1", "item", "i1", "1"))
    counts = w.sync().run(w.qbo_changes(), [])
    assert counts["items_created_on_platform"] == 0 and counts["items_updated_on_platform"] == 1
    assert len(w.platform.items) == 1 and w.platform.items["i1"].price == Decimal("95.00")
    assert "list" not in w.platform.calls  # a linked item is read by its id, the list is not paged


def test_an_unlinked_quickbooks_change_is_matched_by_name_on_the_platform_before_creating():
    w = World(TO_FSP)
    w.platform.add_item("i1", "Drain Clean", price="80.00")
    w.platform.add_item("i2", "Something Else", price="1.00")
    w.qbo_item("DRAIN CLEAN", price="95.00")
    counts = w.sync().run(w.qbo_changes(), [])
    assert counts == {"items_matched": 1, "items_created_on_platform": 0, "items_updated_on_platform": 1}
    assert w.links.by_qbo("t1", "item", "1").fsp_id == "i1" and len(w.platform.items) == 2


def test_deleted_and_nameless_quickbooks_changes_are_not_imported():
    from dataclasses import replace

    w = World(TO_FSP)
    w.qbo_item("Gone", price="5.00")
    w.qbo_item("", price="5.00")
    gone, nameless = w.qbo_changes()
    assert w.sync().run([replace(gone, deleted=True), nameless], []) == {}
    assert not w.platform.items and w.platform.calls == []


def test_a_linked_platform_item_renamed_on_the_platform_updates_its_quickbooks_item_instead_of_creating_one():
    w = World(TO_QBO)
    w.qbo_item("Drain Clean", price="80.00")
    item = w.platform.add_item("i1", "Drain Cleaning", price="95.00")
    w.links.put(Link("t1", "item", "i1", "1"))
    counts = w.sync().run([], [item])
    assert counts == {"items_matched": 1, "items_created_in_quickbooks": 0, "items_updated_in_quickbooks": 1}
    assert len(w.books.rows["Item"]) == 1 and w.books.rows["Item"]["1"]["UnitPrice"] == Decimal("95.00")
