"""The admin page walked end to end as an office admin would, in one headless Chromium session against the REAL local
stack: the gateway, the admin API and its Lambdas, moto (DynamoDB, Step Functions, Scheduler) and both emulators.
No admin route is answered by the test and nothing in our code is patched: every error the admin sees is made by the
emulators' documented control APIs (docs/emulator-quickbooks.md: preferences, clock) or by their data.

Each step checks what the admin sees and, where it matters, the systems' own state (the QuickBooks emulator's
companies and grants, the platform emulator's records, EventBridge Scheduler, the admin API). axe-core runs on every
screen (no serious or critical violation) and a screenshot of each is saved as `flow-NN-<screen>.png` in
build/screenshots/ (QBSYNC_SCREENSHOTS=docs/screenshots refreshes the committed ones). docs/web.md lists the steps."""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from emulators.datagen.generator import generate
from qbsync.demo import demo_settings
from tests.integration.chromium import LAPTOP, TABLET, check_screen, new_tab, screenshot

pytestmark = pytest.mark.integration

TENANT, COMPANY = "t-flow", "Flow Landscaping"
# A refresh token rolls for 8,726,400 s (101 days) from issue (qbo-facts, OAuth; docs/emulator-quickbooks.md).
PAST_REFRESH_EXPIRY_S = 8_726_400 + 86_400


class Admin:
    """The admin's tab, with the checks every screen gets."""

    def __init__(self, page):
        self.page = page
        self.problems: list[str] = []
        self.done = False  # set by the walk's last step; until then the fixture keeps the page as flow-last.png
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))

    def screen(self, name: str) -> None:
        """axe-core in the page: no serious or critical violation; then a screenshot of the screen."""
        check_screen(self.page, f"flow-{name}")
        assert self.problems == [], f"{name}: script errors {self.problems}"

    def status(self, text: str) -> None:
        self.page.locator("#main [role=status]").filter(has_text=text).wait_for()

    def nav(self, name: str, heading: str | re.Pattern) -> None:
        # The Sync wizard link carries its badge ("3 waiting") in its name.
        link = re.compile(f"^{re.escape(name)}(\\s*\\d+( waiting)?)?$")
        self.page.locator("#nav").get_by_role("link", name=link).click()
        self.page.get_by_role("heading", name=heading, level=1).wait_for()

    def consent(self, button: str) -> None:
        """Intuit's consent opens in its own window (the QuickBooks emulator's /connect/oauth2, which consents for
        the only company there is) and closes once the connection is made."""
        with self.page.expect_popup() as popup:
            self.page.get_by_role("button", name=button).click()
        popup.value.wait_for_event("close")


@pytest.fixture
def admin(browser):
    context, tab = new_tab(browser)
    walker = Admin(tab)
    try:
        yield walker
    finally:
        if not walker.done and not tab.is_closed():
            screenshot(tab, "flow-last")
        context.close()


def _options(select) -> list[str]:
    return select.evaluate("s => [...s.options].filter(o => o.value).map(o => o.value)")


def _schedules() -> list[dict]:
    import boto3

    scheduler = boto3.client("scheduler")
    names = [s["Name"] for s in scheduler.list_schedules(GroupName=os.environ["SCHEDULE_GROUP"])["Schedules"]]
    return [scheduler.get_schedule(GroupName=os.environ["SCHEDULE_GROUP"], Name=n) for n in names]


