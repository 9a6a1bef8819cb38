"""A linked client/customer pair edited on both sides while a sync run goes on: no edit is lost, none is written
twice.

The customer is edited in QuickBooks (the email, or the phone) before the run (its CDC read sees it) or during it
(after that read: the next run's CDC must report it); the client's phone is edited on the platform at any task
boundary of the run, or after it. The client is listed by the run's first page (an edit of its company, which goes
to QuickBooks, or of a field the sync does not carry) or not listed at all; the platform pages one record at a
time, so a client edited after its page was listed comes again on a later page of the same run, or, when its page
was the last, only in the next run, after the QuickBooks step left its customer to the page that judged it
(`judged = set(self._seen)` in ClientSync._quickbooks_rest). Edits of different fields end on both sides; two edits
of one field end as the newer one (merge(): the side whose record changed last wins a field changed on both);
QuickBooks-master keeps the platform's edits on the platform. The cases where the next run writes nothing to
QuickBooks (QuickBooks-master, a platform edit of a field the sync does not carry) have no 5010 re-read to find a
QuickBooks edit the run did not merge. Each test walks the run, then two more: everything is in step after the
next run, the one after it writes nothing."""

import pytest

from shared.domain import sync_run
from shared.domain.clients import FIELDS, customer_values, fingerprint
from shared.domain.records import SyncRun
from shared.fieldservice.models import Contact
from shared.quickbooks.shapes import customer_state
from tests.unit.domain.test_sync_engine import World, walk

# The first pass's task boundaries, in order: after each task (the clients step's three platform pages, c1 on the
# first when it is listed, then its QuickBooks step), and "finish": after the run.
BOUNDARIES = ("start", "sync_items", "clients_page_0", "clients_page_1", "clients_quickbooks", "sync_sites",
              "push_invoices", "push_payments", "finish")
QUICKBOOKS_MOMENTS = ("before_the_run", "start", "clients_page_0", "clients_page_1", "clients_quickbooks",
                      "push_payments")
PLATFORM_PHONE, QUICKBOOKS_PHONE, QUICKBOOKS_EMAIL = "602-555-0777", "602-555-0111", "office@acme.example"
# direction, the field edited in QuickBooks, what the platform's edit changes ("nothing_synced": a field the sync
# does not carry; the fake's update moves updated_at either way)
CASES = {"different_fields": ("two_way", "email", "phone"), "the_same_field": ("two_way", "phone", "phone"),
         "a_field_not_synced": ("two_way", "email", "nothing_synced"),
         "quickbooks_master": ("quickbooks_master", "email", "phone"),
         "quickbooks_master_the_same_field": ("quickbooks_master", "phone", "phone")}


class _Writes:
    """What the sync writes to either side, as (side, record, fields its write changed); the test's own edits go
    through `edit_books` and `edit_client`, which are not counted."""

    def __init__(self, w: World):
        self.w, self.made = w, []
        self.edit_books, self.edit_client = w.books.edit, w.platform.update_client
        w.books.edit, w.platform.update_client = self._books, self._platform  # QuickBooks' updates and batches

    @staticmethod
    def _changed(before: dict, after: dict) -> list[str]:
        return [n for n in FIELDS if fingerprint(n, before[n]) != fingerprint(n, after[n])]

    def _books(self, entity, entity_id, **fields):
        before = customer_values(customer_state(self.w.books.rows[entity][entity_id]))
        row = self.edit_books(entity, entity_id, **fields)
        self.made.append(("quickbooks", entity_id, self._changed(before, customer_values(customer_state(row)))))
        return row

    def _platform(self, tenant_id, client_id, **changes):
        from shared.domain.clients import client_values

        before = client_values(self.w.platform.clients[client_id])
        client = self.edit_client(tenant_id, client_id, **changes)
        self.made.append(("platform", client_id, self._changed(before, client_values(client))))
        return client

    def assert_each_once(self) -> None:
        assert all(fields for _, _, fields in self.made), self.made  # no write that changes nothing
        each = [(side, record, name) for side, record, fields in self.made for name in fields]
        assert len(each) == len(set(each)), self.made  # no field of a record written twice on one side


