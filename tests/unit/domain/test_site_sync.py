"""Sites after onboarding (shared/domain/sites.py) with fakes: a changed site updates its QuickBooks job, once more
after a stale SyncToken (5010) is re-read; a refusal is logged for the site while throttling pauses the run; a site
onboarding linked without a fingerprint is compared with QuickBooks once and written only if it differs."""

from datetime import UTC, datetime

import pytest

from shared.domain.onboarding import Deps
from shared.domain.records import Link
from shared.domain.settings import SyncSettings
from shared.domain.sites import SiteSync
from shared.fieldservice.models import Address, SiteDraft
from shared.quickbooks.errors import BusinessValidation, Throttled
from tests.fakes import FakeBooks, FakeErrorLog, FakeLinkStore, FakePlatform, FakeRunLog

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DOCK = {"Line1": "9 Dock Rd", "City": "Mesa", "CountrySubDivisionCode": "AZ", "PostalCode": "85201", "Country": "US"}


class World:
    def __init__(self):
        self.books, self.platform, self.links, self.log = (FakeBooks(lambda: T0), FakePlatform(lambda: T0),
                                                           FakeLinkStore(), FakeRunLog())
        self.settings = SyncSettings.model_validate({"sites": {"enabled": True}})
        parent = self.books.add("Customer", {"DisplayName": "Acme", "Active": True})
        self.job = self.books.add("Customer", {"DisplayName": "Acme:Yard", "Job": True, "Active": True,
                                               "ParentRef": {"value": parent["Id"]}, "ShipAddr": dict(DOCK)})
        self.platform.add_client("c1", company="Acme")
        self.links.put(Link("t1", "customer", "c1", parent["Id"]))

    def site(self, line1="9 Dock Rd", active=True):
        return self.platform.create_site("t1", SiteDraft("c1", "Yard", Address(line1, None, "Mesa", "AZ", "85201",
                                                                               "US"), active=active))

    def sync(self, sites):
        deps = Deps("t1", lambda: self.books, self.platform, self.links, None, FakeErrorLog(), self.settings, None)
        SiteSync(deps, self.log, lambda rows: 0).apply(sites)

    def row(self):
        return self.books.rows["Customer"][self.job["Id"]]


def test_a_moved_site_updates_its_quickbooks_jobs_address_and_keeps_the_new_token():
    w = World()
    site = w.site("12 Pier St")
    w.links.put(Link("t1", "site", site.id, w.job["Id"], sync_token="0", fingerprint="before"))
    w.sync([site])
    assert w.row()["ShipAddr"]["Line1"] == "12 Pier St" and w.row()["SyncToken"] == "1"
    assert w.links.get("t1", "site", site.id).sync_token == "1"


def test_a_stale_sync_token_is_read_again_and_the_update_sent_once_more():
    w = World()
    site = w.site("12 Pier St")
    w.links.put(Link("t1", "site", site.id, w.job["Id"], sync_token="0", fingerprint="before"))
    w.books.edit("Customer", w.job["Id"], Notes="edited in QuickBooks")  # its SyncToken moved on
    w.books.calls.clear()
    w.sync([site])
    assert w.books.calls == ["update", "read", "update"]
    assert w.row()["ShipAddr"]["Line1"] == "12 Pier St" and not w.log.errors


def test_an_update_quickbooks_refuses_is_logged_for_the_site_and_throttling_pauses_the_run():
    w = World()
    site = w.site("12 Pier St")
    w.links.put(Link("t1", "site", site.id, w.job["Id"], sync_token="0", fingerprint="before"))
    w.books.fail_next = [Throttled("3001", "ThrottleExceeded")]
    with pytest.raises(Throttled):
        w.sync([site])
    assert not w.log.errors
    w.books.fail_next = [BusinessValidation("6000", "A business validation error has occurred", "bad", 400)]
    w.sync([site])
    assert w.log.errors[("site", site.id)]["code"] == "6000"
    assert w.links.get("t1", "site", site.id).fingerprint == "before"  # tried again at the next run


def test_a_site_linked_without_a_fingerprint_is_compared_with_quickbooks_once_and_not_written_when_equal():
    w = World()
    site = w.site()  # the same address QuickBooks holds
    w.links.put(Link("t1", "site", site.id, w.job["Id"]))  # linked before fingerprints or SyncTokens were kept
    w.books.calls.clear()
    w.sync([site])
    assert w.books.calls == ["read"] and w.row()["SyncToken"] == "0"
    link = w.links.get("t1", "site", site.id)
    assert link.fingerprint and link.sync_token == "0"
    w.books.calls.clear()
    w.sync([site])
    assert w.books.calls == []  # compared by its fingerprint from now on


def test_a_site_linked_without_a_fingerprint_that_differs_from_quickbooks_is_updated():
    w = World()
    site = w.site(active=False)  # made inactive on the platform
    w.links.put(Link("t1", "site", site.id, w.job["Id"]))
    w.sync([site])
    assert w.row()["Active"] is False


def test_a_second_stale_token_in_a_row_is_left_to_the_runs_retry_instead_of_looping():
    from shared.quickbooks.errors import StaleObject

    w = World()
    site = w.site("12 Pier St")
    w.links.put(Link("t1", "site", site.id, w.job["Id"], sync_token="0", fingerprint="before"))
    read = w.books.read_customer

    def read_then_edited_again(qbo_id):
        state = read(qbo_id)
        w.books.edit("Customer", qbo_id, Notes="edited again in QuickBooks")
        return state

    w.books.read_customer = read_then_edited_again
    w.books.edit("Customer", w.job["Id"], Notes="edited in QuickBooks")
    with pytest.raises(StaleObject):
        w.sync([site])
    assert w.books.calls.count("update") == 2
