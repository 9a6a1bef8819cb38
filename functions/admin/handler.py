"""Admin API: connection status, settings, QuickBooks lists, enable, sync now, history, unsynced entities, links,
review mode. Every body and query is validated against functions/admin/models.py by Powertools, which also generates
the OpenAPI document (GET /admin/openapi.json, committed as contracts/admin.openapi.json)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.logging import correlation_paths

from functions.admin import models as m
from functions.admin.service import service
from shared.http import caller, install_error_handlers, unsupported_media
from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer

SERVICE = "admin"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)
install_error_handlers(app, SERVICE)

Cursor = Annotated[str | None, Query(max_length=1024, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=500)]
ErrorId = Annotated[str, Path(pattern=m.ID_PATTERN, description="an unsynced entity's id")]
ADMIN_ONLY = "Full admins only (restricted admins get 403)."
_ERR = {"content": {"application/json": {"model": m.ErrorBody}}}


def errors_doc(*statuses: int, ok: int | None = 200) -> dict:
    """The answers a route can give: its success (schema from the return annotation) and its errors, all in the one
    error shape."""
    described = {400: "malformed request", 403: "not allowed for this role", 404: "not found for this tenant",
                 409: "conflict (not connected, needs reconnect, stale version)", 415: "the body is not JSON",
                 422: "invalid body or query", 429: "QuickBooks throttled", 500: "internal error",
                 502: "QuickBooks refused the call"}
    success = {ok: {"description": "accepted" if ok == 202 else "OK"}} if ok else {}
    errors = {s: {"description": described[s], **_ERR} for s in (415, 422, 500, *statuses)}
    return {**success, 401: m.UNAUTHORIZED, **errors}


def _who():
    who = caller(app)
    bind_correlation(logger, who.tenant_id)
    return who


def _accepted(body: dict) -> Response:
    return Response(202, content_types.APPLICATION_JSON, body)


@app.get("/admin/openapi.json", summary="This document", tags=["contract"], responses=errors_doc())
def openapi_json() -> m.OpenAPIDocument:
    from functions.admin.contract import document

    _who()
    return document()


@app.get("/admin/connection", summary="Connection status", tags=["connection"], responses=errors_doc())
def connection() -> m.ConnectionStatus:
    return service().connection(_who())


@app.get("/admin/settings", tags=["settings"], responses=errors_doc())
def get_settings() -> m.SettingsBody:
    return service().get_settings(_who())


@app.put("/admin/settings", tags=["settings"], description=ADMIN_ONLY + " A rejected save is a 422 naming every "
         "field; a stale version a 409.", responses=errors_doc(400, 403, 409, 429, 502))
def put_settings(body: Annotated[m.SettingsUpdate, Body()]) -> m.SettingsBody:
    return service().put_settings(_who(), body.model_dump())


@app.get("/admin/quickbooks/<kind>", tags=["settings"], summary="QuickBooks lists for the settings page",
         description="accounts (optionally ?type=Income ...), classes, vendors, tax-codes, items as `{items: [...]}`; "
                     "`preferences` answers QuickBooks' Preferences object itself.",
         responses=errors_doc(404, 409, 429, 502))
def quickbooks_list(kind: Annotated[Literal["accounts", "classes", "vendors", "tax-codes", "items", "preferences"],
                                    Path()],
                    type: Annotated[str | None, Query(max_length=64)] = None  # noqa: A002
                    ) -> m.QuickBooksList | dict[str, Any]:
    rows = service().quickbooks_list(_who(), kind, type, fresh=True)  # the page shows QuickBooks as it is now
    return {"items": rows} if isinstance(rows, list) else rows


@app.get("/admin/platform/job-types", tags=["settings"], summary="The platform's job types (the Job Types tab)",
         description="This tenant's job types as the field-service platform has them, for the per-job-type class "
                     "rows of `job_types.class_mapping`.", responses=errors_doc(400, 404))
def platform_job_types(cursor: Cursor = None, limit: Limit = 100) -> m.PlatformJobTypePage:
    return service().platform_job_types(_who(), cursor, limit)


@app.post("/admin/enable", tags=["runs"], summary="Enable the integration (onboarding, then the schedule)",
          description=ADMIN_ONLY, status_code=202, responses=errors_doc(400, 403, 409, ok=202))
def enable() -> Response[m.RunStarted]:
    return _accepted(service().enable(_who()))


@app.post("/admin/sync", tags=["runs"], summary="Sync now", status_code=202,
          description="Answers at once: `started` false names the run already going, which covers this request.",
          responses=errors_doc(409, ok=202))
def sync_now() -> Response[m.RunStarted]:
    return _accepted(service().sync_now(_who()))


@app.get("/admin/sync-runs", tags=["runs"], summary="Sync history, newest first", responses=errors_doc(400))
def runs(cursor: Cursor = None, limit: Limit = 50) -> m.RunPage:
    return service().runs(_who(), cursor, limit)


@app.get("/admin/sync-runs/<run_id>", tags=["runs"], responses=errors_doc(404))
def run(run_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$")]) -> m.Run:
    return service().run(_who(), run_id)


@app.get("/admin/onboarding/conflicts", tags=["onboarding"], responses=errors_doc(404, 409))
def conflicts() -> m.ConflictList:
    return {"items": service().conflicts(_who())}


@app.post("/admin/onboarding/conflicts/resolve", tags=["onboarding"], description=ADMIN_ONLY,
          responses=errors_doc(400, 403, 404, 409))
def resolve_conflict(body: Annotated[m.ConflictResolution, Body()]) -> m.ConflictResolved:
    return service().resolve_conflict(_who(), body.model_dump())


@app.get("/admin/errors", tags=["unsynced"], summary="Unsynced entities",
         description="JSON pages by default; `format=csv` or `format=xlsx` downloads the whole error log.",
         responses={200: {"description": "a page of unsynced entities, or the log as a file", "content": {
             "application/json": {"model": m.UnsyncedPage}, "text/csv": {"schema": {"type": "string"}},
             XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}}}}, **errors_doc(400, ok=None)})
def errors(cursor: Cursor = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
           all: Annotated[Literal["0", "1"], Query(description="1: include resolved entries")] = "0",  # noqa: A002
           dismissed: Annotated[Literal["0", "1"], Query(description="1: include dismissed entries")] = "0",
           format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json"):  # noqa: A002
    who = _who()
    if format == "csv":
        return Response(200, "text/csv", service().errors_csv(who),
                        headers={"Content-Disposition": 'attachment; filename="quickbooks-sync-errors.csv"'})
    if format == "xlsx":
        return Response(200, XLSX, service().errors_xlsx(who),
                        headers={"Content-Disposition": 'attachment; filename="quickbooks-sync-errors.xlsx"'})
    return service().errors_page(who, cursor, limit, all == "1", dismissed == "1")


@app.post("/admin/errors/retry", tags=["unsynced"], summary="Resync many", description=ADMIN_ONLY, status_code=202,
          responses=errors_doc(403, 404, 409, ok=202))
def retry_many(body: Annotated[m.RetryMany, Body()]) -> Response[m.RetryRequested]:
    return _accepted(service().retry(_who(), body.ids))


@app.post("/admin/errors/<error_id>/retry", tags=["unsynced"], summary="Resync one", description=ADMIN_ONLY,
          status_code=202, responses=errors_doc(403, 404, 409, ok=202))
def retry(error_id: ErrorId) -> Response[m.RetryRequested]:
    return _accepted(service().retry(_who(), [error_id]))


@app.post("/admin/errors/<error_id>/dismiss", tags=["unsynced"], description=ADMIN_ONLY + " Hidden until it fails "
          "again.", responses=errors_doc(403, 404))
def dismiss(error_id: ErrorId) -> m.Dismissed:
    return service().dismiss(_who(), error_id)


@app.post("/admin/links/<entity>/<fsp_id>/clear", tags=["unsynced"], summary="Clear ID",
          description=ADMIN_ONLY + ' Needs `{"confirm": true}`: the next sync creates the record in QuickBooks again.',
          responses=errors_doc(403, 404))
def clear_link(entity: Annotated[str, Path(pattern=r"^[a-z_]{1,32}$", description="customer, site, item, invoice, "
                                                                                    "payment, class, ...")],
               fsp_id: Annotated[str, Path(pattern=m.RECORD_ID_PATTERN)],
               body: Annotated[m.ClearId, Body()]) -> m.Cleared:
    return service().clear_link(_who(), entity, fsp_id)


@app.post("/admin/webhooks/redrive", tags=["webhooks"], summary="Redrive dead-lettered webhook hints",
          description=ADMIN_ONLY + " This tenant's dead-lettered webhook hints back onto the hints queue "
                                   "(docs/webhooks.md).", responses=errors_doc(403))
def redrive_hints() -> m.Redriven:
    from shared.aws.hints_queue import redrive
    from shared.runtime import runtime

    who = _who()
    who.require_admin()
    env = runtime().env
    return {"moved": redrive(env.queue_hints_dlq_url, env.queue_hints_url, tenant_id=who.tenant_id).moved}


@app.get("/admin/review", tags=["review"], summary="Sync Wizard lists",
         description="side=import: 'Import from QuickBooks'; side=export: 'Export to QuickBooks'. Every entry is "
                     "checked by default.", responses=errors_doc(400))
def review(side: Annotated[Literal["import", "export"] | None, Query()] = None, cursor: Cursor = None,
           limit: Limit = 100) -> m.ReviewPage:
    return service().review_list(_who(), side, "waiting", cursor, limit)


@app.get("/admin/review/pending", tags=["review"], summary="Pending syncs (approved, waiting for the next run)",
         responses=errors_doc(400))
def review_pending(cursor: Cursor = None, limit: Limit = 100) -> m.ReviewPage:
    return service().review_list(_who(), None, "approved", cursor, limit)


@app.get("/admin/review/results", tags=["review"], summary="Successful and failed syncs of approved entries",
         responses=errors_doc(400))
def review_results(outcome: Annotated[Literal["succeeded", "failed"], Query()], cursor: Cursor = None,
                   limit: Limit = 100) -> m.ReviewResultPage:
    return service().review_results(_who(), outcome, cursor, limit)


@app.get("/admin/review/count", tags=["review"], summary="The Sync Wizard badge", responses=errors_doc())
def review_count() -> m.ReviewCount:
    return service().review_count(_who())


@app.post("/admin/review/approve", tags=["review"], summary="Approve checked", description=ADMIN_ONLY,
          responses=errors_doc(400, 403))
def review_approve(body: Annotated[m.ReviewApproval, Body()]) -> m.ReviewDecided:
    return service().review_approve(_who(), body.checked, body.unchecked, body.as_of)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return unsupported_media(event) or app.resolve(event, context)
