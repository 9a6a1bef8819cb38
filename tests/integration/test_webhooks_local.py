"""Webhooks on the local stack: the emulators deliver signed webhooks to the gateway, the receiver enqueues them on
moto's FIFO queue, the worker asks for sync runs, and the real state machine does the work."""

import time

import pytest
import requests

pytestmark = pytest.mark.integration


def _wait(predicate, timeout_s: float, step: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


@pytest.fixture(scope="module")
def onboarded(local_stack, onboard):
    stack, driver = local_stack
    data, realm = onboard("t-hooks", "Webhook Electric", seed=41, clients=12)  # what was ready before is pushed
    return stack, driver, data, realm


def _mark_ready(stack, driver, invoice: dict) -> None:
    body = {**invoice, "status": "ready_for_sync"}
    r = driver.http.post(f"{stack.fsp_url}/_emulator/tenants/t-hooks/records/invoices", json=body)
    assert r.status_code == 200, r.text


def test_two_invoices_marked_ready_three_seconds_apart_both_reach_quickbooks(onboarded):
    stack, driver, _, realm = onboarded
    waiting = [i for i in driver.platform_records("t-hooks", "invoices")
               if i["status"] in ("draft", "approved") and not i.get("external_number")
               and float(i.get("total") or 0) > 0]
    assert len(waiting) >= 2
    first, second = waiting[:2]
    _mark_ready(stack, driver, first)
    time.sleep(3)
    _mark_ready(stack, driver, second)

    def in_quickbooks():
        notes = {i.get("PrivateNote") for i in driver.quickbooks_entities(realm, "Invoice")}
        return {f"Platform invoice {first['id']}", f"Platform invoice {second['id']}"} <= notes

    assert _wait(in_quickbooks, 60), "an invoice marked ready did not reach QuickBooks within 60 s"

    def numbered():  # the QuickBooks number goes back to the platform a moment after the invoice is created
        numbers = {i["id"]: i.get("external_number") for i in driver.platform_records("t-hooks", "invoices")}
        return bool(numbers[first["id"]] and numbers[second["id"]])

    assert _wait(numbered, 10), "QuickBooks' invoice numbers did not reach the platform within 10 s"


def test_a_customer_edited_in_quickbooks_reaches_the_platform(onboarded):
    stack, driver, _, realm = onboarded
    clients = {c["id"]: c for c in driver.platform_records("t-hooks", "clients")}
    customers = {c["Id"]: c for c in driver.quickbooks_entities(realm, "Customer") if c.get("Active", True)}
    linked = [c for c in customers.values() if c.get("CompanyName") and any(
        (p.get("company_name") or "").casefold() == c["CompanyName"].casefold() for p in clients.values())]
    assert linked
    customer = linked[0]
    token = requests.post(f"{stack.qbo_url}/_emulator/realms/{realm}/tokens", json={}).json()["access_token"]
    new_name = f"{customer['CompanyName']} Renamed"
    edit = {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "CompanyName": new_name}
    r = requests.post(f"{stack.qbo_url}/v3/company/{realm}/customer", json=edit,
                      headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert _wait(lambda: any(c.get("company_name") == new_name
                             for c in driver.platform_records("t-hooks", "clients")), 30)
    # It came record by record (issue 12): the history's webhook entry says what it wrote, no sync run was started.
    def by_record():  # the entry is written as the apply ends, just after the platform holds the change
        runs = driver.admin("GET", "/admin/sync-runs", "t-hooks").json()["items"]
        return [r for r in runs if (r.get("summary") or {}).get("trigger") == "webhook"
                and r["summary"]["counts"].get("clients_updated_on_platform") == 1]

    assert _wait(by_record, 10)


def test_a_client_edited_on_the_platform_reaches_quickbooks_by_record_and_its_echo_writes_nothing(onboarded):
    stack, driver, _, realm = onboarded
    links = {c["company_name"].casefold(): c for c in driver.platform_records("t-hooks", "clients")
             if c.get("company_name")}
    customer = next(c for c in driver.quickbooks_entities(realm, "Customer")
                    if c.get("CompanyName") and c["CompanyName"].casefold() in links and not c.get("Job"))
    client = links[customer["CompanyName"].casefold()]
    driver.quickbooks_requests(reset=True)
    driver.platform_api("PATCH", "t-hooks", f"clients/{client['id']}",
                        {"contact": {**(client.get("contact") or {}), "phone": "602-555-0142"}})

    def phone():
        row = next(c for c in driver.quickbooks_entities(realm, "Customer") if c["Id"] == customer["Id"])
        return (row.get("PrimaryPhone") or {}).get("FreeFormNumber")

    assert _wait(lambda: phone() == "602-555-0142", 30)
    time.sleep(3)  # the QuickBooks webhook of our own write comes back within ~1 s and is applied as an echo
    log = [c for c in driver.quickbooks_requests()["log"] if c.get("realm") == realm]
    kinds = [c["kind"] for c in log]
    assert kinds.count("update") + kinds.count("batch") == 1, log  # one write; its echo wrote nothing back
    assert "cdc" not in kinds, log  # no run: nothing was read by cursor


def test_one_companys_backlog_does_not_hold_another_companys_hints_behind_it(local_stack, monkeypatch):
    """Issue 12, fairness: a burst in one message group is applied in order, one batch at a time, while other groups'
    batches keep being handed to the worker (Lambda's event source polls a FIFO queue concurrently, one batch per
    group in flight). With one batch at a time, the quiet company's hint would wait behind the whole backlog."""
    from functions.webhooks import worker
    from shared.aws.hints_queue import SqsHintQueue
    from shared.domain.hints import Applied, messages
    from shared.quickbooks.webhooks import ChangeHint
    from shared.runtime import runtime

    applied: list[tuple[str, str, float]] = []

    class SlowForTheBusyCompany:
        def apply(self, tenant_id, batch):
            if tenant_id == "t-busy":
                time.sleep(1.0)
            applied.extend([(tenant_id, h.entity_id, time.monotonic()) for m in batch for h in m.hints])
            return Applied([h for m in batch for h in m.hints], [])

    monkeypatch.setattr(worker, "applier", lambda: SlowForTheBusyCompany())

    def hint(tenant, n):
        return ChangeHint("fieldservice", tenant, "client", f"c{n}", "updated", "2026-12-01T10:00:00Z",
                          f"e-{tenant}-{n}")

    queue = SqsHintQueue(runtime().env.queue_hints_url)
    busy = [m for n in range(60) for m in messages("t-busy", "fieldservice", [hint("t-busy", n)])]
    for i in range(0, len(busy), 10):
        queue.send(busy[i:i + 10])
    sent = time.monotonic()
    queue.send(messages("t-quiet", "fieldservice", [hint("t-quiet", 1)]))

    assert _wait(lambda: any(t == "t-quiet" for t, _, _ in applied), 30)
    quiet_at = next(at for t, _, at in applied if t == "t-quiet")
    assert quiet_at - sent < 4, "the quiet company's hint waited behind the busy company's backlog"
    assert _wait(lambda: sum(t == "t-busy" for t, _, _ in applied) == 60, 60)
    assert [e for t, e, _ in applied if t == "t-busy"] == [f"c{n}" for n in range(60)]  # the group kept its order
