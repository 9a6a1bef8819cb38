"""The QuickBooks Online emulator: Intuit's OAuth 2.0 server and the Accounting API v3 (CRUD, query, batch, CDC,
`requestid` idempotency, throttling, webhooks) for unmodified python-quickbooks and intuit-oauth clients, plus a
control API under `/_emulator/`. docs/emulator-quickbooks.md describes every route, what is modelled and what is not,
and the source of each behaviour."""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from emulators.common.server import StateFile
from emulators.quickbooks import faults, seed
from emulators.quickbooks.entities import Ledger
from emulators.quickbooks.faults import Fault
from emulators.quickbooks.oauth import OAuthError
from emulators.quickbooks.query import QueryError, evaluate, parse, project
from emulators.quickbooks.state import ENTITIES, NAME_LISTS, SINGLETONS, Clock, Company, State
from emulators.quickbooks.throttle import Limits, Throttle
from emulators.quickbooks.webhooks import WebhookDispatcher
from emulators.quickbooks.wire import dumps, loads, parse_time, qbo_time, response_time

API_ROUTE = re.compile(r"^/v3/company/(?P<realm>[^/]+)/(?P<rest>.*)$")
ENTITY_BY_PATH = {e.lower(): e for e in ENTITIES}
JSON = "application/json;charset=utf-8"
LOCAL_VERIFIER_TOKEN = "local-verifier-token"  # the local stack's webhook verifier token (qbsync/local/stack.py)
MAX_PAGE = 1000
MAX_BATCH = 30  # qbo-facts.md "Limits and throttling"; Intuit blog 2023-07-19 "Batch without a scratch"
CDC_LOOKBACK_S = 30 * 86400
CDC_MAX_OBJECTS = 1000
# QuickBooks adds totalCount to non-COUNT query pages of some entities only (bill-query-with-totalcount.json notes).
TOTALCOUNT_ENTITIES = {"Invoice"}
REQUEST_ID_MAX, BATCH_REQUEST_ID_MAX, BATCH_BID_MAX = 50, 36, 10  # qbo-facts.md "Idempotency and concurrency"
WRITE_KINDS = {"create", "update", "delete", "void", "batch"}
THROTTLE_XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<IntuitResponse time="{time}" xmlns="http://schema.intuit.com/finance/v3">
  <Fault type="SERVICE">
    <Error code="3001">
      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>
      <Detail>The request limit was reached.  Try again later</Detail>
    </Error>
  </Fault>
