"""The hints queue (SQS FIFO): one message group per tenant, so a tenant's hints are applied in order and one
company's burst occupies one group while the others keep flowing; an explicit deduplication id per message, so a
sender's retry within 5 minutes is dropped by SQS itself. Poison messages go to the FIFO dead-letter queue, from
where `redrive` moves them back (qbsync CLI `redrive-hints`, admin `POST /admin/webhooks/redrive`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.aws.clients import client
from shared.domain.hints import HintMessage

MAX_BATCH_BYTES = 200 * 1024  # SendMessageBatch takes at most 256 KB in all; keep a margin for attributes


class QueueRejected(Exception):
    """SQS did not take every message: the webhook is answered 5xx and the sender retries."""


class SqsHintQueue:
    def __init__(self, url: str):
        self._url = url

    def send(self, batch: list[HintMessage]) -> None:
        entries = [{"Id": str(i), "MessageBody": m.model_dump_json(), "MessageGroupId": m.tenant_id,
                    "MessageDeduplicationId": m.deduplication_id()} for i, m in enumerate(batch)]
        for chunk in _chunks(entries):
            failed = client("sqs").send_message_batch(QueueUrl=self._url, Entries=chunk).get("Failed") or []
            if failed:
                raise QueueRejected(f"{len(failed)} hint message(s) refused: {failed[0].get('Code')}")

    def settle(self, receipt_handles: list[str]) -> int:
        """Delete received messages now rather than when the invocation ends; how many SQS did not delete (those
        are deleted by the event source mapping after the invocation, as before)."""
        left = 0
        for n in range(0, len(receipt_handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles[n:n + 10])]
            left += len(client("sqs").delete_message_batch(QueueUrl=self._url, Entries=entries).get("Failed") or [])
        return left


def _chunks(entries: list[dict]) -> list[list[dict]]:
    chunks: list[list[dict]] = []
    size = 0
    for entry in entries:
        length = len(entry["MessageBody"].encode())
        if not chunks or len(chunks[-1]) == 10 or size + length > MAX_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += length
    return chunks


class SqsDeadLetters:
    """The hints dead-letter queue: the worker parks poison messages here with the reason attached."""

    def __init__(self, url: str):
        self._url = url

    def park(self, body: str, group: str, message_id: str, error: str) -> None:
        client("sqs").send_message(
            QueueUrl=self._url, MessageBody=body, MessageGroupId=group or "unknown",
            MessageDeduplicationId=message_id[:128],
            MessageAttributes={"error": {"DataType": "String", "StringValue": error[:1000] or "error"}})


@dataclass(frozen=True)
class Redriven:
    moved: int
    left: int  # seen but not moved (another tenant's, when one tenant asked)


def redrive(dlq_url: str, queue_url: str, tenant_id: str | None = None, limit: int = 1000,
            wait_s: int = 1) -> Redriven:
    """Move dead letters back to the hints queue, in their groups and order; with `tenant_id`, only that tenant's.

    By hand rather than StartMessageMoveTask: moto (the local stack) does not implement it, and a tenant-scoped
    redrive (the admin route) needs to pick messages by group. Each message gets a fresh deduplication id so SQS
    does not drop it as a repeat of its first send; the worker's ledger makes a second apply harmless."""
    sqs = client("sqs")
    moved = 0
    skipped: list[str] = []  # other tenants' messages stay hidden until the scan ends, so it never sees one twice
    try:
        while moved < limit:
            got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
                                      VisibilityTimeout=60, AttributeNames=["All"]).get("Messages", [])
            if not got:
                break
            for m in got:
                group = m.get("Attributes", {}).get("MessageGroupId", "unknown")
                if (tenant_id is not None and group != tenant_id) or moved >= limit:
                    skipped.append(m["ReceiptHandle"])
                    continue
                sqs.send_message(QueueUrl=queue_url, MessageBody=m["Body"], MessageGroupId=group,
                                 MessageDeduplicationId=f"redrive-{m['MessageId']}-{int(time.time())}"[:128])
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
    finally:
        for handle in skipped:
            sqs.change_message_visibility(QueueUrl=dlq_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return Redriven(moved, len(skipped))
