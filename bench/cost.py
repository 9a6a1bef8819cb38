"""Dollars per 1,000 synced entities and per connection-month, from the onboarding benchmark's measured counts
(bench/results.json) and AWS's public us-east-1 prices (arm64 Lambda, Standard workflows, on-demand DynamoDB).

Measured: QuickBooks calls, Step Functions transitions, Lambda invocations and CPU, DynamoDB calls by action, the
projected wall time at QuickBooks' limits. Not measured, and therefore stated as assumptions next to each figure:
DynamoDB units per batch call (moto counts calls, not items) and a quiet hourly sync run's billed task time. A quiet
run's states, tasks and DynamoDB calls are those the steady-state benchmark's second quiet run made on the local
stack (its execution's history) when bench/results.json has them; without them its states come from the sync state
machine's definition (a run with nothing to do ends at `Stop?`, decision 54). docs/benchmarks.md explains each
line."""

from __future__ import annotations

import json
import math
from pathlib import Path

# https://aws.amazon.com/lambda/pricing/ (us-east-1, arm64; the x86 price is $0.0000166667)
LAMBDA_ARM_GB_S = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1e6
# https://aws.amazon.com/step-functions/pricing/ (us-east-1): Standard per transition; Express per request and
# per GB-second, duration rounded up to 100 ms and memory billed in 64 MB chunks
SFN_STANDARD_PER_TRANSITION = 0.025 / 1000
SFN_EXPRESS_PER_REQUEST = 1.00 / 1e6
SFN_EXPRESS_GB_S = 0.00001667
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (us-east-1, after the November 2024 50% reduction)
DDB_PER_WRU = 0.625 / 1e6
DDB_PER_RRU = 0.125 / 1e6
# https://aws.amazon.com/eventbridge/pricing/ (Scheduler: $1.00 per million invocations beyond the free tier)
SCHEDULER_PER_INVOCATION = 1.00 / 1e6

MEMORY_GB = 0.5  # every function: 512 MB (infra/constructs/function.py)
HOURS_PER_MONTH = 730
# Assumptions (not measured): a batch write carries its full 25 items of <= 1 KB, a batch get its full 100 items
# of <= 4 KB read eventually consistent (0.5 RRU): upper bounds on what moto's call counts stand for.
BATCH_WRITE_ITEMS, BATCH_GET_ITEMS, RRU_PER_READ = 25, 100, 0.5
# A quiet hourly sync run (nothing changed on either side): each Task state on its path runs once, billed
# QUIET_TASK_S (a handful of QuickBooks and DynamoDB round trips), and makes at least QUIET_DDB_WRITES /
# QUIET_DDB_READS calls (run record, gate, settings, tokens, pacing).
QUIET_TASK_S, QUIET_DDB_WRITES, QUIET_DDB_READS = 1.0, 8, 6
SYNC_ASL = Path(__file__).resolve().parent.parent / "infra" / "statemachines" / "sync.asl.json"

ENTITY_COUNTS = ("customers_created_in_quickbooks", "sub_customers_created_in_quickbooks",
                 "clients_created_on_platform", "sites_created_on_platform", "clients_matched", "sites_matched")


def single_pass(asl: dict) -> tuple[int, int]:
    """(states entered, Task states entered) by a run that does its work once: the longest path from StartAt to its
    successful end entering no state twice (each loop runs once). Not the first branch of each Choice: the sync
    machine's first Choice (`Stop?`) is the way out of a run folded into another, which does no work."""
    states = asl["States"]

    def nexts(name: str) -> list[str]:
        state = states[name]
        if state["Type"] == "Choice":
            return [c["Next"] for c in state.get("Choices", [])] + ([state["Default"]] if "Default" in state else [])
        return [] if state.get("End") or state["Type"] in ("Succeed", "Fail") else [state["Next"]]

    def longest(name: str, seen: tuple[str, ...]) -> tuple[int, int] | None:
        here = (1, int(states[name]["Type"] == "Task"))
        if states[name]["Type"] == "Succeed" or (states[name].get("End") and states[name]["Type"] != "Fail"):
            return here
        paths = [p for n in nexts(name) if n not in seen and (p := longest(n, (*seen, n))) is not None]
        if not paths:
            return None
        best = max(paths)
        return here[0] + best[0], here[1] + best[1]

    found = longest(asl["StartAt"], (asl["StartAt"],))
    if found is None:
        raise ValueError("no path from StartAt ends the execution successfully")
    return found


