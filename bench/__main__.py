"""`make bench`: every benchmark in one run, printed and written to bench/results.json (docs/benchmarks.md).

Cold start first (fresh interpreters, nothing else running in this process), then the onboarding run on the local
stack; `--only coldstart` or `--only onboarding` runs one, keeping the other's last figures in the file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def main(argv: list[str] | None = None) -> int:
    from bench import coldstart, onboarding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("coldstart", "onboarding"))
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
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
