"""bench/fairness.py's per-company figures from the QuickBooks emulator's request log."""

from bench.fairness import realm_figures


def test_writes_count_every_answered_batch_item_and_single_write_not_queries_or_throttled_calls():
    log = [{"kind": "batch", "batch_items": 30, "status": 200, "started": 1.0, "at": 1.5},
           {"kind": "batch", "batch_items": 30, "status": 429, "started": 2.0, "at": 2.1},
           {"kind": "create", "status": 200, "started": 3.0, "at": 3.2},
           {"kind": "update", "status": 200, "started": 3.1, "at": 3.3},
           {"kind": "query", "status": 200, "started": 4.0, "at": 4.1},
           {"kind": "token", "status": 200, "started": 0.5, "at": 0.6}]
    figures = realm_figures(log)
    assert figures["writes"] == 32 and figures["calls"] == 5 and figures["throttled_429"] == 1
