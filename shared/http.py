"""What every HTTP handler shares: the caller from the JWT claims, and one mapping of typed errors to responses."""

from __future__ import annotations

import json
import re

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from pydantic import ValidationError

from shared.domain.connections import Caller
from shared.errors import AppError, BadRequest, Forbidden, Unauthorized, Unprocessable, UnsupportedMediaType
from shared.observability import get_logger
from shared.quickbooks.errors import QuickBooksError, Throttled

TENANT_CLAIM = "tenant_id"
# Tenant ids become parts of storage keys (TENANT#{id}, '#'-separated) and schedule names: only this alphabet is let in.
TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
ROLE_CLAIM = "role"


def caller(app: APIGatewayHttpResolver) -> Caller:
    """Claims verified by the API Gateway JWT authorizer (the local gateway runs the same verification)."""
    ctx = app.current_event.request_context
    claims = (ctx.authorizer.jwt_claim if ctx.authorizer else None) or {}
    tenant, role = claims.get(TENANT_CLAIM), claims.get(ROLE_CLAIM)
    if not tenant or not role:
        raise Unauthorized("a platform token with tenant_id and role is required")
    if not isinstance(tenant, str) or not TENANT_ID.fullmatch(tenant):
        raise Forbidden("the token's tenant_id is not a valid tenant id")
    return Caller(tenant_id=str(tenant), role=str(role), subject=str(claims.get("sub", "")))


def unsupported_media(event: dict) -> dict | None:
    """A body that is not JSON gets a 415 before routing: Powertools' validation would try to parse form data itself
    (and a multipart type without a boundary raises ValueError, a 500)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if not event.get("body") or ctype == "application/json" or (ctype.startswith("application/")
                                                                and ctype.endswith("+json")):
        return None
    body = UnsupportedMediaType("send the body as application/json").to_body()
    return {"statusCode": 415, "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(body), "isBase64Encoded": False}


def install_error_handlers(app: APIGatewayHttpResolver, service: str) -> None:
    logger = get_logger(service)

    @app.exception_handler(AppError)
    def _app_error(exc: AppError) -> Response:
        logger.info("request refused", extra={"status": exc.status, "code": exc.code})
        return Response(exc.status, content_types.APPLICATION_JSON, exc.to_body())

    @app.exception_handler(ValidationError)
    def _invalid(exc: ValidationError) -> Response:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        body = Unprocessable("invalid request", details=details).to_body()
        return Response(422, content_types.APPLICATION_JSON, body)

    @app.exception_handler(RequestValidationError)
    def _request_invalid(exc: RequestValidationError) -> Response:
        # Powertools' validation against the route's Pydantic models: the same error shape as every other refusal,
        # naming each field and never echoing the input back.
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return Response(400, content_types.APPLICATION_JSON, BadRequest("the body is not valid JSON").to_body())
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
                   for e in exc.errors()]
        body = Unprocessable("invalid request", details=details).to_body()
        return Response(422, content_types.APPLICATION_JSON, body)

    @app.exception_handler(ResponseValidationError)
    def _response_invalid(exc: ResponseValidationError) -> Response:
        # Our answer broke our own contract: a defect, logged for us, reported in the one error shape.
        logger.error("response violates the contract", extra={"errors": [e.get("loc") for e in exc.errors()]})
        body = {"error": {"code": "internal_error", "message": "internal error"}}
        return Response(500, content_types.APPLICATION_JSON, body)

    @app.exception_handler(RecursionError)
    def _too_deep(_exc: RecursionError) -> Response:
        # json.loads gives up on very deep nesting with RecursionError: that is the caller's body, not our fault.
        return Response(400, content_types.APPLICATION_JSON, BadRequest("the body is nested too deeply").to_body())

    @app.exception_handler(QuickBooksError)
    def _quickbooks(exc: QuickBooksError) -> Response:
        # QuickBooks' own code and message reach the admin; 429 stays 429 so the page can say "try again shortly".
        status = 429 if isinstance(exc, Throttled) else 502
        logger.warning("QuickBooks refused the call", extra={"code": exc.code, "quickbooks_status": exc.http_status})
        body = {"error": {"code": "quickbooks_error", "message": exc.message,
                          "quickbooks": {"code": exc.code, "detail": exc.detail}}}
        return Response(status, content_types.APPLICATION_JSON, body)

    @app.exception_handler(json.JSONDecodeError)
    def _malformed(_exc: json.JSONDecodeError) -> Response:
        return Response(400, content_types.APPLICATION_JSON, BadRequest("the body is not valid JSON").to_body())

    @app.not_found
    def _not_found(_exc) -> Response:
        body = {"error": {"code": "not_found", "message": "no such route"}}
        return Response(404, content_types.APPLICATION_JSON, body)
