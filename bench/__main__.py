"""`make bench`: every benchmark in one run, printed and written to bench/results.json (docs/benchmarks.md).

Cold start first (fresh interpreters, nothing else running in this process), then the onboarding run on the local
stack, then the cost model and the throughput figures (bench/onboarding.lane_figures) over the onboarding figures,
then the money run (bench/money.py) and its pushes' throughput; bench/fairness.py runs on its own (make bench);
`--only coldstart|onboarding|cost|money` runs one, keeping the others' last figures in the file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    from bench import coldstart, cost, money, onboarding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("coldstart", "onboarding", "cost", "money"))
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    ok = True
    if args.only in (None, "coldstart"):
        results["coldstart"] = coldstart.run()
        coldstart.report(results["coldstart"])
    if args.only in (None, "onboarding"):
        measured = onboarding.run(args.clients, seed=7, trace_memory=False)
        onboarding.report(measured)
        results.update(measured)
        ok = measured["onboarding"]["status"] == "succeeded"
    if args.only in (None, "cost") and "onboarding" in results:
        results["cost"] = cost.run(results)
        cost.report(results["cost"])
        # Only the onboarding entry is this step's: every other workload's figures (money, fairness, a smaller
        # onboarding kept beside it) were written by another bench and stay as they are.
        results.setdefault("throughput", {})["onboarding"] = tp = onboarding.throughput(results)
        onboarding.report_throughput("onboarding", tp)
    if args.only in (None, "money"):
        measured = money.run(1000, seed=11)
        money.report(measured)
        results.update(measured)
        ok = ok and all(r["status"] == "succeeded" for r in measured["money"]["runs"])
        results.setdefault("throughput", {})["money"] = money.throughput(measured)
        for tp in results["throughput"]["money"]:
            onboarding.report_throughput(f"money push ({tp['run']})", tp)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
