"""CDK entry point: `cdk synth -c stage=prod` or `python -m infra.app [-c stage=prod] [-c bundle=false]`."""

from __future__ import annotations

import os
import sys
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import SERVICE, stage_config
from infra.stack import QbSyncStack

DEFAULT_STAGE = "dev"


def _flag(value: Any) -> bool:
    """Context values arrive as strings from `-c key=value` and as JSON booleans from cdk.json."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off", "")
    return bool(value)


def build(app: App) -> QbSyncStack:
    config = stage_config(app.node.try_get_context("stage") or DEFAULT_STAGE)
    bundle = _flag(app.node.try_get_context("bundle") if app.node.try_get_context("bundle") is not None else True)
    stack = QbSyncStack(
        app, config.stack_name,
        config=config,
        bundle=bundle,
        env=Environment(region=config.region),
        description=f"qbsync ({config.stage}): QuickBooks Online sync for the field-service platform",
    )
    Tags.of(stack).add("service", SERVICE)
    Tags.of(stack).add("stage", config.stage)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def _context_from_argv(argv: list[str]) -> dict[str, str]:
    """`-c key=value` pairs, so running the module directly takes the same switches as the cdk CLI."""
    context: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg in ("-c", "--context"):
            key, _, value = next(args, "").partition("=")
            if not key or not value:
                raise SystemExit(f"expected -c key=value after {arg}")
            context[key] = value
        else:
            raise SystemExit(f"unknown argument {arg!r}; usage: python -m infra.app [-c stage=dev] [-c bundle=false]")
    return context


def main(argv: list[str] | None = None) -> None:
    context = _context_from_argv(sys.argv[1:] if argv is None else argv)
    # Under the cdk CLI, CDK_OUTDIR and cdk.json's context are supplied by the CLI itself.
    app = App(context=context or None, outdir=None if "CDK_OUTDIR" in os.environ else "cdk.out")
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
