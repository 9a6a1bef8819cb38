"""The Dynamo hint ledger's transaction reuses the model's connection (issue 12: a Connection built per mark was a
new botocore client each time, about 0.1 s of the worker's time per batch)."""

from __future__ import annotations

from shared.data import dedupe


class FakeTransaction:
    used: list = []

    def __init__(self, connection):
        FakeTransaction.used.append(connection)
        self.saved = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def save(self, item, condition=None):
        self.saved.append(item)


class FakeTableConnection:
    def __init__(self):
        self.connection = object()  # stands for the model's one pynamodb Connection


def test_every_mark_writes_through_the_models_one_connection(monkeypatch):
    table = FakeTableConnection()
    FakeTransaction.used = []
    monkeypatch.setattr(dedupe, "TransactWrite", FakeTransaction)
    monkeypatch.setattr(dedupe.SeenItem, "_get_connection", classmethod(lambda cls: table))
    ledger = dedupe.DynamoHintLedger()
    ledger.mark("t1", {("quickbooks", "Customer", "1"): 10.0})
    ledger.mark("t1", {("quickbooks", "Customer", "2"): 11.0})
    assert FakeTransaction.used == [table.connection, table.connection]
