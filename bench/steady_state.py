"""Steady-state benchmark on the local stack (issue 10): after the 10,000 x 10,000 onboarding, 500 client edits on
each side and 200 new clients on each side, then one sync run; then a run with nothing changed.

Prints, and writes to bench/results.json under "steady_state": QuickBooks API calls by kind against the lower bound
ceil(reads/1000) + ceil(writes/30) (reads: the QuickBooks objects the run had to see; writes: the customers it
created or updated there), platform API calls by method, our CPU seconds, DynamoDB operations per changed record,
and for the quiet runs the CDC and platform list calls: the first run after the busy one still lists the busy run's
own last platform writes (its echoes, recognised and not written back), the second lists nothing and ends at its
start (decision 54); each run's states and tasks come from its execution's history. Runs are 5 minutes
of QuickBooks' time apart (RUN_GAP_S), as scheduled runs are never back to back. A benchmark, not a test: it
reports, it does not assert.
Run: `make bench` (or `python -m bench.steady_state --clients 2000` for a quicker look)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

EDITS, NEW = 500, 200
# Scheduled runs are minutes or hours apart, not back to back: QuickBooks' clock (the emulator's) moves on by this
# much before each measured run, past the cursor's 2-minute overlap, so a run re-reads the edge of the last one, not
# all of it. Any gap over the overlap gives the same counts; 5 minutes keeps the access tokens valid on both clocks.
RUN_GAP_S = 300
API_KINDS = ("query", "batch", "create", "update", "read", "delete", "void", "cdc", "companyinfo", "preferences")


def _platform_calls(driver, stack) -> Counter:
    rows = driver.http.get(f"{stack.fsp_url}/_emulator/requests", params={"limit": "100000"}).json()["data"]
    return Counter(f"{r['method']} {r['path'].split('/')[4] if r['path'].count('/') >= 4 else r['path']}"
                   for r in rows if r["path"].startswith("/v1/"))


def _lane_sets(tenant: str, run_id: str) -> list[list[int]]:
    """The sets of more than one batch the run's tasks split between the lanes (lanes.RunSplits keeps each
    decision, [singles, rows], as a chunk of the run): what the lanes model replays at QuickBooks' limits."""
    import gzip

    from shared.data.models import RunItem

    items = RunItem.query(f"TENANT#{tenant}", RunItem.sk.startswith(f"SNAP#{run_id}#lanes-"))
    return [json.loads(gzip.decompress(bytes.fromhex(item.summary["z"]))) for item in items]


def _measure(driver, stack, tenant: str) -> dict:
    from qbsync.local import lambdas, moto_fidelity

    driver.http.post(f"{stack.qbo_url}/_emulator/clock", json={"advance_seconds": RUN_GAP_S}).raise_for_status()
    driver.quickbooks_requests(reset=True)
    driver.http.delete(f"{stack.fsp_url}/_emulator/requests")
    moto_fidelity.calls.clear()
    lambdas.METER.cpu_s.clear()
    lambdas.METER.invocations.clear()
    lambdas.METER.enabled = True
    started = time.monotonic()
    run = driver.sync_now(tenant)
    wall_s = time.monotonic() - started
    lambdas.METER.enabled = False
    by_kind = {k: v for k, v in driver.quickbooks_requests()["counts"].items() if k in API_KINDS and v}
    path = _states_entered(run.get("run_id", ""))
    ddb = dict(moto_fidelity.calls)
    cpu_s = round(sum(lambdas.METER.cpu_s.values()), 2)
    return {"run": run, "by_kind": by_kind, "calls": sum(by_kind.values()),
            "lane_sets": _lane_sets(tenant, run.get("run_id", "")),
            "platform_calls": dict(_platform_calls(driver, stack)), "cpu_s": cpu_s, "path": path,
            "dynamodb_ops": sum(ddb.values()), "dynamodb_by_action": ddb, "local_wall_s": round(wall_s, 1)}


