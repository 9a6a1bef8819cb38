"""The admin API's storage on moto tables from the synthesized template: the unsynced list (dismiss, retry
requests, cursors) and review mode's queue, with the conditions the fakes imitate."""

from datetime import UTC, datetime

import pytest

from shared.data.repos import ErrorRepo, ReviewRepo, RunRepo
from shared.domain.records import ErrorEntry, SyncRun
from shared.domain.review import ReviewEntry, State
from shared.errors import BadRequest


def _err(n, code="6240"):
    return ErrorEntry("t1", "customer", f"c#{n}", "to_quickbooks", code, "Duplicate Name Exists Error", name=f"Co {n}")


def test_unsynced_pages_dismiss_and_retry_requests(aws_tables):
    repo = ErrorRepo()
    for n in range(5):
        repo.record(_err(n))
    repo.record(ErrorEntry("t2", "customer", "x", "to_quickbooks", "610", "Object Not Found"))
    first = repo.page("t1", None, 2, False, False)
    second = repo.page("t1", first.next_cursor, 2, False, False)
    third = repo.page("t1", second.next_cursor, 2, False, False)
    seen = [e.entity_id for e in first.items + second.items + third.items]
    assert sorted(seen) == [f"c#{n}" for n in range(5)] and third.next_cursor is None
    assert first.items[0].name == "Co 0"
    with pytest.raises(BadRequest):
        repo.page("t2", first.next_cursor, 2, False, False)  # another tenant's cursor

    key = _err(1).key
    assert repo.dismiss("t1", key) and repo.count_open("t1") == 4
    assert key not in [e.key for e in repo.page("t1", None, 10, False, False).items]
    repo.record(_err(1))  # fails again: back in the list
    assert repo.count_open("t1") == 5 and not repo.get("t1", key).dismissed

    assert repo.request_retry("t1", key) and not repo.request_retry("t1", "customer#nope")
    assert [e.key for e in repo.retry_requested("t1")] == [key]
    repo.clear_retry("t1", key)
    assert repo.retry_requested("t1") == []
    repo.resolve("t1", key)
    assert not repo.request_retry("t1", key)  # a resolved entry is not open: nothing to resync
    assert repo.dismiss("t1", key) and not repo.dismiss("t1", "customer#nope")


def test_run_history_pages_newest_first(aws_tables):
    runs = RunRepo()
    for n in range(3):
        runs.create(SyncRun("t1", f"2026030{n + 1}T000000-sync-x", "sync", "succeeded", datetime.now(UTC)))
    page = runs.history_page("t1", None, 2)
    rest = runs.history_page("t1", page.next_cursor, 2)
    assert [r.run_id[:9] for r in page.items + rest.items] == ["20260303T", "20260302T", "20260301T"]
    assert rest.next_cursor is None


def _entry(n, version="v1", side="export"):
    return ReviewEntry(side, "invoice", f"i{n}", f"INV-{n}", "create", version)


def test_review_queue_conditions(aws_tables):
    queue = ReviewRepo()
    queue.hold("t1", [_entry(1), _entry(2), _entry(3, side="import")])
    assert queue.count("t1", State.WAITING) == 3
    waiting = {h.entry.entity_id: h for h in queue.waiting("t1")}
    assert queue.decide("t1", waiting["i1"].entry, State.APPROVED, "u1")
    assert queue.decide("t1", waiting["i2"].entry, State.CLEARED, "u1")
    assert queue.decide("t1", waiting["i3"].entry, State.KEPT, "u1")
    assert not queue.decide("t1", waiting["i3"].entry, State.APPROVED, "u1")  # no longer waiting

    queue.hold("t1", [_entry(1, "v2"), _entry(2), _entry(3, side="import")])
    assert queue.approved("t1") == [_entry(1)]  # approved stays approved (as approved)
    assert [h.entry.entity_id for h in queue.waiting("t1")] == ["i3"]  # kept returns; cleared (same version) not
    queue.hold("t1", [_entry(2, "v2")])
    assert sorted(h.entry.entity_id for h in queue.waiting("t1")) == ["i2", "i3"]

    queue.done("t1", [_entry(1)], "failed", "6140 Duplicate Document Number Error")
    queue.done("t1", [_entry(1)], "failed", "twice")
    failed = queue.results("t1", "failed", None, 10)
    assert [(r.entry.entity_id, r.message) for r in failed.items] == [("i1", "6140 Duplicate Document Number Error")]
    assert queue.approved("t1") == [] and queue.results("t1", "succeeded", None, 10).items == []
    export = queue.page("t1", State.WAITING, "export", None, 10)
    assert [h.entry.entity_id for h in export.items] == ["i2"]
    assert queue.count("t2", State.WAITING) == 0


def test_review_queue_kept_and_release(aws_tables):
    queue = ReviewRepo()
    queue.hold("t1", [_entry(1), _entry(2), _entry(3), _entry(4)])
    waiting = {h.entry.entity_id: h.entry for h in queue.waiting("t1")}
    queue.decide("t1", waiting["i1"], State.KEPT, "u1")
    queue.decide("t1", waiting["i2"], State.CLEARED, "u1")
    queue.decide("t1", waiting["i3"], State.APPROVED, "u1")
    assert queue.kept("t1") == [_entry(1)]
    # Review mode turned off: waiting and kept entries are approved, cleared ones stay cleared.
    assert sorted(e.entity_id for e in queue.release("t1")) == ["i1", "i3", "i4"]
    assert queue.count("t1", State.APPROVED) == 3 and queue.count("t1", State.CLEARED) == 1
    assert queue.count("t1", State.WAITING) == 0 and queue.kept("t1") == []
