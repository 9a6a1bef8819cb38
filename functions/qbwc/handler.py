"""The QuickBooks Web Connector endpoint (`POST /qbwc`, SOAP 1.1; `GET /qbwc?wsdl`) and the Desktop admin routes
(`/admin/desktop/...`, platform JWT). Routes in shared/routes.py; protocol in shared/qbdesktop/."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from shared.errors import Conflict, NotFound
from shared.http import caller, install_error_handlers
from shared.observability import bind_correlation, get_logger, get_metrics, get_tracer
from shared.qbdesktop import passwords, soap
from shared.qbdesktop.phases import PENDING_PHASE, desktop_run_id
from shared.qbdesktop.schedule import RUN_EVERY_MINUTES

SERVICE = "qbwc"
OWNER_ID = "{6B1C3A52-8E4F-4F0B-9C61-2F1D7E5A9B34}"  # one per application, never per file (qbd-facts.md QWC)
APP_NAME = "qbsync"
logger, metrics, tracer = get_logger(SERVICE), get_metrics(SERVICE), get_tracer(SERVICE)
app = APIGatewayHttpResolver()
install_error_handlers(app, SERVICE)


@lru_cache(maxsize=1)
def _deps():
    from shared.data.desktop_repo import DesktopRepo
    from shared.data.repos import ErrorRepo, LinkRepo, ReviewRepo, RunRepo
    from shared.qbdesktop.service import WebConnectorService
    from shared.runtime import runtime

    rt = runtime()
    repo, runs = DesktopRepo(), RunRepo()

    def drain_for(tenant_id: str):
        from shared.data.repos import SettingsRepo
        from shared.domain.settings import SyncSettings, default_settings
        from shared.qbdesktop.drain import Drain, DrainDeps

        stored = SettingsRepo().get(tenant_id)
        settings = SyncSettings.model_validate(stored[0]) if stored else default_settings()
        return Drain(DrainDeps(tenant_id=tenant_id, repo=repo, links=LinkRepo(), errors=ErrorRepo(), runs=runs,
                               platform=rt.fieldservice, settings=settings, review=ReviewRepo()))

    return repo, runs, WebConnectorService(repo, runs, drain_for), drain_for


# -- the Web Connector ----------------------------------------------------------------------------------------------

def _app_url(event: dict) -> str:
    ctx = event.get("requestContext") or {}
    host = ctx.get("domainName") or "localhost"
    scheme = "http" if host.split(":")[0] in ("127.0.0.1", "localhost") else "https"
    return f"{scheme}://{host}/qbwc"


def _soap_reply(status: int, body: bytes | str, ctype: str = "text/xml; charset=utf-8") -> dict:
    return {"statusCode": status, "headers": {"Content-Type": ctype},
            "body": body.decode("utf-8") if isinstance(body, bytes) else body, "isBase64Encoded": False}


def _web_connector(event: dict) -> dict:
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "POST")
    if method == "GET":
        return _soap_reply(200, soap.wsdl(_app_url(event)))
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    try:
        call = soap.parse_call(body)
        service = _deps()[2]
        result = getattr(service, call.operation)(**call.params)
    except soap.SoapFault as fault:
        metrics.add_metric("SoapFault", "Count", 1)
        return _soap_reply(500, soap.fault(fault))
    metrics.add_metric(f"Qbwc_{call.operation}", "Count", 1)
    return _soap_reply(200, soap.response(call.operation, result))


# -- admin ----------------------------------------------------------------------------------------------------------

def _connection(tenant_id: str):
    connection = _deps()[0].connection(tenant_id)
    if connection is None:
        raise NotFound("no QuickBooks Desktop connection: POST /admin/desktop/connect first")
    return connection


@app.post("/admin/desktop/connect")
def connect():
    who = caller(app)
    bind_correlation(logger, who.tenant_id)
    repo = _deps()[0]
    password = passwords.new_password()
    user_name = f"qbsync-{uuid.uuid4().hex[:12]}"
    file_id = "{" + str(uuid.uuid4()).upper() + "}"
    if not repo.create_connection(who.tenant_id, user_name, OWNER_ID, file_id, passwords.hash_password(password)):
        raise Conflict("this tenant already has a QuickBooks Desktop connection; reset its password instead")
    _deps()[3](who.tenant_id).request_lists()  # the settings API's accounts, classes and vendors, at the first poll
    return Response(201, content_types.APPLICATION_JSON, json.dumps(
        {"user_name": user_name, "password": password, "file_id": file_id,
         "note": "Shown once. Type it into the Web Connector after adding the .qwc file."}))


@app.post("/admin/desktop/password")
def reset_password():
    who = caller(app)
    connection = _connection(who.tenant_id)
    password = passwords.new_password()
    _deps()[0].set_password(connection.user_name, passwords.hash_password(password))
    return {"user_name": connection.user_name, "password": password}


@app.get("/admin/desktop/qwc")
def qwc():
    who = caller(app)
    connection = _connection(who.tenant_id)
    from shared.data.repos import SettingsRepo

    stored = SettingsRepo().get(who.tenant_id)
    frequency = ((stored[0] if stored else {}).get("schedule") or {}).get("frequency", "every_1h")
    host = app.current_event.request_context.domain_name
    url = f"https://{host}/qbwc"  # QBWC connects only over https (localhost excepted), PG ch.1
    body = (f'<?xml version="1.0"?>\n<QBWCXML>\n<AppName>{APP_NAME}</AppName>\n<AppID></AppID>\n'
            f"<AppURL>{escape(url)}</AppURL>\n<AppDescription>Field-service platform sync</AppDescription>\n"
            f"<AppSupport>{escape(url)}?wsdl</AppSupport>\n<UserName>{escape(connection.user_name)}</UserName>\n"
            f"<OwnerID>{OWNER_ID}</OwnerID>\n<FileID>{connection.file_id}</FileID>\n<QBType>QBFS</QBType>\n"
            f"<Style>Document</Style>\n<Scheduler>\n<RunEveryNMinutes>{RUN_EVERY_MINUTES[frequency]}"
            "</RunEveryNMinutes>\n</Scheduler>\n<IsReadOnly>false</IsReadOnly>\n</QBWCXML>\n")
    return Response(200, "application/x-qwc", body,
                    headers={"Content-Disposition": f'attachment; filename="{APP_NAME}.qwc"'})


@app.post("/admin/desktop/onboard")
def onboard():
    who = caller(app)
    _connection(who.tenant_id)
    from shared.domain.records import SyncRun

    drain = _deps()[3](who.tenant_id)
    run = SyncRun(tenant_id=who.tenant_id, run_id=desktop_run_id("onboarding"), kind="onboarding", status="pending",
                  started_at=datetime.now(UTC), phase=PENDING_PHASE)
    drain.record_run(run)
    drain.request_onboarding(run.run_id)
    return Response(202, content_types.APPLICATION_JSON, json.dumps(run.public()))


@app.post("/admin/desktop/sync")
def sync_now():
    """WORK's "Sync Now" for Desktop: an everyday run queued for the next poll (a daily schedule's time does not
    apply to it). A Desktop run still waiting covers the request, as on QuickBooks Online."""
    who = caller(app)
    connection = _connection(who.tenant_id)
    if not (connection.state or {}).get("onboarded"):
        raise Conflict("onboard first: POST /admin/desktop/onboard, then let the Web Connector run")
    from shared.domain.records import SyncRun

    drain = _deps()[3](who.tenant_id)
    waiting = drain.waiting_run()
    if waiting is not None:
        return Response(202, content_types.APPLICATION_JSON, json.dumps({**waiting.public(), "started": False}))
    run = SyncRun(tenant_id=who.tenant_id, run_id=desktop_run_id("sync"), kind="sync",
                  status="pending", started_at=datetime.now(UTC), phase=PENDING_PHASE)
    drain.record_run(run)
    drain.request_sync(run.run_id)
    return Response(202, content_types.APPLICATION_JSON, json.dumps({**run.public(), "started": True}))


@app.post("/admin/desktop/retry")
def retry():
    who = caller(app)
    _connection(who.tenant_id)
    queued = _deps()[3](who.tenant_id).retry_failed()
    return {"requeued": queued, "phase": PENDING_PHASE if queued else "Up to date"}


@app.get("/admin/desktop/status")
def status():
    who = caller(app)
    connection = _connection(who.tenant_id)
    queued = _deps()[0].work(who.tenant_id, include_failed=True)
    return {"user_name": connection.user_name, "file_id": connection.file_id, "company_name": connection.company_name,
            "last_session_at": connection.last_session_at.isoformat() if connection.last_session_at else None,
            "last_error": connection.last_error, "onboarded": bool((connection.state or {}).get("onboarded")),
            "class_tracking": (connection.state or {}).get("class_tracking"),
            "job_types_available": (connection.state or {}).get("class_tracking") is True,
            "pending": sum(1 for w in queued if w.status != "failed"),
            "failed": sum(1 for w in queued if w.status == "failed"),
            "phase": PENDING_PHASE if queued else "Up to date"}


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event, context):
    if (event.get("rawPath") or "").rstrip("/") == "/qbwc":
        return _web_connector(event)
    return app.resolve(event, context)