def _states_entered(run_id: str) -> dict:
    """The states the run's execution entered, from the local stack's Step Functions history (the execution is
    named by the run): what Standard workflows bill as state transitions, and its Task states."""
    import boto3

    machine = os.environ["SYNC_STATE_MACHINE_ARN"]
    arn = f"{machine.replace(':stateMachine:', ':execution:')}:{run_id}"
    sfn, events, token = boto3.client("stepfunctions"), [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    entered = [e for e in events if "stateEnteredEventDetails" in e]
    return {"states": len(entered), "tasks": sum(e["type"] == "TaskStateEntered" for e in entered),
            "entered": [e["stateEnteredEventDetails"]["name"] for e in entered]}


def _change_both_sides(driver, realm: str, tenant: str) -> int:
    """500 edits and 200 new clients on each side, as users of each system make them (through its API)."""
    customers = {c["Id"]: c for c in driver.quickbooks_entities(realm, "Customer") if not c.get("Job")}
    clients = [c for c in driver.platform_records(tenant, "clients") if c.get("active")]
    for n, client in enumerate(clients[:EDITS]):
        driver.platform_api("PATCH", tenant, f"clients/{client['id']}",
                            {"contact": {**(client.get("contact") or {}), "phone": f"(480) 555-{n:04d}"}})
    for n, customer in enumerate(list(customers.values())[-EDITS:]):
        driver.quickbooks_call(realm, "POST", "customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"],
                                                           "sparse": True,
                                                           "PrimaryEmailAddr": {"Address": f"ap{n}@books.example"}})
    for n in range(NEW):
        driver.platform_api("POST", tenant, "clients", {"company_name": f"Steady New Platform Client {n:03d}",
                                                        "contact": {"email": f"new{n}@platform.example"}})
        driver.quickbooks_call(realm, "POST", "customer", {"DisplayName": f"Steady New Books Customer {n:03d}",
                                                           "CompanyName": f"Steady New Books Customer {n:03d}"})
    return 2 * (EDITS + NEW)


