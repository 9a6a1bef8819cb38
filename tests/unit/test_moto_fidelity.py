"""The local stack's moto fixes (qbsync/local/moto_fidelity.py, issue 12): a TransactWriteItems copies no table,
only the items it touches, and still writes everything or nothing; a Query on the table's key reads its partition
or an index's matches without sorting the whole table, and answers as moto did; SQS's clock read directly still
keeps a delayed message and a received one out of sight for their seconds; a FIFO receive while another request
changes the in-flight messages answers instead of failing."""

from __future__ import annotations

import copy
import time

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from qbsync.local.moto_fidelity import (
    item_backups_per_transaction,
    partition_queries,
    plain_sqs_clock,
    serialize_dynamodb,
    snapshot_sqs_groups,
)


@pytest.fixture
def ddb(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    serialize_dynamodb()
    item_backups_per_transaction()
    partition_queries()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        for n in range(50):
            client.put_item(TableName="t", Item={"id": {"S": f"old{n}"}})
        client.create_table(TableName="p", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                      {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"},
                                                  {"AttributeName": "g", "AttributeType": "S"},
                                                  {"AttributeName": "h", "AttributeType": "S"}],
                            GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [
                                {"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "h", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}],
                            BillingMode="PAY_PER_REQUEST")
        for n in range(30):
            for pk in ("a", "b", "c"):
                item = {"pk": {"S": pk}, "sk": {"S": f"K#{(n * 7) % 30:02d}"}, "n": {"N": str(n)}}
                if n % 3:  # an item without the index's keys is not in the index
                    item |= {"g": {"S": pk if n % 2 else "shared"}, "h": {"S": f"Q#{n % 11}"}}
                client.put_item(TableName="p", Item=item)
        yield client


def _puts(ids, condition=None):
    out = []
    for i in ids:
        put = {"TableName": "t", "Item": {"id": {"S": i}}}
        if condition:
            put["ConditionExpression"] = condition
        out.append({"Put": put})
    return out


def test_a_transaction_copies_no_table(ddb, monkeypatch):
    copies, deepcopy = [], copy.deepcopy

    def counting(obj, memo=None):
        if isinstance(obj, Table):
            copies.append(obj.name)
        return deepcopy(obj, memo)

    monkeypatch.setattr(copy, "deepcopy", counting)
    ddb.transact_write_items(TransactItems=_puts([f"new{n}" for n in range(20)]))
    assert copies == []
    assert ddb.get_item(TableName="t", Key={"id": {"S": "new19"}}).get("Item")


def _everything(ddb) -> dict:
    return {name: sorted(str(sorted(i.items())) for i in ddb.scan(TableName=name)["Items"]) for name in ("t", "p")}


def test_a_refused_transaction_still_writes_nothing(ddb):
    items = _puts(["fresh1", "fresh2"], "attribute_not_exists(id)") + _puts(["old3"], "attribute_not_exists(id)")
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=items)
    assert "Item" not in ddb.get_item(TableName="t", Key={"id": {"S": "fresh1"}})
    assert ddb.get_item(TableName="t", Key={"id": {"S": "old3"}}).get("Item")


def test_a_refused_transaction_puts_back_what_it_updated_deleted_and_replaced_in_either_table(ddb):
    def shared() -> list:
        return ddb.query(TableName="p", IndexName="byg", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "shared"}})["Items"]

    before, index = _everything(ddb), shared()
    items = [{"Update": {"TableName": "t", "Key": {"id": {"S": "old1"}}, "UpdateExpression": "SET v = :v",
                         "ExpressionAttributeValues": {":v": {"N": "1"}}}},
             {"Delete": {"TableName": "t", "Key": {"id": {"S": "old2"}}}},
             {"Put": {"TableName": "p", "Item": {"pk": {"S": "a"}, "sk": {"S": "K#03"}, "n": {"N": "-1"}}}},
             {"Put": {"TableName": "p", "Item": {"pk": {"S": "new"}, "sk": {"S": "K#00"}}}},
             {"Delete": {"TableName": "p", "Key": {"pk": {"S": "b"}, "sk": {"S": "K#04"}}}},
             {"ConditionCheck": {"TableName": "t", "Key": {"id": {"S": "old4"}},
                                 "ConditionExpression": "attribute_not_exists(id)"}}]
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=items)
    assert _everything(ddb) == before
    assert shared() == index  # the index answers from the items put back, in their order


def test_two_operations_on_one_item_are_refused_and_write_nothing(ddb):
    before = _everything(ddb)
    items = _puts(["fresh1"]) + [{"Update": {"TableName": "t", "Key": {"id": {"S": "old1"}},
                                             "UpdateExpression": "SET v = :v",
                                             "ExpressionAttributeValues": {":v": {"N": "1"}}}}] + _puts(["old1"])
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(TransactItems=items)
    assert _everything(ddb) == before


def _pages(ddb, **query):
    pages, start = [], None
    while True:
        page = ddb.query(TableName="p", **query, **({"ExclusiveStartKey": start} if start else {}))
        pages.append([(i["pk"]["S"], i["sk"]["S"], i["n"]["N"]) for i in page["Items"]])
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


