"""The hints queue, its dead-letter queue and redrive, and the hint ledger, on moto queues and tables created from
the synthesized template."""

import json

import boto3
import pytest

from shared.aws.hints_queue import SqsDeadLetters, SqsHintQueue, redrive
from shared.data.dedupe import DynamoHintLedger
from shared.domain.hints import messages
from shared.quickbooks.webhooks import ChangeHint


@pytest.fixture
def queues(aws_tables, template, monkeypatch):
    from infra import local_resources
    from shared.aws.clients import client

    client.cache_clear()
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = {}
    for queue in local_resources.queues(template):
        urls["dlq" if "dlq" in queue["QueueName"] else "hints"] = sqs.create_queue(**queue)["QueueUrl"]
    monkeypatch.setenv("QUEUE_HINTS_URL", urls["hints"])
    monkeypatch.setenv("QUEUE_HINTS_DLQ_URL", urls["dlq"])
    yield sqs, urls
    client.cache_clear()


def hint(tenant, n):
    return ChangeHint("fieldservice", tenant, "invoice", f"inv_{n}", "ready", "2026-11-24T10:00:00Z", f"evt_{n}")


def receive(sqs, url, **kw):
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                               MessageAttributeNames=["All"], **kw).get("Messages", [])


def test_messages_are_grouped_per_tenant_and_a_retry_is_deduplicated(queues):
    sqs, urls = queues
    queue = SqsHintQueue(urls["hints"])
    batch = messages("t1", "fieldservice", [hint("t1", n) for n in range(120)]) + messages("t2", "fieldservice",
                                                                                            [hint("t2", 1)])
    queue.send(batch)
    queue.send(batch)  # the sender's retry within 5 minutes
    got = []
    while chunk := receive(sqs, urls["hints"], VisibilityTimeout=30):
        got += chunk
    assert sorted(m["Attributes"]["MessageGroupId"] for m in got) == ["t1", "t1", "t1", "t2"]
    t1 = [json.loads(m["Body"]) for m in got if m["Attributes"]["MessageGroupId"] == "t1"]
    assert [h["entity_id"] for m in t1 for h in m["hints"]] == [f"inv_{n}" for n in range(120)]  # in order


def test_settling_a_groups_messages_frees_the_group_and_the_later_delete_still_succeeds(queues):
    """The worker deletes a tenant's applied messages before its invocation ends (functions/webhooks/worker.py):
    the group's next message is then deliverable, and the event source mapping's delete afterwards is accepted."""
    sqs, urls = queues
    queue = SqsHintQueue(urls["hints"])
    queue.send(messages("t1", "fieldservice", [hint("t1", 1)]))
    first = receive(sqs, urls["hints"], VisibilityTimeout=30)
    queue.send(messages("t1", "fieldservice", [hint("t1", 2)]))
    assert receive(sqs, urls["hints"], VisibilityTimeout=30) == []  # t1's group is locked by the one in flight
    assert queue.settle([m["ReceiptHandle"] for m in first]) == 0
    [second] = receive(sqs, urls["hints"], VisibilityTimeout=30)
    assert json.loads(second["Body"])["hints"][0]["entity_id"] == "inv_2"
    sqs.delete_message(QueueUrl=urls["hints"], ReceiptHandle=first[0]["ReceiptHandle"])  # the mapping's own delete


def test_poison_reaches_the_dead_letter_queue_and_redrive_brings_back_one_tenants_or_all(queues, monkeypatch):
    sqs, urls = queues
    SqsHintQueue(urls["hints"]).send(messages("t1", "fieldservice", [hint("t1", 1)]))
    for _ in range(5):  # five failed receives (maxReceiveCount), as a crashing worker would leave them
        assert len(receive(sqs, urls["hints"], VisibilityTimeout=0)) == 1
    assert receive(sqs, urls["hints"], VisibilityTimeout=0) == []  # moved on this receive
    SqsDeadLetters(urls["dlq"]).park('{"bad"', "t2", "m-2", "not a hint message")
    parked = receive(sqs, urls["dlq"], VisibilityTimeout=0)
    assert {m["Attributes"]["MessageGroupId"] for m in parked} == {"t1", "t2"}
    assert [m["MessageAttributes"]["error"]["StringValue"] for m in parked if "MessageAttributes" in m] == [
        "not a hint message"]

    assert redrive(urls["dlq"], urls["hints"], tenant_id="t1", wait_s=0).moved == 1
    [back] = receive(sqs, urls["hints"], VisibilityTimeout=30)
    assert json.loads(back["Body"])["hints"][0]["entity_id"] == "inv_1" and back["Attributes"]["MessageGroupId"] == "t1"
    [left] = receive(sqs, urls["dlq"], VisibilityTimeout=0)  # the other tenant's stays, visible again
    assert left["Attributes"]["MessageGroupId"] == "t2"

    from qbsync.cli import main

    assert main(["redrive-hints", "--stage", "local"]) == 0  # the operator's command: everything left
    assert receive(sqs, urls["dlq"]) == []


def test_the_ledger_keeps_the_newest_time_per_record(aws_tables):
    ledger = DynamoHintLedger()
    c43, c44 = ("quickbooks", "Customer", "43"), ("quickbooks", "Customer", "44")
    assert ledger.seen_at("t1", [c43]) == {c43: None}
    ledger.mark("t1", {c43: 200.0})
    ledger.mark("t1", {c43: 100.0})  # an older event arriving late changes nothing
    assert ledger.seen_at("t1", [c43]) == {c43: 200.0}
    ledger.mark("t1", {c43: 150.0, c44: 50.0})  # in one batch: the later time kept, the new record written
    assert ledger.seen_at("t1", [c43, c44]) == {c43: 200.0, c44: 50.0}  # one read for a batch's records
    ledger.mark("t1", {c43: 300.5, c44: 60.0})
    assert ledger.seen_at("t1", [c43, c44]) == {c43: 300.5, c44: 60.0}
    assert ledger.seen_at("t2", [c43]) == {c43: None}  # per tenant
    assert ledger.seen_at("t1", [("fieldservice", "Customer", "43")]) == {("fieldservice", "Customer", "43"): None}
