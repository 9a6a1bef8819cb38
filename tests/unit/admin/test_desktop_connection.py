"""GET /admin/connection for a tenant synced only through the Web Connector: the same answer as for QuickBooks Online
(connected, the company, last and next sync, the counts) and SingleOps' "Pending until the Web Connector runs"
while work waits for a poll (fakes, no AWS)."""

from datetime import UTC, datetime
from types import SimpleNamespace

from shared.domain.admin import AdminService
from shared.domain.connections import ADMIN_ROLE, Caller
from shared.domain.records import SyncRun
from shared.qbdesktop.lists import DesktopCompanies

NOW = datetime(2026, 11, 20, 15, 10, tzinfo=UTC)
LAST_POLL = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
ADMIN = Caller("desk", ADMIN_ROLE)


class DesktopRepoFake:
    def __init__(self, connection, work=()):
        self._connection, self._work = connection, list(work)

    def connection(self, tenant_id):
        return self._connection if tenant_id == "desk" else None

    def work(self, tenant_id, include_failed=False):
        return [w for w in self._work if include_failed or w.status != "failed"]


class Runs:
    def __init__(self, runs):
        self.runs = runs

    def history(self, tenant_id, limit=20):
        return sorted(self.runs, key=lambda r: r.started_at, reverse=True)[:limit]


class Errors:
    def count_open(self, tenant_id):
        return 2


class Settings:
    def __init__(self, schedule):
        self.schedule = schedule

    def get(self, tenant_id):
        return ({"schedule": self.schedule}, 3)


class NoOnline:
    def get(self, tenant_id):
        return None


def _connection(**extra):
    return SimpleNamespace(company_name="Carefree Landscaping", created_at=datetime(2026, 11, 1, tzinfo=UTC),
                           last_session_at=LAST_POLL, last_error=None, state={"onboarded": True},
                           file_id="{F1}", **extra)


def _service(connection, work=(), runs=(), schedule=None):
    return AdminService(NoOnline(), Settings(schedule or {"frequency": "every_1h"}), Runs(list(runs)), Errors(),
                        None, None, None, None, desktop=DesktopCompanies(DesktopRepoFake(connection, work)),
                        clock=lambda: NOW)


def _run(run_id, kind, status, started, finished=None, phase=None):
    return SyncRun(tenant_id="desk", run_id=run_id, kind=kind, status=status, started_at=started,
                   finished_at=finished, phase=phase)


def test_a_desktop_tenant_is_connected_with_its_company_last_and_next_sync_and_counts():
    onboarded = _run("qbd-1", "onboarding", "succeeded", datetime(2026, 11, 1, tzinfo=UTC),
                     datetime(2026, 11, 1, 0, 5, tzinfo=UTC))
    synced = _run("qbd-sync-2", "sync", "succeeded", LAST_POLL, datetime(2026, 11, 20, 14, 32, tzinfo=UTC))
    body = _service(_connection(), runs=[onboarded, synced]).connection(ADMIN)
    assert body["status"] == "connected" and body["quickbooks"] == "desktop"
    assert body["company_name"] == "Carefree Landscaping"
    assert body["last_sync_at"] == "2026-11-20T14:32:00+00:00"
    assert body["next_sync_at"] == "2026-11-20T15:30:00+00:00"  # the connector's next hourly poll
    assert body["counts"] == {"unsynced": 2, "pending": 0, "waiting_for_review": 0}
    assert body["onboarding"] == {"enabled": True, "run_id": "qbd-1", "status": "succeeded", "phase": None,
                                  "percent": 0}
    assert body["last_run"]["run_id"] == "qbd-sync-2"
    assert body["desktop"]["phase"] == "Up to date"
    assert [a["kind"] for a in body["needs_attention"]] == ["unsynced"]


def test_queued_work_reads_pending_until_the_web_connector_runs():
    queued = SimpleNamespace(status="pending")
    waiting = _run("qbd-sync-3", "sync", "pending", NOW, phase="Pending until the Web Connector runs")
    body = _service(_connection(), work=[queued], runs=[waiting]).connection(ADMIN)
    assert body["desktop"]["phase"] == "Pending until the Web Connector runs"
    assert body["desktop"]["queued_requests"] == 1
    assert body["needs_attention"][0] == {"kind": "desktop_pending",
                                          "message": "Pending until the Web Connector runs"}
    assert body["last_sync_at"] is None


def test_a_daily_schedule_is_next_at_its_time_and_a_connector_error_needs_attention():
    connection = _connection()
    connection.last_error = "QuickBooks could not be opened: Could not start QuickBooks. (0x80040408)"
    body = _service(connection, schedule={"frequency": "daily", "time": "18:00",
                                          "timezone": "America/Phoenix"}).connection(ADMIN)
    assert body["next_sync_at"] == "2026-11-21T01:00:00+00:00"  # 18:00 in Phoenix (UTC-7)
    assert {"kind": "desktop_error", "message": connection.last_error} in body["needs_attention"]


def test_a_tenant_with_neither_connection_is_still_not_connected():
    body = AdminService(NoOnline(), Settings({}), Runs([]), Errors(), None, None, None, None,
                        desktop=DesktopCompanies(DesktopRepoFake(None))).connection(ADMIN)
    assert body["status"] == "not_connected"
