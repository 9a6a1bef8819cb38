"""The worker: duplicates and out-of-order redeliveries ask for one sync; a crash anywhere loses nothing."""

import json
from pathlib import Path

import pytest

from functions.webhooks import worker
from shared.domain.connections import Status
from shared.domain.hints import HintApplier, HintMessage, messages, occurred_epoch
from shared.quickbooks.webhooks import ChangeHint, parse
from tests.unit.webhooks.helpers import World, classic, qbo_signature

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbo"


def customer(stamp, op="Update", cid="43"):
    return {"name": "Customer", "id": cid, "operation": op, "lastUpdated": stamp}


def deliver(world, body):
    world.intake.quickbooks(body, qbo_signature(body))


@pytest.fixture
def world():
    w = World()
    w.connect("t1", "r1")
    return w


def _applied_at(world, clock):
    """The worker's clock: each apply starts `clock["now"]` seconds after 10:05:10Z (the change was at 10:05)."""
    start = occurred_epoch("2026-11-24T10:05:10Z")
    world.queue.clock = lambda: clock["now"]
    world.applier = HintApplier(world.connections, world.ledger, world.requests, clock=lambda: start + clock["now"])


def test_one_notification_delivered_three_times_and_out_of_order_is_one_change(world):
    clock = {"now": 0.0}
    _applied_at(world, clock)
    newer = classic("r1", customer("2026-11-24T10:05:00.000Z"))
    older = classic("r1", customer("2026-11-24T02:04:00-0800"))  # 10:04Z: before `newer`, delivered after it
    for body, at in ((newer, 0), (newer, 10), (older, 20), (newer, 400), (older, 3600)):  # 400 s: past SQS's window
        clock["now"] = at
        deliver(world, body)
        world.work()
    assert world.gate.items["t1"]["changes"] == 1 and len(world.flows.started) == 1
    assert world.flows.started[0][3] == {"trigger": "webhook"}
    clock["now"] = 3700
    deliver(world, classic("r1", customer("2026-11-24T11:06:40Z")))  # a real later change is not a duplicate
    world.work()
    assert world.gate.items["t1"]["changes"] == 2


def test_a_second_edit_in_the_same_second_as_an_applied_one_is_not_taken_for_its_redelivery(world):
    """QuickBooks' lastUpdated is to the second: an edit at 10:05:00.8, after an apply of the 10:05:00.2 edit
    began reading at 10:05:00.5, carries the same time as the first. The ledger remembers when the apply began
    (less the clocks' skew), not the hint's time, so the second hint is applied."""
    clock = {"now": -9.5}  # the first apply begins at 10:05:00.5
    _applied_at(world, clock)
    same_second = classic("r1", customer("2026-11-24T10:05:00Z"))
    deliver(world, same_second)
    world.work()
    clock["now"] = -9.0  # the second edit's hint, delivered at 10:05:01
    deliver(world, classic("r1", customer("2026-11-24T10:05:00.000Z", op="Update")))
    [applied] = world.work()
    assert len(applied.fresh) == 1 and not applied.duplicates
    # Redelivered past the queue's window: applied once more (nothing since began reading after the skew), then
    # covered for good.
    for at, fresh in ((600, 1), (1200, 0)):
        clock["now"] = at
        deliver(world, same_second)
        [applied] = world.work()
        assert len(applied.fresh) == fresh and len(applied.duplicates) == 1 - fresh


def test_hints_about_different_records_or_without_a_time_are_never_taken_for_duplicates(world):
    deliver(world, classic("r1", customer("2026-11-24T10:00:00Z"), customer("2026-11-24T10:00:00Z", cid="44"),
                           {"name": "Invoice", "id": "43", "operation": "Void"}))
    [applied] = world.work()
    assert len(applied.fresh) == 3 and not applied.duplicates
    deliver(world, classic("r1", {"name": "Invoice", "id": "43", "operation": "Emailed"}))  # no lastUpdated
    [applied] = world.work()
    assert len(applied.fresh) == 1 and world.gate.items["t1"]["changes"] == 2


