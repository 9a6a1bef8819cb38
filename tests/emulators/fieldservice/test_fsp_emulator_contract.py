import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from emulators.datagen import generate
from emulators.fieldservice.app import create_app
from shared.fieldservice import webhooks
from shared.fieldservice.errors import Conflict, NotFound, RateLimited, Unauthorized, Unavailable, ValidationFailed
from shared.fieldservice.http_adapter import HttpFieldService
from shared.fieldservice.models import (
    Address,
    ClientDraft,
    Contact,
    InvoiceStatus,
    ItemDraft,
    ItemType,
    PaymentDraft,
    SiteDraft,
)
from shared.fieldservice.port import iter_all

pytestmark = pytest.mark.integration

DATA = generate(21, 40)


def make_tenant(url, tenant_id, webhook_url=None):
    body = {"tenant_id": tenant_id, "api_key": f"key-{tenant_id}"}
    if webhook_url:
        body["webhook_url"] = webhook_url
    response = requests.post(f"{url}/_emulator/tenants", json=body, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def _load(url, tenant_id, dataset=DATA.fieldservice, emit=False):
    response = requests.post(f"{url}/_emulator/tenants/{tenant_id}/load", json=dataset,
                             params={"emit_events": "true"} if emit else None, timeout=30)
    assert response.status_code == 200, response.text


def _ready_invoice(tenant_id="t1"):
    return next(i for i in DATA.fieldservice["invoices"] if i["status"] == "ready_for_sync" and i["total"] != "0.00")


def test_every_operation_answers_as_the_contract_says(emulator, fsp, checker):
    _, url = emulator
    make_tenant(url, "t1")
    _load(url, "t1")
    clients = list(iter_all(fsp.list_clients, "t1", limit=7))
    assert len(clients) == len(DATA.fieldservice["clients"])
    assert fsp.get_client("t1", clients[0].id) == clients[0]
    created = fsp.create_client("t1", ClientDraft("Nuevo Café: HQ", Contact("Zoë", "Åkesson", "z@x.io"),
                                                  Address("1 Main St", None, "Tempe", None, "85281", "US")))
    assert created.billing_address.state is None and created.company_name == "Nuevo Café: HQ"
    assert fsp.update_client("t1", created.id, active=False).active is False
    site = fsp.create_site("t1", SiteDraft(created.id, "Warehouse", Address("9 Dock Rd", city="Mesa", state="AZ",
                                                                             country="US")))
    assert fsp.update_site("t1", site.id, name="Warehouse 2").name == "Warehouse 2"
    assert fsp.get_site("t1", site.id).client_id == created.id
    assert [s.id for s in iter_all(fsp.list_sites, "t1", client_id=created.id)] == [site.id]
    job_types = fsp.list_job_types("t1", limit=1000).items
    assert fsp.get_job_type("t1", job_types[0].id) == job_types[0]
    items = fsp.list_items("t1", limit=1000).items
    assert fsp.get_item("t1", items[0].id) == items[0]
    item = fsp.create_item("t1", ItemDraft("Gasket", ItemType.NON_INVENTORY, Decimal("3.10"), cost=Decimal("1")))
    assert fsp.update_item("t1", item.id, price=Decimal("3.25"), type=ItemType.EQUIPMENT).price == Decimal("3.25")
    ready = list(iter_all(fsp.list_invoices, "t1", status=InvoiceStatus.READY_FOR_SYNC, limit=5))
    assert ready and all(i.status is InvoiceStatus.READY_FOR_SYNC for i in ready)
    invoice = fsp.get_invoice("t1", ready[0].id)
    assert invoice.total == sum((line.amount for line in invoice.lines), Decimal(0)) + invoice.tax_total
    updated = fsp.update_invoice("t1", invoice.id, external_number="QB-1042")
    assert updated.external_number == "QB-1042" and updated.updated_at > invoice.updated_at
    assert fsp.update_invoice("t1", invoice.id, status="paid").status is InvoiceStatus.PAID
    payments = list(iter_all(fsp.list_payments, "t1"))
    assert len(payments) == len(DATA.fieldservice["payments"])
    assert fsp.get_payment("t1", payments[0].id) == payments[0]
    assert fsp.list_payments("t1", invoice_id=payments[0].invoice_id).items
    taxed = fsp.update_invoice("t1", ready[-1].id, tax_total=Decimal("8.25"))  # QuickBooks computed the tax
    assert taxed.tax_total == Decimal("8.25") and taxed.total == taxed.subtotal + Decimal("8.25")
    draft = PaymentDraft(taxed.id, Decimal("10.00"), date(2026, 11, 20), "check", "QB-77")
    recorded = fsp.create_payment("t1", draft, idempotency_key="qbo-payment-77")
    assert fsp.create_payment("t1", draft, idempotency_key="qbo-payment-77") == recorded  # recorded once
    assert fsp.get_invoice("t1", taxed.id).amount_paid == taxed.amount_paid + Decimal("10.00")
    assert fsp.update_payment("t1", recorded.id, amount=Decimal("12.50")).amount == Decimal("12.50")
    gone = fsp.delete_payment("t1", recorded.id)
    assert gone.deleted_at is not None and fsp.get_invoice("t1", taxed.id).amount_paid == taxed.amount_paid
    assert checker.seen == checker.contract.operation_ids()


def test_bad_input_gets_clear_4xx_and_typed_errors(emulator, fsp, checker):
    _, url = emulator
    make_tenant(url, "t1")
    make_tenant(url, "t2")
    _load(url, "t1")
    with pytest.raises(ValidationFailed) as exc:
        fsp.create_site("t1", SiteDraft("cli_missing", "X", Address(country="USA")))
    assert exc.value.status == 422 and [f.field for f in exc.value.fields] == ["address.country"]
    with pytest.raises(ValidationFailed) as exc:
        fsp.create_site("t1", SiteDraft("cli_missing", "X", Address(country="US")))
    assert exc.value.fields[0].field == "client_id" and exc.value.fields[0].code == "not_found"
    with pytest.raises(ValidationFailed) as exc:
        fsp.create_client("t1", ClientDraft(None, Contact(email="nobody@x.io")))
    assert exc.value.fields[0].field == "company_name"
    with pytest.raises(ValidationFailed):
        fsp.list_clients("t1", limit=5, cursor="not-a-cursor")
    with pytest.raises(NotFound):
        fsp.get_invoice("t1", "inv_nope")
    draft = next(i for i in DATA.fieldservice["invoices"] if i["status"] == "draft")
    with pytest.raises(Conflict):
        fsp.update_invoice("t1", draft["id"], status="paid")
    with pytest.raises(Unauthorized):
        HttpFieldService(url, "key-t2").list_clients("t1")
    with pytest.raises(Conflict):
        fsp.create_client("t1", ClientDraft("A"), idempotency_key="same")
        fsp.create_client("t1", ClientDraft("B"), idempotency_key="same")
    raw = requests.post(f"{url}/v1/tenants/t1/clients", data="{", headers={
        "Authorization": "Bearer key-t1", "Content-Type": "application/json"}, timeout=5)
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "bad_request"
    raw = requests.get(f"{url}/v1/tenants/t1/clients", params={"limit": 0, "colour": "red"},
                       headers={"Authorization": "Bearer key-t1"}, timeout=5)
    assert raw.status_code == 400 and raw.json()["error"]["fields"][0]["field"] == "colour"
    raw = requests.delete(f"{url}/v1/tenants/t1/clients/x", headers={"Authorization": "Bearer key-t1"}, timeout=5)
    assert raw.status_code == 405
    raw = requests.post(f"{url}/v1/tenants/t1/clients", json={"company_name": "X", "extra": 1},
                        headers={"Authorization": "Bearer key-t1"}, timeout=5)
    assert raw.status_code == 422 and raw.json()["error"]["fields"][0] == {
        "field": "extra", "code": "unknown_field", "message": "unknown field extra"}


def test_idempotent_create_returns_the_first_record(emulator, fsp):
    _, url = emulator
    make_tenant(url, "t1")
    first = fsp.create_client("t1", ClientDraft("Once Inc."), idempotency_key="k")
    again = fsp.create_client("t1", ClientDraft("Once Inc."), idempotency_key="k")
    assert first == again and len(fsp.list_clients("t1").items) == 1


def test_tenants_are_isolated(emulator, fsp):
    _, url = emulator
    make_tenant(url, "t1")
    make_tenant(url, "t2")
    _load(url, "t1")
    assert fsp.list_clients("t2").items == ()
    with pytest.raises(NotFound):
        fsp.get_client("t2", DATA.fieldservice["clients"][0]["id"])


def test_paging_under_concurrent_updates_misses_nothing(emulator, fsp):
    app, url = emulator
    make_tenant(url, "t1")
    _load(url, "t1")
    ids = [c["id"] for c in DATA.fieldservice["clients"]]
    seen, cursor, touched = [], None, []
    while True:
        page = fsp.list_clients("t1", cursor=cursor, limit=6)
        seen += [c.id for c in page.items]
        # a user edits clients on pages already read and on pages not yet read
        for cid in (ids[len(seen) % len(ids)], seen[0]):
            fsp.update_client("t1", cid, active=True)
            touched.append(cid)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert set(ids) <= set(seen)
    since = datetime.now(UTC) - timedelta(seconds=30)
    recent = {c.id for c in iter_all(fsp.list_clients, "t1", updated_since=since)}
    assert recent == set(touched)


def test_faults_are_retried_then_surface_as_typed_errors(emulator, fsp):
    _, url = emulator
    make_tenant(url, "t1")
    fault = {"status": 429, "retry_after": 0, "times": 2, "path": "/clients$", "method": "GET"}
    assert requests.post(f"{url}/_emulator/faults", json=fault, timeout=5).status_code == 201
    assert fsp.list_clients("t1").items == ()
    log = requests.get(f"{url}/_emulator/requests", params={"tenant_id": "t1"}, timeout=5).json()["data"]
    assert [r["status"] for r in log] == [429, 429, 200]
    requests.post(f"{url}/_emulator/faults", json={"status": 503, "times": -1}, timeout=5)
    with pytest.raises(Unavailable):
        fsp.list_items("t1")
    requests.delete(f"{url}/_emulator/faults", timeout=5)
    requests.post(f"{url}/_emulator/faults", json={"status": 429, "times": -1, "retry_after": 7}, timeout=5)
    with pytest.raises(RateLimited) as exc:
        HttpFieldService(url, "key-t1", max_retries=0).list_items("t1")
    assert exc.value.retry_after == 7
    bad = requests.post(f"{url}/_emulator/faults", json={"status": 200}, timeout=5)
    assert bad.status_code == 422


def test_user_changes_send_signed_webhooks_that_our_verifier_accepts(emulator, receiver, fsp):
    app, url = emulator
    make_tenant(url, "t1", webhook_url=receiver.url)
    _load(url, "t1")
    invoice = next(i for i in DATA.fieldservice["invoices"] if i["status"] == "approved")
    control = f"{url}/_emulator/tenants/t1/records"
    client = dict(DATA.fieldservice["clients"][0], company_name="Renamed LLC")
    site = dict(DATA.fieldservice["sites"][0], name="Back office")
    job_type = {"name": "Snow Removal"}
    item = dict(DATA.fieldservice["items"][0], price="99.00")
    payment = {"invoice_id": invoice["id"], "amount": "10.00", "paid_on": "2026-02-01", "method": "check",
               "reference": "1234"}
    for kind, body in (("clients", client), ("clients", {"company_name": "Brand New"}), ("sites", site),
                       ("job_types", job_type), ("job_types", dict(DATA.fieldservice["job_types"][0], name="Tune-up")),
                       ("items", item), ("items", {"name": "Bolt", "type": "inventory",
                                                                           "price": "1.00"}),
                       ("invoices", dict(invoice, status="ready_for_sync")),
                       ("invoices", dict(invoice, status="ready_for_sync", memo="edited")),
                       ("invoices", dict(invoice, status="void"))):
        assert requests.post(f"{control}/{kind}", json=body, timeout=5).status_code == 200
    new_site = {"client_id": client["id"], "name": "Annex", "address": {"line1": "2 Side St", "country": "US"}}
    requests.post(f"{control}/sites", json=new_site, timeout=5)
    paid = requests.post(f"{control}/payments", json=payment, timeout=5).json()
    requests.post(f"{control}/payments", json=dict(paid, amount="12.00"), timeout=5)
    assert requests.delete(f"{control}/payments/{paid['id']}", timeout=5).json()["deleted_at"]
    fsp.update_invoice("t1", _ready_invoice()["id"], external_number="QB-7")
    assert requests.post(f"{url}/_emulator/webhooks/flush", json={"timeout": 10}, timeout=15).json()["drained"]
    types = [event.type for event, _, _ in receiver.accepted]
    assert set(types) == webhooks.EVENT_TYPES
    assert receiver.rejected == []
    by_type = {event.type: event for event, _, _ in receiver.accepted}
    assert by_type["invoice.voided"].object["status"] == "void"
    assert by_type["payment.deleted"].object["deleted_at"] is not None
    contract_doc = app.contract
    for event, raw, _ in receiver.accepted:
        schema = contract_doc.doc["webhooks"][event.type]["post"]["requestBody"]["$ref"].rsplit("/", 1)[1]
        schema_name = contract_doc.doc["components"]["requestBodies"][schema]["content"]["application/json"][
            "schema"]["$ref"].rsplit("/", 1)[1]
        assert contract_doc.field_errors(schema_name, json.loads(raw)) == [], event.type
    paid_invoice = fsp.get_invoice("t1", invoice["id"])
    assert paid_invoice.amount_paid == Decimal(invoice["amount_paid"]) and paid_invoice.status is InvoiceStatus.VOID


def test_forged_stale_and_replayed_webhooks_are_rejected(emulator, receiver):
    app, url = emulator
    make_tenant(url, "t1", webhook_url=receiver.url)
    requests.post(f"{url}/_emulator/tenants/t1/records/job_types", json={"name": "Install"}, timeout=5)
    requests.post(f"{url}/_emulator/webhooks/flush", json={}, timeout=15)
    (event, raw, header), = receiver.accepted
    delivery = requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["data"][0]["id"]
    # replayed exactly as captured: the signature verifies, the receiver's dedupe on the event id stops it
    replay = requests.post(f"{url}/_emulator/webhooks/{delivery}/replay", json={}, timeout=5).json()
    assert replay["status"] == 200 and receiver.rejected == ["Duplicate"] and len(receiver.accepted) == 1
    secret = app.state.tenant("t1").webhook_secret
    forged_body = raw.replace(b"Install", b"Uninstall")
    stale = webhooks.signature_header(secret, raw, int(time.time()) - 3600)
    for body, sig in ((forged_body, header), (raw, webhooks.signature_header("guess", raw)), (raw, stale),
                      (raw, None)):
        answer = requests.post(receiver.url, data=body, timeout=5,
                               headers={webhooks.SIGNATURE_HEADER: sig} if sig else {})
        assert answer.status_code == 401
    assert receiver.rejected == ["Duplicate", "InvalidSignature", "InvalidSignature", "StaleTimestamp",
                                 "MalformedSignature"]


def test_failed_deliveries_are_retried_with_the_same_event_id(emulator, receiver):
    app, url = emulator
    make_tenant(url, "t1", webhook_url=receiver.url)
    receiver.fail_next = 2
    requests.post(f"{url}/_emulator/tenants/t1/records/job_types", json={"name": "Repair"}, timeout=5)
    assert requests.post(f"{url}/_emulator/webhooks/flush", json={}, timeout=15).json()["drained"]
    delivery = requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["data"][0]
    assert delivery["status"] == "delivered" and [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert len(receiver.accepted) == 1 and receiver.accepted[0][0].id == delivery["event_id"]


def test_the_control_api_sets_the_default_webhook_url(emulator, receiver):
    app, url = emulator
    make_tenant(url, "t1")
    assert requests.put(f"{url}/_emulator/webhooks", json={"url": None}, timeout=5).json() == {"url": None}
    requests.post(f"{url}/_emulator/tenants/t1/records/job_types", json={"name": "Unsent"}, timeout=5)
    answer = requests.put(f"{url}/_emulator/webhooks", json={"url": receiver.url}, timeout=5)
    assert answer.json() == {"url": receiver.url}
    requests.post(f"{url}/_emulator/tenants/t1/records/job_types", json={"name": "Audit"}, timeout=5)
    app.sender.flush()
    assert [e.type for e, _, _ in receiver.accepted] == ["job_type.created"]
    assert requests.put(f"{url}/_emulator/webhooks", json={"secret": "x"}, timeout=5).status_code == 422


def test_state_persists_to_the_state_file(tmp_path):
    state_file = tmp_path / "fsp.json"
    app = create_app(state_file=str(state_file), save_interval=0.05)
    tenant = app.state.create_tenant("t1", api_key="k1")
    app.state.load(tenant, DATA.fieldservice)
    app.close()
    again = create_app(state_file=str(state_file))
    try:
        restored = again.state.tenant("t1")
        assert restored.records == tenant.records and restored.api_key == "k1"
        # ids and timestamps continue where they stopped
        created, _ = again.state.create(restored, "clients", {"company_name": "After Restart"})
        assert created["id"] not in tenant.records["clients"] and created["updated_at"] > max(
            c["updated_at"] for c in tenant.records["clients"].values())
    finally:
        again.close()


def test_concurrent_writers_never_share_a_timestamp(emulator, fsp):
    _, url = emulator
    make_tenant(url, "t1")
    errors = []

    def write(n):
        try:
            for i in range(10):
                fsp.create_client("t1", ClientDraft(f"Writer {n}-{i}"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [c.updated_at for c in iter_all(fsp.list_clients, "t1")]
    assert not errors and len(stamps) == 40 and len(set(stamps)) == 40


def test_control_api_reads_state_and_request_log(emulator, fsp):
    _, url = emulator
    make_tenant(url, "t1")
    _load(url, "t1")
    fsp.list_job_types("t1")
    state = requests.get(f"{url}/_emulator/tenants/t1/state", params={"kind": "job_types"}, timeout=5).json()
    assert list(state["records"]) == ["job_types"] and state["tenant"]["counts"]["clients"] == 40
    log = requests.get(f"{url}/_emulator/requests", params={"method": "GET"}, timeout=5).json()["data"]
    assert log[-1]["path"] == "/v1/tenants/t1/job_types" and log[-1]["status"] == 200
    missing = requests.post(f"{url}/_emulator/tenants/t1/load", json={"widgets": []}, timeout=5)
    assert missing.status_code == 422
    dangling = requests.post(f"{url}/_emulator/tenants/t1/load", json={"sites": [
        {"client_id": "cli_none", "name": "x", "address": {}}]}, timeout=5)
    assert dangling.status_code == 422 and dangling.json()["error"]["fields"][0]["field"] == "sites.0.client_id"
