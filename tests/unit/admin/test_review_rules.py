"""The Sync Wizard's rules (shared/domain/review.py) through AdminService, with the in-memory queue."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.admin import AdminService, review_id
from shared.domain.connections import Caller
from shared.domain.review import ReviewEntry, State, next_state
from shared.errors import Forbidden
from tests.fakes import FakeReviewQueue

ADMIN = Caller("t1", "admin", "u1")


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def tick(self, seconds=1):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def env():
    clock = Clock()
    queue = FakeReviewQueue(clock)
    service = AdminService(None, None, None, None, None, None, None, None, review=queue, clock=clock)
    return service, queue, clock


def _entry(n, side="export", version="v1"):
    return ReviewEntry(side, "invoice", f"i{n}", f"INV-{n}", "create", version)


def _ids(page):
    return [row["entity_id"] for row in page["items"]]


def test_held_changes_wait_in_two_lists_all_checked(env):
    service, queue, _ = env
    queue.hold("t1", [_entry(1), _entry(2), _entry(3, side="import")])
    exports = service.review_list(ADMIN, "export", State.WAITING, None, 100)
    imports = service.review_list(ADMIN, "import", State.WAITING, None, 100)
    assert _ids(exports) == ["i1", "i2"] and _ids(imports) == ["i3"]
    assert all(row["checked"] for row in exports["items"] + imports["items"])
    assert service.review_count(ADMIN) == {"waiting": 3, "pending": 0}


def test_approve_checked_clear_unchecked_they_come_back_only_when_they_change(env):
    service, queue, clock = env
    queue.hold("t1", [_entry(1), _entry(2)])
    listed = service.review_list(ADMIN, None, State.WAITING, None, 100)
    clock.tick()
    out = service.review_approve(ADMIN, [review_id(_entry(1))], "clear", listed["as_of"])
    assert (out["approved"], out["cleared"], out["kept"]) == (1, 1, 0)
    assert _ids(service.review_list(ADMIN, None, State.APPROVED, None, 100)) == ["i1"]  # pending until the next run
    queue.hold("t1", [_entry(2)])  # the next run finds the same change
    assert service.review_count(ADMIN)["waiting"] == 0
    queue.hold("t1", [_entry(2, version="v2")])  # it changed again
    assert _ids(service.review_list(ADMIN, None, State.WAITING, None, 100)) == ["i2"]


def test_keep_checked_unchecked_reappear_at_the_next_run(env):
    service, queue, _ = env
    queue.hold("t1", [_entry(1), _entry(2)])
    service.review_approve(ADMIN, [review_id(_entry(1))], "keep", None)
    assert service.review_count(ADMIN) == {"waiting": 0, "pending": 1}  # hidden now
    queue.hold("t1", [_entry(2)])  # same version, next run
    assert _ids(service.review_list(ADMIN, None, State.WAITING, None, 100)) == ["i2"]


def test_approved_stays_pending_until_the_run_reports_success_or_failure(env):
    service, queue, _ = env
    queue.hold("t1", [_entry(1), _entry(2)])
    service.review_approve(ADMIN, [review_id(_entry(1)), review_id(_entry(2))], "keep", None)
    queue.hold("t1", [_entry(1, version="v9")])  # a run holding it again does not undo the approval
    assert queue.approved("t1") == [_entry(1), _entry(2)]
    queue.done("t1", [_entry(1)], "succeeded")
    queue.done("t1", [_entry(2)], "failed", "6140 Duplicate Document Number Error")
    queue.done("t1", [_entry(2)], "failed", "again")  # reported once: it is no longer approved
    ok = service.review_results(ADMIN, "succeeded", None, 100)["items"]
    failed = service.review_results(ADMIN, "failed", None, 100)["items"]
    assert [r["entity_id"] for r in ok] == ["i1"]
    assert [(r["entity_id"], r["message"]) for r in failed] == [("i2", "6140 Duplicate Document Number Error")]
    assert queue.approved("t1") == [] and service.review_count(ADMIN)["pending"] == 0


def test_entries_held_after_the_admin_looked_are_not_swept_by_the_rule(env):
    service, queue, clock = env
    queue.hold("t1", [_entry(1)])
    as_of = service.review_list(ADMIN, None, State.WAITING, None, 100)["as_of"]
    clock.tick()
    queue.hold("t1", [_entry(2)])  # a run found it while the admin was deciding
    out = service.review_approve(ADMIN, [], "clear", as_of)
    assert out["cleared"] == 1 and _ids(service.review_list(ADMIN, None, State.WAITING, None, 100)) == ["i2"]


def test_checked_ids_no_longer_waiting_are_reported_and_tenants_are_apart(env):
    service, queue, _ = env
    queue.hold("t2", [_entry(1)])
    out = service.review_approve(ADMIN, [review_id(_entry(1))], "keep", None)
    assert out["approved"] == 0 and out["not_waiting"] == [review_id(_entry(1))]
    assert queue.count("t2", State.WAITING) == 1


def test_restricted_admins_cannot_approve(env):
    service, queue, _ = env
    queue.hold("t1", [_entry(1)])
    with pytest.raises(Forbidden):
        service.review_approve(Caller("t1", "restricted"), [review_id(_entry(1))], "keep", None)


@pytest.mark.parametrize(("state", "version", "expected"), [
    (None, "v1", State.WAITING), (State.WAITING, "v2", State.WAITING), (State.KEPT, "v1", State.WAITING),
    (State.CLEARED, "v1", None), (State.CLEARED, "v2", State.WAITING), (State.APPROVED, "v2", None),
    (State.SUCCEEDED, "v2", State.WAITING), (State.FAILED, "v1", State.WAITING)])
def test_hold_transitions(state, version, expected):
    from shared.domain.review import HeldEntry

    current = HeldEntry(_entry(1), state) if state else None
    assert next_state(current, _entry(1, version=version)) == expected
