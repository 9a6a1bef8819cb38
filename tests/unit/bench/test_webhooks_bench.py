"""The webhook benchmark's delivery clock (bench/webhooks.py): a change starts its clock at the first delivery
after it was made, never at an earlier one naming the same record (in the fairness part, companies measured alone
first change the same records again beside the noisy company). Deliveries are rows of the emulators' control APIs
(`GET /_emulator/webhooks` of each)."""

from __future__ import annotations

from bench.webhooks import Change, Company, _check_every, _note_deliveries


def _platform_delivery(tenant, client_id, at):
    return {"status": "delivered", "type": "client.updated", "tenant_id": tenant,
            "event": {"data": {"object": {"id": client_id}}}, "attempts": [{"at": at, "status": 200}]}


def _books_delivery(realm, customer_id, at, status=200):
    return {"status": "delivered" if status == 200 else "failed", "realm": realm,
            "attempts": [{"at": at, "status": status}],
            "payload": {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
                {"name": "Customer", "id": customer_id, "operation": "Update"}]}}]}}


def test_a_change_not_made_yet_takes_no_earlier_delivery_of_its_record():
    platform = [_platform_delivery("t1", "cli_1", at=100.0)]  # the same client, changed when measured alone
    change = Change("t1", "client", "cli_1", "1", "(602) 555-0001")
    _note_deliveries([change], platform, [], {})
    assert change.delivered_at is None
    change.made_at = 150.0
    platform.append(_platform_delivery("t1", "cli_1", at=150.4))
    _note_deliveries([change], platform, [], {})
    assert change.delivered_at == 150.4


def test_a_quickbooks_change_takes_its_realms_first_accepted_delivery_after_it_was_made():
    change = Change("t1", "customer", "58", "cli_1", "a@books.example", made_at=200.0)
    books = [_books_delivery("r1", "58", at=199.0), _books_delivery("r2", "58", at=200.2),
             _books_delivery("r1", "58", at=200.3, status=500), _books_delivery("r1", "58", at=200.9)]
    _note_deliveries([change], [], books, {"t1": "r1", "t2": "r2"})
    assert change.delivered_at == 200.9


def test_a_big_companys_records_are_read_less_often_than_a_small_ones():
    small = Company("t-small", "r1", clients=[f"c{i}" for i in range(12)])
    big = Company("t-big", "r2", clients=[f"c{i}" for i in range(2400)])
    assert _check_every(big) >= 10 * _check_every(small)


def test_a_warm_up_change_never_seen_counts_as_lost():
    from bench.webhooks import lost

    assert lost({"fairness": {"warm_up": {"missing_count": 1}, "alone": {"missing_count": 0}}}) == 1


def test_the_target_ratio_is_over_the_same_companies_together_without_the_noisy_one():
    from bench.webhooks import ratios

    fair = {"alone": {"p95_s": 0.5}, "without_noisy": {"p95_s": 1.2}, "with_noisy": {"p95_s": 2.4}}
    assert ratios(fair) == {"p95_ratio": 2.0, "p95_ratio_each_alone": 4.8}
    assert ratios({**fair, "without_noisy": {"p95_s": None}})["p95_ratio"] is None


def test_a_control_change_never_seen_counts_as_lost():
    from bench.webhooks import lost

    assert lost({"fairness": {"without_noisy": {"missing_count": 2}}}) == 2
