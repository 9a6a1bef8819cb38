"""The admin API on the local stack: each route and rule through the gateway (JWT, API Gateway events, the real
handlers and storage), the roles table of docs/admin-api.md route by route, other tenants, and a schemathesis run of
the committed OpenAPI document."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.admin.contract import COMMITTED
from qbsync.demo import demo_settings
from shared.aws.schedules import schedule_name
from shared.domain.records import ErrorEntry
from shared.domain.review import ReviewEntry

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
A, B = "t-admin-a", "t-admin-b"


@pytest.fixture(scope="module")
def tenant(local_stack):
    """Tenant A: connected, settings saved, integration enabled (onboarding done), one unsynced entity and review
    entries; tenant B: connected to its own company, nothing else."""
    from shared.data.repos import ErrorRepo, ReviewRepo
    from shared.runtime import runtime

    stack, driver = local_stack
    realm = driver.create_realm("Admin Alpha Plumbing")
    driver.create_tenant(A)
    driver.connect(A, realm)
    # Review mode on, as it is wherever entries wait (with it off, the next run releases them and syncs them).
    driver.settings(A, {**demo_settings(driver, A), "review_mode": True})
    onboarding = driver.enable(A)
    realm_b = driver.create_realm("Admin Beta Electric")
    driver.create_tenant(B)
    driver.connect(B, realm_b)
    runtime()  # binds the storage models to the stack's tables for the seeding below
    ErrorRepo().record(ErrorEntry(A, "customer", "c#1/x", "to_quickbooks", "610", "Object Not Found",
                                  "Another user has deleted this object.", name="Alpha Client"))
    ReviewRepo().hold(A, [ReviewEntry("export", "invoice", "inv-1", "INV-1001", "create", "v1"),
                          ReviewEntry("export", "invoice", "inv-2", "INV-1002", "create", "v1"),
                          ReviewEntry("import", "customer", "58", "Alpha Client", "update", "v1")])
    return {"stack": stack, "driver": driver, "realm": realm, "onboarding": onboarding}


def _call(driver, method, path, tenant_id=A, role="admin", **kw):
    return driver.admin(method, path, tenant_id, role=role, **kw)


def _error_shape(response):
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return body["error"]


def test_the_contract_is_served_and_is_the_committed_copy(tenant):
    served = _call(tenant["driver"], "GET", "/admin/openapi.json")
    assert served.status_code == 200 and served.json() == json.loads(COMMITTED.read_text())


def test_settings_bodies_are_validated_with_one_error_shape(tenant):
    driver = tenant["driver"]
    current = _call(driver, "GET", "/admin/settings").json()
    for body in ({"settings": current["settings"], "version": True}, {"settings": [], "version": 1},
                 {"settings": current["settings"]}, {"settings": current["settings"], "version": -1, "x": 1}):
        refused = _call(driver, "PUT", "/admin/settings", json=body)
        assert refused.status_code == 422 and _error_shape(refused)["details"], body
    deep = '{"settings": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + ', "version": 1}'
    refused = _call(driver, "PUT", "/admin/settings", data=deep, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400 and _error_shape(refused)["code"] == "bad_request"
    nested = {"settings": {**current["settings"], "clients": {"a": {"b": {"c": {"d": [[[[{}]]]]}}}}},
              "version": current["version"]}
    refused = _call(driver, "PUT", "/admin/settings", json=nested)
    assert refused.status_code == 422 and _error_shape(refused)["code"] == "settings_invalid"
    assert _call(driver, "PUT", "/admin/settings", data="{oops", headers={"Content-Type": "application/json"}
                 ).status_code == 400
    assert _call(driver, "GET", "/admin/settings").json() == current  # nothing changed


def test_enable_creates_the_schedule_settings_change_it_status_shows_it(tenant):
    driver, stack = tenant["driver"], tenant["stack"]
    scheduler = boto3.client("scheduler")
    group = stack.resources["env"]["SCHEDULE_GROUP"]
    schedule = scheduler.get_schedule(Name=schedule_name(A), GroupName=group)
    assert schedule["ScheduleExpression"] == "rate(1 hour)" and schedule["State"] == "ENABLED"
    driver.settings(A, {"schedule": {"frequency": "daily", "time": "06:30", "timezone": "America/Denver"}})
    schedule = scheduler.get_schedule(Name=schedule_name(A), GroupName=group)
    assert schedule["ScheduleExpression"] == "cron(30 6 * * ? *)"
    status = _call(driver, "GET", "/admin/connection").json()
    assert status["schedule"] == {"expression": "cron(30 6 * * ? *)", "timezone": "America/Denver",
                                  "state": "ENABLED"}
    assert datetime.fromisoformat(status["next_sync_at"]) > datetime.now(UTC)
    assert status["onboarding"]["enabled"] and status["onboarding"]["status"] == "succeeded"
    assert status["counts"]["unsynced"] >= 1 and status["counts"]["waiting_for_review"] >= 1
    token = status["token"]
    assert not token["reconnect_needed"] and 1824 <= token["days_until_hard_expiry"] <= 1825  # 5 years, asked for


def test_sync_now_twice_answers_at_once_with_the_run_that_covers_it(tenant):
    from shared.data.sync_gate import DynamoSyncGate

    driver = tenant["driver"]
    gate = DynamoSyncGate()
    first = _call(driver, "POST", "/admin/sync")
    assert first.status_code == 202 and first.json()["started"] is True
    held = gate.acquire(A, first.json()["run_id"], 60)  # the run's first task takes the gate
    assert held.holder == first.json()["run_id"]
    second = _call(driver, "POST", "/admin/sync", role="restricted")  # restricted admins may sync
    assert second.status_code == 202 and second.json()["started"] is False
    assert second.json()["run_id"] == first.json()["run_id"]
    gate.abandon(A, first.json()["run_id"])
    driver.wait(A, first.json()["run_id"])


def test_runs_page_with_opaque_cursors(tenant):
    driver = tenant["driver"]
    # Onboarding plus a sync of its own, so two pages exist whichever other tests ran on this worker first.
    driver.wait(A, _call(driver, "POST", "/admin/sync").json()["run_id"])
    one = _call(driver, "GET", "/admin/sync-runs?limit=1").json()
    assert len(one["items"]) == 1 and one["next_cursor"]
    two = _call(driver, "GET", f"/admin/sync-runs?limit=1&cursor={one['next_cursor']}").json()
    assert two["items"][0]["run_id"] != one["items"][0]["run_id"]
    foreign = _call(driver, "GET", f"/admin/sync-runs?cursor={one['next_cursor']}", tenant_id=B)
    assert foreign.status_code == 400 and _error_shape(foreign)["code"] == "bad_request"
    assert _call(driver, "GET", "/admin/sync-runs?limit=0").status_code == 422


def test_unsynced_entities_resync_dismiss_and_clear_id(tenant):
    from shared.data.repos import ErrorRepo

    driver = tenant["driver"]
    items = _call(driver, "GET", "/admin/errors").json()["items"]
    (entry,) = [e for e in items if e["entity_id"] == "c#1/x"]
    assert entry["name"] == "Alpha Client" and "Clear ID" in entry["suggested_fix"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", entry["id"])
    assert _call(driver, "POST", f"/admin/errors/{entry['id']}/retry", role="restricted").status_code == 403
    retried = _call(driver, "POST", f"/admin/errors/{entry['id']}/retry")
    assert retried.status_code == 202 and retried.json()["retry_requested"] == [entry["id"]]
    assert "started" in retried.json()["run"]
    assert [e.entity_id for e in ErrorRepo().retry_requested(A)] == ["c#1/x"]
    many = _call(driver, "POST", "/admin/errors/retry", json={"ids": [entry["id"], "bm9wZQ"]})
    assert many.status_code == 404 and _error_shape(many)["code"] == "not_found"
    assert _call(driver, "POST", "/admin/errors/retry", json={"ids": []}).status_code == 422

    assert _call(driver, "POST", f"/admin/errors/{entry['id']}/dismiss").json() == {"id": entry["id"],
                                                                                    "dismissed": True}
    assert entry["id"] not in [e["id"] for e in _call(driver, "GET", "/admin/errors").json()["items"]]
    assert entry["id"] in [e["id"] for e in _call(driver, "GET", "/admin/errors?dismissed=1").json()["items"]]
    ErrorRepo().record(ErrorEntry(A, "customer", "c#1/x", "to_quickbooks", "610", "Object Not Found"))
    assert entry["id"] in [e["id"] for e in _call(driver, "GET", "/admin/errors").json()["items"]]  # failed again

    customers = _call(driver, "GET", "/admin/onboarding/conflicts").status_code
    assert customers in (200, 404)
    unconfirmed = _call(driver, "POST", "/admin/links/customer/nope/clear", json={})
    assert unconfirmed.status_code == 422 and _error_shape(unconfirmed)["details"][0]["field"].endswith("confirm")
    missing = _call(driver, "POST", "/admin/links/customer/nope/clear", json={"confirm": True})
    assert missing.status_code == 404


def test_review_mode_rules_through_the_routes(tenant):
    from shared.data.repos import ReviewRepo

    driver = tenant["driver"]
    export = _call(driver, "GET", "/admin/review?side=export").json()
    imports = _call(driver, "GET", "/admin/review?side=import").json()
    assert [e["name"] for e in export["items"]] == ["INV-1001", "INV-1002"]
    assert [e["name"] for e in imports["items"]] == ["Alpha Client"]
    assert all(e["checked"] for e in export["items"] + imports["items"])
    assert _call(driver, "GET", "/admin/review/count").json() == {"waiting": 3, "pending": 0}
    page = _call(driver, "GET", "/admin/review?limit=1").json()
    assert len(page["items"]) == 1 and page["next_cursor"]

    approve = {"checked": [export["items"][0]["id"]], "unchecked": "clear", "as_of": export["as_of"]}
    assert _call(driver, "POST", "/admin/review/approve", role="restricted", json=approve).status_code == 403
    decided = _call(driver, "POST", "/admin/review/approve", json=approve).json()
    assert (decided["approved"], decided["cleared"], decided["kept"]) == (1, 2, 0)
    assert [e["name"] for e in _call(driver, "GET", "/admin/review/pending").json()["items"]] == ["INV-1001"]
    assert _call(driver, "GET", "/admin/review/count").json() == {"waiting": 0, "pending": 1}

    queue = ReviewRepo()  # the engine's side: the next run finds the same changes, then syncs what was approved
    queue.hold(A, [ReviewEntry("export", "invoice", "inv-2", "INV-1002", "create", "v1"),
                   ReviewEntry("import", "customer", "58", "Alpha Client", "update", "v2")])
    assert [e["name"] for e in _call(driver, "GET", "/admin/review").json()["items"]] == ["Alpha Client"]
    (approved,) = queue.approved(A)
    queue.done(A, [approved], "failed", "6140 Duplicate Document Number Error")
    failed = _call(driver, "GET", "/admin/review/results?outcome=failed").json()["items"]
    assert [(r["name"], r["message"]) for r in failed] == [("INV-1001", "6140 Duplicate Document Number Error")]
    assert _call(driver, "GET", "/admin/review/results?outcome=succeeded").json()["items"] == []

    keep = _call(driver, "POST", "/admin/review/approve", json={"checked": [], "unchecked": "keep"}).json()
    assert keep["kept"] == 1 and _call(driver, "GET", "/admin/review/count").json()["waiting"] == 0
    queue.hold(A, [ReviewEntry("import", "customer", "58", "Alpha Client", "update", "v2")])
    assert _call(driver, "GET", "/admin/review/count").json()["waiting"] == 1  # kept: back at the next run


def _role_table():
    text = (ROOT / "docs" / "admin-api.md").read_text()
    rows = re.findall(r"^\| `(GET|PUT|POST|DELETE) ([^`]+)` \| (yes|no) \| (yes|no) \|$", text, re.M)
    return [(m, p, restricted == "yes") for m, p, _, restricted in rows]


def test_the_roles_table_covers_the_contract_and_is_enforced_route_by_route(tenant):
    driver = tenant["driver"]
    table = _role_table()
    doc = json.loads(COMMITTED.read_text())
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert documented <= {(m, p) for m, p, _ in table}
    sample = {"{kind}": "accounts", "{run_id}": tenant["onboarding"]["run_id"], "{error_id}": "bm9wZQ",
              "{entity}": "customer", "{fsp_id}": "nope"}
    bodies = {"/admin/settings": {"settings": {}, "version": 0}, "/admin/errors/retry": {"ids": ["bm9wZQ"]},
              "/admin/onboarding/conflicts/resolve": {"qbo_id": "1", "fsp_id": "2", "action": "link"},
              "/admin/links/{entity}/{fsp_id}/clear": {"confirm": True},
              "/admin/review/approve": {"checked": [], "unchecked": "keep"}}
    for method, path, restricted_may in table:
        if path == "/admin/disconnect" and restricted_may is False:
            refused = _call(driver, method, path, tenant_id=B, role="restricted")
            assert refused.status_code == 403, path
            continue
        url = path
        for name, value in sample.items():
            url = url.replace(name, value)
        if path == "/admin/review/results":
            url += "?outcome=failed"
        answer = _call(driver, method, url, role="restricted", json=bodies.get(path))
        if restricted_may:
            assert answer.status_code != 403, (method, path, answer.text)
            assert answer.status_code < 500, (method, path, answer.text)
        else:
            assert answer.status_code == 403 and _error_shape(answer)["code"] == "forbidden", (method, path)


def test_every_route_as_another_tenant_answers_403_or_404_and_leaks_nothing(tenant):
    driver = tenant["driver"]
    a_error = _call(driver, "GET", "/admin/errors?dismissed=1").json()["items"][0]
    a_run = tenant["onboarding"]["run_id"]
    secrets = [tenant["realm"], "Admin Alpha Plumbing", a_run, "c#1/x", "INV-100", "Alpha Client"]
    addressed = [("GET", f"/admin/sync-runs/{a_run}", None), ("POST", f"/admin/errors/{a_error['id']}/retry", None),
                 ("POST", f"/admin/errors/{a_error['id']}/dismiss", None),
                 ("POST", "/admin/errors/retry", {"ids": [a_error["id"]]})]
    for method, path, body in addressed:
        answer = _call(driver, method, path, tenant_id=B, json=body)
        assert answer.status_code in (403, 404), (method, path, answer.status_code)
        assert not [s for s in secrets if s in answer.text], (method, path)
    for method, path, _ in _role_table():
        if method != "GET" or "{" in path or path == "/admin/openapi.json":
            continue
        url = path + ("?outcome=failed" if path == "/admin/review/results" else "")
        answer = _call(driver, "GET", url, tenant_id=B)
        assert answer.status_code < 500 and not [s for s in secrets if s in answer.text], (path, answer.text[:300])


schema = schemathesis.openapi.from_path(COMMITTED)


@pytest.fixture(scope="module")
def fuzz_target(tenant):
    driver = tenant["driver"]
    return driver.urls["gateway"], {"Authorization": f"Bearer {driver.token(A)}"}


@schema.exclude(path="/admin/disconnect").parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_the_contract_against_the_local_stack(case, fuzz_target):
    """No 5xx, and every answer (status, content type, body) is one the document allows."""
    base_url, headers = fuzz_target
    case.call_and_validate(base_url=base_url, headers=headers, timeout=60,
                           checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])
