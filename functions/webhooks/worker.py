"""Drains the hints queue: each tenant's hints in a batch, in order, ask for at most one sync run (SyncRequests).

Powertools' batch processor handles one record at a time; here the records of one tenant are applied together
(one sync request per tenant per batch instead of up to ten), with the same contract: a failure reports that
record and every later record of its message group as failed (FIFO order, as `SqsFifoPartialProcessor` with
`skip_group_on_error`), and the other tenants' records still succeed. A body that can never be applied (not a
hint message) is parked on the dead-letter queue at once with its error, instead of holding its group for five
receives.

A FIFO batch holds messages of several message groups (tenants) when their groups are not in flight, and the
tenants of a batch are applied side by side, each in its own thread and in its own order: applied one after the
other, a quiet company's one hint waited for a busy company's apply of a hundred records in the same batch (issue
12's fairness benchmark). Tenants share nothing an apply writes (each has its own gate, links and ledger keys).

Each tenant's messages are deleted as soon as its apply is done (`settle`), not when the invocation ends: a FIFO
group stays locked while any of its messages is in flight, so a quiet company's next hint waited for the busy
company's apply in the batch it last shared with it, and for the one after that (issue 12's fairness benchmark:
a quiet company's five client edits, five messages, came out later than its one QuickBooks delivery, p95 4.1
against 3.0 s).
What is settled early was applied and ledgered; the event source mapping's own delete after the invocation finds
it gone, which SQS accepts (decision 56)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from pydantic import ValidationError

from shared.domain.hints import Applied, HintApplier, HintMessage
from shared.observability import get_logger, get_metrics, get_tracer
from shared.runtime import runtime

SERVICE = "webhooks-worker"
TENANTS_AT_ONCE = 10  # a batch holds at most 10 messages, so at most 10 tenants
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)


@lru_cache(maxsize=1)
def applier() -> HintApplier:
    from shared.aws.workflows import StepFunctionsStarter
    from shared.data.dedupe import DynamoHintLedger
    from shared.data.repos import RunRepo
    from shared.data.sync_gate import DynamoSyncGate
    from shared.domain.record_sync import RecordSync
    from shared.domain.sync_requests import SyncRequests
    from shared.tasks import belongs_to_the_run

    rt = runtime()
    starter = StepFunctionsStarter(rt.env.onboarding_state_machine_arn, rt.env.sync_state_machine_arn)
    requests = SyncRequests(DynamoSyncGate(), RunRepo(), starter)
    records = RecordSync(rt.sync_engine, DynamoSyncGate(), RunRepo(), requests, belongs_to_the_run)
    return HintApplier(rt.connections, DynamoHintLedger(), requests, records)


@lru_cache(maxsize=1)
def hints_queue():
    from shared.aws.hints_queue import SqsHintQueue

    return SqsHintQueue(runtime().env.queue_hints_url)


@lru_cache(maxsize=1)
def dead_letters():
    from shared.aws.hints_queue import SqsDeadLetters

    return SqsDeadLetters(runtime().env.queue_hints_dlq_url)


def _group(record: dict) -> str:
    return record.get("attributes", {}).get("MessageGroupId", "")


def _settle(records: list[dict]) -> None:
    """Free these records' message group now: another tenant's apply in the batch may run for seconds yet."""
    handles = [r["receiptHandle"] for r in records if r.get("receiptHandle")]
    try:
        left = hints_queue().settle(handles) if handles else 0
    except Exception:  # noqa: BLE001 - not settled early: the event source mapping deletes them after the invocation
        logger.warning("settling applied hint messages early failed", exc_info=True)
        return
    if left:
        logger.warning("some applied hint messages were not settled early", extra={"not_settled": left})


def process(records: list[dict]) -> list[str]:
    """The ids of the records to retry."""
    failed: list[str] = []
    by_tenant: dict[str, list[tuple[dict, HintMessage]]] = {}
    for record in records:
        try:
            message = HintMessage.model_validate_json(record["body"])
        except ValidationError as exc:
            error = f"not a hint message: {exc.error_count()} problem(s), first {exc.errors()[0]['type']}"
            logger.error("poison hint message", extra={"message_id": record["messageId"], "error": error})
            try:
                dead_letters().park(record["body"], _group(record), record["messageId"], error)
            except Exception:  # noqa: BLE001 - not parked: retried, and the redrive policy parks it after 5
                logger.exception("parking a poison message failed", extra={"message_id": record["messageId"]})
                failed.append(record["messageId"])
            continue
        by_tenant.setdefault(message.tenant_id, []).append((record, message))
    held = {_group(r) for r in records if r["messageId"] in failed}  # a group with a record to retry keeps order

    def apply(tenant_id: str, items: list[tuple[dict, HintMessage]]) -> Applied | Exception:
        try:
            applied = applier().apply(tenant_id, [m for _, m in items])
        except Exception as exc:  # noqa: BLE001 - reported per record: retried, then dead-lettered by the queue
            return exc
        if len(by_tenant) > 1 and not any(_group(r) in held for r, _ in items):
            _settle([r for r, _ in items])
        return applied

    tenants = list(by_tenant.items())
    if len(tenants) > 1:
        with ThreadPoolExecutor(max_workers=min(len(tenants), TENANTS_AT_ONCE),
                                thread_name_prefix="hints-tenant") as pool:
            outcomes = list(pool.map(lambda t: apply(*t), tenants))
    else:
        outcomes = [apply(*t) for t in tenants]
    for (tenant_id, items), applied in zip(tenants, outcomes, strict=True):
        if isinstance(applied, Exception):  # logged here, on the invocation's thread, with its traceback
            logger.error("applying hints failed; the records will be retried", exc_info=applied,
                         extra={"tenant_id": tenant_id, "error": f"{type(applied).__name__}: {applied}"})
            failed += [r["messageId"] for r, _ in items]
            continue
        for _, message in items:
            for hint in message.hints:
                logger.info("hint", extra={"tenant_id": tenant_id, "source": message.source, "entity": hint.entity,
                                           "entity_id": hint.entity_id, "operation": hint.operation,
                                           "merged_from": hint.merged_from or None,
                                           "duplicate": hint in applied.duplicates, "run_id": applied.run_id,
                                           "by_record": applied.by_record, "ignored": applied.ignored})
        metrics.add_metric("HintsFresh", "Count", len(applied.fresh))
        metrics.add_metric("HintsDuplicate", "Count", len(applied.duplicates))
    # FIFO: a failed record's later group-mates must not be applied before it, so they are retried too.
    groups = {_group(r) for r in records if r["messageId"] in failed}
    return [r["messageId"] for r in records if r["messageId"] in failed or (_group(r) and _group(r) in groups)]


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": i} for i in process(event.get("Records") or [])]}
