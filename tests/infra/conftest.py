import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


class Synthesized:
    def __init__(self, outdir: Path, stack_name: str, template: dict):
        self.outdir = outdir
        self.stack_name = stack_name
        self.template = template

    def resources(self, resource_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    """One real synthesis per test session (cdk-nag plugins included), never the build/synth cache: the nag and
    cfn-lint verdicts must come from this run's code."""
    from aws_cdk import App

    from infra.app import build

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir), context={"stage": "dev", "bundle": False})
    stack = build(app)
    assembly = app.synth()
    return Synthesized(outdir, stack.stack_name, assembly.get_stack_by_name(stack.stack_name).template)


@pytest.fixture
def template(synthesized) -> dict:
    """A private deep copy, so a test that mutates it cannot affect another."""
    return json.loads(json.dumps(synthesized.template))