@pytest.mark.parametrize("listed", ["company_edited", "unsynced_field_edited", "not_listed"])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("books_moment", QUICKBOOKS_MOMENTS)
@pytest.mark.parametrize("platform_moment", BOUNDARIES)
def test_a_pair_edited_on_both_sides_during_a_run_ends_with_both_edits_each_written_once(
        monkeypatch, platform_moment, books_moment, case, listed):
    direction, books_field, platform_edit = CASES[case]
    monkeypatch.setattr(sync_run, "PLATFORM_PAGE", 1)
    w = World(direction)
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="602-555-0100")
    w.linked_pair("c2", company="Birch Electric")
    w.linked_pair("c3", company="Cedar Roofing")
    w.tick()
    assert w.run("r0").status == "succeeded"  # settles the pairs: the platform cursor sits at their instant
    w.tick(5)
    writes = _Writes(w)
    company = "Acme Plumbing LLC" if listed == "company_edited" else "Acme Plumbing"
    if listed != "not_listed":  # the fake's update moves updated_at even when nothing the sync carries changes
        writes.edit_client("t1", "c1", **({"company_name": company} if listed == "company_edited" else {}))
        w.tick()
    for fsp_id, name in (("c2", "Birch Electric LLC"), ("c3", "Cedar Roofing LLC")):  # pages after c1's
        writes.edit_client("t1", fsp_id, company_name=name)
        w.tick()

    def edit_in_quickbooks():
        w.tick()
        writes.edit_books("Customer", row["Id"], **({"PrimaryEmailAddr": {"Address": QUICKBOOKS_EMAIL}}
                                                    if books_field == "email" else
                                                    {"PrimaryPhone": {"FreeFormNumber": QUICKBOOKS_PHONE}}))
        w.tick()

    def edit_on_the_platform():
        w.tick()
        contact = w.platform.clients["c1"].contact
        writes.edit_client("t1", "c1", **({} if platform_edit == "nothing_synced" else {
            "contact": Contact(contact.first_name, contact.last_name, contact.email, PLATFORM_PHONE)}))
        w.tick()

    if books_moment == "before_the_run":
        edit_in_quickbooks()
        w.tick(5)  # the run starts past the QuickBooks cursor's overlap: the next run's CDC leaves the edit out
    landed = []

    def after(boundary):
        if boundary == books_moment:  # at one boundary QuickBooks' edit first: the platform's is the newer
            edit_in_quickbooks()
            landed.append("quickbooks")
        if boundary == platform_moment:
            edit_on_the_platform()
            landed.append("platform")

    engine = w.engine()
    w.runs.create(SyncRun("t1", "r1", "sync", "running", w.now))
    walk(engine, engine.start({"tenant_id": "t1", "run_id": "r1"}), after)
    assert w.runs.get("t1", "r1").status == "succeeded"
    assert "platform" in landed and ("quickbooks" in landed or books_moment == "before_the_run")
    w.tick(5)
    assert w.run("r2").status == "succeeded"
    written = len(writes.made)
    w.tick(5)
    assert w.run("r3").status == "succeeded"
    assert len(writes.made) == written  # in step after the next run: the one after it writes nothing

    # Each side's (company, email, phone): the edits of different fields on both; of one field, the newer (the
    # platform's at the same boundary: it is made second); QuickBooks-master keeps the platform's on the platform.
    books_at = -1 if books_moment == "before_the_run" else BOUNDARIES.index(books_moment)
    platform_newer = BOUNDARIES.index(platform_moment) >= books_at
    phone = {"email": "602-555-0100", "phone": QUICKBOOKS_PHONE}[books_field]
    on_platform = {"company": company, "email": QUICKBOOKS_EMAIL if books_field == "email" else None,
                   "phone": phone if platform_edit == "nothing_synced" or not (
                       books_field == "email" or platform_newer) else PLATFORM_PHONE}
    in_books = on_platform if direction == "two_way" else {**on_platform, "company": "Acme Plumbing",
                                                           "phone": phone}
    client = w.platform.clients["c1"]
    customer = customer_values(customer_state(w.books.rows["Customer"][row["Id"]]))
    assert {"company": client.company_name, "email": client.contact.email,
            "phone": client.contact.phone} == on_platform
    assert {k: customer[k] for k in in_books} == in_books
    writes.assert_each_once()
    assert not w.errors.entries


