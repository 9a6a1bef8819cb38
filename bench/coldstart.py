"""Cold start of every Lambda handler: how long its module takes to import (`python -X importtime`), what the first
request still imports on top, and the deployment package it ships in.

Each handler module is imported in a fresh interpreter RUNS times (FIRST_REQUEST_RUNS times with the first request's
imports); the figure is the fastest run, because this 2-core machine is shared and the slower runs measure other
processes, not us (the median is printed beside it).
Outside Lambda Powertools leaves tracing off, as the local stack does; on Lambda the Tracer (and with it the X-Ray
SDK) is built on the first invocation, so it is counted in the "first request" column, with the QuickBooks adapter
and boto3 that every function builds lazily. Package size: the function asset (`functions/` and `shared/`, selected
as infra/bundling.py selects them) plus the dependency layer, installed by infra/bundling.py's own pip command into
build/bench/ (cached by the pins)."""

from __future__ import annotations

import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

RUNS = 15  # imports alone (about 0.5 s each)
FIRST_REQUEST_RUNS = 5  # with the first request's imports (2-3 s each)
TARGET_MS = 300
# 250 MB unzipped for the function and all its layers (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
LAMBDA_UNZIPPED_LIMIT_MB = 250
# What a handler imports on its first request (every client is built lazily), on top of its module.
FIRST_REQUEST = ("aws_xray_sdk.core", "boto3", "shared.data.models")
FIRST_QUICKBOOKS_CALL = ("shared.quickbooks.client", "shared.quickbooks.adapter")
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
REPO = Path(__file__).resolve().parent.parent


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA", "LAMBDA_", "_X_AMZN"))}
    return subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=env, cwd=REPO, check=True)


def _top_level_us(code: str) -> list[tuple[str, int]]:
    """(module, cumulative microseconds) of each top-level import `code` makes, in a fresh interpreter."""
    out = []
    for line in _run(code).stderr.splitlines():
        match = _LINE.match(line)
        if match and not match.group(3):
            out.append((match.group(4), int(match.group(2))))
    return out


def _import_cpu_ms(module: str) -> float:
    """The CPU time of the same import: what other processes' load cannot add to (the wall figure's companion)."""
    done = _run(f"import time\nt = time.process_time()\nimport {module}\nprint(time.process_time() - t)")
    return float(done.stdout.strip()) * 1000


def _after(rows: list[tuple[str, int]], module: str) -> tuple[int, int]:
    """(the module's own cumulative time, the top-level imports after it)."""
    names = [name for name, _ in rows]
    at = names.index(module)
    return rows[at][1], sum(us for _, us in rows[at + 1:])


def measure_imports(module: str, first_use: tuple[str, ...]) -> dict:
    own = [_after(_top_level_us(f"import {module}"), module)[0] / 1000 for _ in range(RUNS)]
    cpu = [_import_cpu_ms(module) for _ in range(FIRST_REQUEST_RUNS)]
    code = f"import {module}\n" + "".join(f"import {m}\n" for m in first_use)
    extra = [_after(_top_level_us(code), module)[1] / 1000 for _ in range(FIRST_REQUEST_RUNS)]
    return {"import_ms": round(min(own), 1), "import_ms_median": round(statistics.median(own), 1),
            "import_cpu_ms": round(min(cpu), 1),
            "first_request_adds_ms": round(min(extra), 1)}


def _zip_mb(root: Path, files: list[Path]) -> tuple[float, float]:
    raw = sum(f.stat().st_size for f in files)
    with tempfile.TemporaryFile() as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for f in files:
                archive.write(f, f.relative_to(root))
        zipped = tmp.tell()
    return round(raw / 2**20, 2), round(zipped / 2**20, 2)


