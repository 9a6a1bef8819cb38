"""Lambda code and dependency layer, built without Docker.

The function asset is the repo's own `functions/` and `shared/` packages. Third-party runtime dependencies go into
one layer that `pip install` fills for the Lambda platform (manylinux aarch64, CPython 3.14) on this machine, with
versions pinned by requirements.lock so deployed code runs what the tests ran. The lock is universal (uv pip compile
--universal): one resolution valid on every Python from 3.11 up, so it installs locally on 3.11 and its environment
markers are evaluated here for the Lambda interpreter.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as _lambda
from packaging.markers import Marker

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO_ROOT / "requirements.lock"

# Packages the Lambda layer must carry, with everything they pull in (per the lock's "via" graph).
RUNTIME_ROOTS = frozenset(
    {"aws-lambda-powertools", "python-quickbooks", "intuit-oauth", "pynamodb", "pydantic", "pyjwt", "requests",
     "tzdata", "openpyxl", "defusedxml"}
)
# The Lambda Python runtime ships these; bundling them would only bloat the layer and shadow the runtime's SDK.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})

# Everything else at the repo root (tests, .venv, cdk.out, emulators, docs, ...) must stay out of the asset.
CODE_PACKAGES = ("functions", "shared")
# CDK's glob "*" does not match dot-files, so ".*" is listed too (.venv, .git would otherwise ship).
ASSET_EXCLUDES = ["*", ".*", *(f"!{pkg}" for pkg in CODE_PACKAGES), *(f"!{pkg}/**" for pkg in CODE_PACKAGES),
                  "**/__pycache__", "**/*.pyc", "**/tests", "**/tests/**"]

PLACEHOLDER_LAYER = Path(__file__).resolve().parent / "layer_placeholder"
# The Lambda runtime's interpreter: the layer's wheels are chosen for it (infra/constructs/function.py deploys it).
LAMBDA_PYTHON = "3.14"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
# PEP 508 marker values of that interpreter (CPython on Amazon Linux 2023, arm64).
LAMBDA_MARKERS = {"python_version": LAMBDA_PYTHON, "python_full_version": f"{LAMBDA_PYTHON}.0",
                  "implementation_name": "cpython", "platform_python_implementation": "CPython",
                  "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                  "os_name": "posix"}

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;]+)\s*(?:;\s*(.+))?$")


def runtime_requirements(lock_text: str) -> list[str]:
    """Pins for RUNTIME_ROOTS and their transitive dependencies, read from a `uv pip compile` lock file."""
    pins: dict[str, str] = {}
    needed_by: dict[str, set[str]] = {}
    current: str | None = None
    for raw in lock_text.splitlines():
        line = raw.strip()
        match = _PIN.match(raw)
        if match and match.group(3) and not Marker(match.group(3)).evaluate(LAMBDA_MARKERS):
            current = None  # a pin for another platform or Python (this entry's "via" lines go with it)
        elif match:
            current = match.group(1).lower()
            pins[current] = match.group(2)
            needed_by[current] = set()
        elif current and line.startswith("#"):
            words = line.lstrip("#").strip().removeprefix("via").split()
            if words and not words[0].startswith("-"):
                needed_by[current].add(words[0].lower())
    missing = RUNTIME_ROOTS - pins.keys()
    if missing:
        raise ValueError(f"requirements.lock does not pin {sorted(missing)}")
    included = set(RUNTIME_ROOTS)
    grew = True
    while grew:
        grew = False
        for name, parents in needed_by.items():
            if name not in included and name not in RUNTIME_PROVIDED and parents & included:
                included.add(name)
                grew = True
    return sorted(f"{name}=={pins[name]}" for name in included)


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Runs pip on the host for the Lambda platform, so `cdk synth` never needs Docker."""

    def __init__(self, requirements: list[str]) -> None:
        self._requirements = requirements

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_: object) -> bool:
        install_layer(self._requirements, Path(output_dir))
        return True


def install_layer(requirements: list[str], output_dir: Path) -> Path:
    """pip-installs the pinned wheels for the Lambda platform into `output_dir/python` (the layer's layout)."""
    target = output_dir / "python"
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
        "--platform", LAMBDA_PLATFORM, "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
        "--only-binary=:all:", "--target", str(target), *requirements,
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed argv, pins come from our own lock file
    # Byte-code is compiled for the host interpreter, not the runtime's; Lambda would ignore it anyway.
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    return target


def code_files() -> list[Path]:
    """The files of the function asset, as ASSET_EXCLUDES selects them (for size reports)."""
    return sorted(p for pkg in CODE_PACKAGES for p in (REPO_ROOT / pkg).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and "tests" not in p.relative_to(REPO_ROOT).parts
                  and p.suffix != ".pyc")


def function_code() -> _lambda.Code:
    return _lambda.Code.from_asset(str(REPO_ROOT), exclude=ASSET_EXCLUDES)


def dependencies_layer_code(bundle: bool) -> _lambda.Code:
    """The real dependency layer, or (bundle=False, for tests and the local stack) a tiny placeholder."""
    if not bundle:
        return _lambda.Code.from_asset(str(PLACEHOLDER_LAYER))
    requirements = runtime_requirements(LOCK_FILE.read_text())
    return _lambda.Code.from_asset(
        str(LOCK_FILE.parent),
        exclude=["*", f"!{LOCK_FILE.name}"],
        bundling=BundlingOptions(
            image=DockerImage.from_registry("unused"),  # never pulled: local bundling always succeeds or raises
            local=PipLayerBundling(requirements),
            command=["false"],
        ),
    )