def test_fresh_hints_go_to_the_record_level_apply_with_their_sender_and_duplicates_never_do(world):
    from shared.domain.hints import HintApplier
    from shared.domain.record_sync import RecordOutcome

    seen = []

    class Records:
        def apply(self, tenant_id, hints):
            seen.append((tenant_id, [(source, h.entity, h.entity_id, h.operation) for source, h in hints]))
            return RecordOutcome("hook-1", started=False, by_record=True)

    world.applier = HintApplier(world.connections, world.ledger, world.requests, Records())
    deliver(world, classic("r1", customer("2026-11-24T10:00:00Z")))
    deliver(world, classic("r1", customer("2026-11-24T10:00:00Z"), customer("2026-11-24T10:01:00Z", cid="44")))
    [applied] = world.work()
    assert seen == [("t1", [("quickbooks", "Customer", "43", "Update"), ("quickbooks", "Customer", "44", "Update")])]
    assert applied.by_record and applied.run_id == "hook-1" and len(applied.duplicates) == 1
    assert not world.flows.started and world.ledger.items  # the ledger is written after the apply
    assert world.ledger.reads == 1  # one read of the ledger for the whole batch


@pytest.mark.parametrize("status,onboarding", [(Status.DISCONNECTED, "completed"),
                                               (Status.NEEDS_RECONNECT, "completed"),
                                               (Status.CONNECTED, "running")])
def test_no_sync_is_asked_for_a_connection_that_cannot_take_one(world, status, onboarding):
    deliver(world, classic())
    world.connect("t1", "r1", status=status, onboarding=onboarding)  # changed while the hint was queued
    [applied] = world.work()
    assert applied.ignored and not world.flows.started and not world.ledger.items


def test_a_crash_between_the_sync_request_and_the_ledger_costs_a_repeat_never_a_loss(world):
    deliver(world, classic())
    queued = world.queue.drain()
    world.ledger.mark = lambda *a: (_ for _ in ()).throw(TimeoutError("DynamoDB"))
    with pytest.raises(TimeoutError):
        world.applier.apply("t1", queued)
    del world.ledger.mark  # back to the class's method
    assert world.applier.apply("t1", queued).fresh  # the redelivery is applied again
    assert len(world.flows.started) == 2


def test_operations_from_both_formats_map_to_quickbooks_words():
    body = json.dumps([{"specversion": "1.0", "id": f"e{i}", "type": f"qbo.invoice.{verb}.v1",
                        "time": "2026-11-24T10:00:00Z", "intuitentityid": "9", "intuitaccountid": "r1"}
                       for i, verb in enumerate(
        ["created", "updated", "deleted", "merged", "voided", "emailed"])]).encode()
    assert [h.operation for h in parse(body)] == ["Create", "Update", "Delete", "Merge", "Void", "Emailed"]
    [merged] = parse((FIXTURES / "webhook-cloudevents-customer-merged.json").read_bytes())
    assert (merged.entity, merged.entity_id, merged.operation, merged.merged_from) == ("Customer", "123", "Merge", "27")


@pytest.mark.parametrize("stamp,expected", [("2015-10-05T14:42:19-0700", 1444081339.0),
                                            ("2025-10-07T19:59:07.034359333Z", 1759867147.034359),
                                            ("2026-11-24", None), ("", None), ("yesterday", None)])
def test_sender_times_are_read_in_every_format_intuit_uses(stamp, expected):
    assert occurred_epoch(stamp) == (pytest.approx(expected) if expected else None)


# -- the handler: partial batch responses ------------------------------------------------------------------------

def record(message: HintMessage | str, message_id: str, group: str | None = None):
    body = message if isinstance(message, str) else message.model_dump_json()
    group = group if group is not None else (message.tenant_id if isinstance(message, HintMessage) else "t1")
    return {"messageId": message_id, "body": body, "attributes": {"MessageGroupId": group}}


