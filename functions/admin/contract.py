"""The admin API's OpenAPI 3.1 document, generated from the routes and Pydantic models of the handlers that serve
`/admin/*` (the admin function, plus `POST /admin/disconnect` on the OAuth function).

`python -m functions.admin.contract` rewrites contracts/admin.openapi.json; tests/unit/admin/test_contract.py fails
when the committed copy differs from what the code generates."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parents[2] / "contracts" / "admin.openapi.json"
DESCRIPTION = ("The admin API of the QuickBooks sync: connection status, settings, runs, unsynced entities, review "
               "mode. Every request carries the platform's JWT (claims `tenant_id` and `role`: `admin` or "
               "`restricted`); what each role may do is in docs/admin-api.md. Every refusal has the body "
               "`{\"error\": {\"code\", \"message\", \"details\"?}}`. Lists are paged with opaque cursors.")


@lru_cache(maxsize=1)
def document() -> dict:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from functions.admin.handler import app as admin_app
    from functions.oauth.handler import app as oauth_app

    common: dict[str, Any] = dict(title="qbsync admin API", version="1", description=DESCRIPTION,
                                  security_schemes={"platformJwt": HTTPBearer(bearerFormat="JWT")},
                                  security=[{"platformJwt": []}])
    doc = json.loads(admin_app.get_openapi_json_schema(**common))
    oauth = json.loads(oauth_app.get_openapi_json_schema(**common))
    for path, item in oauth.get("paths", {}).items():
        if path.startswith("/admin/"):
            doc["paths"][path] = item
    doc["components"]["schemas"].update(oauth.get("components", {}).get("schemas", {}))
    doc["components"]["schemas"].pop("HTTPValidationError", None)
    doc["components"]["schemas"].pop("ValidationError", None)
    doc["components"]["schemas"].pop("ResponseValidationError", None)
    # Powertools documents its own shape for a response that fails validation; ours answers in the one error shape.
    for item in doc["paths"].values():
        for operation in item.values():
            operation["responses"]["500"] = {"description": "internal error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    doc["paths"] = dict(sorted(doc["paths"].items()))
    return doc


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if COMMITTED.read_text() == render() else 1)
    COMMITTED.write_text(render())
