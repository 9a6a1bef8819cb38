"""requestid replay, injected failures and QuickBooks' throttles."""

import json
import threading
import time

import pytest
import requests
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer

from shared.quickbooks.errors import Throttled, Unavailable
from shared.quickbooks.port import BatchOp
from tests.emulators.quickbooks.helpers import FIXTURES, connect, new_realm

pytestmark = pytest.mark.integration


def add_fault(url, **fault):
    response = requests.post(f"{url}/_emulator/faults", json=fault, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def create(conn, body, request_id):
    return conn.raw("POST", "customer", params={"requestid": request_id, "minorversion": 75},
                    data=json.dumps(body), headers={"Content-Type": "application/json"})


def test_requestid_replays_the_first_response_and_writes_nothing(company):
    first = create(company, {"DisplayName": "Once Only"}, "req-1")
    again = create(company, {"DisplayName": "Once Only"}, "req-1")
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert company.adapter.count("Customer", "DisplayName = 'Once Only'") == 1
    # Another body under the same id still gets the first answer: QuickBooks keys on the id alone.
    assert create(company, {"DisplayName": "Something Else"}, "req-1").content == first.content
    # A fault is an answer too, and it is replayed as such.
    clash = create(company, {"DisplayName": "Once Only"}, "req-2")
    assert clash.status_code == 400 and create(company, {"DisplayName": "Unused"}, "req-2").content == clash.content
    too_long = create(company, {"DisplayName": "Long Id"}, "x" * 51)
    assert too_long.status_code == 400 and "50 characters" in too_long.json()["Fault"]["Error"][0]["Detail"]
    requests_log = requests.get(f"{company.url}/_emulator/requests", timeout=5).json()
    assert [e.get("replayed") for e in requests_log["log"] if e["kind"] == "create"][-2:] == [True, None]


def test_a_write_committed_before_a_500_is_replayed_by_requestid(emulator, company):
    _, url = emulator
    add_fault(url, realm=company.realm, path_contains="/customer", kind="after_commit", status=500, count=1)
    with pytest.raises(Unavailable):
        company.adapter.create("Customer", {"DisplayName": "Committed Anyway"}, request_id="crash-1")
    assert company.adapter.count("Customer", "DisplayName = 'Committed Anyway'") == 1
    replayed = company.adapter.create("Customer", {"DisplayName": "Committed Anyway"}, request_id="crash-1")
    assert replayed["DisplayName"] == "Committed Anyway"
    assert company.adapter.count("Customer", "DisplayName = 'Committed Anyway'") == 1


def test_a_batch_committed_before_the_connection_dropped_is_replayed(emulator, company):
    _, url = emulator
    add_fault(url, realm=company.realm, path_contains="/batch", kind="after_commit", then="drop", count=1)
    ops = [BatchOp(str(i), "create", "Customer", {"DisplayName": f"Dropped {i}"}) for i in range(5)]
    with pytest.raises(Unavailable):
        company.adapter.batch(ops, request_id="batch-crash-1")
    assert requests.get(f"{url}/_emulator/faults", timeout=5).json()["data"] == []
    results = company.adapter.batch(ops, request_id="batch-crash-1")
    assert [r.entity["DisplayName"] for r in results] == [f"Dropped {i}" for i in range(5)]
    assert company.adapter.count("Customer", "DisplayName LIKE 'Dropped%'") == 5


def test_injected_errors_timeouts_and_drops(emulator, company):
    _, url = emulator
    add_fault(url, realm=company.realm, path_contains="/query", kind="error", status=503, count=2)
    for _ in range(2):
        with pytest.raises(Unavailable):
            company.adapter.count("Customer")
    assert company.adapter.count("Customer") == 5
    add_fault(url, realm=company.realm, kind="drop", count=1)
    with pytest.raises(requests.ConnectionError):
        company.raw("GET", "preferences")
    add_fault(url, realm=company.realm, kind="timeout", timeout_seconds=0.2, count=1)
    started = time.monotonic()
    response = company.raw("GET", "preferences")
    assert response.status_code == 504 and time.monotonic() - started >= 0.2
    add_fault(url, realm=company.realm, kind="error", status=429, count=1)
    assert company.raw("GET", "preferences").status_code == 429
    assert requests.post(f"{url}/_emulator/faults", json={"kind": "explode"}, timeout=5).status_code == 400


def _expected_throttle_body(body: str) -> str:
    template = (FIXTURES / "fault-429-throttle-exceeded.xml").read_text()
    recorded_time = template.split('time="')[1].split('"')[0]
    sent_time = body.split('time="')[1].split('"')[0]
    return template.replace(recorded_time, sent_time)


def test_throttle_500_a_minute_answers_429_in_xml(clocked):
    _, url, clock = clocked
    conn = connect(url, new_realm(url))
    requests.put(f"{url}/_emulator/limits", json={"requests_per_minute": 5}, timeout=5).raise_for_status()
    for _ in range(5):
        assert conn.raw("GET", "preferences").status_code == 200
    refused = conn.raw("GET", "preferences", headers={"Accept": "application/json"})
    assert refused.status_code == 429 and refused.headers["Content-Type"].startswith("application/xml")
    assert refused.text == _expected_throttle_body(refused.text)
    with pytest.raises(QuickbooksException) as raised:  # python-quickbooks cannot read the XML
        Customer.count(qb=conn.qb)
    assert raised.value.error_code == 10000 and conn.recorder.last_status == 429
    with pytest.raises(Throttled):
        conn.adapter.count("Customer")
    other = connect(url, new_realm(url))  # limits are per realm
    assert other.raw("GET", "preferences").status_code == 200
    clock.now += 61  # the window slides
    assert conn.raw("GET", "preferences").status_code == 200


def test_batch_and_concurrency_limits(clocked):
    _, url, clock = clocked
    conn = connect(url, new_realm(url))
    requests.put(f"{url}/_emulator/limits", json={"batch_per_minute": 2, "concurrent": 1}, timeout=5)
    body = json.dumps({"BatchItemRequest": [{"bId": "q", "Query": "select * from Class"}]})
    statuses = [conn.raw("POST", "batch", data=body, headers={"Content-Type": "application/json"}).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    add_fault(url, realm=conn.realm, kind="timeout", timeout_seconds=0.5, count=1)
    slow = threading.Thread(target=conn.raw, args=("GET", "preferences"))
    slow.start()
    time.sleep(0.2)
    assert conn.raw("GET", "preferences").status_code == 429  # the slow call holds the only slot
    slow.join()
    assert conn.raw("GET", "preferences").status_code == 200
    off = requests.put(f"{url}/_emulator/limits", json={"enabled": False}, timeout=5).json()
    assert off["enabled"] is False
    assert all(conn.raw("POST", "batch", data=body, headers={"Content-Type": "application/json"}).status_code
               == 200 for _ in range(3))


def test_throttle_can_be_off_from_the_start():
    from emulators.quickbooks.app import create_app

    app = create_app(throttle=False)
    try:
        assert app.throttle.describe()["enabled"] is False
    finally:
        app.close()