def hint_message(tenant, entity_id, stamp="2026-11-24T10:00:00Z"):
    [m] = messages(tenant, "fieldservice", [ChangeHint("fieldservice", tenant, "invoice", entity_id, "ready", stamp,
                                                       f"evt_{tenant}_{entity_id}")])
    return m


class Parked:
    def __init__(self, fail=False):
        self.items, self.fail = [], fail

    def park(self, body, group, message_id, error):
        if self.fail:
            raise ConnectionError("SQS unreachable")
        self.items.append((group, message_id, error))


@pytest.fixture
def handler_world(world, monkeypatch):
    world.connect("t2", "r2")
    parked = Parked()
    monkeypatch.setattr(worker, "applier", lambda: world.applier)
    monkeypatch.setattr(worker, "dead_letters", lambda: parked)
    return world, parked


def test_a_worker_crash_mid_batch_loses_nothing(handler_world):
    world, _ = handler_world
    batch = [record(hint_message("t1", "inv_1"), "m1"), record(hint_message("t2", "inv_2"), "m2"),
             record(hint_message("t1", "inv_3"), "m3")]
    real = world.requests.request
    calls = []

    def crash_for_t1(tenant_id, trigger):
        calls.append(tenant_id)
        if tenant_id == "t1":
            raise ConnectionError("Step Functions unreachable")
        return real(tenant_id, trigger)

    world.requests.request = crash_for_t1
    assert worker.process(batch) == ["m1", "m3"]  # t1's records come back; t2's is done
    assert [t for _, t, _, _ in world.flows.started] == ["t2"] and not any(k[0] == "t1" for k in world.ledger.items)
    world.requests.request = real
    assert worker.process([r for r in batch if r["messageId"] in ("m1", "m3")]) == []
    assert sorted(t for _, t, _, _ in world.flows.started) == ["t1", "t2"]
    assert {k[3] for k in world.ledger.items} == {"inv_1", "inv_2", "inv_3"}


def test_a_failed_record_fails_its_later_group_mates_so_order_holds(handler_world, monkeypatch):
    world, _ = handler_world
    monkeypatch.setattr(worker, "dead_letters", lambda: Parked(fail=True))
    batch = [record("not a hint", "m1", group="t1"), record(hint_message("t1", "inv_1"), "m2"),
             record(hint_message("t2", "inv_2"), "m3")]
    assert worker.process(batch) == ["m1", "m2"]


def test_poison_messages_are_parked_with_their_error_and_do_not_block_their_group(handler_world, caplog):
    world, parked = handler_world
    batch = [record("{not json", "m1"), record(json.dumps({"tenant_id": "t1", "source": "fax", "hints": []}), "m2"),
             record(hint_message("t1", "inv_1"), "m3")]
    assert worker.process(batch) == []
    assert [(g, i) for g, i, _ in parked.items] == [("t1", "m1"), ("t1", "m2")]
    assert all("not a hint message" in e for _, _, e in parked.items)
    assert [r.message_id for r in caplog.records if r.msg == "poison hint message"] == ["m1", "m2"]
    assert len(world.flows.started) == 1


def test_each_applied_hint_is_logged_with_its_record(handler_world, caplog):
    worker.process([record(hint_message("t1", "inv_9"), "m1")])
    [line] = [r for r in caplog.records if r.msg == "hint"]
    assert (line.entity, line.entity_id, line.operation, line.duplicate) == ("invoice", "inv_9", "ready", False)
    assert line.run_id