def quiet_path(asl: dict) -> tuple[int, int]:
    """(states entered, Task states entered) by a run that finds nothing to do: `StartAt`, then at each Choice its
    first branch (the sync machine's `Stop?` ends a run whose `start` found nothing, decision 54), to a Succeed."""
    states, name, entered, tasks = asl["States"], asl["StartAt"], 0, 0
    while True:
        state = states[name]
        entered, tasks = entered + 1, tasks + int(state["Type"] == "Task")
        if state["Type"] == "Succeed" or state.get("End"):
            return entered, tasks
        if state["Type"] == "Fail" or entered > len(states):
            raise ValueError("the first branches do not end the execution successfully")
        name = state["Choices"][0]["Next"] if state["Type"] == "Choice" else state["Next"]


def measured_quiet_run(results: dict) -> tuple[str, dict] | None:
    """The steady-state benchmark's second quiet run that recorded its execution's path: (results key, run)."""
    for key in ("steady_state", "steady_state_1000"):
        quiet = (results.get(key) or {}).get("quiet_run_again") or {}
        if quiet.get("path"):
            return key, quiet
    return None


def dynamodb_dollars(by_action: dict[str, int]) -> float:
    wru = (by_action.get("PutItem", 0) + by_action.get("UpdateItem", 0) + by_action.get("DeleteItem", 0)
           + BATCH_WRITE_ITEMS * by_action.get("BatchWriteItem", 0))
    rru = RRU_PER_READ * (by_action.get("GetItem", 0) + by_action.get("Query", 0)
                          + BATCH_GET_ITEMS * by_action.get("BatchGetItem", 0))
    return wru * DDB_PER_WRU + rru * DDB_PER_RRU


def onboarding_cost(results: dict) -> dict:
    counts = results["onboarding"]["counts"]
    entities = sum(counts.get(k, 0) for k in ENTITY_COUNTS)
    invocations = sum(results["compute"]["invocations"].get(k, 0) for k in results["compute"]["invocations"]
                      if k.endswith("onboard"))
    # Billed duration: at QuickBooks' limits the onboard function mostly sleeps in the pacer between calls, so the
    # projected wall time (or the CPU, if larger) is what Lambda bills, as an upper bound.
    billed_s = max(results["quickbooks_api"]["projected_wall_s_at_qbo_limits"], results["compute"]["our_cpu_s"])
    parts = {
        "lambda": billed_s * MEMORY_GB * LAMBDA_ARM_GB_S + invocations * LAMBDA_PER_REQUEST,
        "step_functions": results["step_functions"]["transitions"] * SFN_STANDARD_PER_TRANSITION,
        "dynamodb": dynamodb_dollars(results["dynamodb"]["by_action"]),
    }
    total = sum(parts.values())
    return {"entities_synced": entities, "dollars": round(total, 4),
            "dollars_by_service": {k: round(v, 5) for k, v in parts.items()},
            "dollars_per_1000_entities": round(1000 * total / entities, 5) if entities else None,
            "lambda_billed_s_upper_bound": round(billed_s, 1)}


def _run_dollars(transitions: int, tasks: int, ddb_calls: int | None) -> dict:
    """One run's dollars by service on Standard workflows, and on Express for comparison."""
    lambda_s = tasks * QUIET_TASK_S
    ddb = QUIET_DDB_WRITES * DDB_PER_WRU + QUIET_DDB_READS * RRU_PER_READ * DDB_PER_RRU
    if ddb_calls:  # moto counts calls, not units: each is priced as one write unit, the dearer kind
        ddb = max(ddb, ddb_calls * DDB_PER_WRU)
    lam = lambda_s * MEMORY_GB * LAMBDA_ARM_GB_S + tasks * LAMBDA_PER_REQUEST
    standard = transitions * SFN_STANDARD_PER_TRANSITION
    # Express bills the execution's own duration (Lambda time inside it) at the smallest 64 MB memory chunk.
    express = SFN_EXPRESS_PER_REQUEST + math.ceil(lambda_s * 10) / 10 * (64 / 1024) * SFN_EXPRESS_GB_S
    return {"lambda": lam, "dynamodb": ddb, "scheduler": SCHEDULER_PER_INVOCATION,
            "step_functions_standard": standard, "step_functions_express_alternative": express}


