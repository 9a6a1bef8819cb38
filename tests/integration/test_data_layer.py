"""Repositories against moto tables created from the synthesized template."""

import threading
from datetime import UTC, datetime

import boto3
import pytest

from shared.aws.token_cipher import KmsTokenCipher
from shared.data.connections_repo import DynamoConnectionRepo
from shared.data.repos import ErrorRepo, LinkRepo, RunRepo, SettingsRepo
from shared.data.token_store import DynamoTokenStore
from shared.domain.connections import Connection
from shared.domain.records import ErrorEntry, Link, SyncRun
from shared.errors import Conflict
from shared.quickbooks.tokens import TokenService, TokenSet
from tests.fakes import FakeOAuth


@pytest.fixture
def kms_key(aws_tables):
    return boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]


def test_pynamodb_models_match_template_keys(aws_tables):
    from shared.data.models import ConnectionItem, LinkItem

    ConnectionItem("TENANT#t", "CONNECTION", tenant_id="t", status="connected", realm_id="r1").save()
    assert [c.tenant_id for c in ConnectionItem.by_realm.query("r1")] == ["t"]
    LinkItem("TENANT#t#customer", "FSP#1", gsi1pk="TENANT#t#customer", gsi1sk="QBO#9", fsp_id="1", qbo_id="9",
             state="linked", updated_at=datetime.now(UTC)).save()
    assert LinkRepo().by_qbo("t", "customer", "9").fsp_id == "1"


def test_tokens_are_ciphertext_at_rest_and_bound_to_realm(aws_tables, kms_key):
    store = DynamoTokenStore(KmsTokenCipher(kms_key))
    store.put_new("t1", "realm1", TokenSet("access-secret-value", "refresh-secret-value", 1e10))
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=aws_tables["connections"], Key={"pk": {"S": "TENANT#t1"}, "sk": {"S": "TOKENS"}})["Item"]
    dumped = repr(raw)
    assert "access-secret-value" not in dumped and "refresh-secret-value" not in dumped
    assert store.load("t1").tokens.refresh_token == "refresh-secret-value"
    with pytest.raises(Exception):  # noqa: B017 - KMS refuses the wrong encryption context
        KmsTokenCipher(kms_key).decrypt("t1", "other-realm", raw["ciphertext"]["B"])


