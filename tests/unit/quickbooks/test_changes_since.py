"""The adapter's change detection follows QuickBooks' clock: CDC whenever QuickBooks accepts the cursor, the
MetaData.LastUpdatedTime query only when QuickBooks itself refuses CDC's look-back (code 500, "Unsupported
Operation"), and the next cursor is read from QuickBooks' `time`, never from ours."""

from datetime import UTC, datetime, timedelta

import pytest
from quickbooks.exceptions import QuickbooksException, UnsupportedException

from shared.quickbooks.adapter import QuickBooksAdapter
from shared.quickbooks.client import StatusRecorder
from shared.quickbooks.errors import QuickBooksError, UnsupportedOperation, classify

# Our clock is today; QuickBooks' is whatever its answers say.
QBO_NOW = "2027-03-01T10:00:00-08:00"
LOOKBACK = ("Operation cdc with changedSince date 2027-01-01T00:00:00Z which is older than fixed days is not "
            "supported.")


class StubQuickBooks:
    """python-quickbooks' client as the adapter uses it: `get` for CDC, `query` for the query language."""

    api_url = "https://quickbooks.example/v3"

    def __init__(self, refuse_cdc: bool = False, cdc_rows: int = 1):
        self.refuse_cdc, self.cdc_rows = refuse_cdc, cdc_rows
        self.calls: list[str] = []

    def get(self, url, params):
        self.calls.append("cdc")
        if self.refuse_cdc:  # python-quickbooks raises 500-599 fault codes as UnsupportedException
            raise UnsupportedException("Unsupported Operation", 500, LOOKBACK)
        rows = [{"Id": str(i), "MetaData": {"LastUpdatedTime": QBO_NOW}} for i in range(self.cdc_rows)]
        return {"CDCResponse": [{"QueryResponse": [{"Customer": rows}, {}]}], "time": QBO_NOW}

    def query(self, sql):
        self.calls.append(sql.split(" WHERE ")[0])
        entity = sql.split()[3]
        return {"QueryResponse": {entity: [{"Id": "q1"}]}, "time": QBO_NOW}


def _adapter(qb):
    return QuickBooksAdapter(qb, StatusRecorder(), "9130")


def test_a_cursor_older_than_30_days_on_our_clock_still_asks_cdc_first():
    qb = StubQuickBooks()
    changes = _adapter(qb).changes_since(["Customer", "Invoice"], datetime.now(UTC) - timedelta(days=90))
    assert qb.calls == ["cdc"]
    assert [c.qbo_id for c in changes.of("Customer")] == ["0"] and changes.of("Invoice") == ()
    assert changes.read_at == datetime.fromisoformat(QBO_NOW)


def test_quickbooks_refusing_the_look_back_pages_the_query_and_takes_its_time():
    qb = StubQuickBooks(refuse_cdc=True)
    changes = _adapter(qb).changes_since(["Customer", "Invoice"], datetime.now(UTC) - timedelta(days=1))
    assert qb.calls == ["cdc", "SELECT * FROM Customer", "SELECT * FROM Invoice"]
    assert [c.qbo_id for c in changes.customers] == ["q1"] and [i.qbo_id for i in changes.invoices] == ["q1"]
    assert changes.read_at == datetime.fromisoformat(QBO_NOW)


def test_a_full_cdc_answer_is_reread_by_query_with_the_cdc_time():
    qb = StubQuickBooks(cdc_rows=1000)
    changes = _adapter(qb).changes_since(["Customer"], datetime.now(UTC) - timedelta(days=1))
    assert qb.calls == ["cdc", "SELECT * FROM Customer"] and [c.qbo_id for c in changes.customers] == ["q1"]
    assert changes.read_at == datetime.fromisoformat(QBO_NOW)


def test_other_cdc_faults_are_not_taken_for_the_look_back():
    class Outage(StubQuickBooks):
        def get(self, url, params):
            raise QuickbooksException("An application error has occurred", 10000, "")

    with pytest.raises(QuickBooksError) as caught:
        _adapter(Outage()).changes_since(["Customer"], datetime.now(UTC))
    assert not isinstance(caught.value, UnsupportedOperation)


def test_code_500_is_unsupported_operation_only_in_a_validation_answer():
    assert isinstance(classify("500", "Unsupported Operation", LOOKBACK, 400), UnsupportedOperation)
    assert not isinstance(classify("500", "Unsupported Operation", "", 503), UnsupportedOperation)  # an outage
