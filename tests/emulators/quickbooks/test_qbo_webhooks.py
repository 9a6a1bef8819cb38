"""Webhook notifications: Intuit's signature vectors, batching per realm, redelivery, both payload formats."""

import threading
import time

import pytest
import requests
from werkzeug.wrappers import Request, Response

from emulators.common.server import start
from emulators.quickbooks.webhooks import sign
from shared.quickbooks import webhooks
from tests.emulators.quickbooks.helpers import FIXTURES, connect, fixture, new_realm

pytestmark = pytest.mark.integration
TOKEN = "local-verifier-token"


@pytest.mark.parametrize("vector", fixture("webhook-signature-vectors.json")["vectors"])
def test_signature_matches_intuits_sdk_vectors(vector):
    body = (FIXTURES / vector["bodyFile"]).read_bytes()
    assert body == vector["body"].encode()
    assert (sign(vector["verifierToken"], body) == vector["intuitSignature"]) is vector["expectValid"]


class Receiver:
    """Our side: verify with the production code, keep what was accepted, fail on demand."""

    def __init__(self):
        self.accepted, self.rejected, self.fail_next = [], [], 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        raw = request.get_data()
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return Response("busy", 503)(environ, start_response)
            try:
                webhooks.verify_signature(TOKEN, raw, request.headers.get("intuit-signature"))
                hints = webhooks.parse(raw)
            except (webhooks.InvalidSignature, webhooks.InvalidPayload) as exc:
                self.rejected.append(str(exc))
                return Response("no", 401)(environ, start_response)
            self.accepted.append((request.content_type, raw, hints))
        return Response("", 200)(environ, start_response)

    def hints(self):
        with self.lock:
            return [h for _, _, hs in self.accepted for h in hs]


@pytest.fixture
def receiver(emulator):
    app, _ = emulator
    recv = Receiver()
    server = start(recv, 0)
    app.configure_webhooks(f"{server.url}/webhooks/quickbooks")
    app.webhooks.configure(fmt="classic")
    yield recv
    app.configure_webhooks(None)
    server.stop()


@pytest.fixture
def held(emulator, receiver):
    """The emulator's URL with deliveries held for a flush (a 60 s batching window) for one test; the module's own
    window is back afterwards."""
    app, url = emulator
    window = app.webhooks.flush_interval
    app.webhooks.configure(flush_interval=60)
    yield url
    app.webhooks.configure(flush_interval=window)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_changes_arrive_signed_and_batched_per_realm(emulator, receiver, company):
    customer = company.adapter.create("Customer", {"DisplayName": "Hooked"}, request_id="hook-1")
    company.adapter.update("Customer", {"Id": customer["Id"], "SyncToken": "0", "Notes": "n"})
    assert wait_for(lambda: {(h.entity, h.entity_id, h.operation) for h in receiver.hints()} >= {
        ("Customer", customer["Id"], "Create"), ("Customer", customer["Id"], "Update")})
    assert receiver.rejected == []
    content_type, raw, hints = receiver.accepted[0]
    assert content_type == "application/json" and all(h.account == company.realm for h in hints)
    doc = requests.get(f"{company.url}/_emulator/webhooks", timeout=5).json()
    payload = doc["deliveries"][-1]["payload"]
    assert set(payload) == set(fixture("webhook-classic.json"))
    entity = payload["eventNotifications"][0]["dataChangeEvent"]["entities"][0]
    assert set(entity) == {"name", "id", "operation", "lastUpdated"} and entity["lastUpdated"].endswith("Z")


