"""`qbsync demo`: the main job end to end on the local stack, with generated data full of the seeds' hard cases.

connect QuickBooks (OAuth through the gateway and the emulator) -> settings -> enable (onboarding state machine)
-> sync now (invoices and payments) -> check both emulators' own state -> summary. Exit 0 only if every check held."""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal

from emulators.datagen.generator import Dataset, generate
from qbsync.local.driver import Driver
from qbsync.local.stack import FSP_API_KEY, LocalStack

TENANT = "demo-hvac"
COMPANY = "Demo Plumbing & HVAC"


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _account(accounts: list[dict], *types: str, name: str | None = None) -> str:
    for a in accounts:
        if a.get("AccountType") in types and (name is None or a.get("Name") == name):
            return a["Id"]
    for a in accounts:
        if a.get("AccountType") in types:
            return a["Id"]
    raise RuntimeError(f"the QuickBooks company has no {' or '.join(types)} account")


def demo_settings(driver: Driver, tenant: str) -> dict:
    accounts = driver.admin("GET", "/admin/quickbooks/accounts", tenant).json()["items"]
    codes = driver.admin("GET", "/admin/quickbooks/tax-codes", tenant).json()["items"]
    sales_tax = next(c["Id"] for c in codes if c["Id"] not in ("TAX", "NON"))  # a code with a rate and an agency
    return {
        "clients": {"direction": "two_way", "use_default_state": True, "default_state": "CA"},
        "sites": {"enabled": True, "use_client_address_state": True},
        "invoices": {"enabled": True, "income_account_id": _account(accounts, "Income", name="Services"),
                     "expense_account_id": _account(accounts, "Cost of Goods Sold", "Expense"),
                     "tax_mode": "platform", "tax_code_id": sales_tax, "job_locations": True},
        "payments": {"enabled": True, "deposit_account_id": _account(accounts, "Other Current Asset",
                                                                     name="Undeposited Funds")},
        "schedule": {"frequency": "every_1h", "timezone": "America/Los_Angeles"},
    }


def check_outcome(data: Dataset, driver: Driver, realm: str, tenant: str, before: dict, onboarding: dict,
                  sync: dict) -> list[str]:
    """Checks against the emulators' own state, not our links: what a user would look at in each system."""
    problems: list[str] = []
    counts = onboarding.get("summary", {}).get("counts", {})
    customers = driver.quickbooks_entities(realm, "Customer")
    clients = driver.platform_records(tenant, "clients")
    names = Counter(c["DisplayName"].casefold() for c in customers)
    if any(n > 1 for n in names.values()):
        problems.append("QuickBooks holds two customers with the same DisplayName")
    created_qbo = counts.get("customers_created_in_quickbooks", 0) + counts.get("sub_customers_created_in_quickbooks",
                                                                                0)
    if len(customers) != before["customers"] + created_qbo:
        problems.append(f"QuickBooks customers: {len(customers)} != {before['customers']} + {created_qbo} created")
    if len(clients) != before["clients"] + counts.get("clients_created_on_platform", 0):
        problems.append(f"platform clients: {len(clients)} != {before['clients']} + "
                        f"{counts.get('clients_created_on_platform', 0)} created")
    job_names = {c["DisplayName"].casefold() for c in customers if c.get("Job")}
    new_clients = [c for c in clients if c["id"] not in before["client_ids"]]
    if any((c.get("company_name") or "").casefold() in job_names for c in new_clients):
        problems.append("a QuickBooks job became a platform client")
    expected_matches = len(data.expectations["matches"])
    if counts.get("clients_matched", 0) < expected_matches:
        problems.append(f"matched {counts.get('clients_matched', 0)} clients, expected at least {expected_matches}")
    if sync.get("status") != "succeeded":
        problems.append(f"sync run ended {sync.get('status')}: {sync.get('summary')}")
    invoices = {i["id"]: i for i in driver.platform_records(tenant, "invoices")}
    qbo_invoices = driver.quickbooks_entities(realm, "Invoice")
    pushed = [i for i in invoices.values() if i.get("external_number")]
    if len(qbo_invoices) != len(pushed):
        problems.append(f"{len(qbo_invoices)} invoices in QuickBooks but {len(pushed)} numbered on the platform")
    if any(Decimal(str(i["total"])) == 0 for i in pushed):
        problems.append("a $0 invoice reached QuickBooks")
    if any(i["status"] not in ("ready_for_sync", "paid") for i in pushed):
        problems.append("an invoice that was not ready for sync reached QuickBooks")
    refused = [e for e in driver.admin("GET", "/admin/errors", tenant).json()["items"] if e["code"].isdigit()]
    if refused:  # the generated books hold nothing QuickBooks should refuse once the rules are applied
        problems.append(f"QuickBooks refused {len(refused)} record(s), e.g. {refused[0]['code']}: "
                        f"{refused[0].get('detail') or refused[0]['message']}")
    by_note = {i.get("PrivateNote"): i for i in qbo_invoices}
    off = [i["id"] for i in pushed if i["status"] != "void" and (q := by_note.get(f"Platform invoice {i['id']}"))
           and Decimal(str(q["TotalAmt"])) != Decimal(str(i["total"]))]
    if off:  # platform-stated tax: QuickBooks' total is the platform's to the cent
        problems.append(f"{len(off)} invoice total(s) differ between QuickBooks and the platform, e.g. {off[0]}")
    private = Counter(i.get("PrivateNote") for i in qbo_invoices)
    if any(n > 1 for n in private.values()):
        problems.append("one platform invoice was posted to QuickBooks twice")
    return problems


