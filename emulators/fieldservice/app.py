"""The field-service platform emulator: the whole contract (contracts/fieldservice.openapi.yaml), multi-tenant,
signed webhooks, and a control API under `/_emulator/` (docs/fieldservice.md lists its routes).

Not modelled: jobs and scheduling (invoices carry `job_id` only as a reference), tax computation (the `tax_total` a
dataset states is kept), currencies other than the one stated, rate limits other than injected ones."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from typing import Any

from werkzeug.wrappers import Request, Response

from emulators.common.server import StateFile
from emulators.fieldservice.contract import Contract, contract
from emulators.fieldservice.state import KINDS, EmulatorError, State, Tenant, invalid, new_event_id, parse_ts
from emulators.fieldservice.webhooks import Delivery, WebhookSender

API_ROUTE = re.compile(r"^/v1/tenants/(?P<tenant>[^/]+)/(?P<kind>[a-z_]+)(?:/(?P<id>[^/]+))?/?$")
CREATE_SCHEMA = {"clients": "ClientCreate", "sites": "SiteCreate", "items": "ItemCreate", "payments": "PaymentCreate"}
UPDATE_SCHEMA = {"clients": "ClientUpdate", "sites": "SiteUpdate", "items": "ItemUpdate", "invoices": "InvoiceUpdate",
                 "payments": "PaymentUpdate"}
FILTERS = {"clients": {"active": "bool"}, "sites": {"client_id": "str"}, "job_types": {}, "items": {},
           "invoices": {"status": "status", "client_id": "str"},
           "payments": {"invoice_id": "str", "include_deleted": "bool"}}
STATUSES = {"draft", "approved", "ready_for_sync", "paid", "void"}
MAX_BODY = 5 * 1024 * 1024


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json")


class FieldServiceEmulator:
    def __init__(self, state_file: str | None = None, webhook_url: str | None = None, *,
                 webhook_max_attempts: int = 6, webhook_backoff: float = 0.5, request_log_size: int = 10_000,
                 save_interval: float = 0.5, contract_doc: Contract | None = None):
        self.contract = contract_doc or contract()
        self.state = State(on_event=self._on_event)
        self.state.default_webhook_url = webhook_url
        self.sender = WebhookSender(self._secret_of, max_attempts=webhook_max_attempts, backoff=webhook_backoff)
        self.requests: deque[dict] = deque(maxlen=request_log_size)
        self._request_seq = itertools.count(1)
        self._faults: list[dict] = []
        self._fault_seq = itertools.count(1)
        self._faults_lock = threading.Lock()
        self._persist = StateFile(state_file, self._snapshot, save_interval, "fsp-saver")
        self._persist.restore(self._restore)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def configure_webhooks(self, url: str | None) -> None:
        """Where tenants without their own webhook URL get their events (the local stack's gateway)."""
        self.state.default_webhook_url = url

    def close(self) -> None:
        self._persist.close()
        self.sender.close()

    def save(self) -> None:
        self._persist.save()

    def _snapshot(self) -> tuple[int, str]:
        with self.state.lock:
            version, doc = self.state.version, self.state.to_json()
        return version, json.dumps(doc)

    def _restore(self, raw: bytes) -> int:
        self.state.restore(json.loads(raw.decode("utf-8")))
        return self.state.version

    # -- webhooks -------------------------------------------------------------------------------------------------
    def _secret_of(self, tenant_id: str) -> str:
        return self.state.tenant(tenant_id).webhook_secret

    def _on_event(self, tenant: Tenant, event_type: str, obj: dict) -> None:
        url = self.state.webhook_url_of(tenant)
        if not url:
            return
        event = {"id": new_event_id(), "type": event_type, "tenant_id": tenant.id, "created_at": obj["updated_at"],
                 "data": {"object": obj}}
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.sender.enqueue(Delivery(f"dlv_{event['id'][4:]}", event["id"], event_type, tenant.id, url, body))

    # -- WSGI -----------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = MAX_BODY
        try:
            control = request.path.startswith("/_emulator/")
            response = self._control(request) if control else self._api(request)
        except EmulatorError as exc:
            response = _json(exc.status, exc.body(), exc.headers)
        return response(environ, start_response)

    # -- the contract ---------------------------------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        entry = {"seq": next(self._request_seq), "at": time.time(), "method": request.method, "path": request.path,
                 "query": request.query_string.decode("latin-1"), "tenant_id": None,
                 "idempotency_key": request.headers.get("Idempotency-Key"), "body": None}
        self.requests.append(entry)
        try:
            response = self._api_inner(request, entry)
        except EmulatorError as exc:
            response = _json(exc.status, exc.body(), exc.headers)
            entry["error"] = exc.code
        entry["status"] = response.status_code
        return response

    def _api_inner(self, request: Request, entry: dict) -> Response:
        match = API_ROUTE.match(request.path)
        if not match or match["kind"] not in KINDS:
            raise EmulatorError(404, "not_found", f"no route {request.method} {request.path}")
        tenant_id, kind, record_id = match["tenant"], match["kind"], match["id"]
        entry["tenant_id"] = tenant_id
        tenant = self._authenticate(request, tenant_id)
        self._inject_fault(request, tenant_id)
        if record_id is None and request.method == "GET":
            return _json(200, self._list(request, tenant, kind))
        if record_id is None and request.method == "POST" and kind in CREATE_SCHEMA:
            body = self._body(request, CREATE_SCHEMA[kind], entry)
            record, replayed = self.state.create(tenant, kind, body, request.headers.get("Idempotency-Key"))
            return _json(201, record, {"Idempotent-Replayed": "true"} if replayed else None)
        if record_id is not None and request.method == "GET":
            return _json(200, self.state.get(tenant, kind, record_id))
        if record_id is not None and request.method == "PATCH" and kind in UPDATE_SCHEMA:
            body = self._body(request, UPDATE_SCHEMA[kind], entry)
            return _json(200, self.state.update(tenant, kind, record_id, body))
        if record_id is not None and request.method == "DELETE" and kind == "payments":
            return _json(200, self.state.delete_payment(tenant, record_id))
        raise EmulatorError(405, "method_not_allowed", f"{request.method} is not supported on {request.path}",
                            headers={"Allow": self._allowed(kind, record_id)})

    @staticmethod
    def _allowed(kind: str, record_id: str | None) -> str:
        if record_id is None:
            return "GET, POST" if kind in CREATE_SCHEMA else "GET"
        if kind == "payments":
            return "GET, PATCH, DELETE"
        return "GET, PATCH" if kind in UPDATE_SCHEMA else "GET"

    def _authenticate(self, request: Request, tenant_id: str) -> Tenant:
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise EmulatorError(401, "unauthorized", "missing bearer API key (Authorization: Bearer <key>)")
        tenant = self.state.tenants.get(tenant_id)
        # The same answer for an unknown tenant and a wrong key, so keys cannot be used to probe for tenants.
        if tenant is None or not hmac.compare_digest(key.encode(), tenant.api_key.encode()):
            raise EmulatorError(401, "unauthorized", f"the API key is not valid for tenant {tenant_id}")
        return tenant

    def _body(self, request: Request, schema: str, entry: dict) -> dict:
        if request.mimetype != "application/json":
            raise EmulatorError(415 if request.mimetype else 400, "bad_request",
                                "send the body as JSON with Content-Type: application/json")
        try:
            body = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise EmulatorError(400, "bad_request", "the body is not valid JSON") from None
        entry["body"] = body
        if not isinstance(body, dict):
            raise EmulatorError(400, "bad_request", "the body must be a JSON object")
        errors = self.contract.field_errors(schema, body)
        if errors:
            raise EmulatorError(422, "validation_failed", f"the request does not match {schema}", errors)
        return body

    def _list(self, request: Request, tenant: Tenant, kind: str) -> dict:
        args, allowed = request.args, FILTERS[kind]
        unknown = set(args) - {"limit", "cursor", "updated_since"} - set(allowed)
        if unknown:
            raise _bad_query(sorted(unknown)[0], "unknown_parameter", f"unknown query parameter {sorted(unknown)[0]}")
        limit = _int(args.get("limit", "100"))
        if limit is None or not 1 <= limit <= 1000:
            raise _bad_query("limit", "range", "limit must be an integer from 1 to 1000")
        since = None
        if "updated_since" in args:
            try:
                since = parse_ts(args["updated_since"])
            except ValueError:
                raise _bad_query("updated_since", "format",
                                 "updated_since must be an ISO-8601 timestamp with a time zone") from None
        filters: dict[str, Any] = {"include_deleted": False} if kind == "payments" else {}
        for name, kind_of in allowed.items():
            if name not in args:
                continue
            value = args[name]
            if kind_of == "bool":
                if value not in {"true", "false"}:
                    raise _bad_query(name, "type", f"{name} must be true or false")
                filters[name] = value == "true"
            elif kind_of == "status":
                if value not in STATUSES:
                    raise _bad_query(name, "enum", f"status must be one of {', '.join(sorted(STATUSES))}")
                filters[name] = value
            else:
                filters[name] = value
        return self.state.list(tenant, kind, limit=limit, cursor=args.get("cursor"), updated_since=since,
                               filters=filters)

    def _inject_fault(self, request: Request, tenant_id: str) -> None:
        with self._faults_lock:
            fault = next((f for f in self._faults if _fault_matches(f, request, tenant_id)), None)
            if fault is None:
                return
            fault["remaining"] -= 1
            if fault["remaining"] == 0:
                self._faults.remove(fault)
        if fault.get("delay_ms"):
            time.sleep(fault["delay_ms"] / 1000)
        status = fault.get("status")
        if status:
            headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else None
            code = {429: "rate_limited"}.get(status, "unavailable" if status >= 500 else "bad_request")
            raise EmulatorError(status, fault.get("code") or code, fault.get("message") or "injected fault",
                                headers=headers)

    # -- control API ----------------------------------------------------------------------------------------------
    def _control(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p][1:]
        method = request.method
        body = self._control_body(request) if method in {"POST", "PATCH", "PUT"} else {}
        match parts:
            case ["health"]:
                return _json(200, {"ok": True, "tenants": len(self.state.tenants)})
            case ["reset"] if method == "POST":
                self.state.reset()
                with self._faults_lock:
                    self._faults.clear()
                self.requests.clear()
                return _json(200, {"ok": True})
            case ["tenants"] if method == "GET":
                return _json(200, {"data": [t.config() for t in self.state.tenants.values()]})
            case ["tenants"] if method == "POST":
                allowed = {"tenant_id", "api_key", "webhook_secret", "webhook_url", "name"}
                _only(body, allowed)
                return _json(201, self.state.create_tenant(**body).config())
            case ["tenants", tid] if method == "GET":
                return _json(200, self.state.tenant(tid).config())
            case ["tenants", tid] if method == "PATCH":
                _only(body, {"api_key", "webhook_secret", "webhook_url", "name"})
                tenant = self.state.tenant(tid)
                with self.state.lock:
                    for key, value in body.items():
                        setattr(tenant, key, value)
                    self.state.version += 1
                return _json(200, tenant.config())
            case ["tenants", tid, "load"] if method == "POST":
                emit = request.args.get("emit_events") == "true"
                counts = self.state.load(self.state.tenant(tid), body, emit=emit)
                return _json(200, {"loaded": counts})
            case ["tenants", tid, "state"] if method == "GET":
                tenant = self.state.tenant(tid)
                kinds = request.args.getlist("kind") or list(KINDS)
                with self.state.lock:
                    records = {k: list(tenant.records[k].values()) for k in kinds if k in KINDS}
                    return _json(200, {"tenant": tenant.config(), "records": records})
            case ["tenants", tid, "records", kind] if method == "POST" and kind in KINDS:
                tenant = self.state.tenant(tid)
                try:
                    return _json(200, self.state.upsert(tenant, kind, body))
                except (KeyError, TypeError, ValueError) as exc:
                    raise invalid(kind, "invalid", f"not a valid {kind} record: {exc!r}") from None
            case ["tenants", tid, "records", "payments", pid] if method == "DELETE":
                return _json(200, self.state.delete_payment(self.state.tenant(tid), pid))
            case ["faults"] if method == "GET":
                with self._faults_lock:
                    return _json(200, {"data": list(self._faults)})
            case ["faults"] if method == "POST":
                return _json(201, self._add_fault(body))
            case ["faults"] if method == "DELETE":
                with self._faults_lock:
                    self._faults.clear()
                return _json(200, {"ok": True})
            case ["requests"] if method == "GET":
                rows = [r for r in list(self.requests)
                        if all(str(r.get(k)) == v for k, v in request.args.items() if k != "limit")]
                return _json(200, {"data": rows[-(_int(request.args.get("limit", "1000")) or 1000):]})
            case ["requests"] if method == "DELETE":
                self.requests.clear()
                return _json(200, {"ok": True})
            case ["webhooks"] if method == "GET":
                rows = [d.summary() for d in list(self.sender.log)
                        if all(str(getattr(d, {"type": "event_type"}.get(k, k), None)) == v
                               for k, v in request.args.items())]
                return _json(200, {"data": rows, "pending": self.sender.pending()})
            case ["webhooks"] if method == "PUT":
                _only(body, {"url"})
                self.configure_webhooks(body.get("url"))
                return _json(200, {"url": self.state.default_webhook_url})
            case ["webhooks", "flush"] if method == "POST":
                drained = self.sender.flush(float(body.get("timeout", 10)))
                return _json(200 if drained else 504, {"drained": drained, "pending": self.sender.pending()})
            case ["webhooks", delivery_id, "replay"] if method == "POST":
                return _json(200, self._replay(delivery_id, bool(body.get("resign", False))))
        raise EmulatorError(404, "not_found", f"no control route {method} {request.path}")

    @staticmethod
    def _control_body(request: Request) -> dict:
        try:
            body = json.loads(request.get_data() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise EmulatorError(400, "bad_request", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise EmulatorError(400, "bad_request", "the body must be a JSON object")
        return body

    def _add_fault(self, body: dict) -> dict:
        _only(body, {"status", "times", "method", "path", "tenant_id", "retry_after", "delay_ms", "code", "message"})
        status = body.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise invalid("status", "range", "status must be an HTTP error status (400-599)")
        if status is None and not body.get("delay_ms"):
            raise invalid("status", "required", "a fault needs a status, a delay_ms, or both")
        try:
            re.compile(body.get("path") or "")
        except re.error as exc:
            raise invalid("path", "pattern", f"path is not a regular expression: {exc}") from None
        times = body.get("times", 1)
        if not isinstance(times, int) or times == 0 or times < -1:
            raise invalid("times", "range", "times must be a positive count, or -1 for every request")
        fault = {**body, "id": f"flt_{next(self._fault_seq)}", "times": times, "remaining": times}
        with self._faults_lock:
            self._faults.append(fault)
        return fault

    def _replay(self, delivery_id: str, resign: bool) -> dict:
        """Send a past delivery again: as captured (same signature and timestamp, as an attacker would) or
        re-signed now (as a retry would). The receiver should accept the signature and dedupe on the event id."""
        delivery = self.sender.get(delivery_id)
        if delivery is None:
            raise EmulatorError(404, "not_found", f"no delivery {delivery_id}")
        if resign:
            from shared.fieldservice.webhooks import signature_header

            header = signature_header(self._secret_of(delivery.tenant_id), delivery.body)
        else:
            header = delivery.last_header
        return self.sender.send_raw(delivery.url, delivery.body, header)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _bad_query(field: str, code: str, message: str) -> EmulatorError:
    return EmulatorError(400, "bad_request", message, [{"field": field, "code": code, "message": message}])


def _only(body: dict, allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise EmulatorError(422, "validation_failed", f"unknown fields: {', '.join(extra)}",
                            [{"field": f, "code": "unknown_field", "message": f"unknown field {f}"} for f in extra])


def _fault_matches(fault: dict, request: Request, tenant_id: str) -> bool:
    if fault.get("method") and fault["method"].upper() != request.method:
        return False
    if fault.get("tenant_id") and fault["tenant_id"] != tenant_id:
        return False
    return not fault.get("path") or re.search(fault["path"], request.path) is not None


def create_app(state_file: str | None = None, webhook_url: str | None = None, **options: Any) -> FieldServiceEmulator:
    """The emulator as a WSGI callable with `.state`, `.close()` and `.configure_webhooks(url)`."""
    return FieldServiceEmulator(state_file=state_file, webhook_url=webhook_url, **options)


