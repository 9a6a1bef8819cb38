"""The admin API's use cases for a QuickBooks Online tenant (shared/domain/admin.py) with fakes: what is refused and
with which error, what a click starts, and what the status page warns about."""

from datetime import UTC, datetime

import pytest

from shared.domain.admin import AdminService, error_id, next_run_at
from shared.domain.connections import Caller, Connection, Status
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.domain.sync_requests import SyncRequests
from shared.errors import BadRequest, Conflict, Forbidden, NeedsReconnect, NotConnected, NotFound, SettingsInvalid
from shared.quickbooks.tokens import TokenSet
from tests.fakes import (
    FakeConnections,
    FakeErrorLog,
    FakeLinkStore,
    FakeReviewQueue,
    FakeRunStore,
    FakeSchedules,
    FakeSyncGate,
    FakeTokenStore,
    FakeWorkflows,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADMIN, RESTRICTED = Caller("t1", "admin", "u1"), Caller("t1", "restricted", "u2")
INVOICES = {"enabled": True, "income_account_id": "79", "expense_account_id": "80"}
ACCOUNTS = [{"Id": "79", "Name": "Services", "AccountType": "Income"},
            {"Id": "80", "Name": "Cost of Goods Sold", "AccountType": "Cost of Goods Sold"},
            {"Id": "35", "Name": "Checking", "AccountType": "Bank"}]


class Lists:
    """QuickBooks' lists and preferences as the admin API reads them (every active row, as QuickBooks sends it)."""

    def __init__(self, prefs=None):
        self.rows = {"Account": ACCOUNTS, "Class": [{"Id": "5", "Name": "Drains"}], "Vendor": [], "TaxCode": [],
                     "Item": []}
        self.prefs = prefs or {}
        self.reads: list[str] = []

    def every(self, entity):
        self.reads.append(entity)
        return iter(self.rows[entity])

    def preferences(self):
        self.reads.append("Preferences")
        return self.prefs


class SettingsStore:
    def __init__(self):
        self.saved: dict = {}

    def get(self, tenant_id):
        return self.saved.get(tenant_id)

    def put(self, tenant_id, body, version, who):
        self.saved[tenant_id] = (body, version + 1)
        return version + 1


class World:
    def __init__(self, status=Status.CONNECTED, prefs=None):
        self.review = FakeReviewQueue(lambda: NOW)
        self.connections, self.settings, self.runs = FakeConnections(), SettingsStore(), FakeRunStore()
        self.errors, self.links, self.workflows, self.schedules = (FakeErrorLog(), FakeLinkStore(), FakeWorkflows(),
                                                                   FakeSchedules())
        self.tokens, self.lists, self.gate = FakeTokenStore(), Lists(prefs), FakeSyncGate()
        if status is not None:
            self.connections.save(Connection("t1", status, realm_id="realm-1"))
        self.service = AdminService(self.connections, self.settings, self.runs, self.errors, self.links,
                                    lambda tenant_id: self.lists, self.workflows, self.schedules,
                                    sync_requests=SyncRequests(self.gate, self.runs, self.workflows),
                                    review=self.review,
                                    tokens=self.tokens, clock=lambda: NOW)

    def save_settings(self, settings=None):
        return self.service.put_settings(ADMIN, {"settings": settings or {}, "version": 0})


# -- settings -----------------------------------------------------------------------------------------------------

def test_settings_never_saved_answer_the_defaults_at_version_zero():
    body = World().service.get_settings(ADMIN)
    assert body["version"] == 0 and body["settings"]["clients"]["direction"] == "two_way"


@pytest.mark.parametrize("payload", [None, {"version": 0}, {"settings": [], "version": 0},
                                     {"settings": {}, "version": -1}, {"settings": {}, "version": True},
                                     {"settings": {}, "version": "1"}])
def test_a_settings_body_of_the_wrong_shape_is_a_400(payload):
    with pytest.raises(BadRequest):
        World().service.put_settings(ADMIN, payload)


def test_settings_naming_an_account_of_the_wrong_type_are_refused_with_422():
    w = World()
    with pytest.raises(SettingsInvalid) as refused:
        w.save_settings({"invoices": {"enabled": True, "income_account_id": "35", "expense_account_id": "80"}})
    assert [p["field"] for p in refused.value.details] == ["invoices.income_account_id"]
    assert w.settings.saved == {}


def test_settings_cannot_be_saved_before_quickbooks_is_connected_nor_by_a_restricted_admin():
    with pytest.raises(NotConnected):
        World(status=None).save_settings()
    with pytest.raises(NotConnected):
        World(status=Status.DISCONNECTED).save_settings()
    with pytest.raises(Forbidden):
        World().service.put_settings(RESTRICTED, {"settings": {}, "version": 0})


@pytest.mark.parametrize("info", [{"ClassTrackingPerTxn": True}, {"ClassTrackingPerTxnLine": True}])
def test_job_types_are_accepted_when_quickbooks_tracks_classes_per_transaction_or_per_line(info):
    w = World(prefs={"AccountingInfoPrefs": info})
    assert w.save_settings({"invoices": INVOICES, "job_types": {"enabled": True}})["version"] == 1


def test_job_types_are_refused_with_422_when_quickbooks_tracks_no_classes():
    w = World(prefs={"AccountingInfoPrefs": {"ClassTrackingPerTxn": False}})
    with pytest.raises(SettingsInvalid) as refused:
        w.save_settings({"invoices": INVOICES, "job_types": {"enabled": True}})
    [problem] = refused.value.details
    assert problem["field"] == "job_types.enabled" and "class tracking" in problem["message"]


def test_saving_settings_changes_the_schedule_once_the_integration_is_enabled():
    w = World()
    w.save_settings({"schedule": {"frequency": "every_2h"}})
    assert w.schedules.upserts == []  # not enabled yet: nothing runs on a schedule
    w.connections.items["t1"].onboarding = {"enabled": True, "run_id": "r"}
    w.service.put_settings(ADMIN, {"settings": {"schedule": {"frequency": "daily", "time": "14:30"}}, "version": 1})
    assert w.schedules.upserts == [("t1", "cron(30 14 * * ? *)", "UTC")]


# -- QuickBooks lists ---------------------------------------------------------------------------------------------

def test_an_unknown_quickbooks_list_is_a_404():
    with pytest.raises(NotFound):
        World().service.quickbooks_list(ADMIN, "employees")


def test_a_list_is_filtered_by_account_type_and_read_again_only_when_fresh_is_asked():
    w = World()
    assert [a["Id"] for a in w.service.quickbooks_list(ADMIN, "accounts", account_type="Bank")] == ["35"]
    assert len(w.service.quickbooks_list(ADMIN, "accounts")) == 3
    assert w.lists.reads == ["Account"]  # the save after the page validates against what the page was shown
    w.service.quickbooks_list(ADMIN, "accounts", fresh=True)
    assert w.lists.reads == ["Account", "Account"]


def test_quickbooks_lists_need_a_connection():
    with pytest.raises(NotConnected):
        World(status=None).service.quickbooks_list(ADMIN, "accounts")


# -- enable and sync now ------------------------------------------------------------------------------------------

def test_enable_starts_onboarding_and_the_schedule_with_the_saved_settings():
    w = World()
    w.save_settings()
    body = w.service.enable(ADMIN)
    assert body["started"] and body["kind"] == "onboarding"
    assert w.workflows.started == [("onboarding", "t1", body["run_id"], None)]
    assert w.connections.get("t1").onboarding == {"enabled": True, "run_id": body["run_id"]}
    assert w.schedules.upserts == [("t1", "rate(1 hour)", "UTC")]


def test_enable_before_the_settings_are_saved_is_a_400_and_starts_nothing():
    w = World()
    with pytest.raises(BadRequest):
        w.service.enable(ADMIN)
    assert w.workflows.started == [] and not w.runs.runs


@pytest.mark.parametrize("action", ["enable", "sync_now"])
def test_a_connection_that_needs_reconnecting_cannot_enable_or_sync(action):
    w = World(status=Status.NEEDS_RECONNECT)
    w.settings.saved["t1"] = ({}, 1)
    with pytest.raises(NeedsReconnect):
        getattr(w.service, action)(ADMIN)
    assert w.workflows.started == []


def test_a_restricted_admin_cannot_enable_the_integration_but_can_sync_now():
    w = World()
    w.save_settings()
    with pytest.raises(Forbidden):
        w.service.enable(RESTRICTED)
    assert w.service.sync_now(RESTRICTED)["started"]


def test_a_second_sync_now_during_a_run_answers_with_that_run():
    w = World()
    first = w.service.sync_now(ADMIN)
    w.gate.acquire("t1", first["run_id"], 60)  # the run's first task took the gate
    second = w.service.sync_now(ADMIN)
    assert not second["started"] and second["run_id"] == first["run_id"] and len(w.workflows.started) == 1


def test_a_snapshot_is_not_a_sync_run_the_history_shows():
    w = World()
    w.runs.create(SyncRun("t1", "snap-1", "snapshot", "succeeded", NOW))
    w.runs.create(SyncRun("t1", "run-1", "sync", "succeeded", NOW))
    assert w.service.run(ADMIN, "run-1")["run_id"] == "run-1"
    for run_id in ("snap-1", "missing"):
        with pytest.raises(NotFound):
            w.service.run(ADMIN, run_id)


# -- unsynced entities --------------------------------------------------------------------------------------------

def _failed(w, entity="client", entity_id="c1", code="6240"):
    return w.errors.record(ErrorEntry("t1", entity, entity_id, "to_quickbooks", code, "Duplicate Name Exists Error"))


def test_resync_marks_each_entry_for_the_next_run_and_starts_one():
    w = World()
    a, b = _failed(w), _failed(w, "invoice", "i1", "6000")
    body = w.service.retry(ADMIN, [error_id(a), error_id(b), error_id(a)])
    assert body["retry_requested"] == [error_id(a), error_id(b)] and body["run"]["started"]
    assert a.retry_requested and b.retry_requested
    assert w.workflows.started[0][3] == {"trigger": "retry"}


def test_resync_of_an_entry_that_is_gone_or_resolved_is_a_404_and_marks_nothing():
    w = World()
    a, b = _failed(w), _failed(w, "invoice", "i1")
    w.errors.resolve("t1", b.key)
    for ids in ([error_id(a), error_id(b)], [error_id(a), "not-an-id"]):
        with pytest.raises(NotFound):
            w.service.retry(ADMIN, ids)
    assert not a.retry_requested and w.workflows.started == []


def test_dismiss_hides_an_entry_from_the_status_count_and_an_unknown_one_is_a_404():
    w = World()
    a = _failed(w)
    assert w.service.connection(ADMIN)["counts"]["unsynced"] == 1
    assert w.service.dismiss(ADMIN, error_id(a)) == {"id": error_id(a), "dismissed": True}
    assert w.service.connection(ADMIN)["counts"]["unsynced"] == 0
    with pytest.raises(NotFound):
        w.service.dismiss(ADMIN, error_id(ErrorEntry("t1", "client", "zz", "to_quickbooks", "1", "x")))


def test_clear_id_of_a_record_without_a_link_is_a_404():
    with pytest.raises(NotFound):
        World().service.clear_link(ADMIN, "customer", "c1")


def test_the_csv_error_log_never_carries_a_formula():
    w = World()
    w.errors.record(ErrorEntry("t1", "client", "c1", "to_quickbooks", "6240", "=HYPERLINK(\"http://evil\")",
                               "+1", name="@SUM(A1)"))
    csv_text = w.service.errors_csv(ADMIN)
    header, row = csv_text.splitlines()
    assert header.startswith("entity,entity_id,direction,code")
    assert "'=HYPERLINK" in row and ",'+1," in row and "'@SUM(A1)" in row


# -- the status page ----------------------------------------------------------------------------------------------

def test_the_status_page_warns_about_unsynced_records_and_changes_waiting_for_review():
    from shared.domain.review import ReviewEntry

    w = World()
    w.review.hold("t1", [ReviewEntry("export", "invoice", "i1", "INV-1", "create", "v1")])
    _failed(w)
    body = w.service.connection(ADMIN)
    assert [a["kind"] for a in body["needs_attention"]] == ["unsynced", "review"]
    assert body["counts"] == {"unsynced": 1, "pending": 0, "waiting_for_review": 1}


def test_an_unconnected_tenant_is_reported_as_not_connected():
    body = World(status=None).service.connection(ADMIN)
    assert body["status"] == "not_connected" and body["needs_attention"] == []


def test_the_status_page_shows_the_onboarding_runs_progress_and_the_last_run():
    w = World()
    w.connections.items["t1"].onboarding = {"enabled": True, "run_id": "onb"}
    run = SyncRun("t1", "onb", "onboarding", "running", NOW)
    run.phase, run.percent = "matching", 40
    w.runs.create(run)
    body = w.service.connection(ADMIN)
    assert body["onboarding"] == {"enabled": True, "run_id": "onb", "status": "running", "phase": "matching",
                                  "percent": 40}
    assert body["last_run"]["run_id"] == "onb"


def _tokens(w, refresh_in_days, hard_in_days):
    now = NOW.timestamp()
    w.tokens.put_new("t1", "realm-1", TokenSet("a", "r", now + 3600, now + refresh_in_days * 86400,
                                            now + hard_in_days * 86400))


def test_the_token_health_says_how_long_the_grant_lasts_and_when_a_reconnect_is_needed():
    w = World()
    _tokens(w, 100, 30.5)
    token = w.service.connection(ADMIN)["token"]
    assert token["days_until_hard_expiry"] == 30 and token["reconnect_needed"] is False
    _tokens(w, -1, 30)  # the refresh token lapsed: no refresh works any more
    assert w.service.connection(ADMIN)["token"]["reconnect_needed"] is True


def test_without_stored_tokens_a_reconnect_is_needed_unless_connected():
    w = World(status=Status.NEEDS_RECONNECT)
    assert w.service.connection(ADMIN)["token"]["reconnect_needed"] is True
    assert World().service.connection(ADMIN)["token"]["reconnect_needed"] is False


def test_the_status_page_shows_the_schedule_in_force_and_the_next_sync():
    w = World()
    w.schedules.upsert("t1", "cron(30 14 * * ? *)", "UTC")
    body = w.service.connection(ADMIN)
    assert body["schedule"] == {"expression": "cron(30 14 * * ? *)", "timezone": "UTC", "state": "ENABLED"}
    assert body["next_sync_at"] == "2026-03-01T14:30:00+00:00"


def test_the_next_run_of_a_daily_schedule_whose_time_passed_today_is_tomorrow():
    cron = {"expression": "cron(30 9 * * ? *)", "timezone": "UTC", "state": "ENABLED"}
    assert next_run_at(cron, NOW) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_a_rate_schedule_created_in_the_future_first_runs_at_its_creation_and_one_of_unknown_age_is_unknown():
    rate = {"expression": "rate(1 hours)", "state": "ENABLED", "created_at": "2026-03-01T15:00:00+00:00"}
    assert next_run_at(rate, NOW) == datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    assert next_run_at({**rate, "created_at": None}, NOW) is None


# -- onboarding conflicts -----------------------------------------------------------------------------------------

CONFLICT = {"kind": "contradicting_details", "qbo_ids": ["1"], "fsp_ids": ["c1"], "reason": "email and phone"}


def _onboarded(conflicts=(CONFLICT,)):
    w = World()
    w.connections.items["t1"].onboarding = {"enabled": True, "run_id": "onb"}
    w.runs.put_chunk("t1", "onb", "conflicts", 0, list(conflicts))
    return w


def test_linking_a_conflict_links_the_pair_and_shows_the_resolution():
    w = _onboarded()
    w.service.resolve_conflict(ADMIN, {"qbo_id": "1", "fsp_id": "c1", "action": "link"})
    link = w.links.get("t1", "customer", "c1")
    assert link.qbo_id == "1" and link.extra == {"evidence": ["resolved_by_admin"]}
    (conflict,) = w.service.conflicts(ADMIN)
    assert [(r["action"], r["by"]) for r in conflict["resolutions"]] == [("link", "u1")]


def test_keeping_a_conflict_separate_records_the_pair_for_the_next_onboarding():
    from shared.domain.onboarding import SEPARATE, separate_pair

    w = _onboarded()
    w.service.resolve_conflict(ADMIN, {"qbo_id": "1", "fsp_id": "c1", "action": "keep_separate"})
    assert [separate_pair(link) for link in w.links.all("t1", SEPARATE)] == [("1", "c1")]
    assert w.links.get("t1", "customer", "c1") is None


def test_linking_a_conflict_where_either_record_is_already_linked_is_a_409():
    w = _onboarded()
    w.links.put(Link("t1", "customer", "c9", "1"))
    with pytest.raises(Conflict):
        w.service.resolve_conflict(ADMIN, {"qbo_id": "1", "fsp_id": "c1", "action": "link"})
    assert w.links.get("t1", "customer", "c1") is None


@pytest.mark.parametrize("payload, error", [({"qbo_id": "1", "fsp_id": "c1", "action": "merge"}, BadRequest),
                                            ({"qbo_id": "1", "fsp_id": "c2", "action": "link"}, NotFound)])
def test_a_resolution_must_name_an_action_and_a_pair_one_conflict_holds(payload, error):
    w = _onboarded()
    with pytest.raises(error):
        w.service.resolve_conflict(ADMIN, payload)
    assert not w.links.rows


def test_conflicts_before_onboarding_ran_are_a_404_and_only_full_admins_resolve_them():
    with pytest.raises(NotFound):
        World().service.conflicts(ADMIN)
    with pytest.raises(Forbidden):
        _onboarded().service.resolve_conflict(RESTRICTED, {"qbo_id": "1", "fsp_id": "c1", "action": "link"})


def test_an_approval_with_an_as_of_the_list_never_returned_is_a_400():
    with pytest.raises(BadRequest):
        World().service.review_approve(ADMIN, [], "keep", "yesterday")
