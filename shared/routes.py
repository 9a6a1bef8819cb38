"""The HTTP API's routes, declared once: CDK builds API Gateway routes from this list and the local gateway
serves the same list. `function` names a folder under functions/ (and the handler module inside it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    handler: str = "handler.handler"
    auth: bool = False  # True: needs the platform's JWT (API Gateway JWT authorizer / local gateway verifier)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/oauth/connect", "oauth", auth=True),
    Route("GET", "/oauth/callback", "oauth"),
    Route("POST", "/admin/disconnect", "oauth", auth=True),
    Route("POST", "/webhooks/quickbooks", "webhooks", handler="receiver.handler"),
    Route("POST", "/webhooks/fieldservice", "webhooks", handler="receiver.handler"),
    # QuickBooks Desktop: the Web Connector's SOAP endpoint and its admin routes (before /admin/{proxy+}: the local
    # gateway takes the first match, API Gateway the most specific).
    Route("POST", "/qbwc", "qbwc"),
    Route("GET", "/qbwc", "qbwc"),
    Route("GET", "/admin/desktop/{proxy+}", "qbwc", auth=True),
    Route("PUT", "/admin/desktop/{proxy+}", "qbwc", auth=True),
    Route("POST", "/admin/desktop/{proxy+}", "qbwc", auth=True),
    Route("GET", "/admin/{proxy+}", "admin", auth=True),
    Route("PUT", "/admin/{proxy+}", "admin", auth=True),
    Route("POST", "/admin/{proxy+}", "admin", auth=True),
    Route("DELETE", "/admin/{proxy+}", "admin", auth=True),
)

MAX_BODY_BYTES = 256 * 1024