</IntuitResponse>
"""
DISCOVERY_STATIC = {
    "response_types_supported": ["code"], "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid", "email", "profile", "address", "phone"],
    "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
    "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
}


class ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Dropped(ConnectionResetError):
    """Raised after the socket is shut down: werkzeug treats it as a dropped connection and answers nothing."""


def _json(status: int, body: Any, headers: dict | None = None, content_type: str = JSON) -> Response:
    return Response(dumps(body), status=status, headers=headers, content_type=content_type)


class QuickBooksEmulator:
    def __init__(self, state_file: str | None = None, webhook_url: str | None = None, *,
                 verifier_token: str = LOCAL_VERIFIER_TOKEN, throttle: bool = True,
                 clock: Callable[[], float] | None = None, webhook_flush_interval: float = 1.0,
                 webhook_retry_scale: float = 0.01, webhook_format: str = "classic", save_interval: float = 1.0,
                 request_log_size: int = 1000):
        self.clock = Clock(clock)
        self.state = State(self.clock)
        self.throttle = Throttle(self.clock, Limits(enabled=throttle))
        self.webhooks = WebhookDispatcher(verifier_token, webhook_url, flush_interval=webhook_flush_interval,
                                          retry_scale=webhook_retry_scale, fmt=webhook_format)
        self._faults: list[dict] = []
        self._fault_ids = itertools.count(1)
        self._faults_lock = threading.Lock()
        self._log: deque[dict] = deque(maxlen=request_log_size)
        self._counts: Counter[str] = Counter()
        self._log_lock = threading.Lock()
        self._persist = StateFile(state_file, self._snapshot, save_interval, "qbo-saver")
        self._persist.restore(self._restore)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def configure_webhooks(self, url: str | None) -> None:
        self.webhooks.configure(url=url)

    def close(self) -> None:
        self._persist.close()
        self.webhooks.close()

    def save(self) -> None:
        self._persist.save()

    def _snapshot(self) -> tuple[int, str]:
        with self.state.lock:
            version, doc = self.state.version, self.state.snapshot()
        return version, dumps(doc)

    def _restore(self, raw: bytes) -> int:
        self.state.restore(loads(raw))
        return self.state.version

    # -- WSGI -----------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path.startswith("/_emulator/"):
            try:
                response = self._control(request)
            except ControlError as exc:
                response = _json(exc.status, {"error": exc.message})
            except (ValueError, KeyError, TypeError) as exc:
                response = _json(400, {"error": f"{type(exc).__name__}: {exc}"})
            if request.method != "GET":
                self.state.touch()
        else:
            response = self._public(request, environ)
        return response(environ, start_response)

    def _public(self, request: Request, environ) -> Response:
        path, entry = request.path, {"method": request.method, "path": request.path, "realm": None,
                                     "started": time.time()}
        response = None
        try:
            if path.rstrip("/") in ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration"):
                entry["kind"] = "discovery"
                response = _json(200, self._discovery(request))
            elif path == "/connect/oauth2":
                entry["kind"] = "authorize"
                response = self._authorize(request)
            elif path == "/oauth2/v1/tokens/bearer":
                entry["kind"] = "token"
                response = self._with_faults(request, None, environ, lambda: self._token(request))
            elif path in ("/oauth2/v1/tokens/revoke", "/v2/oauth2/tokens/revoke"):
                entry["kind"] = "revoke"
                response = self._revoke(request)
            elif path == "/v1/openid_connect/userinfo":
                entry["kind"] = "userinfo"
                response = self._userinfo(request)
            elif path == "/op/v1/jwks":
                entry["kind"] = "jwks"
                response = _json(200, {"keys": []})
            elif (match := API_ROUTE.match(path)) is not None:
                entry["realm"] = match["realm"]
                response = self._api(request, environ, match["realm"], match["rest"], entry)
            else:
                entry["kind"] = "unknown"
                response = _json(404, {"error": f"no route {request.method} {path}"})
            return response
        finally:
            entry.setdefault("kind", "unknown")
            entry["status"] = response.status_code if response is not None else None
            self._record(entry)
            if request.method != "GET":
                self.state.touch()

    def _record(self, entry: dict) -> None:
        with self._log_lock:
            entry["at"] = time.time()
            self._log.append(entry)
            self._counts[entry["kind"]] += 1
            if entry.get("batch_items"):
                self._counts["batch_items"] += entry["batch_items"]

    # -- OAuth ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _base(request: Request) -> str:
        return request.host_url.rstrip("/")

    def _discovery(self, request: Request) -> dict:
        """The discovery document's shape (oauth-discovery-production.json) with every endpoint on this server."""
        base = self._base(request)
        return {"issuer": f"{base}/op/v1", "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke", "jwks_uri": f"{base}/op/v1/jwks",
                **DISCOVERY_STATIC}

    def _authorize(self, request: Request) -> Response:
        """Consent is automatic: the redirect carries a code, the state and the chosen company's realmId."""
        args = request.args
        client_id, redirect_uri = args.get("client_id", ""), args.get("redirect_uri", "")
        if client_id not in self.state.oauth.clients:
            return _json(400, {"error": "invalid_client", "error_description": "unknown client_id"})
        if not redirect_uri or args.get("response_type") != "code":
            return _json(400, {"error": "invalid_request",
                               "error_description": "redirect_uri and response_type=code are required"})
        with self.state.lock:
            realm = args.get("realmId")
            if realm not in self.state.companies:
                realm = next(iter(self.state.companies), None) or self.create_company({})["realm_id"]
            code = self.state.oauth.issue_code(client_id, redirect_uri, realm, self.clock())
        query = {"code": code, "state": args.get("state", ""), "realmId": realm}
        separator = "&" if "?" in redirect_uri else "?"
        return Response("", status=302, headers={"Location": f"{redirect_uri}{separator}{urlencode(query)}"})

    def _client(self, request: Request) -> str:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            client_id, secret = "", ""
        if scheme.lower() != "basic" or not self.state.oauth.client_ok(client_id, secret):
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        return client_id

    def _token(self, request: Request) -> Response:
        try:
            client_id = self._client(request)
            form = request.form
            hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
            with self.state.lock:
                if form.get("grant_type") == "authorization_code":
                    body = self.state.oauth.exchange_code(client_id, form.get("code", ""),
                                                          form.get("redirect_uri", ""), self.clock(), hard)
                elif form.get("grant_type") == "refresh_token":
                    body = self.state.oauth.refresh_grant(client_id, form.get("refresh_token", ""), self.clock(),
                                                          hard)
                else:
                    raise OAuthError(400, "unsupported_grant_type", "grant_type is not supported")
        except OAuthError as exc:
            return _json(exc.status, exc.body())
        return _json(200, body, headers={"Cache-Control": "no-store"})

    def _revoke(self, request: Request) -> Response:
        try:
            client_id = self._client(request)
        except OAuthError as exc:
            return _json(exc.status, exc.body())
        try:
            token = (json.loads(request.get_data() or b"{}") or {}).get("token")
        except ValueError:
            token = None
        if not token:
            return _json(400, {"error": "invalid_request", "error_description": "token is required"})
        with self.state.lock:
            self.state.oauth.revoke_token(client_id, token)
        return Response("", status=200)

    def _userinfo(self, request: Request) -> Response:
        realm, reason = self._bearer(request)
        if reason:
            return self._unauthorized(reason)
        return _json(200, {"sub": f"emulator-user-{realm}", "email": "owner@example.com", "emailVerified": True,
                           "givenName": "Emulator", "familyName": "User"})

    def _bearer(self, request: Request) -> tuple[str | None, str]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, "Token invalid"
        with self.state.lock:
            check = self.state.oauth.check_access(token, self.clock())
        return check.realm_id, check.reason

    def _unauthorized(self, detail: str) -> Response:
        """The gateway's 401 (fault-401-authentication-failed.json): lower-case `fault`, epoch-millisecond time."""
        return _json(401, _gateway_fault("message=AuthenticationFailed; errorCode=003200; statusCode=401", detail,
                                         "3200", "AUTHENTICATION", self.clock()),
                     headers={"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'})

    # -- the Accounting API ---------------------------------------------------------------------------------------
    def _api(self, request: Request, environ, realm: str, rest: str, entry: dict) -> Response:
        parts = [p for p in rest.split("/") if p]
        kind = _kind_of(request, parts)
        entry["kind"] = kind
        token_realm, reason = self._bearer(request)
        if reason:
            return self._unauthorized(reason)
        if token_realm != realm:
            return _json(403, _gateway_fault("message=ApplicationAuthorizationFailed; errorCode=003100; "
                                             "statusCode=403", f"Token is not valid for realm {realm}", "3100",
                                             "AUTHORIZATION", self.clock()))
        company = self.state.company(realm)
        if company is None:
            return self._fault_response(faults.Fault("6190", "Invalid Company Status",
                                                     f"Company {realm} does not exist", ""))
        if not self.throttle.enter(realm, batch=kind == "batch"):
            return self._throttled()
        try:
            return self._with_faults(request, realm, environ,
                                     lambda: self._idempotent(request, company, kind, parts, entry))
        finally:
            self.throttle.leave(realm)

    def _throttled(self) -> Response:
        """Sent as XML whatever the Accept header says (fault-429-throttle-exceeded.xml; qbo-facts.md)."""
        return Response(THROTTLE_XML.format(time=response_time(self.clock())), status=429,
                        content_type="application/xml")

    def _fault_response(self, fault: Fault) -> Response:
        body: dict = {"Fault": fault.fault()}
        if fault.with_time:
            body["time"] = response_time(self.clock())
        return _json(fault.status, body)

    def _ok(self, body: dict) -> Response:
        return _json(200, {**body, "time": response_time(self.clock())})

    def _idempotent(self, request: Request, company: Company, kind: str, parts: list[str], entry: dict) -> Response:
        """A repeated `requestid` gets the first response verbatim and writes nothing (qbo-facts.md)."""
        request_id = request.args.get("requestid")
        if not request_id or kind not in WRITE_KINDS:
            return self._route(request, company, kind, parts, entry)
        limit = BATCH_REQUEST_ID_MAX if kind == "batch" else REQUEST_ID_MAX
        if len(request_id) > limit:
            # Java SDK issue #180 quotes this detail for the 50-character limit.
            return self._fault_response(faults.business(
                f"You cannot enter more than {limit} characters in the request_id field. You tried entering "
                f"{request_id[:10]}..., which is {len(request_id)} characters."))
        with self.state.lock:
            stored = company.request_ids.get(request_id)
            if stored is not None:
                entry["replayed"] = True
                return Response(stored["body"], status=stored["status"], content_type=stored["content_type"])
            response = self._route(request, company, kind, parts, entry)
            if response.status_code < 500:
                company.request_ids[request_id] = {"status": response.status_code,
                                                   "body": response.get_data(as_text=True),
                                                   "content_type": response.content_type}
            return response

    def _route(self, request: Request, company: Company, kind: str, parts: list[str], entry: dict) -> Response:
        try:
            return self._dispatch(request, company, kind, parts, entry)
        except Fault as fault:
            entry["fault"] = fault.code
            return self._fault_response(fault)

    def _dispatch(self, request: Request, company: Company, kind: str, parts: list[str], entry: dict) -> Response:
        method = request.method
        if kind == "query":
            return self._ok({"QueryResponse": self._query(company, self._query_text(request))})
        if kind == "batch" and method == "POST":
            return self._batch(request, company, entry)
        if kind == "cdc" and method == "GET":
            return self._ok(self._cdc(company, request.args))
        if kind == "companyinfo" and method == "GET":
            return self._ok({"CompanyInfo": company.entities["CompanyInfo"]["1"]})
        if kind == "preferences" and method == "GET":
            return self._ok({"Preferences": company.preferences})
        entity = ENTITY_BY_PATH.get(parts[0]) if parts else None
        if entity is not None and method == "GET" and len(parts) == 2:
            with self.state.lock:
                return self._ok({entity: Ledger(company, self.clock()).read(entity, parts[1])})
        if entity is not None and method == "POST" and len(parts) == 1:
            body = self._body(request)
            entry["kind"] = kind = _write_kind(request, body)
            doc = self._write(company, entity, kind, body, request.args.get("include", ""))
            return self._ok({entity: doc})
        raise faults.unsupported(f"Operation Could not find resource for relative : {request.path} of full path: "
                                 f"{request.base_url} is not supported.")

    def _body(self, request: Request) -> Any:
        try:
            return loads(request.get_data() or b"null")
        except (ValueError, UnicodeDecodeError):
            raise faults.Fault("2010", "Request has invalid or unsupported property",
                               "Property Name:Can not parse the request body specified is unsupported or invalid",
                               None) from None

    def _write(self, company: Company, entity: str, kind: str, body: Any, include: str) -> dict:
        with self.state.lock:
            ledger = Ledger(company, self.clock())
            if kind == "delete":
                doc = ledger.delete(entity, body)
            elif kind == "void":
                doc = ledger.void(entity, body)
            else:
                doc = ledger.save(entity, body, allow_duplicate_doc_number="allowduplicatedocnum" in include)
            self._emit(company, ledger)
            return doc

    def _emit(self, company: Company, ledger: Ledger) -> None:
        for entity, entity_id, operation in ledger.events:
            self.webhooks.notify(company.realm_id, entity, entity_id, operation, ledger.now)

    # -- query ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _query_text(request: Request) -> str:
        # python-quickbooks POSTs the statement as the body with Content-Type application/text; GET uses ?query=.
        if request.method == "POST" and request.get_data():
            return request.get_data(as_text=True)
        return request.args.get("query", "")

    def _query(self, company: Company, sql: str) -> dict:
        try:
            query = parse(sql)
        except QueryError as exc:
            raise faults.Fault(exc.code, exc.message, exc.detail, None) from None
        if query.entity not in ENTITIES:
            return {"totalCount": 0} if query.count else {}  # an entity QuickBooks has but the emulator does not
        with self.state.lock:
            rows = list(company.entities[query.entity].values())
        page, total = evaluate(query, rows, default_active_only=query.entity in NAME_LISTS)
        if query.count:
            return {"totalCount": total}
        page = page[:MAX_PAGE]
        if not page:
            return {}
        out: dict = {query.entity: [project(query, row) for row in page], "startPosition": query.start_position,
                     "maxResults": len(page)}
        if query.entity in SINGLETONS:
            del out["startPosition"]  # preferences-query.json carries maxResults only
        if query.entity in TOTALCOUNT_ENTITIES:
            out["totalCount"] = total
        return out

    # -- batch ----------------------------------------------------------------------------------------------------
    def _batch(self, request: Request, company: Company, entry: dict) -> Response:
        body = self._body(request)
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise faults.required("BatchItemRequest")
        entry["batch_items"] = len(items)
        if len(items) > MAX_BATCH:
            # The code QuickBooks uses here was not found in any source; 6000 is the emulator's choice.
            raise faults.business(f"A batch request holds at most {MAX_BATCH} BatchItemRequest objects; this one "
                                  f"has {len(items)}.")
        if request.args.get("requestid"):
            long_bids = [str(i.get("bId", "")) for i in items if len(str(i.get("bId", ""))) > BATCH_BID_MAX]
            if long_bids:
                raise faults.business(f"With a requestid, a bId holds at most {BATCH_BID_MAX} characters: "
                                      f"{long_bids[0]} has {len(long_bids[0])}.", "bId")
        out = []
        with self.state.lock:
            for item in items:
                out.append(self._batch_item(company, item))
        return self._ok({"BatchItemResponse": out})

    def _batch_item(self, company: Company, item: Any) -> dict:
        bid = item.get("bId") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict) or not bid:
                raise faults.required("bId")
            if "Query" in item:
                return {"QueryResponse": self._query(company, str(item["Query"])), "bId": bid}
            entity_keys = [k for k in item if k not in ("bId", "operation", "optionsData")]
            if len(entity_keys) != 1:
                raise faults.required("BatchItemRequest entity")
            key = entity_keys[0]
            entity = ENTITY_BY_PATH.get(key.lower())
            if entity is None:
                raise faults.unsupported(f"Operation {item.get('operation')} on {key} is not supported.",
                                         "Operation")
            operation = item.get("operation")
            if operation not in ("create", "update", "delete"):
                raise faults.invalid_enumeration("operation", operation)
            kind = "void" if operation == "update" and item.get("optionsData") == "void" else operation
            if operation == "create" and isinstance(item[key], dict) and item[key].get("Id"):
                raise faults.business("A create operation cannot carry an Id.", "Id")
            if operation == "update" and not (isinstance(item[key], dict) and item[key].get("Id")):
                raise faults.required("Id")
            return {entity: self._write(company, entity, kind, item[key], ""), "bId": bid}
        except Fault as fault:
            return {"Fault": fault.fault(), "bId": bid}

    # -- CDC ------------------------------------------------------------------------------------------------------
    def _cdc(self, company: Company, args) -> dict:
        names, since_text = args.get("entities", ""), args.get("changedSince", "")
        if not names:
            raise faults.required("entities")
        if not since_text:
            raise faults.required("changedSince")
        try:
            since = parse_time(since_text)
        except ValueError:
            raise faults.invalid_number("changedSince", since_text) from None
        if self.clock() - since > CDC_LOOKBACK_S:
            # Detail quoted in Wish-Org/QuickBooksSharp issue #19; the code is the "Operation ... not supported" one.
            raise faults.unsupported(f"Operation cdc with changedSince date {since_text} which is older than fixed "
                                     "days is not supported.", "changedSince")
        blocks, budget = [], CDC_MAX_OBJECTS
        with self.state.lock:
            for name in (n.strip() for n in names.split(",") if n.strip()):
                entity = ENTITY_BY_PATH.get(name.lower())
                found = self._changes(company, entity, since) if entity else []
                found = found[:budget]
                budget -= len(found)
                blocks.append({entity: found, "startPosition": 1, "maxResults": len(found)} if found else {})
        return {"CDCResponse": [{"QueryResponse": blocks}]}

    @staticmethod
    def _changes(company: Company, entity: str, since: float) -> list[dict]:
        """Changed rows and tombstones since the time, oldest first. A deleted object is reported as
        `{"domain","status":"Deleted","Id","MetaData":{"LastUpdatedTime"}}` (cdc-response-with-deleted.xml in JSON
        form, with invoice-delete-response.json's key order)."""
        rows = company.entities[entity]
        found = [(t, rows[i]) for i, t in company.changed[entity].items() if t >= since and i in rows]
        found += [(t, {"domain": "QBO", "status": "Deleted", "Id": i, "MetaData": {"LastUpdatedTime": qbo_time(t)}})
                  for i, t in company.deleted[entity].items() if t >= since]
        found.sort(key=lambda pair: pair[0])
        return [doc for _, doc in found]

    # -- fault injection ------------------------------------------------------------------------------------------
    def _with_faults(self, request: Request, realm: str | None, environ, handler: Callable[[], Response]) -> Response:
        fault = self._take_fault(request, realm)
        if fault is None:
            return handler()
        kind = fault["kind"]
        if kind == "timeout":
            time.sleep(fault["timeout_seconds"])
            return self._injected(504)
        if kind == "drop":
            _drop(environ)
        if kind == "after_commit":
            handler()
            if fault.get("then") == "drop":
                _drop(environ)
        return self._injected(fault["status"])

    def _injected(self, status: int) -> Response:
        if status == 429:
            return self._throttled()
        fault = faults.system_error()
        fault.status = status
        return self._fault_response(fault)

    def _take_fault(self, request: Request, realm: str | None) -> dict | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.get("realm") and fault["realm"] != realm:
                    continue
                if fault.get("path_contains") and fault["path_contains"] not in request.path:
                    continue
                if fault.get("method") and fault["method"].upper() != request.method:
                    continue
                fault["count"] -= 1
                fault["fired"] = fault.get("fired", 0) + 1
                if fault["count"] <= 0:
                    self._faults.remove(fault)
                return dict(fault)
        return None

    # -- control API ----------------------------------------------------------------------------------------------
    def create_company(self, body: dict) -> dict:
        """A new company (realm): accounts, tax codes, preferences and company info, and with `seed` (default)
        sample classes, vendors, employees, items and customers."""
        with self.state.lock:
            now = self.clock()
            realm = str(body.get("realm_id") or body.get("realm") or _new_realm_id(self.state))
            if realm in self.state.companies:
                raise ControlError(409, f"realm {realm} exists")
            company = Company(realm, str(body.get("company_name") or f"Sandbox Company {realm[-4:]}"))
            for account in seed.ACCOUNTS:
                company.put("Account", seed.account_doc(*account, now), now)
                company.advance_counter("Account", account[0])
            codes, rates = seed.tax_docs(now)
            for code in codes:
                company.put("TaxCode", code, now)
            for rate in rates:
                company.put("TaxRate", rate, now)
            company.counters.update(TaxCode=10, TaxRate=10)
            for n, (name, kind) in enumerate(seed.PAYMENT_METHODS, start=1):
                company.put("PaymentMethod", seed.payment_method_doc(str(n), name, kind, now), now)
            company.counters["PaymentMethod"] = len(seed.PAYMENT_METHODS)
            company.put("Preferences", seed.preferences_doc(now, body.get("preferences")), now)
            company.put("CompanyInfo", seed.company_info_doc(realm, company.name, now), now)
            self.state.companies[realm] = company
            if body.get("seed", True):
                ledger = Ledger(company, now)
                for entity, sample in seed.SAMPLE:
                    parent = (sample.get("ParentRef") or {}).get("value", "")
                    if parent.startswith("@"):
                        sample = {**sample, "ParentRef": {"value": company.names[("Party", parent[1:].lower())]}}
                    ledger.save(entity, sample)
            self.state.touch()
            return company.summary()

    def _company(self, realm: str) -> Company:
        company = self.state.company(realm)
        if company is None:
            raise ControlError(404, f"no realm {realm}")
        return company

    def _control(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p][1:]
        method = request.method
        body = self._control_body(request) if method in ("POST", "PUT", "PATCH") else {}
        match parts:
            case ["health"]:
                return _json(200, {"ok": True, "realms": len(self.state.companies)})
            case ["reset"] if method == "POST":
                self.state.reset()
                self.throttle.reset()
                self.webhooks.reset()
                with self._faults_lock:
                    self._faults.clear()
                self._clear_log()
                return _json(200, {"ok": True})
            case ["realms"] if method == "GET":
                with self.state.lock:
                    return _json(200, {"data": [c.summary() for c in self.state.companies.values()]})
            case ["realms"] if method == "POST":
                return _json(201, self.create_company(body))
            case ["realms", realm] if method == "GET":
                with self.state.lock:
                    company = self._company(realm)
                    return _json(200, {**company.summary(), "grants": self.state.oauth.grants_for_realm(realm)})
            case ["realms", realm, "load"] if method == "POST":
                return _json(200, self._load(realm, body))
            case ["realms", realm, "entities", entity] if method == "GET":
                canonical = ENTITY_BY_PATH.get(entity.lower())
                if canonical is None:
                    raise ControlError(404, f"unknown entity {entity}")
                with self.state.lock:
                    rows = sorted(self._company(realm).entities[canonical].values(), key=_id_order)
                return _json(200, {canonical: rows})
            case ["realms", realm, "preferences"] if method == "GET":
                return _json(200, {"Preferences": self._company(realm).preferences})
            case ["realms", realm, "preferences"] if method == "PUT":
                return _json(200, {"Preferences": self._set_preferences(realm, body)})
            case ["realms", realm, "tokens"] if method == "POST":
                return _json(200, self._mint_tokens(realm, body))
            case ["limits"] if method == "GET":
                return _json(200, self.throttle.describe())
            case ["limits"] if method == "PUT":
                return _json(200, self.throttle.configure(**body))
            case ["faults"] if method == "GET":
                with self._faults_lock:
                    return _json(200, {"data": [dict(f) for f in self._faults]})
            case ["faults"] if method == "POST":
                return _json(201, self._add_fault(body))
            case ["faults"] if method == "DELETE":
                with self._faults_lock:
                    self._faults.clear()
                return _json(200, {"ok": True})
            case ["clock"] if method == "GET":
                return _json(200, {"now": self.clock(), "offset_seconds": self.clock.offset})
            case ["clock"] if method == "POST":
                self.clock.advance(float(body.get("advance_seconds", 0)))
                return _json(200, {"now": self.clock(), "offset_seconds": self.clock.offset})
            case ["requests"] if method == "GET":
                realm = request.args.get("realm")
                with self._log_lock:
                    log = [e for e in self._log if realm is None or e.get("realm") == realm]
                    return _json(200, {"counts": dict(self._counts), "total": sum(
                        v for k, v in self._counts.items() if k != "batch_items"), "log": log,
                        "log_size": self._log.maxlen})
            case ["requests"] if method == "PUT":
                size = int(body["log_size"])
                if not 1 <= size <= 1_000_000:
                    raise ControlError(400, "log_size must be 1..1000000")
                with self._log_lock:
                    self._log = deque(self._log, maxlen=size)
                return _json(200, {"log_size": size})
            case ["requests"] if method == "DELETE":
                self._clear_log()
                return _json(200, {"ok": True})
            case ["webhooks"] if method == "GET":
                # A copy first (one C call under the interpreter's lock): the sender appends while summaries are
                # built, and iterating the live deque then failed the request (issue 12's fairness benchmark).
                return _json(200, {**self.webhooks.describe(), "deliveries": [d.summary() for d in
                                                                                list(self.webhooks.log)]})
            case ["webhooks"] if method == "PUT":
                settings = {("fmt" if k == "format" else k): v for k, v in body.items()}
                return _json(200, self.webhooks.configure(**settings))
            case ["webhooks", "flush"] if method == "POST":
                return _json(200, {"sent": self.webhooks.flush()})
            case ["webhooks"] if method == "DELETE":  # as if never subscribed: nothing queued, held or logged
                self.webhooks.reset()
                return _json(200, self.webhooks.describe())
            case ["oauth"] if method == "GET":
                return _json(200, {"clients": sorted(self.state.oauth.clients),
                                   "refresh_grace_seconds": self.state.oauth.refresh_grace,
                                   "access_ttl_seconds": self.state.oauth.access_ttl})
            case ["oauth"] if method == "PUT":
                with self.state.lock:
                    if "refresh_grace_seconds" in body:
                        self.state.oauth.refresh_grace = float(body["refresh_grace_seconds"])
                    if "access_ttl_seconds" in body:
                        self.state.oauth.access_ttl = float(body["access_ttl_seconds"])
                return _json(200, {"refresh_grace_seconds": self.state.oauth.refresh_grace,
                                   "access_ttl_seconds": self.state.oauth.access_ttl})
            case ["oauth", "clients"] if method == "POST":
                with self.state.lock:
                    self.state.oauth.register_client(str(body["client_id"]), str(body["client_secret"]))
                return _json(201, {"client_id": body["client_id"]})
        raise ControlError(404, f"no control route {method} {request.path}")

    @staticmethod
    def _control_body(request: Request) -> dict:
        try:
            body = loads(request.get_data() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ControlError(400, "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ControlError(400, "the body must be a JSON object")
        return body

    def _clear_log(self) -> None:
        with self._log_lock:
            self._log.clear()
            self._counts.clear()

    def _load(self, realm: str, body: dict) -> dict:
        """Entities as given, Ids kept (emulators/datagen's Dataset.quickbooks_json()). Parents load before jobs."""
        unknown = [k for k in body if k not in ENTITIES]
        if unknown:
            raise ControlError(400, f"unknown entities: {', '.join(unknown)}")
        with self.state.lock:
            company = self._company(realm)
            ledger = Ledger(company, self.clock())
            counts = {}
            for entity in ENTITIES:
                docs = body.get(entity) or []
                if entity == "Customer":
                    docs = sorted(docs, key=lambda d: d.get("Level", 0))
                try:
                    ledger.load(entity, docs)
                except Fault as fault:
                    raise ControlError(409, fault.detail) from None
                counts[entity] = len(docs)
            company.rebuild_indexes()
            self.state.touch()
            return {"realm_id": realm, "loaded": {k: v for k, v in counts.items() if v}}

    def _set_preferences(self, realm: str, changes: dict) -> dict:
        with self.state.lock:
            company, now = self._company(realm), self.clock()
            current = company.preferences
            merged = seed.merge({k: v for k, v in current.items() if k not in ("SyncToken", "MetaData")}, changes)
            merged.update(Id="1", SyncToken=str(int(current["SyncToken"]) + 1),
                          MetaData={**current["MetaData"], "LastUpdatedTime": seed.meta(now)["LastUpdatedTime"]})
            company.put("Preferences", merged, now)
            self.webhooks.notify(realm, "Preferences", "1", "Update", now)
            return merged

    def _mint_tokens(self, realm: str, body: dict) -> dict:
        """A token pair for a realm without the browser round trip (benchmarks, scripts)."""
        with self.state.lock:
            self._company(realm)
            client_id = str(body.get("client_id", "local-client-id"))
            oauth, now = self.state.oauth, self.clock()
            code = oauth.issue_code(client_id, "urn:emulator", realm, now)
            return {**oauth.exchange_code(client_id, code, "urn:emulator", now, False), "realmId": realm}

    def _add_fault(self, body: dict) -> dict:
        allowed = {"realm", "path_contains", "method", "status", "count", "kind", "timeout_seconds", "then"}
        extra = set(body) - allowed
        if extra:
            raise ControlError(400, f"unknown fault fields: {', '.join(sorted(extra))}")
        kind = body.get("kind", "error")
        if kind not in ("error", "timeout", "drop", "after_commit"):
            raise ControlError(400, "kind must be error, timeout, drop or after_commit")
        status = int(body.get("status", 500))
        if status not in (429, 500, 502, 503, 504):
            raise ControlError(400, "status must be 429, 500, 502, 503 or 504")
        count = int(body.get("count", 1))
        if count < 1:
            raise ControlError(400, "count must be at least 1")
        fault = {**body, "id": f"flt_{next(self._fault_ids)}", "kind": kind, "status": status, "count": count,
                 "timeout_seconds": float(body.get("timeout_seconds", 1.0))}
        with self._faults_lock:
            self._faults.append(fault)
        return fault


def _kind_of(request: Request, parts: list[str]) -> str:
    """What kind of QuickBooks call this is, for the request log (benchmarks count calls by kind)."""
    head = parts[0].lower() if parts else ""
    if head in ("query", "batch", "cdc", "companyinfo", "preferences"):
        return head
    if request.method == "GET":
        return "read"
    return "create"  # refined once the body is read (create / update / delete / void)


def _write_kind(request: Request, body: Any) -> str:
    operation, include = request.args.get("operation", ""), request.args.get("include", "")
    if operation == "delete":
        return "delete"
    if operation == "void" or (operation == "update" and include == "void"):
        return "void"
    return "update" if isinstance(body, dict) and body.get("Id") not in (None, "") else "create"


def _gateway_fault(message: str, detail: str, code: str, kind: str, now: float) -> dict:
    return {"warnings": None, "intuitObject": None,
            "fault": {"error": [{"message": message, "detail": detail, "code": code, "element": None}], "type": kind},
            "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
            "syncErrorResponse": None, "requestId": None, "time": int(now * 1000), "status": None, "cdcresponse": []}


def _new_realm_id(state: State) -> str:
    # Sandbox realm ids are 16-19 digit numbers (e.g. 9341457021722202 in the Nango recordings).
    base = 9341450000000000 + len(state.companies) * 1009
    while str(base) in state.companies:
        base += 1
    return str(base)


def _id_order(doc: dict) -> tuple:
    entity_id = str(doc.get("Id", ""))
    return (0, int(entity_id), "") if entity_id.isdigit() else (1, 0, entity_id)


def _drop(environ) -> None:
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise Dropped("connection dropped by an injected fault")


def create_app(state_file: str | None = None, webhook_url: str | None = None, *,
               verifier_token: str = LOCAL_VERIFIER_TOKEN, throttle: bool = True, clock=None,
               **options: Any) -> QuickBooksEmulator:
    """The emulator as a WSGI callable with `.state`, `.close()` and `.configure_webhooks(url)`."""
    return QuickBooksEmulator(state_file=state_file, webhook_url=webhook_url, verifier_token=verifier_token,
                              throttle=throttle, clock=clock, **options)
