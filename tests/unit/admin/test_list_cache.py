from shared.domain.admin import ListCache


def test_the_page_reads_quickbooks_lists_live_and_the_save_after_it_reuses_what_was_shown():
    now = [0.0]
    cache = ListCache(ttl_s=60, clock=lambda: now[0])
    quickbooks = {"ClassTrackingPerTxn": False}
    reads: list[dict] = []

    def load():
        reads.append(dict(quickbooks))
        return dict(quickbooks)

    assert cache.get(("t1", "preferences"), load, fresh=True) == {"ClassTrackingPerTxn": False}
    quickbooks["ClassTrackingPerTxn"] = True  # turned on in QuickBooks; the admin reloads the settings page
    now[0] = 5.0
    assert cache.get(("t1", "preferences"), load, fresh=True) == {"ClassTrackingPerTxn": True}
    # The save's validation, within the minute, uses what the page was shown without another read ...
    assert cache.get(("t1", "preferences"), load) == {"ClassTrackingPerTxn": True} and len(reads) == 2
    # ... and reads again once that is older than the minute.
    now[0] = 70.0
    cache.get(("t1", "preferences"), load)
    assert len(reads) == 3
