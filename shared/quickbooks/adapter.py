"""The one real QuickBooks adapter: python-quickbooks over HTTP, QuickBooks faults mapped to typed errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import requests
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from shared.quickbooks.client import StatusRecorder
from shared.quickbooks.errors import AuthFailed, QuickBooksError, Unavailable, classify
from shared.quickbooks.port import MAX_BATCH, MAX_PAGE, BatchOp, BatchResult

_DEC = "\u0000dec:"
_DEC_RE = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


def _money(o):
    if isinstance(o, Decimal):
        return _DEC + format(o, "f")
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def dumps(body: Any) -> str:
    """QuickBooks expects JSON numbers; Decimals are written with their exact digits, never through a float."""
    return _DEC_RE.sub(r"\1", json.dumps(body, default=_money))


def quote(value: str) -> str:
    """A string literal for the QuickBooks query language (single quotes escaped with a backslash)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksAdapter:
    def __init__(self, qb: QuickBooks, recorder: StatusRecorder, realm_id: str,
                 on_auth_failed: Callable[[], None] | None = None, pace: Callable[[str], None] | None = None):
        self._qb, self._status, self.realm_id = qb, recorder, realm_id
        self._on_auth_failed = on_auth_failed
        self._pace = pace or (lambda kind: None)

    def _url(self, path: str) -> str:
        return f"{self._qb.api_url}/company/{self.realm_id}/{path}"

    def _call(self, fn, *args, **kwargs):
        self._status.last_status = None
        try:
            return fn(*args, **kwargs)
        except QuickbooksException as exc:
            error = classify(exc.error_code, exc.message, str(exc.detail or ""), self._status.last_status)
            if isinstance(error, AuthFailed) and self._on_auth_failed is not None:
                self._on_auth_failed()
            raise error from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Unavailable("network", type(exc).__name__, "", None) from exc

    def _get(self, path: str, params: dict | None = None) -> dict:
        self._pace("request")
        return self._call(self._qb.get, self._url(path), params=params or {})

    def _post(self, path: str, body: Any, request_id: str | None = None, params: dict | None = None) -> dict:
        self._pace("batch" if path == "batch" else "request")
        return self._call(self._qb.post, self._url(path), dumps(body), params=params or {}, request_id=request_id)

    def company_info(self) -> dict:
        return self._get(f"companyinfo/{self.realm_id}")["CompanyInfo"]

    def preferences(self) -> dict:
        return self._get("preferences")["Preferences"]

    def _query(self, sql: str) -> dict:
        self._pace("request")
        return self._call(self._qb.query, sql).get("QueryResponse", {})

    def query_page(self, entity: str, where: str = "", start: int = 1, size: int = MAX_PAGE,
                   order_by: str = "Id") -> list[dict]:
        clause = f" WHERE {where}" if where else ""
        paging = f"STARTPOSITION {start} MAXRESULTS {min(size, MAX_PAGE)}"
        sql = f"SELECT * FROM {entity}{clause} ORDERBY {order_by} {paging}"
        return self._query(sql).get(entity, [])

    def query_all(self, entity: str, where: str = "") -> Iterator[dict]:
        start = 1
        while True:
            page = self.query_page(entity, where, start, MAX_PAGE)
            yield from page
            if len(page) < MAX_PAGE:
                return
            start += MAX_PAGE

    def count(self, entity: str, where: str = "") -> int:
        clause = f" WHERE {where}" if where else ""
        return int(self._query(f"SELECT COUNT(*) FROM {entity}{clause}").get("totalCount", 0))

    def read(self, entity: str, entity_id: str) -> dict:
        return self._get(f"{entity.lower()}/{entity_id}")[entity]

    def create(self, entity: str, body: dict, request_id: str) -> dict:
        return self._post(entity.lower(), body, request_id=request_id)[entity]

    def update(self, entity: str, body: dict, request_id: str | None = None, sparse: bool = True) -> dict:
        payload = {**body, "sparse": sparse}
        return self._post(entity.lower(), payload, request_id=request_id)[entity]

    def batch(self, ops: list[BatchOp], request_id: str) -> list[BatchResult]:
        if not 0 < len(ops) <= MAX_BATCH:
            raise ValueError(f"a batch holds 1..{MAX_BATCH} operations, got {len(ops)}")
        body = {"BatchItemRequest": [{"bId": op.bid, "operation": op.operation, op.entity: op.body} for op in ops]}
        response = self._post("batch", body, request_id=request_id)
        by_bid = {op.bid: op.entity for op in ops}
        results = []
        for item in response.get("BatchItemResponse", []):
            bid = item.get("bId", "")
            if "Fault" in item:
                err = (item["Fault"].get("Error") or [{}])[0]
                fault = {"code": str(err.get("code", "")), "message": err.get("Message", ""),
                         "detail": err.get("Detail", "")}
                results.append(BatchResult(bid, fault=fault))
            else:
                results.append(BatchResult(bid, entity=item.get(by_bid.get(bid, ""))))
        return results

    def cdc(self, entities: list[str], changed_since: str) -> dict[str, list[dict]]:
        data = self._get("cdc", {"entities": ",".join(entities), "changedSince": changed_since})
        out: dict[str, list[dict]] = {e: [] for e in entities}
        for block in data.get("CDCResponse", []):
            for qr in block.get("QueryResponse", []):
                for name, rows in qr.items():
                    if isinstance(rows, list):
                        out.setdefault(name, []).extend(rows)
        return out


__all__ = ["QuickBooksAdapter", "QuickBooksError", "quote", "dumps"]
