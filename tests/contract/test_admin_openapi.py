"""The admin API's committed OpenAPI document (outside tests/unit: importing the handlers builds Powertools' Tracer,
whose X-Ray emitter opens a UDP socket, which the unit tests' socket guard refuses)."""

import json

from functions.admin.contract import COMMITTED, render


def test_the_committed_openapi_document_is_what_the_code_generates():
    # Regenerate with: .venv/bin/python -m functions.admin.contract
    assert COMMITTED.read_text() == render(), "contracts/admin.openapi.json is stale"


def test_the_document_is_valid_openapi_3_1_and_every_refusal_has_the_one_error_shape():
    from openapi_spec_validator import validate

    doc = json.loads(render())
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400 and status != "401":  # 401 is API Gateway's, before any handler
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorBody", (method, path, status)
