import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses

from shared.fieldservice.errors import (
    Conflict,
    NotFound,
    PlatformRefused,
    PlatformUnavailable,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from shared.fieldservice.http_adapter import HttpFieldService
from shared.fieldservice.models import ClientDraft, Contact, InvoiceStatus, ItemDraft, ItemType, Page
from shared.fieldservice.port import iter_all

ROOT = "https://fsp.test/v1/tenants/t1"
STAMP = "2026-01-02T03:04:05.000006Z"
CLIENT = {"id": "cli_1", "company_name": "Acme", "contact": {"first_name": "A", "last_name": "B", "email": None,
                                                             "phone": None},
          "billing_address": None, "active": True, "created_at": STAMP, "updated_at": STAMP}
INVOICE = {"id": "inv_1", "number": "1001", "external_number": None, "client_id": "cli_1", "site_id": None,
           "job_id": None, "job_type_id": "jt_1", "status": "ready_for_sync", "issued_on": "2026-01-02",
           "due_on": None, "currency": "USD", "subtotal": "10.10", "tax_total": "0.83", "total": "10.93",
           "amount_paid": "0.00", "balance": "10.93", "memo": None, "created_at": STAMP, "updated_at": STAMP,
           "lines": [{"id": "1", "item_id": "item_1", "description": "x", "quantity": "1.5", "unit_price": "6.73",
                      "amount": "10.10", "taxable": True}]}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def fsp(sleeps):
    return HttpFieldService("https://fsp.test", lambda tenant: f"key-{tenant}", sleep=sleeps.append, max_retries=3)


@responses.activate
def test_wire_to_domain_keeps_money_exact_and_times_aware(fsp):
    responses.get(f"{ROOT}/invoices", json={"data": [INVOICE], "next_cursor": None})
    page = fsp.list_invoices("t1", status=InvoiceStatus.READY_FOR_SYNC,
                             updated_since=datetime(2026, 1, 1, tzinfo=UTC))
    invoice = page.items[0]
    assert invoice.total == Decimal("10.93") and isinstance(invoice.lines[0].quantity, Decimal)
    assert invoice.updated_at == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Bearer key-t1"
    assert "status=ready_for_sync" in request.url and "updated_since=2026-01-01T00%3A00%3A00.000000Z" in request.url


@responses.activate
def test_create_sends_money_as_strings_and_an_idempotency_key(fsp):
    responses.post(f"{ROOT}/items", status=201, json={
        "id": "item_1", "name": "Filter", "type": "inventory", "description": None, "sku": None, "price": "12.50",
        "cost": None, "taxable": True, "active": True, "created_at": STAMP, "updated_at": STAMP})
    item = fsp.create_item("t1", ItemDraft("Filter", ItemType.INVENTORY, Decimal("12.5")), idempotency_key="k1")
    sent = json.loads(responses.calls[0].request.body)
    assert sent["price"] == "12.50" and responses.calls[0].request.headers["Idempotency-Key"] == "k1"
    assert item.price == Decimal("12.50")


@responses.activate
def test_retries_429_honouring_retry_after_and_keeps_the_idempotency_key(fsp, sleeps):
    responses.post(f"{ROOT}/clients", status=429, headers={"Retry-After": "2"},
                   json={"error": {"code": "rate_limited", "message": "slow down", "fields": []}})
    responses.post(f"{ROOT}/clients", status=503, json={"error": {"code": "unavailable", "message": "x",
                                                                  "fields": []}})
    responses.post(f"{ROOT}/clients", status=201, json=CLIENT)
    client = fsp.create_client("t1", ClientDraft("Acme", Contact("A", "B")))
    assert client.id == "cli_1" and sleeps[0] == 2.0 and len(sleeps) == 2
    keys = {c.request.headers["Idempotency-Key"] for c in responses.calls}
    assert len(keys) == 1


@responses.activate
def test_gives_up_with_typed_errors_after_max_retries(fsp, sleeps):
    responses.get(f"{ROOT}/clients/cli_1", status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited) as exc:
        fsp.get_client("t1", "cli_1")
    assert exc.value.retry_after == 1.0 and len(responses.calls) == 4 and isinstance(exc.value, PlatformUnavailable)
    responses.get(f"{ROOT}/clients/cli_2", body=requests.ConnectionError("reset"))
    with pytest.raises(Unavailable):
        fsp.get_client("t1", "cli_2")
    assert all(0 <= s <= 20 for s in sleeps)


@pytest.mark.parametrize("status,error", [(400, ValidationFailed), (401, Unauthorized), (403, Unauthorized),
                                          (404, NotFound), (409, Conflict), (422, ValidationFailed),
                                          (410, PlatformRefused)])
@responses.activate
def test_4xx_map_to_typed_errors_without_retry(fsp, status, error):
    responses.patch(f"{ROOT}/invoices/inv_1", status=status, json={"error": {
        "code": "x_code", "message": "nope", "fields": [{"field": "status", "code": "enum", "message": "bad"}]}})
    with pytest.raises(error) as exc:
        fsp.update_invoice("t1", "inv_1", status="paid")
    assert exc.value.code == "x_code" and exc.value.status == status and len(responses.calls) == 1
    assert isinstance(exc.value, PlatformRefused)  # every 4xx but 429 is the record's own; the steps catch only it
    if error is ValidationFailed:
        assert exc.value.fields[0].field == "status"


@responses.activate
def test_non_json_error_bodies_still_give_typed_errors(fsp):
    responses.get(f"{ROOT}/sites/s1", status=404, body="<html>gone</html>")
    with pytest.raises(NotFound):
        fsp.get_site("t1", "s1")


def test_update_needs_a_change_and_unset_differs_from_none(fsp):
    with pytest.raises(ValueError):
        fsp.update_client("t1", "cli_1")
    with responses.RequestsMock() as mock:
        mock.patch(f"{ROOT}/clients/cli_1", json=CLIENT)
        fsp.update_client("t1", "cli_1", billing_address=None)
        assert json.loads(mock.calls[0].request.body) == {"billing_address": None}


def test_ids_are_one_path_segment(fsp):
    with responses.RequestsMock() as mock:
        mock.get(f"{ROOT}/clients/a%2Fb%3Fc", json=CLIENT)
        fsp.get_client("t1", "a/b?c")


def test_iter_all_follows_cursors():
    pages = {None: Page((1, 2), "c1"), "c1": Page((3,), "c2"), "c2": Page((), None)}
    seen = []

    def list_page(tenant, *, cursor=None, limit=10):
        seen.append(cursor)
        return pages[cursor]

    assert list(iter_all(list_page, "t1", limit=10)) == [1, 2, 3] and seen == [None, "c1", "c2"]


def test_base_url_with_or_without_version():
    assert HttpFieldService("https://x/v1/", "k")._root == HttpFieldService("https://x", "k")._root == "https://x/v1"
