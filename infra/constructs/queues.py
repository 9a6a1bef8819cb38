"""Webhook change hints: a FIFO queue grouped per connection, so one company's burst cannot starve the others."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import StageConfig
from infra.constructs.ids import pin_logical_id

MAX_RECEIVE_COUNT = 5
# Six times the worker's timeout, as AWS recommends for SQS event sources, so in-flight batches are not redelivered.
WORKER_TIMEOUT_SECONDS = 60


class Queues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)

        self.hints_dlq = sqs.Queue(
            self, "HintsDlq",
            queue_name=f"{config.name('hints-dlq')}.fifo",
            fifo=True,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.hints_dlq, "HintsDeadLetterQueue")
        # Producers set MessageGroupId=<connection id> and an explicit MessageDeduplicationId (the webhook's
        # event id), because identical bodies from different deliveries are legitimately different hints.
        self.hints = sqs.Queue(
            self, "Hints",
            queue_name=f"{config.name('hints')}.fifo",
            fifo=True,
            content_based_deduplication=False,
            deduplication_scope=sqs.DeduplicationScope.MESSAGE_GROUP,
            fifo_throughput_limit=sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(WORKER_TIMEOUT_SECONDS * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.hints_dlq, max_receive_count=MAX_RECEIVE_COUNT),
            removal_policy=config.removal_policy,
        )
        pin_logical_id(self.hints, "HintsQueue")