def test_the_tenants_of_one_batch_are_applied_side_by_side(handler_world, monkeypatch):
    """A FIFO batch holds several tenants' messages; one tenant's long apply must not hold another's (issue 12's
    fairness benchmark: a quiet company's hint waited for a busy company's apply in the same batch)."""
    import threading

    world, _ = handler_world
    quiet_done = threading.Event()
    real = world.applier.apply
    seen = {}

    def apply(tenant_id, batch):
        if tenant_id == "t1":  # the busy company: its apply lasts until the quiet one's is done, or 2 s
            seen["quiet_done_meanwhile"] = quiet_done.wait(timeout=2)
            return real(tenant_id, batch)
        try:
            return real(tenant_id, batch)
        finally:
            quiet_done.set()

    monkeypatch.setattr(world.applier, "apply", apply)
    batch = [record(hint_message("t1", "inv_1"), "m1"), record(hint_message("t2", "inv_2"), "m2"),
             record(hint_message("t1", "inv_3"), "m3")]
    assert worker.process(batch) == []
    assert seen["quiet_done_meanwhile"]
    assert {k[3] for k in world.ledger.items} == {"inv_1", "inv_2", "inv_3"}


class Settled:
    def __init__(self):
        import threading

        self.handles, self.any = [], threading.Event()

    def settle(self, handles):
        self.handles += handles
        self.any.set()
        return 0


def _received(message, message_id, group=None):
    return {**record(message, message_id, group), "receiptHandle": f"rh-{message_id}"}


def test_a_tenants_messages_are_settled_when_its_apply_is_done_not_when_the_batch_is(handler_world, monkeypatch):
    """A FIFO group stays locked while any of its messages is in flight: the quiet tenant's next hint must not wait
    for the busy tenant's apply in the same batch, so its messages are deleted as soon as its own apply is done."""
    world, _ = handler_world
    settled = Settled()
    monkeypatch.setattr(worker, "hints_queue", lambda: settled)
    real = world.applier.apply
    seen = {}

    def apply(tenant_id, batch):
        if tenant_id == "t1":  # the busy company: its apply lasts until the quiet one's messages are settled, or 2 s
            seen["settled_meanwhile"] = settled.any.wait(timeout=2) and list(settled.handles)
        return real(tenant_id, batch)

    monkeypatch.setattr(world.applier, "apply", apply)
    batch = [_received(hint_message("t1", "inv_1"), "m1"), _received(hint_message("t2", "inv_2"), "m2"),
             _received(hint_message("t2", "inv_3"), "m3")]
    assert worker.process(batch) == []
    assert seen["settled_meanwhile"] == ["rh-m2", "rh-m3"]
    assert sorted(settled.handles) == ["rh-m1", "rh-m2", "rh-m3"]


def test_nothing_is_settled_early_for_a_failed_apply_a_group_with_a_record_to_retry_or_a_lone_tenant(
        handler_world, monkeypatch):
    world, _ = handler_world
    settled = Settled()
    monkeypatch.setattr(worker, "hints_queue", lambda: settled)
    monkeypatch.setattr(worker, "dead_letters", lambda: Parked(fail=True))  # t1's poison record cannot be parked
    real = world.requests.request

    def crash_for_t2(tenant_id, trigger):
        if tenant_id == "t2":
            raise ConnectionError("Step Functions unreachable")
        return real(tenant_id, trigger)

    world.requests.request = crash_for_t2
    batch = [_received("not a hint", "m1", group="t1"), _received(hint_message("t1", "inv_1"), "m2"),
             _received(hint_message("t2", "inv_2"), "m3")]
    assert worker.process(batch) == ["m1", "m2", "m3"]
    world.requests.request = real
    assert worker.process([_received(hint_message("t1", "inv_4"), "m4")]) == []
    assert settled.handles == []


def test_a_failure_to_settle_early_leaves_the_batch_to_the_event_source_mapping(handler_world, monkeypatch, caplog):
    class Down:
        def settle(self, handles):
            raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(worker, "hints_queue", lambda: Down())
    batch = [_received(hint_message("t1", "inv_1"), "m1"), _received(hint_message("t2", "inv_2"), "m2")]
    assert worker.process(batch) == []
    assert [r.msg for r in caplog.records].count("settling applied hint messages early failed") == 2
