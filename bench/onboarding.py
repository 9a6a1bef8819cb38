"""Onboarding benchmark on the local stack (issue 6): 10,000 QuickBooks customers (2,000 with sub-customers) and
10,000 platform clients, half overlapping with realistic differences.

Prints, and writes to bench/results.json: QuickBooks API calls by kind against the lower bound
ceil(reads/1000) + ceil(writes/30), the projected wall time at QuickBooks' real limits, our CPU seconds, peak memory
per function, DynamoDB calls and Step Functions transitions. A benchmark, not a test: it reports, it does not assert.
Run: `make bench` (or `python -m bench.onboarding --clients 2000` for a quicker look)."""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

QBO_REQUESTS_PER_MIN, QBO_BATCHES_PER_MIN = 500, 40  # qbo-facts.md, Limits and throttling
API_KINDS = ("query", "batch", "create", "update", "read", "delete", "void", "cdc", "companyinfo", "preferences")


def _transitions(execution_arns: list[str]) -> int:
    import boto3

    sfn = boto3.client("stepfunctions")
    total = 0
    for arn in execution_arns:
        token, events = None, []
        while True:
            page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token
                                                                                   else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        total += sum(1 for e in events if e["type"].endswith("StateEntered"))
    return total


def _match_working_set_mb(data, settings_body: dict) -> float:
    """Peak heap of the heaviest task's own work, measured alone: both lists compacted, then planned (what the
    `match` invocation holds at once). Alone, so neither moto nor the emulators are counted."""
    from shared.domain import parties
    from shared.domain.onboarding_plan import plan_onboarding
    from shared.domain.settings import SyncSettings, default_settings
    from shared.fieldservice.http_adapter import client_from_wire, site_from_wire

    base = default_settings().model_dump()
    settings = SyncSettings.model_validate({k: {**base[k], **settings_body.get(k, {})} if isinstance(base[k], dict)
                                            else base[k] for k in base})
    tracemalloc.start()
    qbo = [parties.compact_customer(c) for c in data.quickbooks["Customer"]]
    fsp = [parties.compact_client(client_from_wire(c)) for c in data.fieldservice["clients"]]
    sites = [parties.compact_site(site_from_wire(s)) for s in data.fieldservice["sites"]]
    plan_onboarding(qbo, fsp, sites, {}, settings, [])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 1)