def test_fifty_concurrent_refreshes_against_dynamodb_lease(aws_tables, kms_key):
    store = DynamoTokenStore(KmsTokenCipher(kms_key))
    clock = lambda: 1_000_000.0  # noqa: E731
    store.put_new("t1", "realm1", TokenSet("a0", "r0", 0))
    oauth = FakeOAuth(clock)
    service = TokenService(store, oauth, on_grant_lost=lambda *a: None, clock=clock, sleep=lambda s: None)
    results, barrier = [], threading.Barrier(50)

    def use():
        barrier.wait()
        results.append(service.access("t1"))

    threads = [threading.Thread(target=use) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert oauth.refreshes == 1 and results == [("a1", "realm1")] * 50
    assert store.load("t1").tokens.refresh_token == "r1"


def test_oauth_state_single_use(aws_tables):
    repo = DynamoConnectionRepo()
    repo.put_state("n1", "t1", 9_999_999_999)
    assert repo.consume_state("n1") == "t1"
    assert repo.consume_state("n1") is None


def test_connection_round_trip(aws_tables):
    repo = DynamoConnectionRepo()
    repo.save(Connection("t1", "connected", "realm1", "Acme", datetime.now(UTC)))
    assert repo.get("t1").company_name == "Acme" and repo.by_realm("realm1")[0].tenant_id == "t1"


def test_settings_versioning_is_optimistic(aws_tables):
    repo = SettingsRepo()
    assert repo.put("t1", {"a": 1}, 0, "u") == 1
    assert repo.put("t1", {"a": 2}, 1, "u") == 2
    with pytest.raises(Conflict):
        repo.put("t1", {"a": 3}, 1, "u")
    assert repo.get("t1") == ({"a": 2}, 2)


def test_error_log_upsert_counts_attempts_and_resolves(aws_tables):
    repo = ErrorRepo()
    entry = ErrorEntry("t1", "invoice", "inv-1", "to_quickbooks", "6140", "Duplicate Document Number Error")
    repo.record(entry)
    repo.record(entry)
    (e,) = repo.list("t1")
    assert e.attempts == 2 and e.code == "6140"
    repo.resolve("t1", e.key)
    assert repo.list("t1") == [] and repo.list("t1", include_resolved=True)[0].resolved


def test_the_error_log_lists_one_kinds_open_entries_when_asked(aws_tables):
    repo = ErrorRepo()
    for entity, entity_id in (("payment", "p-1"), ("payment", "p-2"), ("payments_x", "p-3"), ("invoice", "inv-1")):
        repo.record(ErrorEntry("t1", entity, entity_id, "to_quickbooks", "waiting_for_invoice", "Waiting"))
    repo.resolve("t1", "payment#p-2")
    assert [e.key for e in repo.list("t1", entity="payment")] == ["payment#p-1"]
    assert sorted(e.key for e in repo.list("t1", include_resolved=True, entity="payment")) == [
        "payment#p-1", "payment#p-2"]
    assert len(repo.list("t1")) == 3

def test_a_waiting_entry_keeps_what_it_waits_for_until_it_fails_for_another_reason(aws_tables):
    repo = ErrorRepo()
    repo.record(ErrorEntry("t1", "payment", "p-1", "to_quickbooks", "waiting_for_invoice", "Waiting",
                           waits_for="invoice#inv-1"))
    assert repo.list("t1")[0].waits_for == "invoice#inv-1"
    repo.record(ErrorEntry("t1", "payment", "p-1", "to_quickbooks", "6000", "A business validation error"))
    assert repo.list("t1")[0].waits_for == ""


def test_links_by_many_quickbooks_ids_are_asked_of_the_index_at_once_and_only_the_tenants_own(aws_tables,
                                                                                               monkeypatch):
    repo = LinkRepo()
    repo.put_many([Link("t1", "customer", f"c{n}", str(n)) for n in range(1, 5)]
                  + [Link("t2", "customer", "other", "5")])
    asked = threading.Barrier(3, timeout=5)  # one query after another never has three waiting together
    one = LinkRepo.by_qbo

    def together(self, tenant_id, entity, qbo_id):
        asked.wait()
        return one(self, tenant_id, entity, qbo_id)

    monkeypatch.setattr(LinkRepo, "by_qbo", together)
    found = repo.by_qbo_many("t1", "customer", ["2", "5", "4"])
    assert {q: link.fsp_id for q, link in found.items()} == {"2": "c2", "4": "c4"}


def test_pending_link_keeps_first_request_id(aws_tables):
    repo = LinkRepo()
    first = repo.put_pending(Link("t1", "customer", "c1", request_id="req-1", state="pending"))
    again = repo.put_pending(Link("t1", "customer", "c1", request_id="req-2", state="pending"))
    assert first.request_id == again.request_id == "req-1"


def test_runs_and_snapshots(aws_tables):
    repo = RunRepo()
    repo.create(SyncRun("t1", "r1", "onboarding", "running", datetime.now(UTC)))
    repo.progress("t1", "r1", "match", 40)
    repo.put_chunk("t1", "r1", "qbo", 0, [{"Id": "1"}])
    repo.put_chunk("t1", "r1", "qbo", 1, [{"Id": "2"}])
    assert [r for chunk in repo.chunks("t1", "r1", "qbo") for r in chunk] == [{"Id": "1"}, {"Id": "2"}]
    repo.finish("t1", "r1", "succeeded", {"clients_matched": 3})
    (run,) = repo.history("t1")
    assert run.status == "succeeded" and run.percent == 100 and run.summary == {"clients_matched": 3}
    assert run.phase == "match"  # the last progress stands unless the finish names the last phase
    repo.create(SyncRun("t1", "r2", "sync", "running", datetime.now(UTC)))
    repo.progress("t1", "r2", "reading_changes", 5)
    repo.finish("t1", "r2", "succeeded", {"counts": {}}, phase="payments")
    assert repo.get("t1", "r2").phase == "payments" and repo.get("t1", "r2").percent == 100
    over = datetime.now(UTC)  # a record-level apply's entry: written once, with its outcome
    repo.create(SyncRun("t1", "r3", "sync", "succeeded", over, phase="webhook", percent=100,
                        summary={"counts": {"clients_updated_on_platform": 1}, "trigger": "webhook"}, finished_at=over))
    r3 = repo.get("t1", "r3")
    assert (r3.status, r3.summary["trigger"], r3.finished_at, r3.percent) == ("succeeded", "webhook", over, 100)


def test_a_chunk_too_big_for_one_item_is_split_and_read_back_in_order(aws_tables):
    import random

    rng = random.Random(1)  # incompressible rows: each chunk far beyond DynamoDB's 400 KB item limit
    rows = [{"i": i, "noise": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(400))}
            for i in range(3000)]
    repo = RunRepo()
    repo.put_chunk("t1", "r2", "to_qbo", 0, rows[:2000])
    repo.put_chunk("t1", "r2", "to_qbo", 1, rows[2000:])
    assert [r for chunk in repo.chunks("t1", "r2", "to_qbo") for r in chunk] == rows


