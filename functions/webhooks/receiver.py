"""QuickBooks and platform webhooks: size, signature, strict parse, enqueue, answer fast (shared/domain/hints.py)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

from shared.domain.hints import HintIntake, Intake
from shared.errors import BadRequest
from shared.http import install_error_handlers
from shared.observability import get_logger, get_metrics, get_tracer
from shared.runtime import runtime

SERVICE = "webhooks"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
app = APIGatewayHttpResolver()
install_error_handlers(app, SERVICE)


@lru_cache(maxsize=1)
def intake() -> HintIntake:
    from shared.aws.hints_queue import SqsHintQueue
    from shared.domain.platform_hints import platform_verifier

    rt = runtime()
    return HintIntake(rt.connections, SqsHintQueue(rt.env.queue_hints_url), rt.secret.webhook_verifier_token,
                      platform_verifier(rt.secret.fsp_webhook_master_secret))


def _raw_body() -> bytes:
    event = app.current_event
    body = event.get("body") or ""
    # The signature is over the exact bytes sent; API Gateway hands non-text bodies over base64-encoded.
    if not event.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("body is not valid base64") from None


def _answer(sender: str, result: Intake) -> dict:
    for ignored in result.ignored:
        logger.info("webhook events ignored", extra={"sender": sender, **ignored})
    metrics.add_metric(f"{sender}HintsAccepted", "Count", result.accepted)
    return {"accepted": result.accepted, "ignored": sum(i["events"] for i in result.ignored)}


@app.post("/webhooks/quickbooks")
def quickbooks():
    return _answer("QuickBooks", intake().quickbooks(_raw_body(), app.current_event.headers.get("intuit-signature")))


@app.post("/webhooks/fieldservice")
def fieldservice():
    return _answer("Platform", intake().fieldservice(_raw_body(), app.current_event.headers.get("fsp-signature")))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return app.resolve(event, context)
