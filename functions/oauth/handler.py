"""Connect, callback and disconnect for QuickBooks (routes in shared/routes.py)."""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from functions.admin.models import UNAUTHORIZED, Disconnected, ErrorBody
from shared.errors import AppError
from shared.http import caller, install_error_handlers, unsupported_media
from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer
from shared.quickbooks.errors import QuickBooksError
from shared.runtime import runtime

SERVICE = "oauth"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)
install_error_handlers(app, SERVICE)


_ERR = {"content": {"application/json": {"model": ErrorBody}}}


@app.get("/oauth/connect", include_in_schema=False)
def connect(redirect: Annotated[Literal["0", "1"], Query()] = "0"):
    who = caller(app)
    bind_correlation(logger, who.tenant_id)
    url = runtime().connection_service.start_connect(who)
    if redirect == "1":
        return Response(302, content_types.TEXT_PLAIN, "", headers={"Location": url})
    return {"authorization_url": url}


@app.get("/oauth/callback", include_in_schema=False)
def callback():
    q = app.current_event.get_query_string_value
    try:
        connection = runtime().connection_service.complete_connect(
            q("code") or "", q("state") or "", q("realmId") or "")
    except AppError as exc:
        metrics.add_metric("ConnectRefused", "Count", 1)
        return _page(exc.status, "QuickBooks was not connected", exc.message)
    except QuickBooksError as exc:  # the grant was revoked on the way (ConnectionService); say so on a page
        metrics.add_metric("ConnectRefused", "Count", 1)
        return _page(502, "QuickBooks was not connected",
                     f"QuickBooks could not be reached to finish connecting ({exc.code}). Nothing was connected; "
                     "try again from Settings.")
    metrics.add_metric("Connected", "Count", 1)
    return _page(200, "QuickBooks connected", f"Connected to {connection.company_name}. You can close this window.")


# Powertools reads these as its OpenAPIResponse shape; the error entries carry the one error model.
_DISCONNECT_RESPONSES: dict[int, Any] = {200: {"description": "OK"}, 401: UNAUTHORIZED} | {
    s: {"description": d, **_ERR} for s, d in
    ((403, "not allowed for this role"), (409, "not connected"), (415, "body not JSON"), (422, "invalid request"),
     (500, "internal error"))}


@app.post("/admin/disconnect", tags=["connection"], summary="Disconnect QuickBooks",
          description="Full admins only. Revokes the grant at Intuit, deletes the schedule, keeps the links so a "
                      "reconnect to the same company resumes without duplicates.",
          responses=_DISCONNECT_RESPONSES)
def disconnect() -> Disconnected:
    who = caller(app)
    bind_correlation(logger, who.tenant_id)
    return runtime().connection_service.disconnect(who).public()


def _page(status: int, title: str, message: str) -> Response:
    title, message = html.escape(title), html.escape(message)
    body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{message}</p>"
    return Response(status, content_types.TEXT_HTML, body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return unsupported_media(event) or app.resolve(event, context)
