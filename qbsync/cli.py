"""`qbsync`: the local stack, the demo, the emulators and developer tokens (see README, Stable surfaces)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable


def _wait_for_signal(exit_with_parent: bool = False) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.wait(1 if exit_with_parent else None):
        if os.getppid() != parent:  # the local stack that started it was killed: nobody is left to stop it
            return


def _ready(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _cmd_emulator(args: argparse.Namespace) -> int:
    import logging

    from emulators.common.server import start

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # errors only, as on the local stack, not every request

    if args.which == "qbdesktop":  # QuickBooks Desktop has no webhooks; the Web Connector polls instead
        from emulators.qbdesktop.app import create_app as create_desktop

        app = create_desktop(state_file=args.state_file)
    else:
        if args.which == "quickbooks":
            from emulators.quickbooks.app import create_app
        else:
            from emulators.fieldservice.app import create_app
        app = create_app(state_file=args.state_file, webhook_url=args.webhook_url)
    running = start(app, args.port)
    _ready({"url": running.url})
    _wait_for_signal(args.exit_with_parent)
    running.stop()
    if hasattr(app, "close"):
        app.close()
    return 0


def _cmd_local(args: argparse.Namespace) -> int:
    from qbsync.local.stack import LocalStack

    with LocalStack(port=args.port, state_dir=args.state_dir, sandboxes=args.sandboxes) as stack:
        _sample_company(stack)
        sys.stderr.write(f"Admin page, signed in as an admin of tenant {SAMPLE_TENANT!r} (development sign-in):\n"
                         f"  {stack.page_url(SAMPLE_TENANT)}\n")
        sys.stderr.flush()
        _ready(stack.urls())
        _wait_for_signal()
    return 0


SAMPLE_TENANT = "sample"


def _sample_company(stack) -> None:
    """A QuickBooks company and a platform tenant with generated records, so the admin page has something to connect
    to; kept in the state dir, so a restart finds them again."""
    from emulators.datagen.generator import generate
    from qbsync.local.driver import Driver
    from qbsync.local.stack import FSP_API_KEY

    driver = Driver(stack.urls(), stack.state_dir, FSP_API_KEY, stack.resources["secret"]["fsp_webhook_master_secret"])
    realms = driver.http.get(f"{stack.qbo_url}/_emulator/realms").json()["data"]
    tenants = driver.http.get(f"{stack.fsp_url}/_emulator/tenants").json()["data"]
    data = generate(seed=7, clients=40)
    if not realms:
        driver.load_quickbooks(driver.create_realm("Sample Landscaping"), data.quickbooks_json())
    if not any(t.get("tenant_id") == SAMPLE_TENANT for t in tenants):
        driver.create_tenant(SAMPLE_TENANT, data.fieldservice)


def _cmd_demo(args: argparse.Namespace) -> int:
    from qbsync.demo import run_demo

    return run_demo(size=args.size, seed=args.seed, desktop=args.desktop)


def _cmd_dev_token(args: argparse.Namespace) -> int:
    from qbsync.local.devauth import issue_token

    print(issue_token(tenant_id=args.tenant, role=args.role, state_dir=args.state_dir))
    return 0


def _cmd_redrive_hints(args: argparse.Namespace) -> int:
    """Dead-lettered webhook hints back onto the hints queue; AWS credentials and endpoint as boto3 finds them."""
    from shared.aws.clients import client
    from shared.aws.hints_queue import redrive

    def url(env: str, suffix: str) -> str:
        return os.environ.get(env) or client("sqs").get_queue_url(
            QueueName=f"qbsync-{args.stage}-{suffix}.fifo")["QueueUrl"]

    result = redrive(url("QUEUE_HINTS_DLQ_URL", "hints-dlq"), url("QUEUE_HINTS_URL", "hints"), tenant_id=args.tenant,
                     limit=args.limit)
    _ready({"moved": result.moved, "left": result.left})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbsync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="start the local stack until SIGINT/SIGTERM")
    local.add_argument("--port", type=int, default=8080, help="gateway port; the others follow it (0 = free ports)")
    local.add_argument("--state-dir", default=".qbsync", help="where emulator state and dev keys live")
    local.add_argument("--sandboxes", type=int, default=0,
                       help="run each Lambda invocation in one of N processes, as Lambda's execution environments "
                            "(0: in the stack's own process)")
    local.set_defaults(func=_cmd_local)

    demo = sub.add_parser("demo", help="connect, configure, onboard and sync on the local stack, then summarize")
    demo.add_argument("--size", type=int, default=60, help="clients per side in the generated demo data")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--desktop", action="store_true",
                      help="then the QuickBooks Desktop path: Web Connector sessions against the Desktop emulator")
    demo.set_defaults(func=_cmd_demo)

    emu = sub.add_parser("emulator", help="run one emulator alone")
    emu.add_argument("which", choices=["quickbooks", "fieldservice", "qbdesktop"])
    emu.add_argument("--port", type=int, default=0)
    emu.add_argument("--state-file", default=None, help="persist state to this file (default: in memory)")
    emu.add_argument("--webhook-url", default=None, help="where to POST webhook notifications")
    emu.add_argument("--exit-with-parent", action="store_true",
                     help="also stop when the process that started it is gone (the local stack's emulators)")
    emu.set_defaults(func=_cmd_emulator)

    tok = sub.add_parser("dev-token", help="print a JWT the local stack's /admin/* routes accept")
    tok.add_argument("--tenant", required=True)
    tok.add_argument("--role", choices=["admin", "restricted"], default="admin")
    tok.add_argument("--state-dir", default=".qbsync")
    tok.set_defaults(func=_cmd_dev_token)

    red = sub.add_parser("redrive-hints", help="move dead-lettered webhook hints back onto the hints queue")
    red.add_argument("--tenant", default=None, help="only this tenant's messages (default: all)")
    red.add_argument("--limit", type=int, default=1000, help="move at most this many")
    red.add_argument("--stage", default=os.environ.get("STAGE", "dev"),
                     help="names the queues qbsync-STAGE-hints[-dlq].fifo unless QUEUE_HINTS_[DLQ_]URL are set")
    red.set_defaults(func=_cmd_redrive_hints)
    return parser


def main(argv: list[str] | None = None) -> int:
    # The local stack synthesizes the CDK app in-process; jsii's Node-version banner is noise there.
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
