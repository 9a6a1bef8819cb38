"""Admin API: connection status, settings, QuickBooks lists, enable, sync now, history, error log, links."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths

from functions.admin.service import service
from shared.http import caller, install_error_handlers
from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer

SERVICE = "admin"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
app = APIGatewayHttpResolver()
install_error_handlers(app, SERVICE)


def _who():
    who = caller(app)
    bind_correlation(logger, who.tenant_id)
    return who


@app.get("/admin/connection")
def connection():
    return service().connection(_who())


@app.get("/admin/settings")
def get_settings():
    return service().get_settings(_who())


@app.put("/admin/settings")
def put_settings():
    who, body = _who(), app.current_event.json_body
    return service().put_settings(who, body)


@app.get("/admin/quickbooks/<kind>")
def quickbooks_list(kind: str):
    rows = service().quickbooks_list(_who(), kind, app.current_event.get_query_string_value("type"))
    return {"items": rows} if isinstance(rows, list) else rows


@app.post("/admin/enable")
def enable():
    return Response(202, content_types.APPLICATION_JSON, service().enable(_who()))


@app.post("/admin/sync")
def sync_now():
    return Response(202, content_types.APPLICATION_JSON, service().sync_now(_who()))


@app.get("/admin/sync-runs")
def runs():
    return {"items": service().runs(_who())}


@app.get("/admin/sync-runs/<run_id>")
def run(run_id: str):
    return service().run(_who(), run_id)


@app.get("/admin/onboarding/conflicts")
def conflicts():
    return {"items": service().conflicts(_who())}


@app.post("/admin/onboarding/conflicts/resolve")
def resolve_conflict():
    who, body = _who(), app.current_event.json_body
    return service().resolve_conflict(who, body)


@app.get("/admin/errors")
def errors():
    who = _who()
    kind = app.current_event.get_query_string_value("format")
    if kind == "csv":
        return Response(200, "text/csv", service().errors_csv(who),
                        headers={"Content-Disposition": 'attachment; filename="quickbooks-sync-errors.csv"'})
    if kind == "xlsx":
        return Response(200, XLSX, service().errors_xlsx(who),
                        headers={"Content-Disposition": 'attachment; filename="quickbooks-sync-errors.xlsx"'})
    return {"items": service().errors(who, app.current_event.get_query_string_value("all") == "1")}


@app.post("/admin/errors/<key>/retry")
def retry(key: str):
    return Response(202, content_types.APPLICATION_JSON, service().retry(_who(), key))


@app.post("/admin/links/<entity>/<fsp_id>/clear")
def clear_link(entity: str, fsp_id: str):
    return service().clear_link(_who(), entity, fsp_id)


@app.post("/admin/webhooks/redrive")
def redrive_hints():
    """This tenant's dead-lettered webhook hints back onto the hints queue (docs/webhooks.md)."""
    from shared.aws.hints_queue import redrive
    from shared.runtime import runtime

    who = _who()
    who.require_admin()
    env = runtime().env
    return {"moved": redrive(env.queue_hints_dlq_url, env.queue_hints_url, tenant_id=who.tenant_id).moved}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    return app.resolve(event, context)