def test_a_named_lock_has_one_holder_until_released_or_expired(aws_tables):
    repo = RunRepo()
    assert repo.acquire_lock("t1", "sync", "run-a", ttl_s=60)
    assert not repo.acquire_lock("t1", "sync", "run-b", ttl_s=60)
    assert repo.acquire_lock("t1", "sync", "run-a", ttl_s=60)  # the holder may renew
    repo.release_lock("t1", "sync", "run-b")  # not the holder: no effect
    assert not repo.acquire_lock("t1", "sync", "run-b", ttl_s=60)
    repo.release_lock("t1", "sync", "run-a")
    assert repo.acquire_lock("t1", "sync", "run-b", ttl_s=-1)  # already expired
    assert repo.acquire_lock("t1", "sync", "run-c", ttl_s=60)


def test_the_sync_gate_has_one_holder_and_a_change_noted_during_a_run_blocks_its_release(aws_tables):
    from shared.data.sync_gate import DynamoSyncGate

    clock = {"now": 1_800_000_000.0}
    gate = DynamoSyncGate(lambda: clock["now"])
    assert gate.read("t1").holder is None
    assert gate.note_change("t1").holder is None  # a request before any run: nobody covers it yet
    first = gate.acquire("t1", "run-a", 60)
    assert (first.holder, first.changes, first.seen) == ("run-a", 1, 1)
    assert gate.acquire("t1", "run-b", 60).holder == "run-a"  # folds into run-a
    noted = gate.note_change("t1")  # a hint after run-a read its side
    assert (noted.holder, noted.changes) == ("run-a", 2)
    assert not gate.release("t1", "run-a", first.seen)  # run-a must run again
    again = gate.acquire("t1", "run-a", 60)
    assert again.seen == 2 and gate.release("t1", "run-a", again.seen)
    assert gate.read("t1").holder is None
    assert gate.acquire("t1", "run-c", 60).holder == "run-c"
    assert gate.renew("t1", "run-c", 60) and not gate.renew("t1", "run-b", 60)
    clock["now"] += 61  # run-c crashed: its lease runs out and the next run takes the gate
    assert gate.read("t1").holder is None
    assert gate.acquire("t1", "run-d", 60).holder == "run-d"
    gate.abandon("t1", "run-c")  # not the holder: no effect
    assert gate.read("t1").holder == "run-d"
    gate.abandon("t1", "run-d")
    assert gate.read("t1").holder is None and gate.read("t2").changes == 0


def test_concurrent_pacing_reservations_each_get_their_own_slot(aws_tables):
    from concurrent.futures import ThreadPoolExecutor

    from shared.data.pace_store import DynamoPaceStore
    from shared.quickbooks.pacing import quickbooks_limits

    batch = quickbooks_limits(500, 40)[1]
    store, now = DynamoPaceStore(), 1_800_000_000.0
    with ThreadPoolExecutor(max_workers=20) as pool:
        waits = sorted(pool.map(lambda _: store.reserve("realm-1", now, [batch], 1e9), range(20)))
    # The burst goes at once; every later call waits one more interval than the one before: no slot given twice.
    assert waits[:batch.burst] == [0.0] * batch.burst
    gaps = [b - a for a, b in zip(waits[batch.burst - 1:], waits[batch.burst:], strict=False)]
    assert gaps == pytest.approx([batch.interval] * (20 - batch.burst))
    assert store.reserve("realm-2", now, [batch], 1e9) == 0.0  # another company has its own budget