@pytest.mark.parametrize("direction", ["quickbooks_master", "platform_master"])
def test_a_conflict_the_master_direction_keeps_apart_is_not_reopened_by_the_next_change_of_the_losing_record(
        direction):
    """The phone edited on both sides, the newer edit on the side whose edits stay where they are (the platform's
    under QuickBooks-master, QuickBooks' under platform-master): each side keeps its own phone. The losing value is
    recorded as seen, so an unrelated edit of its record later does not bring it back over the newer one."""
    w = World(direction)
    _, row = w.linked_pair("c1", company="Acme Plumbing", phone="602-555-0100")
    w.tick()
    w.run("r0")
    w.tick(5)
    edits = [lambda: w.books.edit("Customer", row["Id"], PrimaryPhone={"FreeFormNumber": QUICKBOOKS_PHONE}),
             lambda: w.platform.update_client("t1", "c1", contact=Contact(phone=PLATFORM_PHONE))]
    for edit in edits if direction == "quickbooks_master" else reversed(edits):  # the kept side's edit is newer
        edit()
        w.tick()
    w.tick(5)
    won = "platform" if direction == "quickbooks_master" else "quickbooks"
    assert w.run("r1").summary["counts"][f"client_conflicts_{won}_won"] == 1
    w.tick(5)
    if direction == "quickbooks_master":
        w.books.edit("Customer", row["Id"], PrimaryEmailAddr={"Address": QUICKBOOKS_EMAIL})
    else:
        w.platform.update_client("t1", "c1", company_name="Acme Plumbing LLC")
    w.tick(5)
    w.run("r2")
    assert w.platform.clients["c1"].contact.phone == PLATFORM_PHONE
    assert w.books.rows["Customer"][row["Id"]]["PrimaryPhone"]["FreeFormNumber"] == QUICKBOOKS_PHONE


def test_merge_keeps_when_a_platform_edit_stayed_on_the_platform_and_an_older_quickbooks_edit_of_it_loses():
    """QuickBooks-master: a platform edit stays on the platform and the link keeps when it was made (`pk`); a
    QuickBooks edit of the field reported later loses to it when made before it, wins when made after it."""
    from datetime import UTC, datetime

    from shared.domain.clients import baseline, merge

    def values(phone):
        return {"company": "Acme", "first": None, "last": None, "email": None, "phone": phone, "address": None,
                "active": True}

    t1, t2, t3 = (datetime(2026, 11, 1, 12, m, tzinfo=UTC) for m in (1, 2, 3))
    kept = merge(baseline(values("602-555-0100"), values("602-555-0100")), values(PLATFORM_PHONE), None, t2, None,
                 "quickbooks_master")
    assert not kept.writes and kept.base()["pk"] == {"phone": t2.isoformat()}
    older = merge(kept.base(), values(PLATFORM_PHONE), values(QUICKBOOKS_PHONE), t2, t1, "quickbooks_master")
    assert not older.writes and older.conflicts == [{"field": "phone", "winner": "platform"}]
    assert older.base()["q"]["phone"] == fingerprint("phone", QUICKBOOKS_PHONE)  # seen: not an edit again
    newer = merge(kept.base(), values(PLATFORM_PHONE), values(QUICKBOOKS_PHONE), t2, t3, "quickbooks_master")
    assert newer.to_platform == {"phone": QUICKBOOKS_PHONE} and "pk" not in newer.base()  # in step again
