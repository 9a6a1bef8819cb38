"""Drains the hints queue: each verified hint asks for a sync run of its tenant (coalesced per window)."""

from __future__ import annotations

import time
from functools import lru_cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict

from shared.domain.hints import HintDispatcher
from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer
from shared.runtime import runtime

SERVICE = "webhooks-worker"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
processor = BatchProcessor(event_type=EventType.SQS)


class HintMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    source: str
    entity: str
    operation: str


@lru_cache(maxsize=1)
def dispatcher() -> HintDispatcher:
    from shared.aws.workflows import StepFunctionsStarter
    from shared.data.repos import RunRepo

    rt = runtime()
    return HintDispatcher(rt.connections, RunRepo(),
                          StepFunctionsStarter(rt.env.onboarding_state_machine_arn, rt.env.sync_state_machine_arn),
                          time.time)


def record_handler(record: SQSRecord) -> None:
    hint = HintMessage.model_validate_json(record.body)
    bind_correlation(logger, hint.tenant_id)
    run_id = dispatcher().dispatch(hint.tenant_id)
    logger.info("hint handled", extra={"source": hint.source, "entity": hint.entity, "run_id": run_id})


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
