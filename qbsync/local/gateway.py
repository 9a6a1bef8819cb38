"""A local stand-in for the HTTP API: serves shared.routes.ROUTES, verifies JWTs like the JWT authorizer, and turns
requests into API Gateway v2 (payload 2.0) events for the same handlers that run on Lambda."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from werkzeug.exceptions import NotFound
from werkzeug.utils import redirect, send_from_directory
from werkzeug.wrappers import Request, Response

from shared.routes import MAX_BODY_BYTES, ROUTES, Route

Invoker = Callable[[str, dict], dict]
_TEXT = ("text/", "application/json", "application/x-www-form-urlencoded", "application/cloudevents+json")


def _compile(path: str) -> re.Pattern:
    out = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            out += f"(?P<{name.rstrip('+')}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{out}$")


_log = logging.getLogger("qbsync.gateway")
# Powertools keeps the request being resolved on a class attribute (BaseRouter.current_event), shared by every
# resolver in the process. Lambda gives each container one event at a time; here one request runs at a time, or a
# webhook arriving mid-request would hand the admin handler the webhook's event (seen: a 401 for a valid token).
_ONE_AT_A_TIME = threading.Lock()
APP_PREFIX = "/app/"
# What CloudFront's response headers policy adds to the deployed page (infra/constructs/web.py, whose connect-src
# also names the API host; tests/infra/test_web.py keeps the two equal).
APP_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                          "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"}


class Gateway:
    def __init__(self, invoke: Invoker, verify: Callable[[str | None], dict | None], max_body: int = MAX_BODY_BYTES,
                 app_dir: str | None = None):
        self._routes = [(r, _compile(r.path)) for r in ROUTES]
        self._invoke, self._verify, self._max_body = invoke, verify, max_body
        self._app_dir = app_dir  # the admin page (web/), served at /app/ as S3 + CloudFront serve it when deployed

    def __call__(self, environ, start_response):
        request = Request(environ)
        if self._app_dir and request.method in ("GET", "HEAD") and (request.path + "/").startswith(APP_PREFIX):
            return self._page(request, environ)(environ, start_response)
        return self._handle(request)(environ, start_response)

    def _page(self, request: Request, environ) -> Response:
        if request.path == APP_PREFIX.rstrip("/"):
            return redirect(APP_PREFIX, code=301)
        name = request.path[len(APP_PREFIX):] or "index.html"
        try:
            response = send_from_directory(self._app_dir, name, environ, max_age=0)
        except NotFound:
            return _json(404, {"message": "Not Found"})
        response.headers.update(APP_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response

    def _match(self, method: str, path: str) -> tuple[Route, dict] | None:
        for route, pattern in self._routes:
            m = pattern.match(path)
            if m and route.method == method:
                return route, m.groupdict()
        return None

    def _handle(self, request: Request) -> Response:
        found = self._match(request.method, request.path)
        if found is None:
            return _json(404, {"message": "Not Found"})
        route, params = found
        length = request.content_length or 0
        if length > self._max_body:
            return _json(413, {"message": "Request Entity Too Large"})
        body = request.get_data(cache=False)
        if len(body) > self._max_body:
            return _json(413, {"message": "Request Entity Too Large"})
        claims = None
        if route.auth:
            claims = self._verify(request.headers.get("Authorization"))
            if claims is None:
                return _json(401, {"message": "Unauthorized"})
        event = self._event(request, route, params, body, claims)
        try:
            with _ONE_AT_A_TIME:
                result = self._invoke(f"functions.{route.function}.{route.handler}", event)
        except Exception:  # noqa: BLE001 - an unhandled handler error is a 500 on API Gateway too, never a trace
            # The caller gets no trace; the operator does, on stderr, as Lambda would write it to CloudWatch.
            _log.exception("handler %s failed", route.function)
            return _json(500, {"message": "Internal Server Error"})
        return _to_response(result)

    def _event(self, request: Request, route: Route, params: dict, body: bytes, claims: dict | None) -> dict:
        ctype = request.headers.get("Content-Type", "")
        textual = not body or any(ctype.startswith(t) for t in _TEXT)
        route_key = f"{route.method} {route.path}"
        now = datetime.now(UTC)
        query = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        return {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode(),
            "cookies": [f"{k}={v}" for k, v in request.cookies.items()] or None,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "queryStringParameters": query or None,
            "pathParameters": params or None,
            "requestContext": {
                "accountId": "123456789012", "apiId": "local", "domainName": request.host,
                "domainPrefix": "local", "stage": "$default", "routeKey": route_key,
                "requestId": str(uuid.uuid4()), "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(time.time() * 1000),
                "http": {"method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                         "sourceIp": request.remote_addr or "127.0.0.1",
                         "userAgent": request.headers.get("User-Agent", "")},
                **({"authorizer": {"jwt": {"claims": claims, "scopes": None}}} if claims else {}),
            },
            "body": (body.decode("utf-8", "replace") if textual else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": bool(body) and not textual,
        }


def _json(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _to_response(result) -> Response:
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, content_type="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(data, status=int(result["statusCode"]))
    for k, v in (result.get("headers") or {}).items():
        response.headers[k] = v
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
