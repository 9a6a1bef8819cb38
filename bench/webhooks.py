"""Webhook benchmark: in-process receiver latency (verify + enqueue) and end-to-end delay on the local stack.

Prints, and merges into bench/results.json under "webhooks":
- receiver p50/p99 for signed QuickBooks and platform deliveries through the receiver's resolver, enqueueing on
  in-process moto SQS (target p99 < 20 ms);
- platform -> QuickBooks: invoices marked ready on the platform emulator in bursts of 20, each with its webhook,
  delay p50/p95/max from the webhook's delivery to the invoice in the QuickBooks emulator (target p95 < 5 s).
Not measured yet (see docs/benchmarks.md): QuickBooks -> platform and the 20-tenant fairness scenario, which need
sync runs that apply QuickBooks changes (the sync engine, issue 10)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def receiver_latency(n: int) -> dict:
    import base64
    import hashlib
    import hmac

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

    template = synth_template(stage="local", bundle=False)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "POWERTOOLS_METRICS_NAMESPACE": "qbsync"})
    with mock_aws():
        client.cache_clear()
        sqs = boto3.client("sqs")
        shape = local_resources.queues(template)[-1]["Attributes"]
        shape = {k: v for k, v in shape.items() if k != "RedrivePolicy"}
        intake = HintIntake(Connections(), SqsHintQueue(""), "token", platform_verifier("master"))
        receiver.intake = lambda: intake  # type: ignore[assignment]

        class Ctx:
            function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "r"
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

        def event(path, body, headers):
            return {"version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "headers": headers,
                    "requestContext": {"http": {"method": "POST", "path": path}, "stage": "$default"},
                    "body": body.decode(), "isBase64Encoded": False}

        figures = {}
        for sender in ("quickbooks", "fieldservice"):
            times = []
            for i in range(n):
                if sender == "quickbooks":
                    body = json.dumps({"eventNotifications": [{"realmId": "r1", "dataChangeEvent": {"entities": [
                        {"name": "Customer", "id": str(i), "operation": "Update",
                         "lastUpdated": "2026-11-24T10:00:00Z"}]}}]}).encode()
                    sig = base64.b64encode(hmac.new(b"token", body, hashlib.sha256).digest()).decode()
                    headers = {"intuit-signature": sig}
                else:
                    body = json.dumps({"id": f"evt_{i}", "type": "invoice.ready", "tenant_id": "t1",
                                       "created_at": "2026-11-24T10:00:00Z",
                                       "data": {"object": {"id": f"inv_{i}"}}}).encode()
                    headers = {"fsp-signature": signature_header(tenant_webhook_secret("master", "t1"), body)}
                ev = event(f"/webhooks/{sender}", body, headers)
                receiver.metrics.clear_metrics()
                if i % 20 == 0:  # moto scans every stored message for duplicates on each send: keep queues short
                    url = sqs.create_queue(QueueName=f"bench-{sender}-{i}.fifo", Attributes=shape)["QueueUrl"]
                    intake._queue = SqsHintQueue(url)
                start = time.perf_counter()
                response = receiver.app.resolve(ev, Ctx())
                times.append((time.perf_counter() - start) * 1000)
                assert response["statusCode"] == 200, response
            figures[sender] = {"n": n, "p50_ms": round(_pct(times, 0.5), 2), "p99_ms": round(_pct(times, 0.99), 2)}
        client.cache_clear()
    return figures


def platform_to_quickbooks(changes: int, burst: int) -> dict:
    from emulators.datagen.generator import generate
    from qbsync.demo import demo_settings
    from qbsync.local.driver import Driver
    from qbsync.local.stack import FSP_API_KEY, LocalStack

    state_dir = tempfile.mkdtemp(prefix="bench-webhooks-")
    with LocalStack(port=0, state_dir=state_dir, persist=False) as stack:
        driver = Driver(stack.urls(), state_dir, FSP_API_KEY, stack.resources["secret"]["fsp_webhook_master_secret"],
                        timeout_s=600)
        data = generate(seed=5, clients=max(40, changes // 2))
        realm = driver.create_realm("Bench Webhooks")
        driver.load_quickbooks(realm, data.quickbooks_json())
        driver.create_tenant("t-bench", data.fieldservice)
        driver.connect("t-bench", realm)
        driver.settings("t-bench", demo_settings(driver, "t-bench"))
        assert driver.enable("t-bench")["status"] == "succeeded"
        assert driver.sync_now("t-bench")["status"] == "succeeded"
        waiting = [i for i in driver.platform_records("t-bench", "invoices")
                   if i["status"] in ("draft", "approved") and float(i.get("total") or 0) > 0][:changes]
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        for start in range(0, len(waiting), burst):
            for invoice in waiting[start:start + burst]:
                driver.http.post(f"{stack.fsp_url}/_emulator/tenants/t-bench/records/invoices",
                                 json={**invoice, "status": "ready_for_sync"}).raise_for_status()
            deadline = time.monotonic() + 120
            group = {i["id"] for i in waiting[start:start + burst]}
            while time.monotonic() < deadline and not group <= set(seen):
                _delivered(stack, sent)
                now = time.time()
                for note in {i.get("PrivateNote") for i in driver.quickbooks_entities(realm, "Invoice")}:
                    fsp_id = (note or "").removeprefix("Platform invoice ")
                    if fsp_id in group and fsp_id not in seen:
                        seen[fsp_id] = now
                time.sleep(0.1)
        _delivered(stack, sent)
    delays = [seen[i] - sent[i] for i in seen if i in sent]
    missing = len(waiting) - len(delays)
    return {"changes": len(waiting), "burst": burst, "reached": len(delays), "missing": missing,
            "p50_s": round(_pct(delays, 0.5), 2) if delays else None,
            "p95_s": round(_pct(delays, 0.95), 2) if delays else None,
            "max_s": round(max(delays), 2) if delays else None,
            "mean_s": round(statistics.mean(delays), 2) if delays else None}


def _delivered(stack, sent: dict[str, float]) -> None:
    """When the platform's webhook for each invoice was accepted (its first 2xx attempt)."""
    for delivery in list(stack.fsp_app.sender.log):
        if delivery.event_type != "invoice.ready" or delivery.status != "delivered":
            continue
        invoice_id = json.loads(delivery.body)["data"]["object"]["id"]
        ok = [a["at"] for a in delivery.attempts if (a.get("status") or 0) // 100 == 2]
        if ok and invoice_id not in sent:
            sent[invoice_id] = ok[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receiver-n", type=int, default=500)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    receiver_figures = receiver_latency(args.receiver_n)
    for sender, f in receiver_figures.items():
        print(f"receiver {sender:<13} p50 {f['p50_ms']:>6} ms  p99 {f['p99_ms']:>6} ms  (n={f['n']}, target p99 < 20)")
    e2e = platform_to_quickbooks(args.changes, args.burst)
    print(f"platform -> QuickBooks  {e2e['reached']}/{e2e['changes']} in bursts of {e2e['burst']}: "
          f"p50 {e2e['p50_s']} s  p95 {e2e['p95_s']} s  max {e2e['max_s']} s  (target p95 < 5)")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results["webhooks"] = {"receiver": receiver_figures, "platform_to_quickbooks": e2e,
                           "quickbooks_to_platform": "not measured: needs the sync engine (issue 10)",
                           "fairness_20_tenants": "not measured: needs the sync engine (issue 10)"}
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out}")
    return 0 if e2e["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
