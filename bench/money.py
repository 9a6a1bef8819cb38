"""Money benchmark on the local stack (issue 11), steady state: 1,000 ready invoices (5 lines each, across 300
clients) and 1,000 payments (200 of them partial) in one sync run; then 100 of those invoices edited and 20 voided,
in a second run.

Prints, and writes to bench/results.json under "money": QuickBooks API calls by kind for each run against the lower
bound ceil(reads/1000) + ceil(writes/30) (reads: the invoices whose open balance a payment needs; writes: every
invoice and payment created, updated, voided), the projected wall time at QuickBooks' limits, our CPU seconds and
DynamoDB operations per record written. Steady state: clients are onboarded and the items and payment methods the
invoices use were linked by an earlier run, as they are after the first day. A benchmark, not a test: it reports.
Run: `make bench` (or `python -m bench.money --invoices 300` for a quicker look)."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from bench.onboarding import API_KINDS, QBO_BATCHES_PER_MIN, QBO_REQUESTS_PER_MIN

LINES = 5
METHODS = ("cash", "check", "credit_card", "ach", "other")


def _invoice(i: int, client_id: str, items: list[dict], rng: random.Random) -> dict:
    lines = [{"item_id": items[(i + n) % len(items)]["id"], "description": f"Line {n + 1}",
              "quantity": str(rng.randint(1, 4)), "unit_price": f"{rng.randint(20, 400)}.{rng.randint(0, 99):02d}",
              "taxable": n % 2 == 0} for n in range(LINES)]
    subtotal = sum(Decimal(ln["quantity"]) * Decimal(ln["unit_price"]) for ln in lines if ln["taxable"])
    tax = (subtotal * Decimal("0.0825")).quantize(Decimal("0.01"))
    return {"id": f"inv_b{i:04d}", "client_id": client_id, "status": "ready_for_sync", "issued_on": "2026-11-02",
            "tax_total": str(tax), "lines": lines}


def _total(invoice: dict) -> Decimal:
    return sum((Decimal(ln["quantity"]) * Decimal(ln["unit_price"]) for ln in invoice["lines"]),
               Decimal(0)) + Decimal(invoice["tax_total"])


def _payments(invoices: list[dict]) -> list[dict]:
    """800 invoices paid in full, 100 paid by two partial payments (200 partial), the rest unpaid (the last 20 of
    them are voided later: QuickBooks refuses to void an invoice with payments applied)."""
    out = []
    full, halves = int(len(invoices) * 0.8), int(len(invoices) * 0.1)
    for n, inv in enumerate(invoices[:full + halves]):
        total = _total(inv)
        parts = [total] if n < full else [(total * Decimal("0.3")).quantize(Decimal("0.01"))] * 2
        for k, amount in enumerate(parts):
            out.append({"id": f"pay_b{len(out):04d}", "invoice_id": inv["id"], "amount": str(amount),
                        "paid_on": "2026-11-10", "method": METHODS[(n + k) % len(METHODS)]})
    return out


def _load(driver, tenant: str, kind: str, rows: list[dict]) -> None:
    for i in range(0, len(rows), 500):
        driver.http.post(f"{driver.urls['fieldservice']}/_emulator/tenants/{tenant}/load",
                         data=json.dumps({kind: rows[i:i + 500]}),
                         headers={"Content-Type": "application/json"}).raise_for_status()


def _measure(driver, tenant: str, label: str, reads: int, writes: int) -> dict:
    from qbsync.local import lambdas, moto_fidelity
    from shared.quickbooks.pacing import quickbooks_limits

    driver.quickbooks_requests(reset=True)
    moto_fidelity.calls.clear()
    lambdas.METER.cpu_s.clear()
    lambdas.METER.enabled = True
    started = time.monotonic()
    run = driver.sync_now(tenant)
    wall_s = time.monotonic() - started
    lambdas.METER.enabled = False
    by_kind = {k: v for k, v in driver.quickbooks_requests().get("counts", {}).items() if k in API_KINDS and v}
    calls = sum(by_kind.values())
    bound = math.ceil(reads / 1000) + math.ceil(writes / 30)
    request_limit, batch_limit = quickbooks_limits(QBO_REQUESTS_PER_MIN, QBO_BATCHES_PER_MIN)
    projected = max(max(0, calls - request_limit.burst) * request_limit.interval,
                    max(0, by_kind.get("batch", 0) - batch_limit.burst) * batch_limit.interval)
    ddb = dict(moto_fidelity.calls)
    ddb_ops = sum(ddb.values())
    counts = (run.get("summary") or {}).get("counts", {})
    return {"run": label, "status": run.get("status"), "counts": counts,
            "quickbooks_api": {"calls": calls, "by_kind": by_kind, "lower_bound": bound,
                               "reads": reads, "writes": writes,
                               "over_bound_pct": round(100 * (calls - bound) / bound, 1) if bound else None,
                               "projected_wall_s_at_qbo_limits": round(projected, 1)},
            "our_cpu_s": round(sum(lambdas.METER.cpu_s.values()), 2),
            "cpu_s_by_function": {k: round(v, 2) for k, v in lambdas.METER.cpu_s.items()},
            "local_wall_s": round(wall_s, 1),
            "dynamodb": {"operations": ddb_ops, "per_record_written": round(ddb_ops / writes, 2) if writes else None,
                         "by_action": ddb}}


def _synced_clients(driver, realm: str, tenant: str) -> list[str]:
    """Clients onboarding linked to an active QuickBooks customer: the others' invoices would only wait (inactive,
    ambiguous or refused clients are the onboarding benchmark's subject, not this one's)."""
    from shared.runtime import runtime

    active = {c["Id"] for c in driver.quickbooks_entities(realm, "Customer") if c.get("Active", True)}
    ids = [c["id"] for c in driver.platform_records(tenant, "clients") if c["active"]]
    links = runtime().sync_deps(tenant).links.get_many(tenant, "customer", ids)
    return [i for i in ids if i in links and links[i].qbo_id in active]


def run(n_invoices: int, seed: int) -> dict:
    from bench.stack import bench_stack
    from emulators.datagen.generator import generate

    rng = random.Random(seed)
    data = generate(seed=seed, clients=400, invoices_per_client=0.0)
    items = [i for i in data.fieldservice["items"] if i.get("active", True)]
    with bench_stack(prefix="qbsync-bench-money-", limits="off") as bench:
        driver = bench.driver
        realm = bench.tenant("bench-money", "Bench Money Plumbing", data)
        clients = _synced_clients(driver, realm, "bench-money")[:300]
        invoices = [_invoice(i, clients[i % len(clients)], items, rng) for i in range(n_invoices)]
        payments = _payments(invoices)
        # Warm-up: one invoice using every item and one payment per method link them, as an earlier day would.
        warm = {"id": "inv_warm", "client_id": clients[0], "status": "ready_for_sync", "issued_on": "2026-11-01",
                "tax_total": "0.00", "lines": [{"item_id": i["id"], "quantity": "1", "unit_price": "10.00",
                                                "taxable": False} for i in items]}
        _load(driver, "bench-money", "invoices", [warm])
        _load(driver, "bench-money", "payments", [{"id": f"pay_warm_{m}", "invoice_id": "inv_warm", "amount": "1.00",
                                                   "paid_on": "2026-11-01", "method": m} for m in METHODS])
        assert driver.sync_now("bench-money")["status"] == "succeeded"

        _load(driver, "bench-money", "invoices", invoices)
        _load(driver, "bench-money", "payments", payments)
        paid_invoices = len({p["invoice_id"] for p in payments})
        first = _measure(driver, "bench-money", "new invoices and payments", reads=paid_invoices,
                         writes=len(invoices) + len(payments))

        edited = invoices[int(n_invoices * 0.8):int(n_invoices * 0.8) + n_invoices // 10]  # some partly paid
        for inv in edited:
            inv["lines"][0]["unit_price"] = str(Decimal(inv["lines"][0]["unit_price"]) + Decimal("25.00"))
        voided = [{**inv, "status": "void"} for inv in invoices[len(invoices) - n_invoices // 50:]]
        _load(driver, "bench-money", "invoices", edited + voided)
        second = _measure(driver, "bench-money", "edited and voided", reads=0, writes=len(edited) + len(voided))
        errors = driver.admin("GET", "/admin/errors", "bench-money").json()["items"]
        qbo = driver.quickbooks_entities(realm, "Invoice")
        notes = [i.get("PrivateNote") for i in qbo if i.get("PrivateNote") != "Voided"]
    return {"money": {"dataset": {"seed": seed, "invoices": n_invoices, "lines_per_invoice": LINES,
                                  "clients": len({i["client_id"] for i in invoices}),
                                  "payments": len(payments),
                                  "partial_payments": sum(1 for p in payments
                                                          if Decimal(p["amount"]) < _total(next(
                                                              i for i in invoices if i["id"] == p["invoice_id"])))},
                      "runs": [first, second],
                      "open_errors": dict(Counter(f"{e['entity']} {e['code']}: {e['message'][:80]}" for e in errors)),
                      "duplicates_in_quickbooks": len(notes) - len(set(notes))}}


def throughput(result: dict) -> list[dict]:
    """Each run's pushes against QuickBooks' throughput bound (bench.onboarding.lane_figures): invoices, then
    payments, a platform page (PLATFORM_PAGE) to a push task, each page one set of writes for the lanes."""
    from bench.onboarding import lane_figures, task_sets
    from shared.domain.sync_run import PLATFORM_PAGE

    out = []
    for run in result["money"]["runs"]:
        api, counts = run["quickbooks_api"], run["counts"]
        invoices = sum(counts.get(f"invoices_{verb}_in_quickbooks", 0) for verb in ("created", "updated", "voided"))
        payments = sum(counts.get(f"payments_{verb}_in_quickbooks", 0) for verb in ("created", "updated", "deleted"))
        sets = task_sets(invoices, PLATFORM_PAGE) + task_sets(payments, PLATFORM_PAGE)
        batches = api["by_kind"].get("batch", 0)
        singles = sum(api["by_kind"].get(k, 0) for k in ("create", "update", "void", "delete"))
        out.append({"run": run["run"], **lane_figures(sets, api["calls"] - batches - singles, api["lower_bound"],
                                                      {"batches": batches, "singles": singles,
                                                       "calls": api["calls"]})})
    return out


def report(result: dict) -> None:
    money = result["money"]
    print(f"money: {money['dataset']}")
    for r in money["runs"]:
        api = r["quickbooks_api"]
        print(f"  {r['run']} ({r['status']}): QuickBooks calls {api['calls']} vs lower bound {api['lower_bound']} "
              f"({api['over_bound_pct']:+}%) {api['by_kind']}; projected {api['projected_wall_s_at_qbo_limits']} s "
              f"at QuickBooks' limits; our CPU {r['our_cpu_s']} s; DynamoDB {r['dynamodb']['operations']} ops "
              f"({r['dynamodb']['per_record_written']} per record written)")
    print(f"  duplicates in QuickBooks: {money['duplicates_in_quickbooks']}; open errors: {money['open_errors']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    result = run(args.invoices, args.seed)
    report(result)
    out = Path(args.out)
    merged = {**(json.loads(out.read_text()) if out.exists() else {}), **result}
    out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"written to {args.out}")
    return 0 if all(r["status"] == "succeeded" for r in result["money"]["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
