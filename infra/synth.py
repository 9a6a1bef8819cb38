"""In-process synthesis with a content-addressed cache, so the local stack and the tests pay jsii start-up once.

The cache key covers everything that shapes the template except the function code itself: a change under
functions/ or shared/ (other than routes) only moves the code asset's S3 key, which no consumer of the cache reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / "build" / "synth"


def _inputs() -> list[Path]:
    infra = REPO_ROOT / "infra"
    files = [*infra.rglob("*.py"), *(infra / "statemachines").glob("*"), REPO_ROOT / "shared" / "routes.py",
             REPO_ROOT / "cdk.json", REPO_ROOT / "requirements.lock"]
    return sorted(path for path in files if path.is_file() and "__pycache__" not in path.parts)


def cache_key(stage: str, bundle: bool) -> str:
    digest = hashlib.sha256()
    for path in _inputs():
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    digest.update(f"stage={stage};bundle={bundle}".encode())
    return digest.hexdigest()


def synth_template(stage: str = "local", bundle: bool = False) -> dict[str, Any]:
    """The CloudFormation template of the stage's stack (cdk-nag checks included: a finding fails synthesis)."""
    cached = CACHE_DIR / f"{cache_key(stage, bundle)}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    template = _synthesize(stage, bundle)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Atomic: parallel test workers or a local stack starting alongside may write the same key.
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(template, handle)
    os.replace(tmp, cached)
    return template


def _synthesize(stage: str, bundle: bool) -> dict[str, Any]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from aws_cdk import App

    from infra.app import build

    with tempfile.TemporaryDirectory(prefix="qbsync-synth-") as outdir:
        app = App(outdir=outdir, context={"stage": stage, "bundle": bundle})
        stack = build(app)
        assembly = app.synth()
        return assembly.get_stack_by_name(stack.stack_name).template
