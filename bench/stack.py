"""One local stack for a benchmark, with as many connected tenants as it needs (bench/fairness.py, bench/money.py,
bench/steady_state.py, bench/webhooks.py share it instead of repeating the set-up).

`bench_stack()` starts the stack in a temporary state directory and yields a `BenchStack`; `tenant()` creates a
QuickBooks company and a platform tenant (data bulk-loaded through the emulators' control APIs, which is cheap even
for 10,000 records), connects them through the real OAuth flow, saves the demo settings and, unless told not to,
runs onboarding. Limits: `limits="off"` switches the QuickBooks emulator's throttling off and raises our own pacing
so it never waits (a benchmark that projects time at QuickBooks' limits from the calls it made); `limits="real"`
keeps the emulator's throttles at QuickBooks' published values (500 requests and 40 batches a minute, 10 at once,
per company) and our pacing at the same values (a benchmark that measures behaviour at the limits).

Several stacks in one process (`python -m bench` runs several benchmarks) must not reuse clients or a runtime built
for an earlier stack's ports: each `bench_stack()` forgets them, as a fresh Lambda container would."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PACING_ENV = ("QBO_REQUESTS_PER_MINUTE", "QBO_BATCHES_PER_MINUTE")


def forget_clients() -> None:
    """Clients, runtime and secrets cached for an earlier stack in this process point at its ports."""
    from aws_lambda_powertools.utilities import parameters

    from functions.admin.service import service
    from functions.webhooks.receiver import intake
    from functions.webhooks.worker import applier, dead_letters
    from shared.aws.clients import client
    from shared.config import load_env
    from shared.runtime import runtime

    for cached in (client, runtime, load_env, service, intake, applier, dead_letters):
        cached.cache_clear()
    parameters.clear_caches()


@dataclass
class BenchStack:
    stack: object  # qbsync.local.stack.LocalStack
    driver: object  # qbsync.local.driver.Driver
    state_dir: str
    realms: dict[str, str] = field(default_factory=dict)  # tenant -> realm

    def tenant(self, tenant_id: str, company_name: str, data=None, onboard: bool = True,
               settings: dict | None = None) -> str:
        """A connected tenant with its own QuickBooks company; `data` is an emulators.datagen Dataset (or None for
        two empty lists). Returns the realm id."""
        from qbsync.demo import demo_settings

        driver = self.driver
        realm = driver.create_realm(company_name)
        if data is not None:
            driver.load_quickbooks(realm, data.quickbooks_json())
        driver.create_tenant(tenant_id, data.fieldservice if data is not None else None)
        driver.connect(tenant_id, realm)
        driver.settings(tenant_id, {**demo_settings(driver, tenant_id), **(settings or {})})
        if onboard:
            run = driver.enable(tenant_id)
            if run.get("status") != "succeeded":
                raise RuntimeError(f"onboarding {tenant_id}: {run.get('status')} {run.get('summary')}")
        self.realms[tenant_id] = realm
        return realm

    def load_platform(self, tenant_id: str, kind: str, rows: list[dict], slice_size: int = 2000) -> None:
        """Records added on the platform in bulk (the emulator's control API: no webhooks, no per-record call)."""
        import json

        for i in range(0, len(rows), slice_size):
            self.driver.http.post(f"{self.driver.urls['fieldservice']}/_emulator/tenants/{tenant_id}/load",
                                  data=json.dumps({kind: rows[i:i + slice_size]}, default=str),
                                  headers={"Content-Type": "application/json"}).raise_for_status()

    def sync_at_once(self, tenants: list[str], spread_s: float = 0.0, poll_s: float = 0.5) -> dict[str, dict]:
        """Sync Now for every tenant (one every `spread_s` seconds), then wait for all. {tenant: {run, waited_s}}:
        `waited_s` is from the moment Sync Now answered to the run's own `finished_at` (the sync-runs record, so
        polling does not blur it); a run that folded into another is followed to that one. One thread polls every
        run in turn: the local gateway serves one request at a time, and 20 pollers would measure the gateway."""
        from datetime import UTC, datetime

        asked: dict[str, tuple[str, datetime]] = {}
        for n, tenant in enumerate(tenants):
            if n and spread_s:
                time.sleep(spread_s)
            answer = self.driver.admin("POST", "/admin/sync", tenant)
            answer.raise_for_status()
            asked[tenant] = (answer.json()["run_id"], datetime.now(UTC))
        out: dict[str, dict] = {}
        waiting = {tenant: run_id for tenant, (run_id, _) in asked.items()}
        deadline = time.monotonic() + self.driver.timeout_s
        while waiting and time.monotonic() < deadline:
            for tenant, run_id in list(waiting.items()):
                run = self.driver.admin("GET", f"/admin/sync-runs/{run_id}", tenant).json()
                if run.get("status") == "running":
                    continue
                if (run.get("summary") or {}).get("folded_into"):
                    waiting[tenant] = run["summary"]["folded_into"]
                    continue
                finished = datetime.fromisoformat(run["finished_at"])
                out[tenant] = {"run": run, "waited_s": (finished - asked[tenant][1]).total_seconds()}
                del waiting[tenant]
            time.sleep(poll_s)
        if waiting:
            raise RuntimeError(f"runs still going after {self.driver.timeout_s:.0f} s: {sorted(waiting)}")
        return out


def _set_limits(stack, driver, limits: str) -> None:
    if limits == "off":
        driver.http.put(f"{stack.qbo_url}/_emulator/limits", json={"enabled": False}).raise_for_status()
        os.environ.update({"QBO_REQUESTS_PER_MINUTE": "1000000", "QBO_BATCHES_PER_MINUTE": "1000000"})
    elif limits == "real":
        driver.http.put(f"{stack.qbo_url}/_emulator/limits",
                        json={"enabled": True, "requests_per_minute": 500, "batch_per_minute": 40,
                              "concurrent": 10}).raise_for_status()
        for name in PACING_ENV:
            os.environ.pop(name, None)  # our pacing at QuickBooks' published limits (shared/runtime.AppEnv)
    else:
        raise ValueError(f"limits must be 'off' or 'real', not {limits!r}")


@contextmanager
def bench_stack(prefix: str = "qbsync-bench-", limits: str = "off", webhooks: bool = False,
                timeout_s: float = 3600, poll_s: float = 1.0, sandboxes: int = 0) -> Iterator[BenchStack]:
    """A fresh local stack; `webhooks=False` switches both emulators' webhook delivery off (it would only echo our
    own writes back into a benchmark that is not about webhooks); `sandboxes=N` runs each Lambda invocation in one
    of up to N processes, as Lambda's execution environments (qbsync.local.lambdas.Sandboxes): for a figure about
    companies sharing the service, where invocations sharing one interpreter would measure its lock."""
    from qbsync.local.driver import Driver
    from qbsync.local.stack import FSP_API_KEY, LocalStack

    saved = {name: os.environ.get(name) for name in PACING_ENV}
    forget_clients()
    with tempfile.TemporaryDirectory(prefix=prefix) as state_dir, \
            LocalStack(port=0, state_dir=state_dir, persist=False, sandboxes=sandboxes) as stack:
        driver = Driver(stack.urls(), state_dir, FSP_API_KEY, stack.resources["secret"]["fsp_webhook_master_secret"],
                        timeout_s=timeout_s, poll_s=poll_s)
        _set_limits(stack, driver, limits)
        forget_clients()  # the runtime reads the pacing limits once
        if not webhooks:
            stack.deliver_webhooks(False)
        try:
            yield BenchStack(stack, driver, state_dir)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            forget_clients()