def _at_limits(measured: dict, call_bound: int) -> dict:
    """The busy run's writes replayed by the lanes model at QuickBooks' limits with our side taking no time
    (bench.onboarding.lanes_at_limits): its sets over one batch as the run recorded them; its other calls (reads
    and one-batch sets) first."""
    from bench.onboarding import lanes_at_limits

    decisions = measured["lane_sets"]
    sets = [n for _, n in decisions]
    in_sets = sum(singles + -(-(n - singles) // 30) for singles, n in decisions)  # their calls in this run
    model = lanes_at_limits(sets, max(0, measured["calls"] - in_sets))
    return {**model, "sets": sets, "call_bound": call_bound,
            "calls_over_bound_pct": round(100 * (model["calls"] - call_bound) / call_bound, 1) if call_bound
            else None}


def run(clients: int, seed: int, limits: str = "off") -> dict:
    from bench.stack import bench_stack
    from emulators.datagen.generator import generate

    data = generate(seed=seed, clients=clients, quickbooks_customers=clients, sub_customer_share=0.2)
    # Webhooks off: this measures what a scheduled run costs; bench/webhooks.py measures the webhook path.
    with bench_stack(limits=limits) as bench:
        driver, stack = bench.driver, bench.stack
        realm = bench.tenant("steady", "Steady Heating & Cooling", data, onboard=False)
        onboarding = driver.enable("steady")
        # The first runs after onboarding push the ready invoices and see onboarding's own writes come back.
        settle = _measure(driver, stack, "steady")
        _measure(driver, stack, "steady")
        changed = _change_both_sides(driver, realm, "steady")
        busy = _measure(driver, stack, "steady")
        quiet = _measure(driver, stack, "steady")
        quiet_again = _measure(driver, stack, "steady")
    counts = (busy["run"].get("summary") or {}).get("counts", {})
    reads = sum(v for k, v in counts.items() if k.startswith("quickbooks_") and k.endswith("_changes"))
    writes = counts.get("customers_updated_in_quickbooks", 0) + counts.get("customers_created_in_quickbooks", 0)
    bound = math.ceil(reads / 1000) + math.ceil(writes / 30)
    return {"limits": limits,
        "dataset": {"seed": seed, "platform_clients": clients, "onboarding": onboarding.get("status"),
                    "changed_records": changed, "edits_per_side": EDITS, "new_per_side": NEW},
        "busy_run": {"status": busy["run"].get("status"), "counts": counts,
                     "quickbooks_calls": busy["calls"], "by_kind": busy["by_kind"], "lower_bound": bound,
                     "over_bound_pct": round(100 * (busy["calls"] - bound) / bound, 1) if bound else None,
                     "platform_calls": busy["platform_calls"], "our_cpu_s": busy["cpu_s"],
                     "path": {k: busy["path"][k] for k in ("states", "tasks")},
                     "dynamodb_ops": busy["dynamodb_ops"],
                     "dynamodb_ops_per_changed_record": round(busy["dynamodb_ops"] / changed, 1),
                     "local_wall_s": busy["local_wall_s"], "at_qbo_limits": _at_limits(busy, bound)},
        "quiet_run": _quiet(quiet),
        "quiet_run_again": _quiet(quiet_again),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "settle_run_after_onboarding": {"quickbooks_calls": settle["calls"], "by_kind": settle["by_kind"]},
    }


def _quiet(measured: dict) -> dict:
    return {"status": measured["run"].get("status"), "quickbooks_calls": measured["calls"],
            "by_kind": measured["by_kind"], "platform_calls": measured["platform_calls"],
            "dynamodb_ops": measured["dynamodb_ops"], "our_cpu_s": measured["cpu_s"], "path": measured["path"],
            "reason": (measured["run"].get("summary") or {}).get("reason")}


def report(result: dict) -> None:
    busy = result["busy_run"]
    print(f"steady state {busy['status']}: {result['dataset']}")
    print(f"QuickBooks API calls   {busy['quickbooks_calls']:>8}  lower bound {busy['lower_bound']}  "
          f"({busy['over_bound_pct']:+}%)  {busy['by_kind']}")
    model = busy["at_qbo_limits"]
    print(f"  at QuickBooks' limits, back to back (lanes model): {model['calls']} calls ({model['batches']} batches, "
          f"{model['singles']} singles; {model['calls_over_bound_pct']:+}% over the bound), {model['projected_s']} s "
          f"of pacing; sets {model['sets']}")
    print(f"platform API calls     {sum(busy['platform_calls'].values()):>8}  {busy['platform_calls']}")
    print(f"our CPU                {busy['our_cpu_s']:>8} s")
    print(f"DynamoDB               {busy['dynamodb_ops']:>8} ops, {busy['dynamodb_ops_per_changed_record']} per "
          "changed record")
    for label, key in (("nothing changed", "quiet_run"), ("nothing changed again", "quiet_run_again")):
        quiet = result[key]
        print(f"{label:<22} {quiet['quickbooks_calls']:>8} QuickBooks calls {quiet['by_kind']}, platform "
              f"{quiet['platform_calls']}, DynamoDB {quiet['dynamodb_ops']} ops, {quiet['path']['states']} states "
              f"({quiet['path']['tasks']} tasks)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limits", choices=("off", "real"), default="off",
                        help="off: QuickBooks' throttling off and our pacing raised (calls as the rule makes them "
                             "when nothing waits); real: both at QuickBooks' published limits (bench/stack.py)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    result = run(args.clients, args.seed, args.limits)
    report(result)
    out = Path(args.out)
    merged = {**(json.loads(out.read_text()) if out.exists() else {}), "steady_state": result}
    out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"written to {args.out}")
    return 0 if result["busy_run"]["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