def run(clients: int, seed: int, trace_memory: bool) -> dict:
    from emulators.datagen.generator import generate
    from qbsync.demo import demo_settings
    from qbsync.local import lambdas, moto_fidelity
    from qbsync.local.driver import Driver
    from qbsync.local.stack import FSP_API_KEY, LocalStack

    t0 = time.monotonic()
    data = generate(seed=seed, clients=clients, quickbooks_customers=clients, sub_customer_share=0.2)
    generated_s = time.monotonic() - t0
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-") as state_dir, \
            LocalStack(port=0, state_dir=state_dir, persist=False) as stack:
        driver = Driver(stack.urls(), state_dir, FSP_API_KEY, stack.resources["secret"]["fsp_webhook_master_secret"],
                        timeout_s=3600, poll_s=2.0)
        # Throttling off: the emulator would make us wait out QuickBooks' minute windows; the projection below
        # applies those limits to the calls we made instead.
        driver.http.put(f"{stack.qbo_url}/_emulator/limits", json={"enabled": False}).raise_for_status()
        # Our own pacing still runs (its DynamoDB calls count) but with limits that never make it wait.
        os.environ.update({"QBO_REQUESTS_PER_MINUTE": "1000000", "QBO_BATCHES_PER_MINUTE": "1000000"})
        # Webhook intake is its own function with its own cost; here it would only echo our own writes back.
        stack.deliver_webhooks(False)
        realm = driver.create_realm("Bench Heating & Cooling")
        driver.load_quickbooks(realm, data.quickbooks_json())
        driver.create_tenant("bench", data.fieldservice)
        driver.connect("bench", realm)
        settings_body = demo_settings(driver, "bench")
        driver.settings("bench", settings_body)
        driver.quickbooks_requests(reset=True)
        moto_fidelity.calls.clear()
        lambdas.METER.enabled, lambdas.METER.trace_memory = True, trace_memory
        if trace_memory:
            tracemalloc.start()
        started = time.monotonic()
        onboarding = driver.enable("bench")
        wall_s = time.monotonic() - started
        lambdas.METER.enabled = False
        if trace_memory:
            tracemalloc.stop()
        requests_log = driver.quickbooks_requests()
        ddb = dict(moto_fidelity.calls)
        machine = stack.resources["env"]["ONBOARDING_STATE_MACHINE_ARN"]
        transitions = _transitions([f"{machine.replace(':stateMachine:', ':execution:')}:{onboarding['run_id']}"])
    match_mb = None if trace_memory else _match_working_set_mb(data, settings_body)
    counts = (onboarding.get("summary") or {}).get("counts", {})
    by_kind = requests_log.get("counts", {})
    api_calls = sum(by_kind.get(k, 0) for k in API_KINDS)
    reads = counts.get("quickbooks_customers_loaded", 0)
    writes = counts.get("customers_created_in_quickbooks", 0) + counts.get("sub_customers_created_in_quickbooks", 0)
    bound = math.ceil(reads / 1000) + math.ceil(writes / 30)
    ddb_reads = sum(v for k, v in ddb.items() if k in ("GetItem", "Query", "Scan", "BatchGetItem"))
    ddb_writes = sum(v for k, v in ddb.items() if k in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"))
    meter = lambdas.METER
    result = {
        "dataset": {"seed": seed, "platform_clients": clients, "quickbooks_records": reads,
                    "generated_in_s": round(generated_s, 2)},
        "onboarding": {"status": onboarding.get("status"), "counts": counts},
        "quickbooks_api": {"calls": api_calls, "by_kind": by_kind, "lower_bound": bound,
                           "over_bound_pct": round(100 * (api_calls - bound) / bound, 1) if bound else None},
        "compute": {"our_cpu_s": round(sum(meter.cpu_s.values()), 2),
                    "cpu_s_by_function": {k: round(v, 2) for k, v in meter.cpu_s.items()},
                    "invocations": dict(meter.invocations), "local_wall_s": round(wall_s, 1),
                    "peak_heap_growth_mb_by_function": {k: round(v / 2**20, 1) for k, v in meter.peak_bytes.items()}
                    if trace_memory else "not traced (pass --trace-memory)",
                    "match_task_working_set_mb": match_mb,
                    "process_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)},
        "dynamodb": {"reads": ddb_reads, "writes": ddb_writes, "by_action": ddb},
        "step_functions": {"transitions": transitions},
    }
    # What a real company waits: the lanes rule at QuickBooks' limits (throughput), not the calls made here, where
    # our pacing is raised so that nothing waits (and the rule keeps every set in batches).
    result["quickbooks_api"]["projected_wall_s_at_qbo_limits"] = throughput(result)["projected_s"]
    return result


class _PaceItems:
    """The pacing item of one company in memory, with DynamoPaceStore's semantics (GCRA per limit, all of a
    call's limits reserved at once)."""

    def __init__(self) -> None:
        self.tat: dict[str, float] = {}

    def reserve(self, key: str, now: float, limits, max_wait_s: float) -> float:  # noqa: ANN001
        from shared.quickbooks.pacing import gcra

        wait = 0.0
        for limit in limits:
            step, self.tat[limit.kind] = gcra(self.tat.get(limit.kind), now, limit)
            wait = max(wait, step)
        return wait

    def peek(self, key: str) -> dict[str, float]:
        return dict(self.tat)

    def lease_slots(self, key, want, now, until, slots):  # noqa: ANN001 - the model sends one call at a time
        return []

    def release_slots(self, key, taken, until):  # noqa: ANN001
        return None


def lanes_at_limits(sets: list[int], other_calls: int) -> dict:
    """The product's lanes rule (shared/domain/lanes.LaneChooser, deciding from pacing.Pacer.budget) replayed at
    QuickBooks' published limits on a virtual clock where only pacing takes time: `other_calls` reads first, then
    each set of writes as the tasks form them, back to back. Our side taking no time is the case where the budget
    binds most (on AWS tasks take some time, so the budget refills a little between sets): the projected time and
    the calls a real company would see at most."""
    from shared.domain import lanes
    from shared.quickbooks.pacing import Pacer, quickbooks_limits

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(_PaceItems(), quickbooks_limits(QBO_REQUESTS_PER_MIN, QBO_BATCHES_PER_MIN), max_wait_s=1e12,
                  clock=lambda: now[0], sleep=sleep)
    for _ in range(other_calls):
        pacer.before("realm", "request")
    batches = singles = 0
    for n in sets:
        for piece in lanes.LaneChooser(lambda: pacer.budget("realm")).split(range(n)):
            pacer.before("realm", piece.lane if piece.lane == "batch" else "request")
            batches, singles = batches + (piece.lane == "batch"), singles + (piece.lane == "single")
    return {"projected_s": round(now[0], 1), "batches": batches, "singles": singles,
            "calls": other_calls + batches + singles}


def task_sets(total: int, per_task: int) -> list[int]:
    """`total` writes as the tasks form their sets: `per_task` to a task, the rest in the last."""
    return [min(per_task, total - i) for i in range(0, total, per_task)]


def lane_figures(sets: list[int], other_calls: int, call_bound: int, measured: dict) -> dict:
    """One workload against QuickBooks' throughput bound: `sets` of writes as the product's tasks form them, beside
    `other_calls` reads. Projected: the lanes rule at QuickBooks' limits (`lanes_at_limits`: what a real company
    waits for, and the calls it takes). Bound: both lanes full at QuickBooks' limits, 40 batches of 30 plus 460
    single requests a minute (qbo-facts.md, Limits). Batch lane only: the same writes 30 to a batch and nothing
    else. `measured`: the calls the run made on the local stack ({"batches", "singles", "calls"}), where our pacing
    is raised so that it never waits and the rule therefore keeps every set in batches."""
    from shared.quickbooks.pacing import quickbooks_limits

    request_limit, batch_limit = quickbooks_limits(QBO_REQUESTS_PER_MIN, QBO_BATCHES_PER_MIN)

    def paced(n_batches: int, n_calls: int) -> float:
        return max(max(0, n_calls - request_limit.burst) * request_limit.interval,
                   max(0, n_batches - batch_limit.burst) * batch_limit.interval)

    writes = sum(sets)
    per_minute = QBO_BATCHES_PER_MIN * 30 + (QBO_REQUESTS_PER_MIN - QBO_BATCHES_PER_MIN)
    bound_s = 60 * writes / per_minute
    model = lanes_at_limits(sets, other_calls)
    batch_only = sum(math.ceil(n / 30) for n in sets)

    def over(value: float, bound: float) -> float | None:
        return round(100 * (value - bound) / bound, 1) if bound else None

    return {"writes": writes, "sets": len(sets), "writes_per_minute_bound": per_minute, "bound_s": round(bound_s, 1),
            "projected_s": model["projected_s"], "over_bound_pct": over(model["projected_s"], bound_s),
            "batch_lane_only_s": round(paced(batch_only, batch_only + other_calls), 1),
            "lanes_used": ["batch", "single"] if model["singles"] else ["batch"], "batches": model["batches"],
            "singles": model["singles"], "calls": model["calls"], "call_bound": call_bound,
            "calls_over_bound_pct": over(model["calls"], call_bound),
            "measured_on_local_stack": {**measured, "calls_over_bound_pct": over(measured["calls"], call_bound)}}


def throughput(result: dict) -> dict:
    """The onboarding's projected time against QuickBooks' throughput bound, and its calls against the call bound:
    customers then sub-customers, created ROWS_PER_TASK to a task (shared/domain/onboarding.py)."""
    from shared.domain.onboarding import ROWS_PER_TASK

    counts, api = result["onboarding"]["counts"], result["quickbooks_api"]
    sets = (task_sets(counts.get("customers_created_in_quickbooks", 0), ROWS_PER_TASK)
            + task_sets(counts.get("sub_customers_created_in_quickbooks", 0), ROWS_PER_TASK))
    by_kind = api["by_kind"]
    batches, singles = by_kind.get("batch", 0), by_kind.get("create", 0)
    return lane_figures(sets, api["calls"] - batches - singles, api["lower_bound"],
                        {"batches": batches, "singles": singles, "calls": api["calls"]})


def report_throughput(label: str, tp: dict) -> None:
    local = tp["measured_on_local_stack"]
    print(f"throughput {label}: {tp['writes']:,} QuickBooks writes projected {tp['projected_s']} s against the "
          f"bound {tp['bound_s']} s ({tp['writes_per_minute_bound']}/min on both lanes; {tp['over_bound_pct']:+}%); "
          f"batch lane alone {tp['batch_lane_only_s']} s; lanes {'+'.join(tp['lanes_used'])} ({tp['batches']} "
          f"batches, {tp['singles']} singles); calls {tp['calls']} vs call bound {tp['call_bound']} "
          f"({tp['calls_over_bound_pct']:+}%); on the local stack (pacing never waits) "
          f"{local['calls']} calls ({local['calls_over_bound_pct']:+}%)")


def report(result: dict) -> None:
    api, comp = result["quickbooks_api"], result["compute"]
    print(f"onboarding {result['onboarding']['status']}: {result['dataset']}")
    print(f"QuickBooks API calls   {api['calls']:>8}  lower bound {api['lower_bound']}  "
          f"({api['over_bound_pct']:+}%)  {api['by_kind']}")
    print(f"projected wall time    {api['projected_wall_s_at_qbo_limits']:>8} s paced under 500 req/min, "
          "40 batches/min, two lanes where they shorten the wait (throughput)")
    print(f"our CPU                {comp['our_cpu_s']:>8} s  {comp['cpu_s_by_function']}")
    print(f"heap growth by function {comp['peak_heap_growth_mb_by_function']}  (process RSS "
          f"{comp['process_max_rss_mb']} MB incl. moto and emulators)")
    if comp["match_task_working_set_mb"] is not None:
        print(f"match task alone       {comp['match_task_working_set_mb']:>8} MB peak heap (plan of both full lists)")
    print(f"DynamoDB               {result['dynamodb']['reads']:>8} reads, {result['dynamodb']['writes']} writes")
    print(f"Step Functions         {result['step_functions']['transitions']:>8} transitions")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace-memory", action="store_true",
                        help="trace heap growth per invocation (about 4x slower; the match task is measured alone "
                             "either way)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    result = run(args.clients, args.seed, args.trace_memory)
    report(result)
    out = Path(args.out)
    # The other benchmarks' last figures (cold start, ...) stay in the file.
    merged = {**(json.loads(out.read_text()) if out.exists() else {}), **result}
    out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(f"written to {args.out}")
    return 0 if result["onboarding"]["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