def run_demo(size: int = 60, seed: int = 7, desktop: bool = False) -> int:
    started = time.monotonic()
    data = generate(seed=seed, clients=size)
    with tempfile.TemporaryDirectory(prefix="qbsync-demo-") as state_dir, \
            LocalStack(port=0, state_dir=state_dir, persist=False) as stack:
        secret = stack.resources["secret"]
        driver = Driver(stack.urls(), state_dir, FSP_API_KEY, secret["fsp_webhook_master_secret"])
        _say(f"Local stack up: gateway {stack.gateway_url}")
        realm = driver.create_realm(COMPANY)
        driver.load_quickbooks(realm, data.quickbooks_json())
        driver.create_tenant(TENANT, data.fieldservice)
        before = {"customers": len(driver.quickbooks_entities(realm, "Customer")),
                  "client_ids": {c["id"] for c in driver.platform_records(TENANT, "clients")}}
        before["clients"] = len(before["client_ids"])
        _say(f"QuickBooks company {realm}: {before['customers']} customers (with sub-customers); "
             f"platform tenant {TENANT}: {before['clients']} clients")

        driver.connect(TENANT, realm)
        status = driver.admin("GET", "/admin/connection", TENANT).json()
        _say(f"1. Connected to QuickBooks: {status.get('company_name')} (realm {status.get('realm_id')})")
        saved = driver.settings(TENANT, demo_settings(driver, TENANT))
        _say(f"2. Settings saved (version {saved['version']}): clients two-way, sites, invoices, payments, hourly")

        def progress(run: dict) -> None:
            _say(f"     {run.get('phase', ''):<24} {run.get('percent', 0):>3}%")

        _say("3. Integration enabled: onboarding")
        onboarding = driver.enable(TENANT, progress)
        _print_counts(onboarding)
        _say("4. Sync now: invoices and payments")
        sync = driver.sync_now(TENANT)
        _print_counts(sync)
        errors = driver.admin("GET", "/admin/errors", TENANT).json()["items"]
        by_code = Counter(e["code"] for e in errors)
        _say(f"5. Error log: {len(errors)} record(s) need attention" +
             (" (" + ", ".join(f"{code}: {n}" for code, n in by_code.most_common()) + ")" if errors else ""))
        for error in errors[:8]:
            text = error.get("detail") or error["message"]  # QuickBooks' detail says what its message does not
            _say(f"     {error['entity']} {error['entity_id']} -> {error['code']}: {text[:110]}")
        calls = driver.quickbooks_requests()
        _say(f"   QuickBooks API calls: {calls.get('total')} {dict(sorted(calls.get('counts', {}).items()))}")
        problems = check_outcome(data, driver, realm, TENANT, before, onboarding, sync)
        if desktop:  # the same generated data through QuickBooks Desktop and the Web Connector
            from qbsync.desktop_demo import run_desktop

            _say("QuickBooks Desktop:")
            problems += run_desktop(data, driver, stack, _say)
        if problems or onboarding.get("status") != "succeeded":
            with open(stack.lambda_log, encoding="utf-8") as log:
                sys.stderr.write("Last lines of the handlers' log:\n" + "".join(log.readlines()[-60:]))
    _say()
    if onboarding.get("status") != "succeeded":
        problems.insert(0, f"onboarding ended {onboarding.get('status')}: {onboarding.get('summary')}")
    for problem in problems:
        _say(f"FAILED: {problem}")
    _say(f"{'Demo failed' if problems else 'Demo passed'}: both systems checked in "
         f"{time.monotonic() - started:.1f} s")
    return 1 if problems else 0


def _print_counts(run: dict) -> None:
    summary = run.get("summary") or {}
    _say(f"   {run.get('status')}:")
    for key, value in sorted((summary.get("counts") or {}).items()):
        _say(f"     {key.replace('_', ' '):<42} {value}")
    if summary.get("error"):
        _say(f"     error: {summary['error']}")
