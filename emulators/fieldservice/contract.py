"""The FSP OpenAPI document, loaded once, as JSON Schema validators (OpenAPI 3.1 schemas are JSON Schema 2020-12).

The emulator validates requests with it; the contract tests validate responses and webhook payloads with it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "contracts" / "fieldservice.openapi.yaml"
_BASE = "urn:fsp-contract"
_CODES = {"maxLength": "max_length", "minLength": "min_length", "additionalProperties": "unknown_field",
          "minProperties": "empty", "oneOf": "invalid", "anyOf": "invalid"}


class Contract:
    def __init__(self, path: Path = CONTRACT_PATH):
        self.doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(_BASE, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self._operations = [(method.upper(), _template(path), path, op)
                            for path, item in self.doc["paths"].items()
                            for method, op in item.items() if method in {"get", "post", "patch", "put", "delete"}]

    def validator(self, schema: str | dict) -> Draft202012Validator:
        key = schema if isinstance(schema, str) else repr(schema)
        if key not in self._validators:
            if isinstance(schema, str):
                body = {"$ref": f"{_BASE}#/components/schemas/{schema}"}
            elif schema.get("$ref", "").startswith("#"):
                body = {"$ref": _BASE + schema["$ref"]}
            else:
                body = schema
            self._validators[key] = Draft202012Validator(body, registry=self._registry,
                                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._validators[key]

    def field_errors(self, schema: str | dict, instance: Any) -> list[dict]:
        """Every violation as {field, code, message}, field a dotted path into the instance."""
        out = {(e["field"], e["code"], e["message"]) for error in self.validator(schema).iter_errors(instance)
               for e in _describe(error)}
        return [{"field": f, "code": c, "message": m} for f, c, m in sorted(out)]

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        """(operationId, operation) for a request path relative to the server URL (`/tenants/t1/clients`)."""
        for m, pattern, _, op in self._operations:
            if m == method.upper() and pattern.fullmatch(path):
                return op["operationId"], op
        return None

    def operation_ids(self) -> set[str]:
        return {op["operationId"] for *_, op in self._operations}

    def response_schema(self, method: str, path: str, status: int) -> dict | None:
        found = self.operation(method, path)
        if found is None:
            return None
        response = found[1]["responses"].get(str(status))
        if response is None:
            return None
        if "$ref" in response:
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response.get("content", {}).get("application/json", {}).get("schema")


def _template(path: str) -> re.Pattern:
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


def _join(path, name: str | None = None) -> str:
    parts = [str(p) for p in path] + ([name] if name else [])
    return ".".join(parts) or "$"


def _describe(error: ValidationError) -> list[dict]:
    if error.validator in {"oneOf", "anyOf"} and error.context:
        # A nullable object failing as an object: report why it is not a valid object, not "not valid under any".
        relevant = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        if relevant:
            return _describe(best_match(relevant))
    if error.validator == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        return [{"field": _join(error.absolute_path, p), "code": "required", "message": f"{p} is required"}
                for p in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        return [{"field": _join(error.absolute_path, p), "code": "unknown_field", "message": f"unknown field {p}"}
                for p in error.instance if p not in known]
    code = _CODES.get(str(error.validator), str(error.validator))
    return [{"field": _join(error.absolute_path), "code": code, "message": error.message}]


@cache
def contract() -> Contract:
    return Contract()
