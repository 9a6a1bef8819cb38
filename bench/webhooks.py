"""Webhook benchmark (issue 12): receiver latency in process, then end-to-end delay and fairness on the local stack.

Prints, and merges into bench/results.json under "webhooks":
- receiver p50/p99 for signed QuickBooks and platform deliveries through the receiver's resolver (verify, strict
  parse, enqueue on in-process moto SQS; the connection lookup in memory), after a warm-up (target p99 < 20 ms);
- end to end, one company: 200 changes, 100 per side in bursts of 20, each with its webhook: platform client edits
  and invoices marked ready (the platform's signed webhook), QuickBooks customer edits (the QuickBooks emulator's
  signed webhook); the delay from the webhook's first 2xx delivery to the change being visible in the OTHER
  system's emulator, p50/p95/max (target p95 < 5 s);
- fairness: 20 companies at once, one of them making 2,000 changes (1,000 per side); the other 19 make 10 changes
  each; their p95 against their p95 alone (each company alone, one after the other) (target: within 2x).
Exits 1 when a change never became visible (the product lost it), 0 otherwise.
Run: `make bench`, or `python -m bench.webhooks` alone (about 6 minutes here); `--only receiver|e2e|fairness`."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

POLL_S = 0.2
DELIVERIES_POLL_S = 1.0
# The fairness part's execution environments: the worker's maximum concurrency (20, infra/config.py) and the sync
# runs' tasks of 20 companies at once, each invocation in a process of its own as on Lambda (bench/stack.py).
SANDBOXES = 32


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _figures(delays: list[float]) -> dict:
    if not delays:
        return {"n": 0, "p50_s": None, "p95_s": None, "max_s": None}
    return {"n": len(delays), "p50_s": round(_pct(delays, 0.5), 2), "p95_s": round(_pct(delays, 0.95), 2),
            "max_s": round(max(delays), 2), "mean_s": round(statistics.mean(delays), 2)}


# -- receiver, in process ------------------------------------------------------------------------------------------

def receiver_latency(n: int, warmup: int = 50) -> dict:
    import base64
    import hashlib
    import hmac
    import os

    import boto3
    from moto import mock_aws

    from functions.webhooks import receiver
    from infra import local_resources
    from infra.synth import synth_template
    from shared.aws.clients import client
    from shared.aws.hints_queue import SqsHintQueue
    from shared.domain.connections import Connection, Status
    from shared.domain.hints import HintIntake
    from shared.domain.platform_hints import platform_verifier, tenant_webhook_secret
    from shared.fieldservice.webhooks import signature_header

    class Connections:  # the receiver's one read, kept in memory: the figure is verify + parse + enqueue
        def __init__(self):
            self.c = Connection("t1", Status.CONNECTED, realm_id="r1")

        def get(self, tenant_id):
            return self.c if tenant_id == "t1" else None

        def by_realm(self, realm):
            return [self.c] if realm == "r1" else []

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    def event(path, body, headers):
        return {"version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "headers": headers,
                "requestContext": {"http": {"method": "POST", "path": path}, "stage": "$default"},
                "body": body.decode(), "isBase64Encoded": False}

    def delivery(sender: str, i: int) -> dict:
        if sender == "quickbooks":
            body = json.dumps({"eventNotifications": [{"realmId": "r1", "dataChangeEvent": {"entities": [
                {"name": "Customer", "id": str(i), "operation": "Update",
                 "lastUpdated": "2026-11-24T10:00:00Z"}]}}]}).encode()
            signature = base64.b64encode(hmac.new(b"token", body, hashlib.sha256).digest()).decode()
            headers = {"intuit-signature": signature}
        else:
            body = json.dumps({"id": f"evt_{i}", "type": "invoice.ready", "tenant_id": "t1",
                               "created_at": "2026-11-24T10:00:00Z", "data": {"object": {"id": f"inv_{i}"}}}).encode()
            headers = {"fsp-signature": signature_header(tenant_webhook_secret("master", "t1"), body)}
        return event(f"/webhooks/{sender}", body, headers)

    template = synth_template(stage="local", bundle=False)
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "POWERTOOLS_METRICS_NAMESPACE", "AWS_ENDPOINT_URL")}
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_METRICS_NAMESPACE": "qbsync"})
    figures = {}
    try:
        with mock_aws():
            client.cache_clear()
            sqs = boto3.client("sqs")
            shape = {k: v for k, v in local_resources.queues(template)[-1]["Attributes"].items()
                     if k != "RedrivePolicy"}
            intake = HintIntake(Connections(), SqsHintQueue(""), "token", platform_verifier("master"))
            with mock.patch.object(receiver, "intake", lambda: intake):
                for sender in ("quickbooks", "fieldservice"):
                    times, cpu = [], []
                    for i in range(warmup + n):
                        ev = delivery(sender, i)
                        receiver.metrics.clear_metrics()
                        if i % 20 == 0:  # moto scans every stored message on each send: keep its queues short
                            url = sqs.create_queue(QueueName=f"bench-{sender}-{i}.fifo", Attributes=shape)["QueueUrl"]
                            intake._queue = SqsHintQueue(url)
                        start, start_cpu = time.perf_counter(), time.thread_time()
                        response = receiver.app.resolve(ev, Ctx())
                        elapsed = (time.perf_counter() - start) * 1000
                        elapsed_cpu = (time.thread_time() - start_cpu) * 1000
                        assert response["statusCode"] == 200, response
                        if i >= warmup:
                            times.append(elapsed)
                            cpu.append(elapsed_cpu)
                    figures[sender] = {"n": n, "warmup": warmup, "p50_ms": round(_pct(times, 0.5), 2),
                                       "p99_ms": round(_pct(times, 0.99), 2), "max_ms": round(max(times), 2),
                                       "cpu_p50_ms": round(_pct(cpu, 0.5), 2), "cpu_p99_ms": round(_pct(cpu, 0.99), 2),
                                       "load_average": round(os.getloadavg()[0], 1)}
    finally:
        client.cache_clear()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return figures


# -- changes on the local stack ------------------------------------------------------------------------------------

@dataclass
class Change:
    tenant: str
    kind: str  # "client" (platform edit), "invoice" (platform, marked ready), "customer" (QuickBooks edit)
    record_id: str  # the id in the system where the change is made
    other_id: str  # the id of its counterpart in the other system (the invoice's own id for invoices)
    value: str  # what becomes visible on the other side
    made_at: float = 0.0
    delivered_at: float | None = None
    seen_at: float | None = None

    @property
    def delay(self) -> float | None:
        return None if self.seen_at is None or self.delivered_at is None else self.seen_at - self.delivered_at


@dataclass
class Company:
    tenant: str
    realm: str
    clients: list[str] = field(default_factory=list)  # linked platform clients, paired with customers below
    customers: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)  # invoices waiting to be marked ready


def _webhooks(bench, on: bool) -> None:
    """Both emulators' webhook delivery on (to the gateway) or off: a company's set-up (onboarding and the run
    after it) is not measured, and with delivery on, its thousands of our own writes come back as hints."""
    if on:  # what QuickBooks queued meanwhile is the set-up's own writes: dropped, as if never subscribed
        bench.driver.http.delete(f"{bench.stack.qbo_url}/_emulator/webhooks").raise_for_status()
    bench.stack.deliver_webhooks(on)


def _company(bench, tenant: str, data) -> Company:
    from shared.runtime import runtime

    driver = bench.driver
    _webhooks(bench, False)
    realm = bench.tenant(tenant, f"Bench {tenant}", data)
    assert driver.sync_now(tenant)["status"] == "succeeded"  # what onboarding left to do is done
    _webhooks(bench, True)
    active = {c["Id"] for c in driver.quickbooks_entities(realm, "Customer")
              if c.get("Active", True) and not c.get("Job")}
    ids = [c["id"] for c in driver.platform_records(tenant, "clients") if c["active"]]
    links = runtime().sync_deps(tenant).links.get_many(tenant, "customer", ids)
    pairs = [(i, links[i].qbo_id) for i in ids if i in links and links[i].qbo_id in active]
    linked = {i for i, _ in pairs}
    invoices = [i["id"] for i in driver.platform_records(tenant, "invoices")
                if i["status"] in ("draft", "approved") and float(i.get("total") or 0) > 0
                and i["client_id"] in linked]
    return Company(tenant, realm, [p[0] for p in pairs], [p[1] for p in pairs], invoices)


def _changes(company: Company, clients: int, invoices: int, customers: int, tag: str) -> list[Change]:
    """Distinct records: the first `clients` linked clients edited on the platform, the last `customers` linked
    customers edited in QuickBooks, so no record is changed on both sides."""
    if clients + customers > len(company.clients) or invoices > len(company.invoices):
        raise RuntimeError(f"{company.tenant}: {len(company.clients)} linked pairs and {len(company.invoices)} "
                           f"invoices, fewer than the scenario needs")
    out = [Change(company.tenant, "client", c, q, f"(480) 555-{n:04d}")
           for n, (c, q) in enumerate(zip(company.clients[:clients], company.customers[:clients], strict=True))]
    out += [Change(company.tenant, "invoice", i, i, f"Platform invoice {i}") for i in company.invoices[:invoices]]
    pairs = list(zip(company.clients, company.customers, strict=True))[len(company.clients) - customers:]
    out += [Change(company.tenant, "customer", q, c, f"{tag}{n}@books.example") for n, (c, q) in enumerate(pairs)]
    return out


def _make(bench, company: Company, change: Change) -> None:
    driver = bench.driver
    change.made_at = time.time()
    if change.kind == "client":
        current = driver.platform_api("GET", change.tenant, f"clients/{change.record_id}")
        driver.platform_api("PATCH", change.tenant, f"clients/{change.record_id}",
                            {"contact": {**(current.get("contact") or {}), "phone": change.value}})
    elif change.kind == "invoice":
        invoice = driver.http.get(f"{bench.stack.fsp_url}/_emulator/tenants/{change.tenant}/state",
                                  params={"kind": "invoices"}).json()["records"]["invoices"]
        body = next(i for i in invoice if i["id"] == change.record_id)
        driver.platform_put(change.tenant, "invoices", {**body, "status": "ready_for_sync"})
    else:
        customer = driver.quickbooks_call(company.realm, "GET", f"customer/{change.record_id}")["Customer"]
        driver.quickbooks_call(company.realm, "POST", "customer",
                               {"Id": change.record_id, "SyncToken": customer["SyncToken"], "sparse": True,
                                "PrimaryEmailAddr": {"Address": change.value}})


def _deliveries(bench) -> tuple[list[dict], list[dict]]:
    """Both emulators' delivery logs, through their control APIs (they may run in processes of their own): the
    platform's delivered events, and QuickBooks' deliveries (one can carry many companies' and records' events)."""
    http = bench.driver.http
    platform = http.get(f"{bench.stack.fsp_url}/_emulator/webhooks", params={"status": "delivered"}).json()["data"]
    books = http.get(f"{bench.stack.qbo_url}/_emulator/webhooks").json()["deliveries"]
    return platform, books


def _note_deliveries(changes: list[Change], platform: list[dict], books: list[dict], realms: dict[str, str]) -> None:
    """When each change's webhook was first accepted (2xx): the platform's per-event deliveries, QuickBooks'
    per-realm batches (one delivery can carry many customers). Only changes already made: one not made yet would
    take an earlier delivery naming the same record (a company measured alone first changed the same records)."""
    waiting = [c for c in changes if c.delivered_at is None and c.made_at]
    if not waiting:
        return
    by_record: dict[tuple[str, str], list[float]] = {}
    for d in platform:
        if d["status"] == "delivered" and d["type"] in ("client.updated", "invoice.ready", "invoice.updated"):
            ok = [a["at"] for a in d["attempts"] if (a.get("status") or 0) // 100 == 2]
            by_record.setdefault((d["tenant_id"], d["event"]["data"]["object"]["id"]), []).extend(ok[:1])
    by_customer: dict[tuple[str, str], list[float]] = {}
    tenant_of = {realm: tenant for tenant, realm in realms.items()}
    for d in books:
        ok = [a["at"] for a in d["attempts"] if (a.get("status") or 0) // 100 == 2]
        if d["status"] != "delivered" or not ok:
            continue
        for n in d["payload"].get("eventNotifications", []):
            for e in n["dataChangeEvent"]["entities"]:
                if e["name"] == "Customer":
                    by_customer.setdefault((tenant_of.get(d["realm"], ""), e["id"]), []).append(ok[0])
    for c in waiting:
        times = (by_customer if c.kind == "customer" else by_record).get((c.tenant, c.record_id), [])
        after = [t for t in times if t >= c.made_at - 0.01]
        if after:
            c.delivered_at = min(after)


def _check_every(company: Company) -> float:
    """How often a company's changes are looked for on the other side. Each look reads its records whole from both
    emulators, so a big company's looks are spread out: the benchmark's own reading must not load the systems it
    measures in proportion to one company's size (2,400 customers and clients read five times a second did)."""
    return POLL_S * max(1, len(company.clients) // 200)


def _note_visible(bench, companies: dict[str, Company], changes: list[Change], due: dict[str, float]) -> None:
    now = time.time()
    pending: dict[str, list[Change]] = {}
    for c in changes:
        if c.seen_at is None and c.made_at and due.get(c.tenant, 0.0) <= now:
            pending.setdefault(c.tenant, []).append(c)
    for tenant, items in pending.items():
        due[tenant] = now + _check_every(companies[tenant])
        driver, realm = bench.driver, companies[tenant].realm
        kinds = {c.kind for c in items}
        phones, notes, emails = {}, set(), {}
        if "client" in kinds:
            phones = {q["Id"]: (q.get("PrimaryPhone") or {}).get("FreeFormNumber")
                      for q in driver.quickbooks_entities(realm, "Customer")}
        if "invoice" in kinds:
            notes = {i.get("PrivateNote") for i in driver.quickbooks_entities(realm, "Invoice")}
        if "customer" in kinds:
            emails = {p["id"]: (p.get("contact") or {}).get("email")
                      for p in driver.platform_records(tenant, "clients")}
        shown = {"client": phones, "customer": emails}
        for c in items:
            if (c.value in notes) if c.kind == "invoice" else (shown[c.kind].get(c.other_id) == c.value):
                c.seen_at = now


def _watch(bench, companies: dict[str, Company], changes: list[Change], timeout_s: float,
           schedule: list[tuple[float, list[Change]]] | None = None) -> None:
    """Make the scheduled changes at their times (seconds from now) on another thread, as users would, while this
    one watches; until every change is visible on the other side or `timeout_s` after the last one was made."""
    import threading

    def make() -> None:
        start = time.monotonic()
        for at, batch in sorted(schedule or [], key=lambda s: s[0]):
            time.sleep(max(0.0, at - (time.monotonic() - start)))
            for change in batch:
                _make(bench, companies[change.tenant], change)

    maker = threading.Thread(target=make, name="bench-changes", daemon=True)
    maker.start()
    deadline, due, deliveries_read = None, {}, 0.0
    while True:
        if not maker.is_alive() and deadline is None:
            deadline = time.monotonic() + timeout_s
        # The delivery logs hold when each webhook was accepted, so reading them once a second loses nothing.
        if time.monotonic() - deliveries_read >= DELIVERIES_POLL_S:
            if any(c.delivered_at is None and c.made_at for c in changes):
                _note_deliveries(changes, *_deliveries(bench), bench.realms)
            deliveries_read = time.monotonic()
        _note_visible(bench, companies, changes, due)
        if deadline is not None and all(c.seen_at is not None and c.delivered_at is not None for c in changes):
            return
        if deadline is not None and time.monotonic() > deadline:
            return
        time.sleep(POLL_S)


def _errors(bench, tenants: set[str]) -> dict:
    out = {}
    for tenant in tenants:
        items = bench.driver.admin("GET", "/admin/errors", tenant).json().get("items", [])
        if items:
            out[tenant] = [f"{e['entity']} {e.get('entity_id')} {e['code']}: {e['message'][:100]}" for e in items][:10]
    return out


def _summary(changes: list[Change]) -> dict:
    delays = [c.delay for c in changes if c.delay is not None]
    missing = [c for c in changes if c.seen_at is None]
    return {**_figures(delays), "changes": len(changes), "reached": len(changes) - len(missing),
            "missing": [f"{c.tenant} {c.kind} {c.record_id}" for c in missing][:20],
            "missing_count": len(missing),
            "undelivered": sum(1 for c in changes if c.delivered_at is None),
            "by_kind": {k: _figures([c.delay for c in changes if c.kind == k and c.delay is not None])
                        for k in sorted({c.kind for c in changes})},
            "from_change_p95_s": round(_pct([c.seen_at - c.made_at for c in changes if c.seen_at], 0.95), 2)
            if len(missing) < len(changes) else None}


def end_to_end(per_side: int, burst: int, interval_s: float) -> dict:
    from bench.stack import bench_stack
    from emulators.datagen.generator import generate

    with bench_stack(prefix="bench-webhooks-", limits="off", webhooks=True, poll_s=0.2) as bench:
        company = _company(bench, "t-e2e", generate(seed=5, clients=180, sub_customer_share=0.0))
        half = per_side // 2
        platform = _changes(company, clients=per_side - half, invoices=half, customers=per_side, tag="e2e")
        platform, books = [c for c in platform if c.kind != "customer"], [c for c in platform if c.kind == "customer"]
        bursts = []
        for n in range(0, per_side, burst):  # alternate: a platform burst, then a QuickBooks burst
            bursts += [platform[n:n + burst], books[n:n + burst]]
        schedule = [(k * interval_s, b) for k, b in enumerate(bursts)]
        changes = platform + books
        _watch(bench, {company.tenant: company}, changes, timeout_s=120, schedule=schedule)
        result = {"per_side": per_side, "burst": burst, "interval_s": interval_s, **_summary(changes)}
        if result["missing_count"]:
            result["errors"] = _errors(bench, {company.tenant})
    return result


def fairness(tenants: int, noisy_changes: int, quiet_changes: int, alone_sample: int, sandboxes: int) -> dict:
    from bench.stack import bench_stack
    from emulators.datagen.generator import generate

    with bench_stack(prefix="bench-fairness-", limits="off", webhooks=True, poll_s=0.5, sandboxes=sandboxes) as bench:
        companies: dict[str, Company] = {}
        noisy = _company(bench, "t-noisy", generate(seed=900, clients=noisy_changes * 6 // 5,
                                                      sub_customer_share=0.0, invoices_per_client=0.0))
        companies[noisy.tenant] = noisy
        quiet = []
        for n in range(tenants - 1):
            company = _company(bench, f"t-quiet-{n:02d}",
                               generate(seed=100 + n, clients=12, sub_customer_share=0.0, invoices_per_client=0.0))
            companies[company.tenant] = company
            quiet.append(company)
        half = quiet_changes // 2

        warm: list[Change] = []
        warm_s = 0.0
        if sandboxes:  # not measured: every environment has served the receiver and the worker, as warm Lambdas have
            warm = [c for company in quiet for c in _changes(company, clients=half, invoices=0,
                                                            customers=quiet_changes - half, tag="warm")]
            for c in warm:
                c.value = c.value.replace("(480)", "(303)")
            began = time.monotonic()
            _watch(bench, companies, warm, timeout_s=60, schedule=[(0, warm)])
            warm_s = time.monotonic() - began
        alone: list[Change] = []
        for company in quiet[:alone_sample]:  # each company alone: its figure without neighbours
            mine = _changes(company, clients=half, invoices=0, customers=quiet_changes - half, tag="alone")
            _watch(bench, companies, mine, timeout_s=60, schedule=[(0, mine)])
            alone += mine

        def all_quiet(tag: str, area: str) -> list[Change]:  # every quiet company's records again, new values
            changes = [c for company in quiet for c in _changes(company, clients=half, invoices=0,
                                                                customers=quiet_changes - half, tag=tag)]
            for c in changes:
                c.value = c.value.replace("(480)", area)
            return changes

        # The control: the same quiet companies making the same changes at once, without the noisy company. Their
        # p95 together is what the noisy company's burst may at most double; each company alone (above) leaves
        # out what 19 companies cost each other, which is not the noisy company's doing (2026-12-07: 19 quiet
        # companies together, nobody noisy, were 2.25x their figure one by one).
        without_noisy = all_quiet("quiet", "(702)")
        _watch(bench, companies, without_noisy, timeout_s=60, schedule=[(0, without_noisy)])

        loud = _changes(noisy, clients=noisy_changes // 2, invoices=0, customers=noisy_changes - noisy_changes // 2,
                        tag="noisy")
        together = all_quiet("together", "(602)")
        # The noisy company's burst first (interleaved sides), then every quiet company's changes while it is served.
        interleaved = [c for pair in zip(loud[:len(loud) // 2], loud[len(loud) // 2:], strict=False) for c in pair]
        started, served = time.monotonic(), bench.stack.dynamodb_served()
        schedule = [(0, interleaved[:noisy_changes // 4]), (0, together),
                    (0, interleaved[noisy_changes // 4:])]
        _watch(bench, companies, together, timeout_s=180, schedule=schedule)
        made_s = time.monotonic() - started
        _watch(bench, companies, loud, timeout_s=300)
        noisy_done_s = time.monotonic() - started
        calls = {action: n - served["calls"].get(action, 0)
                 for action, n in bench.stack.dynamodb_served()["calls"].items()}
        result = {"tenants": tenants, "noisy_changes": noisy_changes, "quiet_changes_each": quiet_changes,
                  "sandboxes": sandboxes,
                  "measured_alone": min(alone_sample, len(quiet)),
                  # Not a figure, but a change it never saw would be a lost one (the run exits 1 then too).
                  "warm_up": {"s": round(warm_s, 1), **{k: v for k, v in _summary(warm).items() if k in (
                      "changes", "reached", "undelivered", "missing", "missing_count")}},
                  "alone": _summary(alone), "without_noisy": _summary(without_noisy),
                  "with_noisy": _summary(together), "noisy": _summary(loud),
                  "noisy_made_in_s": round(made_s, 1), "noisy_all_visible_after_s": round(noisy_done_s, 1),
                  # Every company's DynamoDB calls while they were served together (moto serves them one at a
                  # time on the local stack): what a change costs the one process all companies share.
                  "dynamodb_calls_together": {a: n for a, n in sorted(calls.items()) if n},
                  "dynamodb_calls_per_change": round(sum(calls.values()) / (len(loud) + len(together)), 1)}
        result.update(ratios(result))
        missing = {c.tenant for c in warm + alone + without_noisy + together + loud if c.seen_at is None}
        if missing:
            result["errors"] = _errors(bench, missing)
    return result


def ratios(fair: dict) -> dict:
    """The target's ratio: the quiet companies' p95 beside the noisy company over the same companies' p95 making
    the same changes at once without it; and, beside it, over each company's p95 measured alone."""
    def ratio(over: str) -> float | None:
        a, b = (fair.get(over) or {}).get("p95_s"), fair["with_noisy"].get("p95_s")
        return round(b / a, 2) if a and b else None

    return {"p95_ratio": ratio("without_noisy"), "p95_ratio_each_alone": ratio("alone")}


def report(figures: dict) -> None:
    for sender, f in (figures.get("receiver") or {}).items():  # printed as each part is measured
        print(f"receiver {sender:<13} p50 {f['p50_ms']:>6} ms  p99 {f['p99_ms']:>6} ms  max {f.get('max_ms')} ms; "
              f"CPU p50 {f.get('cpu_p50_ms')} ms p99 {f.get('cpu_p99_ms')} ms (n={f['n']} after {f.get('warmup')} "
              f"warm-up, load average {f.get('load_average')}; target p99 < 20)")
    e2e = figures.get("end_to_end")
    if e2e:
        print(f"end to end {e2e['reached']}/{e2e['changes']} ({e2e['per_side']} per side, bursts of {e2e['burst']} "
              f"every {e2e['interval_s']} s): p50 {e2e['p50_s']} s  p95 {e2e['p95_s']} s  max {e2e['max_s']} s "
              f"(target p95 < 5)  by kind {e2e['by_kind']}")
    fair = figures.get("fairness")
    if fair:
        a, q, b, n = fair["alone"], fair["without_noisy"], fair["with_noisy"], fair["noisy"]
        print(f"fairness {fair['tenants']} companies: the others' p95 together without the noisy company "
              f"{q['p95_s']} s, with it making {fair['noisy_changes']} changes {b['p95_s']} s "
              f"(x{fair['p95_ratio']}, target <= 2); each company alone {a['p95_s']} s "
              f"(x{fair['p95_ratio_each_alone']}); max {q['max_s']} / {b['max_s']} s; noisy company's own p95 "
              f"{n['p95_s']} s, all visible after {fair['noisy_all_visible_after_s']} s; reached "
              f"{a['reached']}/{a['changes']}, {q['reached']}/{q['changes']}, {b['reached']}/{b['changes']}, "
              f"{n['reached']}/{n['changes']}")
        if fair.get("warm_up"):
            w = fair["warm_up"]
            print(f"fairness warm-up (not measured): {w['reached']}/{w['changes']} reached, {w['undelivered']} "
                  f"without a noted delivery, in {w['s']} s")
    for part in ("end_to_end", "fairness"):
        if (figures.get(part) or {}).get("errors"):
            print(f"{part} errors: {figures[part]['errors']}")


def lost(figures: dict) -> int:
    """Changes that never became visible on the other side, in the parts measured now."""
    e2e, fair = figures.get("end_to_end") or {}, figures.get("fairness") or {}
    return e2e.get("missing_count", 0) + sum((fair.get(k) or {}).get("missing_count", 0)
                                             for k in ("warm_up", "alone", "without_noisy", "with_noisy", "noisy"))


def _write(out: Path, figures: dict, part: str) -> None:
    """Print one part and merge the figures into the results file at once (the next part takes minutes)."""
    report({part: figures[part]})
    results = json.loads(out.read_text()) if out.exists() else {}
    results["webhooks"] = figures
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("receiver", "e2e", "fairness"))
    parser.add_argument("--receiver-n", type=int, default=1000)
    parser.add_argument("--per-side", type=int, default=100)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between bursts")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--noisy", type=int, default=2000)
    parser.add_argument("--quiet", type=int, default=10)
    parser.add_argument("--alone", type=int, default=19, help="how many of the quiet companies are measured alone")
    parser.add_argument("--sandboxes", type=int, default=SANDBOXES,
                        help="processes standing for Lambda's execution environments in the fairness part (0: "
                             "every invocation in the benchmark's own process)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    figures = dict(results.get("webhooks") or {})
    figures = {k: v for k, v in figures.items() if k in ("receiver", "end_to_end", "fairness")}
    ran = {"receiver", "end_to_end", "fairness"} if args.only is None else {
        {"receiver": "receiver", "e2e": "end_to_end", "fairness": "fairness"}[args.only]}
    if args.only in (None, "receiver"):
        figures["receiver"] = receiver_latency(args.receiver_n)
        _write(out, figures, "receiver")
    if args.only in (None, "e2e"):
        figures["end_to_end"] = end_to_end(args.per_side, args.burst, args.interval)
        _write(out, figures, "end_to_end")
    if args.only in (None, "fairness"):
        figures["fairness"] = fairness(args.tenants, args.noisy, args.quiet, args.alone, args.sandboxes)
        _write(out, figures, "fairness")
    measured = {k: v for k, v in figures.items() if k in ran}
    return 1 if lost(measured) else 0


if __name__ == "__main__":
    sys.exit(main())