def package_sizes() -> dict:
    from infra import bundling

    code = _zip_mb(bundling.REPO_ROOT, bundling.code_files())
    pins = bundling.runtime_requirements(bundling.LOCK_FILE.read_text())
    key = hashlib.sha256("\n".join([bundling.LAMBDA_PYTHON, bundling.LAMBDA_PLATFORM, *pins]).encode()).hexdigest()
    layer_dir = REPO / "build" / "bench" / f"layer-{key[:16]}"
    if not (layer_dir / "python").is_dir():
        bundling.install_layer(pins, layer_dir)
    layer_files = sorted(p for p in layer_dir.rglob("*") if p.is_file())
    layer = _zip_mb(layer_dir, layer_files)
    return {"runtime": f"python{bundling.LAMBDA_PYTHON}/{bundling.LAMBDA_PLATFORM}",
            "code_mb": code[0], "code_zip_mb": code[1], "layer_mb": layer[0], "layer_zip_mb": layer[1],
            "total_mb": round(code[0] + layer[0], 2), "total_zip_mb": round(code[1] + layer[1], 2),
            "unzipped_limit_mb": LAMBDA_UNZIPPED_LIMIT_MB, "layer_packages": len(pins)}


# The libraries every HTTP handler needs at import (Pydantic models at the edge, Powertools' resolver and logger),
# measured alone the same way: the part of each figure that is not ours.
LIBRARY_FLOOR = ("pydantic.main", "pydantic.fields", "aws_lambda_powertools.event_handler",
                 "aws_lambda_powertools.metrics")


def library_floor_ms(runs: int = RUNS) -> float:
    code = "".join(f"import {m}\n" for m in LIBRARY_FLOOR)
    return round(min(sum(us for _, us in _top_level_us(code)) for _ in range(runs)) / 1000, 1)


def run() -> dict:
    from infra.constructs.functions import FUNCTIONS

    sizes = package_sizes()
    functions = {}
    for spec in FUNCTIONS:
        module = spec.handler.rsplit(".", 1)[0]
        first_use = FIRST_REQUEST + (FIRST_QUICKBOOKS_CALL if spec.tokens else ())
        functions[spec.key] = {"module": module, **measure_imports(module, first_use),
                               # One asset and one layer serve every function (infra/constructs/functions.py).
                               "package_mb": sizes["total_mb"], "package_zip_mb": sizes["total_zip_mb"]}
    return {"runs_per_figure": RUNS, "target_ms": TARGET_MS, "python": sys.version.split()[0],
            "load_average": [round(x, 2) for x in os.getloadavg()], "functions": functions, "package": sizes,
            "library_floor_ms": library_floor_ms(), "library_floor_modules": list(LIBRARY_FLOOR),
            "all_under_target": all(f["import_ms"] < TARGET_MS for f in functions.values()),
            "all_under_target_cpu": all(f["import_cpu_ms"] < TARGET_MS for f in functions.values())}


def report(result: dict) -> None:
    pkg = result["package"]
    print(f"cold start: handler module import (fastest of {result['runs_per_figure']}, python {result['python']}, "
          f"load {result['load_average']}), target < {result['target_ms']} ms")
    print(f"  {'function':<18} {'module':<34} {'import':>8} {'median':>8} {'CPU':>7} {'1st req +':>10} {'package':>16}")
    for key, f in result["functions"].items():
        print(f"  {key:<18} {f['module']:<34} {f['import_ms']:>6.0f}ms {f['import_ms_median']:>6.0f}ms "
              f"{f['import_cpu_ms']:>5.0f}ms "
              f"{f['first_request_adds_ms']:>8.0f}ms {f['package_mb']:>6.1f} MB ({f['package_zip_mb']:.1f} zip)")
    print(f"  pydantic + Powertools resolver/logger/metrics alone: {result['library_floor_ms']:.0f} ms (same method)")
    print(f"  package = code {pkg['code_mb']} MB + layer {pkg['layer_mb']} MB ({pkg['layer_packages']} packages, "
          f"{pkg['runtime']}); Lambda limit {pkg['unzipped_limit_mb']} MB unzipped")


if __name__ == "__main__":
    import json

    outcome = run()
    report(outcome)
    print(json.dumps(outcome, indent=2))