def test_an_office_admin_from_connect_to_disconnect(local_stack, admin):
    stack, driver = local_stack
    page = admin.page
    data = generate(seed=11, clients=30)
    realm = driver.create_realm(COMPANY)
    driver.load_quickbooks(realm, data.quickbooks_json())
    driver.set_preferences(realm, {"AccountingInfoPrefs": {"ClassTrackingPerTxn": False}})
    driver.create_tenant(TENANT, data.fieldservice)
    api = lambda method, path, **kw: driver.admin(method, path, TENANT, **kw)  # noqa: E731

    # -- Connect: the consent opens through the QuickBooks emulator; on success the admin lands on the settings ----
    page.goto(stack.page_url(TENANT))
    page.get_by_role("button", name="Connect to QuickBooks").wait_for()
    admin.screen("01-connect")
    admin.consent("Connect to QuickBooks")
    page.get_by_role("heading", name="QuickBooks Online Sync Settings").wait_for()
    assert page.locator("#main .company").inner_text() == f"Connected to {COMPANY}"
    connection = api("GET", "/admin/connection").json()
    assert (connection["status"], connection["realm_id"]) == ("connected", realm)
    grants = driver.http.get(f"{stack.qbo_url}/_emulator/realms/{realm}").json()["grants"]
    assert [g["revoked"] for g in grants] == [False]

    # -- Sync Settings with class tracking off in QuickBooks: no Job Types tab ------------------------------------
    assert page.get_by_role("tab").all_inner_texts() == ["Sync Settings", "Scheduler"]
    page.get_by_text("The Job Types tab is not shown because class tracking is turned off").wait_for()
    admin.screen("02-settings-no-class-tracking")
    # The company turns class tracking on in QuickBooks (the emulator's preferences control API); the page reads it.
    driver.set_preferences(realm, {"AccountingInfoPrefs": {"ClassTrackingPerTxn": True}})
    page.reload()
    job_tab = page.get_by_role("tab", name="Job Types")
    job_tab.wait_for()

    clients = page.get_by_role("checkbox", name="Clients", exact=True)
    assert clients.is_checked() and clients.is_disabled()  # always on, not deselectable
    invoices = page.get_by_role("checkbox", name="Invoices", exact=True)
    payments = page.get_by_role("checkbox", name="Payments", exact=True)
    assert not invoices.is_checked() and payments.is_disabled()  # Payments inactive until Invoices
    assert job_tab.get_attribute("aria-disabled") == "true"  # greyed until Invoices
    job_tab.click(force=True)
    assert page.get_by_role("tab", name="Sync Settings").get_attribute("aria-selected") == "true"
    page.get_by_role("checkbox", name="Use default State").check()
    page.get_by_label("Default State", exact=True).fill("az")
    assert "Default State: AZ, United States." in page.locator("#main").inner_text()
    # Records without a State should reach the error log, so the default is shown and then not used.
    page.get_by_role("checkbox", name="Use default State").uncheck()
    admin.screen("03-settings")

    invoices.check()
    assert payments.is_enabled() and job_tab.get_attribute("aria-disabled") == "false"
    payments.check()
    # The account drop-downs hold QuickBooks' own accounts of the fitting types, and they are required.
    accounts = driver.quickbooks_entities(realm, "Account")
    of_type = lambda *types: sorted(a["Id"] for a in accounts if a["AccountType"] in types and a.get("Active", True))  # noqa: E731
    income = page.get_by_label("Use this Income Account")
    expense = page.get_by_label("Use this Expense Account")
    deposit = page.get_by_label("Deposit payments to this account")
    assert sorted(_options(income)) == of_type("Income")
    assert sorted(_options(expense)) == of_type("Expense", "Cost of Goods Sold")
    assert sorted(_options(deposit)) == of_type("Bank", "Other Current Asset")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_role("alert").get_by_text("Some sync settings need attention before they can be saved.").wait_for()
    for control in (income, expense, deposit):
        assert control.get_attribute("aria-required") == "true"
        assert control.get_attribute("aria-invalid") == "true"
        assert page.locator(f"#{control.get_attribute('id')}-error").inner_text().strip()
    assert api("GET", "/admin/settings").json()["settings"]["invoices"]["enabled"] is False  # nothing stored
    admin.screen("04-settings-problems")
    by_name = {a["Name"]: a["Id"] for a in accounts}
    income.select_option(by_name["Services"])
    expense.select_option(by_name["Cost of Goods Sold"])
    deposit.select_option(by_name["Undeposited Funds"])

    # -- Job Types ------------------------------------------------------------------------------------------------
    job_tab.click()
    page.get_by_role("checkbox", name="Match job types to QuickBooks classes").check()
    page.get_by_role("checkbox", name="Always create a new QuickBooks Class for each new Job Type").check()
    admin.screen("05-job-types")

    # -- Scheduler: every 1, 2 or 3 hours, or daily at :00 or :30, in the company's time zone ----------------------
    page.get_by_role("tab", name="Scheduler").click()
    interval, time_of_day = page.get_by_label("Interval"), page.get_by_label("Time of day")
    assert _options(interval) == ["every_1h", "every_2h", "every_3h"]
    assert all(t.endswith((":00", ":30")) for t in _options(time_of_day)) and len(_options(time_of_day)) == 48
    assert interval.is_enabled() and time_of_day.is_disabled()
    page.get_by_role("radio", name="Sync data daily at").check()
    assert time_of_day.is_enabled() and interval.is_disabled()
    time_of_day.select_option("14:30")
    page.get_by_label("Time zone").select_option("America/Phoenix")
    admin.screen("06-scheduler")
    assert _schedules() == []  # no schedule before the integration is enabled

    # -- Enable Integration -> the integration page -----------------------------------------------------------------
    page.get_by_role("button", name="Enable Integration").click()
    page.get_by_role("heading", name="QuickBooks Online Integration").wait_for()
    settings = api("GET", "/admin/settings").json()["settings"]
    assert settings["schedule"] == {"frequency": "daily", "time": "14:30", "timezone": "America/Phoenix"}
    assert settings["invoices"]["income_account_id"] == by_name["Services"]
    assert settings["job_types"]["enabled"] is True and settings["job_types"]["always_create_class"] is True
    [schedule] = _schedules()
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"], schedule["State"]) == (
        "cron(30 14 * * ? *)", "America/Phoenix", "ENABLED")

    disconnect = page.get_by_role("button", name="Disconnect")
    box = disconnect.bounding_box()
    assert box["x"] > LAPTOP["width"] / 2 and box["y"] < 200  # upper right
    marks = page.locator(".marks li")
    assert [(m.get_attribute("class"), m.inner_text().replace("\n", "")) for m in marks.all()] == [
        ("on", "\u2714Clients: syncs"), ("on", "\u2714Invoices: syncs"), ("on", "\u2714Payments: syncs")]
    # The Activity Log's bar advances while onboarding runs, to 100%.
    seen = page.evaluate("""() => new Promise(resolve => {
        const bar = document.querySelector('progress[aria-label="Onboarding progress"]');
        const values = [bar.value];
        const tick = setInterval(() => {
            if (bar.value !== values[values.length - 1]) values.push(bar.value);
            if (bar.value === 100) { clearInterval(tick); resolve(values); }
        }, 20);
    })""")
    assert seen[-1] == 100 and seen == sorted(seen), seen
    page.locator("progress[aria-label='Onboarding progress'] + .progress-text").filter(
        has_text="Complete: 100%").wait_for()
    page.get_by_text("Onboarding result:").wait_for()
    onboarding = api("GET", f"/admin/sync-runs/{api('GET', '/admin/connection').json()['onboarding']['run_id']}").json()
    assert onboarding["status"] == "succeeded"
    linked = [c for c in driver.quickbooks_entities(realm, "Customer")]
    assert len(linked) >= len(data.fieldservice["clients"])  # clients reached QuickBooks
    health = api("GET", "/admin/connection").json()["token"]
    assert health["days_until_hard_expiry"] > 1000 and health["reconnect_needed"] is False  # a 5-year grant
    page.get_by_text(f"QuickBooks will ask you to reconnect in {health['days_until_hard_expiry']} days").wait_for()
    assert page.get_by_role("button", name="Reconnect to QuickBooks").count() == 0
    admin.screen("07-integration")

    # -- Summary: Sync Now, then the history ------------------------------------------------------------------------
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    kinds = page.locator("[data-run] td:nth-child(3)").all_inner_texts()
    assert kinds[0] == "Sync" and "Onboarding" in kinds
    runs = api("GET", "/admin/sync-runs").json()["items"]
    assert [r["run_id"] for r in runs] == [page.locator("[data-run]").nth(i).get_attribute("data-run")
                                           for i in range(len(runs))]
    assert api("GET", "/admin/connection").json()["last_sync_at"]
    admin.screen("08-summary-history")

    # -- The error log, on screen and downloaded ----------------------------------------------------------------------
    errors = api("GET", "/admin/errors").json()["items"]
    assert errors, "the generated data holds records QuickBooks refuses and clients without a State"
    admin.nav("Error log", "Error log")
    shown = page.locator("table").inner_text()
    for e in errors:
        assert e["code"] in shown and e["message"] in shown
        if e["suggested_fix"]:
            assert e["suggested_fix"] in shown
    with page.expect_download() as excel:
        page.get_by_role("button", name="Download as Excel").click()
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(Path(excel.value.path()).read_bytes()))
    rows = list(book.active.iter_rows(values_only=True))
    assert excel.value.suggested_filename == "quickbooks-sync-errors.xlsx"
    assert {(r[0], r[1], r[3]) for r in rows[1:]} >= {(e["entity"], e["entity_id"], e["code"]) for e in errors}
    with page.expect_download() as csv_file:
        page.get_by_role("button", name="Download as CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(csv_file.value.path()).read_text(encoding="utf-8"))))
    assert {(r["entity"], r["entity_id"], r["code"]) for r in table} >= {
        (e["entity"], e["entity_id"], e["code"]) for e in errors}
    admin.screen("09-error-log")

    # -- Onboarding conflicts: the admin links one pair and keeps another apart ------------------------------------
    from shared.runtime import runtime

    links = runtime().sync_deps(TENANT).links
    conflicts = api("GET", "/admin/onboarding/conflicts").json()["items"]
    assert len(conflicts) >= 2, "the generated data plants duplicate names on both sides"
    admin.nav("Conflicts", "Onboarding conflicts")
    admin.screen("10-conflicts")
    for conflict, button, shown in ((conflicts[0], "Same business: link them", "Linked"),
                                    (conflicts[1], "Different businesses: keep separate", "Kept separate")):
        qbo_id, fsp_id = conflict["qbo_ids"][0], conflict["fsp_ids"][0]
        pair = page.locator("ul.pairs > li").filter(has_text=f"QuickBooks customer {qbo_id} and client {fsp_id}:")
        pair.get_by_role("button", name=button).click()
        page.get_by_text(f"{shown}: QuickBooks customer {qbo_id} and client {fsp_id}").wait_for()
    assert links.get(TENANT, "customer", conflicts[0]["fsp_ids"][0]).qbo_id == conflicts[0]["qbo_ids"][0]
    resolved = api("GET", "/admin/onboarding/conflicts").json()["items"]
    assert [r["action"] for c in resolved for r in c.get("resolutions", [])] == ["link", "keep_separate"]

    # -- Unsynced entities: Clear ID for an invoice deleted in QuickBooks (the seeds' most common case) -----------
    synced = next(i for i in driver.quickbooks_entities(realm, "Invoice")  # one without payments (those cannot go)
                  if str(i.get("PrivateNote", "")).startswith("Platform invoice ") and not i.get("LinkedTxn"))
    invoice_id = synced["PrivateNote"].removeprefix("Platform invoice ")
    driver.quickbooks_call(realm, "POST", "invoice", {"Id": synced["Id"], "SyncToken": synced["SyncToken"]},
                           params={"operation": "delete"})  # deleted in QuickBooks by someone in the office
    admin.nav("Integration", "QuickBooks Online Integration")
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    entry = next(e for e in api("GET", "/admin/errors").json()["items"] if e["entity_id"] == invoice_id)
    assert entry["code"] == "deleted_in_quickbooks" and "Clear ID" in entry["detail"]
    admin.nav("Unsynced entities", "Unsynced entities")
    label = f"invoice {invoice_id}"
    row = page.locator(f"tr[data-id='{entry['id']}']")
    assert entry["code"] in row.inner_text() and entry["message"] in row.inner_text()
    admin.screen("11-unsynced")
    row.get_by_role("button", name=f"Clear ID of {label}", exact=True).click()
    dialog = page.get_by_role("dialog")
    assert "deleted or made inactive in QuickBooks" in dialog.inner_text()
    admin.screen("12-unsynced-clear-id")
    dialog.get_by_role("button", name="Cancel").click()
    assert links.get(TENANT, "invoice", invoice_id) is not None  # cancelled: nothing changed
    row.get_by_role("button", name=f"Clear ID of {label}", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Clear ID").click()
    admin.status(f"{label}: QuickBooks ID cleared. The next sync creates it in QuickBooks again")
    assert links.get(TENANT, "invoice", invoice_id) is None
    # The next sync (here the one Sync Now starts) creates the invoice in QuickBooks again, under a new Id.
    admin.nav("Integration", "QuickBooks Online Integration")
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    assert entry["id"] not in {e["id"] for e in api("GET", "/admin/errors").json()["items"]}
    again = [i for i in driver.quickbooks_entities(realm, "Invoice")
             if i.get("PrivateNote") == f"Platform invoice {invoice_id}"]
    assert [i["Id"] for i in again] != [synced["Id"]] and len(again) == 1
    assert links.get(TENANT, "invoice", invoice_id).qbo_id == again[0]["Id"]

    # Resync: the office adds the missing State in QuickBooks, as the message says, and resyncs the record.
    open_entries = api("GET", "/admin/errors").json()["items"]
    missing = next(e for e in open_entries if e["code"] == "missing_state")
    customer = next(c for c in driver.quickbooks_entities(realm, "Customer") if c["Id"] == missing["entity_id"])
    driver.quickbooks_call(realm, "POST", "customer", {
        "Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True,
        "BillAddr": {**customer.get("BillAddr", {}), "CountrySubDivisionCode": "AZ", "Country": "USA"}})
    admin.nav("Unsynced entities", "Unsynced entities")
    label = f"{missing['entity']} {missing['entity_id']}"
    page.get_by_role("button", name=f"Resync {label}", exact=True).click()
    admin.status(f"{label}: resync started.")
    run = driver.wait(TENANT, api("GET", "/admin/sync-runs").json()["items"][0]["run_id"])
    while (run.get("summary") or {}).get("folded_into"):
        run = driver.wait(TENANT, run["summary"]["folded_into"])
    assert missing["id"] not in {e["id"] for e in api("GET", "/admin/errors").json()["items"]}
    client_link = links.by_qbo(TENANT, "customer", missing["entity_id"])
    assert client_link is not None
    client = next(c for c in driver.platform_records(TENANT, "clients") if c["id"] == client_link.fsp_id)
    assert "AZ" in str(client), client

    # Dismiss: hidden until it fails again.
    page.reload()
    page.get_by_role("heading", name="Unsynced entities", level=1).wait_for()
    target = next(e for e in api("GET", "/admin/errors").json()["items"] if e["code"].startswith("waiting_for"))
    label = f"{target['entity']} {target['entity_id']}"
    page.get_by_role("button", name=f"Dismiss {label}", exact=True).click()
    admin.status(f"{label} dismissed until it fails again.")
    assert page.locator(f"tr[data-id='{target['id']}']").count() == 0
    assert target["id"] not in {e["id"] for e in api("GET", "/admin/errors").json()["items"]}
    assert target["id"] in {e["id"] for e in api("GET", "/admin/errors", params={"dismissed": 1}).json()["items"]}

    # -- Review mode: the sync wizard holds what a run finds until the admin approves it ---------------------------
    admin.nav("Sync settings", "QuickBooks Online Sync Settings")
    page.get_by_role("checkbox", name="Review changes in the sync wizard before they sync").check()
    page.get_by_role("button", name="Save settings").click()
    admin.status("Settings saved.")
    assert api("GET", "/admin/settings").json()["settings"]["review_mode"] is True
    customers = {c["Id"]: c for c in driver.quickbooks_entities(realm, "Customer") if not c.get("Job")}
    pairs = [(c, customers[link.qbo_id]) for c in driver.platform_records(TENANT, "clients")
             if c.get("active") and c.get("company_name") and (link := links.get(TENANT, "customer", c["id"]))
             and link.qbo_id in customers and not any(c["id"] in k["fsp_ids"] for k in conflicts)]
    # (records of an onboarding conflict wait for the next onboarding run, resolved or not: docs/onboarding.md)
    (a, qa), (b, qb), (c, qc) = pairs[:3]
    # Import side: a phone edited in QuickBooks. Export side: two phones edited on the platform.
    driver.quickbooks_call(realm, "POST", "customer", {"Id": qa["Id"], "SyncToken": qa["SyncToken"], "sparse": True,
                                                      "PrimaryPhone": {"FreeFormNumber": "(602) 555-0199"}})
    for client, phone in ((b, "(480) 555-0111"), (c, "(480) 555-0122")):
        driver.platform_api("PATCH", TENANT, f"clients/{client['id']}", {"contact": {**client["contact"],
                                                                                     "phone": phone}})
    admin.nav("Integration", "QuickBooks Online Integration")
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    phone_of = lambda qbo_id: next(  # noqa: E731
        r for r in driver.quickbooks_entities(realm, "Customer") if r["Id"] == qbo_id)["PrimaryPhone"]["FreeFormNumber"]
    assert phone_of(qb["Id"]) == qb["PrimaryPhone"]["FreeFormNumber"]  # held: not written yet
    waiting = api("GET", "/admin/review/count").json()["waiting"]
    held = [(e["side"], e["entity"], e["name"], e["change"]) for e in api("GET", "/admin/review").json()["items"]]
    assert waiting >= 3, (held, a["company_name"], b["company_name"], c["company_name"], qa["DisplayName"])
    page.reload()  # the badge is read as the page loads
    assert page.locator("#nav .badge").inner_text() == str(waiting)
    admin.nav("Sync wizard", re.compile("^Sync wizard"))
    boxes = page.locator(".review-list input[type=checkbox]")
    assert boxes.count() == waiting and all(boxes.nth(i).is_checked() for i in range(waiting))  # all checked
    imported = page.locator("section", has=page.get_by_role("heading", name=re.compile("Import from QuickBooks")))
    exported = page.locator("section", has=page.get_by_role("heading", name=re.compile("Export to QuickBooks")))
    assert qa["DisplayName"] in imported.inner_text()
    assert b["company_name"] in exported.inner_text() and c["company_name"] in exported.inner_text()
    admin.screen("13-sync-wizard")
    # Approve Checked with "Keep checked": c's change is unchecked and comes back at the next run.
    exported.get_by_role("checkbox", name=re.compile(re.escape(c["company_name"]))).uncheck()
    page.get_by_label("Unchecked entries").select_option("keep")
    page.get_by_role("button", name="Approve Checked").click()
    admin.status(f"{waiting - 1} approved; they are pending until the next sync. Unchecked entries will show again "
                 "after the next sync.")
    assert api("GET", "/admin/review/count").json() == {"waiting": 0, "pending": waiting - 1}
    admin.nav("Integration", "QuickBooks Online Integration")
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    assert phone_of(qb["Id"]) == "(480) 555-0111"  # approved: synced by that run
    assert phone_of(qc["Id"]) == qc["PrimaryPhone"]["FreeFormNumber"]  # kept: not synced
    assert next(r for r in driver.platform_records(TENANT, "clients") if r["id"] == a["id"])["contact"][
        "phone"] == "(602) 555-0199"
    admin.nav("Sync wizard", re.compile("^Sync wizard"))
    succeeded = page.locator("section", has=page.get_by_role("heading", name=re.compile("Successful syncs")))
    assert b["company_name"] in succeeded.inner_text()
    assert [e["name"] for e in api("GET", "/admin/review?side=export").json()["items"]] == [c["company_name"]]
    # Approve Checked with "Clear unchecked": nothing checked, c's change is cleared and does not come back. Every
    # box is unchecked, not only c's: the run above may have found other changes to review (its own echoes).
    boxes = page.locator(".review-list input[type=checkbox]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.get_by_label("Unchecked entries").select_option("clear")
    page.get_by_role("button", name="Approve Checked").click()
    admin.status("0 approved; they are pending until the next sync. Unchecked entries were cleared.")
    admin.screen("14-sync-wizard-cleared")
    admin.nav("Integration", "QuickBooks Online Integration")
    page.get_by_role("button", name="Sync Now").click()
    admin.status("Sync finished.")
    assert api("GET", "/admin/review/count").json() == {"waiting": 0, "pending": 0}
    assert phone_of(qc["Id"]) == qc["PrimaryPhone"]["FreeFormNumber"]
    assert page.locator("#nav .badge").count() == 0
    admin.nav("Sync settings", "QuickBooks Online Sync Settings")
    page.get_by_role("checkbox", name="Review changes in the sync wizard before they sync").uncheck()

    # -- A setting turned off shows a red x -------------------------------------------------------------------------
    page.get_by_role("checkbox", name="Payments", exact=True).uncheck()
    page.get_by_role("button", name="Save settings").click()
    admin.status("Settings saved.")
    admin.nav("Integration", "QuickBooks Online Integration")
    payments_mark = page.locator(".marks li").nth(2)
    assert (payments_mark.get_attribute("class"), payments_mark.inner_text().replace("\n", "")) == (
        "off", "\u2718Payments: does not sync")
    assert api("GET", "/admin/settings").json()["settings"]["payments"]["enabled"] is False

    # -- Token health: the grant's refresh token runs out (the emulator's clock), a reconnect is needed ------------
    driver.http.post(f"{stack.qbo_url}/_emulator/clock", json={"advance_seconds": PAST_REFRESH_EXPIRY_S})
    page.get_by_role("button", name="Sync Now").click()
    page.locator("#main [role=status]").filter(has_text=re.compile("Sync (Failed|finished)|reconnect")).wait_for()
    page.reload()
    reconnect = page.get_by_role("button", name="Reconnect to QuickBooks")
    reconnect.wait_for()
    page.get_by_text("QuickBooks needs you to reconnect before the sync can continue.").wait_for()
    status = api("GET", "/admin/connection").json()
    assert status["status"] == "needs_reconnect" and status["token"]["reconnect_needed"] is True
    assert [s["State"] for s in _schedules()] == ["DISABLED"]  # paused while a reconnect is needed
    admin.screen("15-reconnect-needed")
    admin.consent("Reconnect to QuickBooks")
    page.get_by_role("heading", name="QuickBooks Online Integration").wait_for()
    page.get_by_text("Connection healthy").wait_for()
    status = api("GET", "/admin/connection").json()
    assert (status["status"], status["realm_id"], status["token"]["reconnect_needed"]) == ("connected", realm, False)
    assert [s["State"] for s in _schedules()] == ["ENABLED"]  # restored on reconnect

    # -- Tablet width: the integration page still fits --------------------------------------------------------------
    page.set_viewport_size(TABLET)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    admin.screen("16-integration-tablet")
    page.set_viewport_size(LAPTOP)

    # -- Disconnect (top right, confirmed): the schedule goes and the grant is revoked at Intuit ---------------------
    page.get_by_role("button", name="Disconnect").click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
    page.get_by_role("button", name="Connect to QuickBooks").wait_for()
    page.get_by_text("QuickBooks was disconnected.").wait_for()
    assert api("GET", "/admin/connection").json()["status"] == "disconnected"
    assert _schedules() == []
    grants = driver.http.get(f"{stack.qbo_url}/_emulator/realms/{realm}").json()["grants"]
    # The grant of the reconnect (the newest) is revoked, and only it: the first had run out (hence the reconnect),
    # and the test's own QuickBooks-user token (driver.quickbooks_call) is another app session's.
    assert [g["revoked"] for g in sorted(grants, key=lambda g: g["created"])][-1] is True
    assert sum(g["revoked"] for g in grants) == 1
    admin.screen("17-disconnected")
    admin.done = True


def test_job_types_tab_a_class_for_one_job_type_none_for_another_and_invoices_carry_them(local_stack, admin):
    """The Job Types tab's rows are the platform's job types; a class chosen for one and "None" for another are saved
    in `job_types.class_mapping`, shown again on reload, and QuickBooks' own invoices carry exactly that."""
    stack, driver = local_stack
    page = admin.page
    tenant = "t-flow-job-types"
    # The walk before this moved QuickBooks' clock past the refresh token's life; this company starts on today's
    # clock, as a newly connected company does.
    offset = driver.http.get(f"{stack.qbo_url}/_emulator/clock").json()["offset_seconds"]
    driver.http.post(f"{stack.qbo_url}/_emulator/clock", json={"advance_seconds": -offset}).raise_for_status()
    data = generate(seed=23, clients=20)
    realm = driver.create_realm("Flow Job Types Pest Control")
    driver.load_quickbooks(realm, data.quickbooks_json())
    driver.set_preferences(realm, {"AccountingInfoPrefs": {"ClassTrackingPerTxn": True}})
    driver.create_tenant(tenant, data.fieldservice)
    driver.connect(tenant, realm)
    driver.settings(tenant, {**demo_settings(driver, tenant), "payments": {"enabled": False}})
    # The two job types with the most invoices ready to sync; the class is one named for neither ("Overhead"), so
    # only the chosen mapping can put it on their invoices.
    ready = Counter(i["job_type_id"] for i in data.fieldservice["invoices"]
                    if i["status"] in ("ready_for_sync", "paid") and Decimal(str(i["total"])) != 0)
    (chosen, _), (unmapped, _) = ready.most_common(2)
    names = {j["id"]: j["name"] for j in data.fieldservice["job_types"]}
    overhead = next(c["Id"] for c in driver.quickbooks_entities(realm, "Class") if c["Name"] == "Overhead")

    page.goto(stack.page_url(tenant))
    page.get_by_role("tab", name="Job Types").click()
    rows = page.locator("#main table.grid tbody th[scope=row]").all_inner_texts()
    listed = driver.admin("GET", "/admin/platform/job-types", tenant).json()["items"]
    assert [r.replace(" (inactive)", "") for r in rows] == [j["name"] for j in listed]
    assert sorted(j["id"] for j in listed) == sorted(names)  # every platform job type, this tenant's only
    page.get_by_role("checkbox", name="Match job types to QuickBooks classes").check()
    row_class = page.get_by_label(f"QuickBooks class for {names[chosen]}", exact=True)
    row_none = page.get_by_label(f"QuickBooks class for {names[unmapped]}", exact=True)
    assert {"create", "none", f"class:{overhead}"} <= set(_options(row_class))
    row_class.select_option(f"class:{overhead}")
    row_none.select_option("none")
    admin.screen("05b-job-types-per-job-type")
    page.get_by_role("button", name="Save settings").click()
    admin.status("Settings saved.")
    mapping = driver.admin("GET", "/admin/settings", tenant).json()["settings"]["job_types"]["class_mapping"]
    assert (mapping[chosen]["mode"], mapping[chosen].get("class_id")) == ("class", overhead)
    assert (mapping[unmapped]["mode"], mapping[unmapped].get("class_id")) == ("none", None)
    page.reload()
    page.get_by_role("tab", name="Job Types").click()
    assert page.get_by_label(f"QuickBooks class for {names[chosen]}", exact=True).input_value() == f"class:{overhead}"
    assert page.get_by_label(f"QuickBooks class for {names[unmapped]}", exact=True).input_value() == "none"
    assert page.get_by_role("checkbox", name="Match job types to QuickBooks classes").is_checked()

    assert driver.enable(tenant)["status"] == "succeeded"
    sync = driver.sync_now(tenant)  # the first sync after onboarding posts the invoices
    assert sync["status"] == "succeeded", sync.get("summary")
    by_note = {q.get("PrivateNote"): q for q in driver.quickbooks_entities(realm, "Invoice")}
    synced = {jt: [by_note[f"Platform invoice {i['id']}"] for i in driver.platform_records(tenant, "invoices")
                   if i["job_type_id"] == jt and f"Platform invoice {i['id']}" in by_note]
              for jt in (chosen, unmapped)}
    assert synced[chosen] and synced[unmapped], {jt: len(v) for jt, v in synced.items()}
    assert {(q.get("ClassRef") or {}).get("value") for q in synced[chosen]} == {overhead}
    assert all("ClassRef" not in q for q in synced[unmapped])
    assert not [line for q in synced[unmapped] for line in q["Line"]
                if (line.get("SalesItemLineDetail") or {}).get("ClassRef")]
    admin.done = True