@pytest.fixture
def dynamodb_calls():
    """Every DynamoDB API call the shared boto3 client makes, by operation name."""
    from shared.aws.clients import client

    calls: list[str] = []

    def count(model, **_):
        calls.append(model.name)

    events = client("dynamodb").meta.events
    events.register("before-call.dynamodb.*", count, unique_id="count-dynamodb-calls")
    yield calls
    events.unregister("before-call.dynamodb.*", unique_id="count-dynamodb-calls")


def test_one_dynamodb_call_per_pacing_reservation(aws_tables, dynamodb_calls):
    from shared.data.models import PaceItem
    from shared.data.pace_store import DynamoPaceStore
    from shared.quickbooks.pacing import gcra, quickbooks_limits

    request = quickbooks_limits(500, 40)[0]
    store, now, expected_tat, waits = DynamoPaceStore(), 1_800_000_000.0, None, []
    for step in range(60):  # a burst at one instant, then calls arriving faster than the interval, then an idle gap
        now += 0.0 if step < 20 else (0.05 if step < 50 else 30.0)
        wait, expected_tat = gcra(expected_tat, now, request)
        waits.append((store.reserve("realm-1", now, [request], 1e9), wait))
    assert dynamodb_calls == ["UpdateItem"] * 60
    assert [got for got, _ in waits] == pytest.approx([want for _, want in waits], abs=1e-5)  # microseconds
    assert float(PaceItem.get("PACE#realm-1").tat_request) == pytest.approx(expected_tat)


def test_a_batch_call_reserves_both_of_its_limits_in_one_dynamodb_call(aws_tables, dynamodb_calls):
    from shared.data.models import PaceItem
    from shared.data.pace_store import DynamoPaceStore
    from shared.quickbooks.pacing import gcra, quickbooks_limits

    limits = quickbooks_limits(500, 40)
    store, now, tats, waits = DynamoPaceStore(), 1_800_000_000.0, {"request": None, "batch": None}, []
    for step in range(40):  # batches and singles mixed: a burst at one instant, then faster than the batch interval
        now += 0.0 if step < 12 else 0.3
        kinds = ("request", "batch") if step % 3 else ("request",)
        want = 0.0
        for limit in limits:
            if limit.kind in kinds:
                wait, tats[limit.kind] = gcra(tats[limit.kind], now, limit)
                want = max(want, wait)
        waits.append((store.reserve("realm-1", now, [lim for lim in limits if lim.kind in kinds], 1e9), want))
    assert dynamodb_calls == ["UpdateItem"] * 40  # one call per QuickBooks call, a batch's two limits together
    assert [got for got, _ in waits] == pytest.approx([want for _, want in waits], abs=1e-5)
    item = PaceItem.get("PACE#realm-1")
    assert (item.tat_request, item.tat_batch) == pytest.approx((tats["request"], tats["batch"]))


def test_a_new_container_pays_one_extra_call_once_and_an_over_long_wait_writes_nothing(aws_tables, dynamodb_calls):
    from shared.data.models import PaceItem
    from shared.data.pace_store import DynamoPaceStore
    from shared.quickbooks.pacing import quickbooks_limits

    batch = quickbooks_limits(500, 40)[1]
    now, first = 1_800_000_000.0, DynamoPaceStore()
    for _ in range(10):
        first.reserve("realm-1", now, [batch], 1e9)
    dynamodb_calls.clear()
    second = DynamoPaceStore()  # another Lambda container: it does not know the company is being paced
    assert second.reserve("realm-1", now, [batch], 1e9) == pytest.approx(10 * batch.interval - batch.tolerance)
    assert second.reserve("realm-1", now, [batch], 1e9) == pytest.approx(11 * batch.interval - batch.tolerance)
    assert dynamodb_calls == ["UpdateItem"] * 3  # the wrong guess, its retry, then one call
    tat = float(PaceItem.get("PACE#realm-1").tat_batch)
    dynamodb_calls.clear()
    assert first.reserve("realm-1", now, [batch], max_wait_s=5.0) is None
    assert dynamodb_calls == ["UpdateItem"]
    assert float(PaceItem.get("PACE#realm-1").tat_batch) == tat  # nothing reserved