QUERIES = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "b"}}},
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
     "ExpressionAttributeValues": {":p": {"S": "b"}, ":s": {"S": "K#1"}}, "Limit": 4, "ScanIndexForward": False},
    {"KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n", "Limit": 7,
     "ExpressionAttributeValues": {":p": {"S": "c"}, ":n": {"N": "20"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    {"IndexName": "byg", "KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "shared"}},
     "Limit": 5},
    {"IndexName": "byg", "KeyConditionExpression": "g = :g AND h = :h",
     "ExpressionAttributeValues": {":g": {"S": "b"}, ":h": {"S": "Q#5"}}},
    {"IndexName": "byg", "KeyConditionExpression": "g = :g AND begins_with(h, :h)", "ScanIndexForward": False,
     "ExpressionAttributeValues": {":g": {"S": "shared"}, ":h": {"S": "Q#1"}}, "Limit": 3},
    {"KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :z", "Limit": 3,
     "ExpressionAttributeValues": {":p": {"S": "a"}, ":a": {"S": "K#05"}, ":z": {"S": "K#17"}}},
    {"KeyConditionExpression": "pk = :p AND sk > :s", "FilterExpression": "n > :n", "Limit": 2,
     "ExpressionAttributeValues": {":p": {"S": "c"}, ":s": {"S": "K#20"}, ":n": {"N": "3"}}},
    {"IndexName": "byg", "KeyConditionExpression": "g = :g AND h < :h", "Limit": 2,
     "ExpressionAttributeValues": {":g": {"S": "shared"}, ":h": {"S": "Q#5"}}},
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_on_the_key_answers_as_moto_did_without_sorting_the_table(ddb, monkeypatch, query):
    sorted_whole = []
    all_items = Table.all_items
    monkeypatch.setattr(Table, "all_items", lambda self: sorted_whole.append(self.name) or all_items(self))
    ours = _pages(ddb, **query)
    assert sorted_whole == []
    assert any(ours) == ("nobody" not in str(query))
    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)  # moto's own
    theirs = _pages(ddb, **query)
    # moto, having sized the partition's items past a page that filled its Limit, says there may be more and then
    # answers an empty page; DynamoDB's LastEvaluatedKey promises no more than that either.
    assert ours == theirs or (theirs[-1] == [] and ours == theirs[:-1])
    assert sorted_whole


def test_a_query_sizes_only_the_items_its_sort_key_condition_selects(ddb, monkeypatch):
    from moto.dynamodb.models.dynamo_type import Item

    sized = []
    size = Item.size
    monkeypatch.setattr(Item, "size", lambda self: sized.append(self) or size(self))
    [page] = _pages(ddb, KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                    ExpressionAttributeValues={":p": {"S": "b"}, ":s": {"S": "K#1"}})
    assert len(page) == 10 and {i.range_key.value[:3] for i in sized} == {"K#1"}  # not the other 20 of "b"


def test_with_the_plain_clock_sqs_still_holds_delayed_and_received_messages_for_their_seconds(ddb):
    plain_sqs_clock()
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)

    def receive():
        return [m["Body"] for m in sqs.receive_message(QueueUrl=url, VisibilityTimeout=1).get("Messages", [])]

    assert receive() == []
    time.sleep(1.1)
    assert receive() == ["later"]
    assert receive() == []  # received: out of sight for its visibility timeout
    time.sleep(1.1)
    assert receive() == ["later"]


class _ChangedWhileIterated(set):
    """In-flight messages that another thread changes while a receive iterates them in Python."""

    def __iter__(self):
        iterator = set.__iter__(self)
        first = next(iterator)
        self.discard(first)  # a delete on another thread, between two steps of the receive's iteration
        yield first
        yield from iterator


def test_a_fifo_receive_while_a_delete_changes_the_in_flight_messages_answers(ddb):
    from moto.sqs.models import Queue

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true",
                                                           "ContentBasedDeduplication": "true"})["QueueUrl"]
    for group in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=group, MessageGroupId=group)
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2).get("Messages", [])) == 2
    sqs.send_message(QueueUrl=url, MessageBody="a2", MessageGroupId="a")
    [queue] = [q for q in _sqs_queues() if q.name == "q.fifo"]
    queue._pending_messages = _ChangedWhileIterated(queue._pending_messages)
    current = Queue.pending_message_groups  # a local stack earlier in this process may have applied the fix
    Queue.pending_message_groups = getattr(current.fget, "__wrapped__", current)  # moto's own
    try:
        with pytest.raises(RuntimeError, match="changed size"):
            sqs.receive_message(QueueUrl=url)
        snapshot_sqs_groups()
        assert [m["Body"] for m in sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["c"]
    finally:
        Queue.pending_message_groups = current


def _sqs_queues():
    from moto.sqs.models import sqs_backends

    return list(sqs_backends["123456789012"]["us-east-1"].queues.values())