def test_a_payment_notifies_the_payment_and_the_invoice(emulator, receiver, company):
    customer = company.adapter.query_page("Customer")[0]["Id"]
    invoice = company.adapter.create("Invoice", {"CustomerRef": {"value": customer}, "Line": [
        {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]},
        request_id="hook-inv")
    payment = company.adapter.create("Payment", {"CustomerRef": {"value": customer}, "TotalAmt": 10, "Line": [
        {"Amount": 10, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}, request_id="hook-pay")
    requests.post(f"{company.url}/_emulator/webhooks/flush", timeout=5).raise_for_status()
    expected = {("Invoice", invoice["Id"], "Create"), ("Payment", payment["Id"], "Create"),
                ("Invoice", invoice["Id"], "Update")}
    assert wait_for(lambda: expected <= {(h.entity, h.entity_id, h.operation) for h in receiver.hints()})


def test_failed_deliveries_are_retried_and_later_events_wait(emulator, receiver, company):
    requests.post(f"{company.url}/_emulator/webhooks/flush", timeout=5).raise_for_status()  # nothing else queued
    receiver.fail_next = 2
    first = company.adapter.create("Customer", {"DisplayName": "Retry One"}, request_id="retry-1")
    second = company.adapter.create("Customer", {"DisplayName": "Retry Two"}, request_id="retry-2")
    assert wait_for(lambda: {first["Id"], second["Id"]} <= {h.entity_id for h in receiver.hints()})
    order = [h.entity_id for h in receiver.hints() if h.entity_id in (first["Id"], second["Id"])]
    assert order.index(first["Id"]) < order.index(second["Id"])
    deliveries = requests.get(f"{company.url}/_emulator/webhooks", timeout=5).json()["deliveries"]
    delivery = next(d for d in deliveries if d["realm"] == company.realm and any(
        e["id"] == first["Id"] for n in d["payload"]["eventNotifications"] for e in n["dataChangeEvent"]["entities"]))
    assert [a["status"] for a in delivery["attempts"]] == [503, 503, 200] and delivery["status"] == "delivered"


def test_flush_delivers_synchronously_and_reports_what_was_sent(held):
    url = held
    conn = connect(url, new_realm(url))
    conn.adapter.create("Customer", {"DisplayName": "Flushed"}, request_id="flush-1")
    sent = requests.post(f"{url}/_emulator/webhooks/flush", timeout=5).json()["sent"]
    mine = [d for d in sent if d["realm"] == conn.realm]
    assert mine and mine[0]["status"] == "delivered" and mine[0]["attempts"][0]["status"] == 200
    assert mine[0]["payload"]["eventNotifications"][0]["dataChangeEvent"]["entities"][0]["operation"] == "Create"


def test_cloudevents_format(emulator, receiver, company):
    requests.put(f"{company.url}/_emulator/webhooks", json={"format": "cloudevents"}, timeout=5).raise_for_status()
    created = company.adapter.create("Customer", {"DisplayName": "Cloudy"}, request_id="ce-1")
    assert wait_for(lambda: any(ct == "application/cloudevents+json" for ct, _, _ in receiver.accepted))
    content_type, raw, hints = next(a for a in receiver.accepted if a[0] == "application/cloudevents+json")
    event = requests.get(f"{company.url}/_emulator/webhooks", timeout=5).json()["deliveries"][-1]["payload"][0]
    assert set(fixture("webhook-cloudevents.json")[0]) <= set(event)
    assert event["type"] == "qbo.customer.created.v1" and event["intuitaccountid"] == company.realm
    assert (hints[0].entity, hints[0].entity_id, hints[0].operation) == ("Customer", created["Id"], "Create")


def test_deleting_the_webhooks_drops_what_is_queued_and_the_log(held):
    url = held
    conn = connect(url, new_realm(url))
    conn.adapter.create("Customer", {"DisplayName": "Never Sent"}, request_id="dropped-1")
    assert requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["queued"] >= 1
    after = requests.delete(f"{url}/_emulator/webhooks", timeout=5).json()
    assert after["queued"] == 0 and after["url"]  # the subscription stays
    assert requests.post(f"{url}/_emulator/webhooks/flush", timeout=5).json()["sent"] == []
    assert requests.get(f"{url}/_emulator/webhooks", timeout=5).json()["deliveries"] == []


def test_the_delivery_log_can_be_read_while_the_sender_appends_to_it(emulator, company):
    import sys

    from emulators.quickbooks.webhooks import Delivery

    app, _ = emulator
    body = b'{"eventNotifications": []}'
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns often, as on a busy stack: the reader meets an append
    for n in range(1000):
        app.webhooks.log.append(Delivery(f"d{n}", company.realm, "http://nowhere", body, "application/json"))
    stop = threading.Event()

    def sender():
        n = 0
        while not stop.is_set():
            app.webhooks.log.append(Delivery(f"x{n}", company.realm, "http://nowhere", body, "application/json"))
            n += 1

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            requests.get(f"{company.url}/_emulator/webhooks", timeout=30).raise_for_status()
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
        app.webhooks.log.clear()
