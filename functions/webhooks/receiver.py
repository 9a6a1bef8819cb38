"""QuickBooks and platform webhooks: verify the signature, dedupe, enqueue, answer fast."""

from __future__ import annotations

import base64
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

from shared.domain.hints import HintIntake
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
    from shared.data.dedupe import DynamoDedupe
    from shared.domain.platform_hints import platform_verifier

    rt = runtime()
    return HintIntake(rt.connections, DynamoDedupe(), SqsHintQueue(rt.env.queue_hints_url),
                      rt.secret.webhook_verifier_token, platform_verifier(rt.secret.fsp_webhook_master_secret))


def _raw_body() -> bytes:
    event = app.current_event
    body = event.get("body") or ""
    # The signature is over the exact bytes sent; API Gateway may hand them over base64-encoded.
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


@app.post("/webhooks/quickbooks")
def quickbooks():
    accepted = intake().quickbooks(_raw_body(), app.current_event.headers.get("intuit-signature"))
    metrics.add_metric("QuickBooksHintsAccepted", "Count", accepted)
    return {"accepted": accepted}


@app.post("/webhooks/fieldservice")
def fieldservice():
    accepted = intake().fieldservice(_raw_body(), app.current_event.headers.get("fsp-signature"))
    metrics.add_metric("PlatformHintsAccepted", "Count", accepted)
    return {"accepted": accepted}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return app.resolve(event, context)
