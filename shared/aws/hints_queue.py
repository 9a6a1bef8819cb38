"""The hints queue: SQS FIFO grouped per tenant, so one company's burst cannot starve the others."""

from __future__ import annotations

import json
from dataclasses import asdict

from shared.aws.clients import client
from shared.quickbooks.webhooks import ChangeHint


class SqsHintQueue:
    def __init__(self, url: str):
        self._url = url

    def send(self, tenant_id: str, hint: ChangeHint) -> None:
        client("sqs").send_message(QueueUrl=self._url, MessageBody=json.dumps({"tenant_id": tenant_id, **asdict(hint)}),
                                   MessageGroupId=tenant_id, MessageDeduplicationId=hint.dedupe_key())