def _month(per_run: dict, workflow: str) -> float:
    return HOURS_PER_MONTH * sum(v for k, v in per_run.items() if not k.startswith("step_functions")
                                 or k == workflow)


def sync_run_cost(results: dict) -> dict:
    asl = json.loads(SYNC_ASL.read_text())
    measured = measured_quiet_run(results)
    if measured is not None:
        source, quiet = measured
        transitions, tasks, ddb_calls = quiet["path"]["states"], quiet["path"]["tasks"], quiet.get("dynamodb_ops")
    else:
        source, (transitions, tasks), ddb_calls = "sync.asl.json", quiet_path(asl), None
    per_run = _run_dollars(transitions, tasks, ddb_calls)
    # An hour with changes walks every step once (single_pass), as every run did before decision 54.
    working_transitions, working_tasks = single_pass(asl)
    month_standard = _month(per_run, "step_functions_standard")
    return {"transitions_per_run": transitions, "task_invocations_per_run": tasks, "path_measured_by": source,
            "dollars_per_run_by_service": {k: round(v, 7) for k, v in per_run.items()},
            "dollars_per_connection_month": round(month_standard, 4),
            "dollars_per_connection_month_if_express": round(_month(per_run, "step_functions_express_alternative"),
                                                             4),
            "dollars_per_month_5000_connections": round(5000 * month_standard, 2),
            "transitions_per_working_run": working_transitions, "task_invocations_per_working_run": working_tasks,
            "dynamodb_calls_per_run_measured": ddb_calls,
            "assumptions": {"quiet_task_billed_s": QUIET_TASK_S, "dynamodb_writes_per_run": QUIET_DDB_WRITES,
                            "dynamodb_reads_per_run": QUIET_DDB_READS, "runs_per_month": HOURS_PER_MONTH}}


def run(results: dict) -> dict:
    return {"prices_usd_us_east_1": {"lambda_arm_gb_s": LAMBDA_ARM_GB_S, "lambda_request": LAMBDA_PER_REQUEST,
                                     "sfn_standard_transition": SFN_STANDARD_PER_TRANSITION,
                                     "sfn_express_request": SFN_EXPRESS_PER_REQUEST,
                                     "sfn_express_gb_s": SFN_EXPRESS_GB_S, "dynamodb_wru": DDB_PER_WRU,
                                     "dynamodb_rru": DDB_PER_RRU, "scheduler_invocation": SCHEDULER_PER_INVOCATION},
            "onboarding": onboarding_cost(results), "hourly_sync": sync_run_cost(results),
            "target_per_1000_entities": 0.01}


def report(cost: dict) -> None:
    onb, sync = cost["onboarding"], cost["hourly_sync"]
    print(f"cost: onboarding ${onb['dollars']} for {onb['entities_synced']:,} entities = "
          f"${onb['dollars_per_1000_entities']} per 1,000 (target < ${cost['target_per_1000_entities']}) "
          f"{onb['dollars_by_service']}")
    print(f"cost: hourly sync ${sync['dollars_per_connection_month']} per connection-month on Standard "
          f"({sync['transitions_per_run']} transitions, {sync['task_invocations_per_run']} tasks a quiet run, from "
          f"{sync['path_measured_by']}), ${sync['dollars_per_connection_month_if_express']} if Express; 5,000 "
          f"connections ${sync['dollars_per_month_5000_connections']}/month; a run with changes enters "
          f"{sync['transitions_per_working_run']} states, {sync['task_invocations_per_working_run']} tasks "
          f"(quiet runs: {sync['dynamodb_calls_per_run_measured']} DynamoDB calls measured; assumed "
          f"{sync['assumptions']})")
