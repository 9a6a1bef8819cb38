from datetime import UTC, datetime

import pytest

from shared.aws.schedules import schedule_name
from shared.domain.admin import next_run_at, suggested_fix
from shared.domain.connections import Caller, Connection, ConnectionService, ScheduleLifecycle, StateSigner, Status
from shared.errors import RealmNotGranted
from shared.quickbooks.errors import AuthFailed
from tests.fakes import FakeConnections, FakeOAuth, FakeSchedules, FakeTokenStore

SETTINGS = ({"schedule": {"frequency": "daily", "time": "14:30", "timezone": "America/Chicago"}}, 1)


class Settings:
    def __init__(self, stored=SETTINGS):
        self.stored = stored

    def get(self, tenant_id):
        return self.stored


def test_schedule_names_never_collide_and_fit_scheduler():
    long_a, long_b = "t" * 70 + "a", "t" * 70 + "b"
    names = {schedule_name(t) for t in (long_a, long_b, "acme", "acme/x", "acme_x")}
    assert len(names) == 5
    assert all(len(n) <= 64 and all(c.isalnum() or c in "-_." for c in n) for n in names)


def test_the_schedule_follows_the_connection():
    schedules = FakeSchedules()
    lifecycle = ScheduleLifecycle(schedules, Settings())
    connection = Connection("t1", Status.CONNECTED, onboarding=None)
    lifecycle.apply(connection)
    assert schedules.upserts == []  # not enabled yet
    connection.onboarding = {"enabled": True, "run_id": "r"}
    lifecycle.apply(connection)
    assert schedules.upserts == [("t1", "cron(30 14 * * ? *)", "America/Chicago")]
    connection.status = Status.NEEDS_RECONNECT
    lifecycle.apply(connection)
    assert schedules.paused == ["t1"]
    connection.status = Status.DISCONNECTED
    lifecycle.apply(connection)
    assert schedules.deleted == ["t1"]


def _service(read_company, schedules, repo=None):
    clock = lambda: 2_000_000.0  # noqa: E731
    oauth = FakeOAuth(clock)
    repo = repo or FakeConnections()
    service = ConnectionService(repo, FakeTokenStore(), oauth, schedules, StateSigner(b"k" * 32, clock),
                                read_company=read_company, clock=clock,
                                lifecycle=ScheduleLifecycle(schedules, Settings()))
    return service, oauth, repo


def test_a_realm_the_consent_did_not_grant_is_refused_and_the_grant_revoked():
    def refuse(realm, token):
        raise AuthFailed("3100", "ApplicationAuthorizationFailed", "Token is not valid for realm", 403)

    service, oauth, repo = _service(refuse, FakeSchedules())
    state = service.start_connect(Caller("t1", "admin")).split("state=")[1]
    with pytest.raises(RealmNotGranted):
        service.complete_connect("code", state, "other-realm")
    assert oauth.revoked == ["r0"] and repo.get("t1") is None


def test_reconnect_restores_the_schedule_and_mark_synced_sets_last_sync():
    schedules = FakeSchedules()
    service, _, repo = _service(lambda realm, token: "Co", schedules)
    repo.save(Connection("t1", Status.NEEDS_RECONNECT, realm_id="r1", onboarding={"enabled": True, "run_id": "x"}))
    state = service.start_connect(Caller("t1", "admin")).split("state=")[1]
    service.complete_connect("code", state, "r1")
    assert schedules.upserts == [("t1", "cron(30 14 * * ? *)", "America/Chicago")]
    at = datetime(2026, 3, 1, tzinfo=UTC)
    service.mark_synced("t1", at)
    service.mark_synced("t1", datetime(2026, 2, 1, tzinfo=UTC))  # an older run finishing late does not go back
    assert repo.get("t1").last_sync_at == at


def test_next_run_for_rate_and_cron_schedules():
    now = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)
    rate = {"expression": "rate(2 hours)", "timezone": "UTC", "state": "ENABLED",
            "created_at": "2026-03-01T09:00:00+00:00"}
    assert next_run_at(rate, now) == datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    cron = {"expression": "cron(30 14 * * ? *)", "timezone": "America/Chicago", "state": "ENABLED"}
    assert next_run_at(cron, now) == datetime(2026, 3, 1, 20, 30, tzinfo=UTC)  # 14:30 CST
    assert next_run_at({**cron, "state": "DISABLED"}, now) is None


def test_common_codes_have_a_suggested_fix():
    assert "Clear ID" in suggested_fix("610")
    assert suggested_fix("waiting_for_customer") and suggested_fix("6240") and suggested_fix("zzz") is None