def test_a_company_budget_is_one_consistent_read_of_what_every_container_reserved(aws_tables, dynamodb_calls):
    from shared.data.pace_store import DynamoPaceStore
    from shared.quickbooks.pacing import Pacer, quickbooks_limits

    now = 1_800_000_000.0
    limits = quickbooks_limits(500, 40)
    other = Pacer(DynamoPaceStore(), limits, clock=lambda: now, sleep=lambda s: None)  # another Lambda container
    for _ in range(3):
        other.before("realm-1", "batch")
    dynamodb_calls.clear()
    budget = Pacer(DynamoPaceStore(), limits, clock=lambda: now).budget("realm-1")
    assert (budget.batches, budget.requests) == (2, 7) and dynamodb_calls == ["GetItem"]
    assert budget.batch_interval == limits[1].interval and budget.request_interval == limits[0].interval
    fresh = Pacer(DynamoPaceStore(), limits, clock=lambda: now).budget("realm-2")  # no item: an idle company
    assert (fresh.batches, fresh.requests) == (5, 10)


def test_concurrency_slots_are_leased_to_one_caller_each_and_come_back(aws_tables, dynamodb_calls):
    from concurrent.futures import ThreadPoolExecutor

    from shared.data.pace_store import DynamoPaceStore

    now, until = 1_800_000_000.0, 1_800_000_900.0
    # Three containers at once, each wanting 5 of the company's 8 leasable slots: never more than 8 between them,
    # never one slot twice.
    with ThreadPoolExecutor(max_workers=3) as pool:
        taken = list(pool.map(lambda _: DynamoPaceStore().lease_slots("realm-1#slots", 5, now, until, 8), range(3)))
    flat = [slot for got in taken for slot in got]
    assert len(flat) == len(set(flat)) == 8 and set(flat) == set(range(8))
    assert DynamoPaceStore().lease_slots("realm-1#slots", 2, now + 1, until, 8) == []  # all held
    assert DynamoPaceStore().lease_slots("realm-2#slots", 2, now, until, 8) == [0, 1]  # another company
    first = max(taken, key=len)  # 5: the first to write; the others took what was left
    rest = sorted(set(flat) - set(first))
    dynamodb_calls.clear()
    DynamoPaceStore().release_slots("realm-1#slots", first, until)
    assert dynamodb_calls == ["UpdateItem"]  # taken together, given back together
    again = DynamoPaceStore().lease_slots("realm-1#slots", 8, now + 2, until + 2, 8)
    assert sorted(again) == sorted(first)
    # A dead task's lease runs out: its slots can be taken again, and its late release takes nothing from the new
    # holder.
    later = now + 901
    reclaimed = DynamoPaceStore().lease_slots("realm-1#slots", 8, later, later + 900, 8)
    assert sorted(reclaimed) == rest
    DynamoPaceStore().release_slots("realm-1#slots", rest, until)
    assert DynamoPaceStore().lease_slots("realm-1#slots", 8, later + 1, later + 900, 8) == []


def test_a_cursor_keeps_the_ids_applied_at_its_instant_and_none_is_stored_as_absent(aws_tables):
    from shared.data.cursors import DynamoCursors
    from shared.domain.records import Cursor

    cursors, at = DynamoCursors(), datetime(2026, 12, 2, 4, 0, 0, 123456, tzinfo=UTC)
    cursors.put("t1", "fsp:invoices", at, ["inv_2", "inv_1"])
    cursors.put("t1", "qbo:Customer", at)
    assert cursors.get_all("t1") == {"fsp:invoices": Cursor(at, frozenset({"inv_1", "inv_2"})),
                                     "qbo:Customer": Cursor(at)}
    cursors.put("t1", "fsp:invoices", at, [])
    assert cursors.get_all("t1")["fsp:invoices"] == Cursor(at)


def test_open_error_keys_are_the_tenants_unresolved_entries(aws_tables):
    repo = ErrorRepo()
    for entity_id in ("c1", "c2", "c3"):
        repo.record(ErrorEntry("t1", "client", entity_id, "to_quickbooks", "6000", "refused"))
    repo.record(ErrorEntry("t2", "client", "c9", "to_quickbooks", "6000", "another tenant"))
    assert repo.resolve("t1", "client#c2")
    assert repo.open_keys("t1") == {"client#c1", "client#c3"}
    assert repo.open_keys("t3") == set()
