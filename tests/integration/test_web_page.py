"""The admin page in a real headless Chromium (Debian's, driven by Playwright) against the local stack: the seeds'
flow from Connect to Disconnect, each dependent rule of the settings, axe-core on every screen, a screenshot each.

Screenshots go to build/screenshots/ (QBSYNC_SCREENSHOTS=docs/screenshots refreshes the committed ones)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from emulators.datagen.generator import generate
from tests.integration.chromium import LAPTOP, TABLET, check_screen, new_tab, screenshot

pytestmark = pytest.mark.integration



@pytest.fixture
def page(browser):
    context, tab = new_tab(browser)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        yield tab
    except BaseException:
        raise
    finally:
        if not tab.is_closed():
            screenshot(tab, "last-failure")
        context.close()
    assert problems == [], problems  # no script error on any screen


def _setup(driver, tenant: str, company: str, class_tracking: bool, clients: int = 30) -> str:
    data = generate(seed=11, clients=clients)
    realm = driver.create_realm(company)
    driver.load_quickbooks(realm, data.quickbooks_json())
    driver.set_preferences(realm, {"AccountingInfoPrefs": {"ClassTrackingPerTxn": class_tracking}})
    driver.create_tenant(tenant, data.fieldservice)
    return realm


def _connect(page, stack, tenant: str, realm: str) -> None:
    # At Intuit the admin picks the company to connect; the emulator takes that choice as `realmId`.
    page.context.route(re.compile(r".*/connect/oauth2\?.*"),
                       lambda route: route.continue_(url=f"{route.request.url}&realmId={realm}"))
    page.goto(stack.page_url(tenant))
    page.get_by_role("button", name="Connect to QuickBooks").wait_for()
    with page.expect_popup() as consent:
        page.get_by_role("button", name="Connect to QuickBooks").click()
    page.get_by_role("heading", name="QuickBooks Online Sync Settings").wait_for()
    assert consent.value.is_closed()  # "the window will close and you will be brought to the settings"


def _option_value(select, text_part: str) -> str:
    return select.evaluate("(s, t) => [...s.options].find(o => o.text.includes(t)).value", text_part)


def test_admin_page_from_connect_to_disconnect(local_stack, page):
    stack, driver = local_stack
    tenant = "t-web"
    realm = _setup(driver, tenant, "Web Landscaping", class_tracking=True, clients=30)

    page.goto(stack.page_url(tenant))
    page.get_by_role("button", name="Connect to QuickBooks").wait_for()
    check_screen(page, "01-connect")
    _connect(page, stack, tenant, realm)

    # Sync Settings: Clients always on; Payments inactive until Invoices; Job Types greyed until Invoices.
    clients = page.get_by_role("checkbox", name="Clients", exact=True)
    assert clients.is_checked() and clients.is_disabled()
    payments = page.get_by_role("checkbox", name="Payments", exact=True)
    assert payments.is_disabled()
    job_tab = page.get_by_role("tab", name="Job Types")
    assert job_tab.get_attribute("aria-disabled") == "true"
    job_tab.click(force=True)  # greyed out: a click leaves the admin on Sync Settings
    assert page.get_by_role("tab", name="Sync Settings").get_attribute("aria-selected") == "true"
    page.get_by_role("checkbox", name="Use default State").check()
    page.get_by_label("Default State", exact=True).fill("az")
    assert "Default State: AZ, United States." in page.locator("#main").inner_text()
    check_screen(page, "02-settings")

    page.get_by_role("checkbox", name="Invoices", exact=True).check()
    assert payments.is_enabled() and job_tab.get_attribute("aria-disabled") == "false"
    payments.check()
    income = page.get_by_label("Use this Income Account")
    assert income.get_attribute("aria-required") == "true"
    # Saved without accounts: the API's 422 problems appear next to each drop-down, in the API's words.
    page.get_by_role("button", name="Save settings").click()
    alert = page.get_by_role("alert")
    alert.get_by_text("Some sync settings need attention before they can be saved.").wait_for()
    for label in ("Use this Income Account", "Use this Expense Account", "Deposit payments to this account"):
        control = page.get_by_label(label)
        assert control.get_attribute("aria-invalid") == "true", label
        problem = page.locator(f"#{control.get_attribute('id')}-error")
        assert problem.is_visible() and problem.inner_text().strip(), label
    assert "Choose the income account invoice amounts post to" in page.locator(
        f"#{income.get_attribute('id')}-error").inner_text()
    check_screen(page, "03-settings-problems")

    income.select_option(_option_value(income, "(Income)"))
    expense = page.get_by_label("Use this Expense Account")
    expense.select_option(_option_value(expense, "Cost of Goods Sold"))
    deposit = page.get_by_label("Deposit payments to this account")
    deposit.select_option(_option_value(deposit, "Undeposited Funds"))

    job_tab.click()
    page.get_by_role("checkbox", name="Match job types to QuickBooks classes").wait_for()
    check_screen(page, "04-job-types")
    page.get_by_role("checkbox", name="Always create a new QuickBooks Class for each new Job Type").check()

    page.get_by_role("tab", name="Scheduler").click()
    hours = page.get_by_label("Interval")
    time_of_day = page.get_by_label("Time of day")
    assert hours.is_enabled() and time_of_day.is_disabled()
    page.get_by_role("radio", name="Sync data daily at").check()
    assert time_of_day.is_enabled() and hours.is_disabled()
    time_of_day.select_option("14:30")
    page.get_by_label("Time zone").select_option("America/Phoenix")
    check_screen(page, "05-scheduler")

    page.get_by_role("button", name="Enable Integration").click()
    page.get_by_role("heading", name="QuickBooks Online Integration").wait_for()
    settings = driver.admin("GET", "/admin/settings", tenant).json()["settings"]
    assert settings["clients"]["default_state"] == "AZ" and settings["payments"]["enabled"] is True
    assert settings["schedule"] == {"frequency": "daily", "time": "14:30", "timezone": "America/Phoenix"}
    assert settings["job_types"]["always_create_class"] is True

    # The integration page: a check for what syncs, and the Activity Log's bar advancing to 100%.
    marks = page.locator(".marks")
    assert [t.replace("\n", "") for t in marks.locator(".on").all_inner_texts()] == [
        "\u2714Clients: syncs", "\u2714Invoices: syncs", "\u2714Payments: syncs"]
    bar = page.get_by_label("Onboarding progress")
    page.wait_for_function("() => document.querySelector('progress[aria-label=\"Onboarding progress\"]').value === 100")
    assert int(bar.evaluate("b => b.value")) == 100
    progress_text = page.locator("progress[aria-label='Onboarding progress'] + .progress-text")
    assert progress_text.inner_text().startswith("Complete: 100%")
    page.get_by_text("Onboarding result:").wait_for()
    check_screen(page, "06-integration")

    # Summary: Sync Now, then the history holds the onboarding and the sync.
    page.get_by_role("button", name="Sync Now").click()
    page.locator("#main [role=status]").filter(has_text="Sync finished.").wait_for()
    rows = page.locator("[data-run]")
    assert rows.count() >= 2
    assert {"Onboarding", "Sync"} <= set(page.locator("[data-run] td:nth-child(3)").all_inner_texts())
    check_screen(page, "07-summary-history")

    # The error log on screen, and downloaded as a workbook and as CSV.
    errors = driver.admin("GET", "/admin/errors", tenant).json()["items"]
    assert errors, "the generated data holds records QuickBooks refuses; the error log needs one"
    page.locator("#nav").get_by_role("link", name="Error log").click()
    page.get_by_role("heading", name="Error log").wait_for()
    assert errors[0]["code"] in page.locator("table").inner_text()
    with page.expect_download() as excel:
        page.get_by_role("button", name="Download as Excel").click()
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(Path(excel.value.path()).read_bytes()))
    sheet = list(book.active.iter_rows(values_only=True))
    assert sheet[0][:4] == ("Entity", "Entity id", "Direction", "Code") and len(sheet) > len(errors) >= 1
    assert excel.value.suggested_filename == "quickbooks-sync-errors.xlsx"
    with page.expect_download() as csv_file:
        page.get_by_role("button", name="Download as CSV").click()
    assert Path(csv_file.value.path()).read_text().startswith("entity,entity_id")
    check_screen(page, "08-error-log")

    # Unsynced entities: Resync starts a run; Clear ID asks first, then forgets the QuickBooks id.
    from shared.domain.records import Link
    from shared.runtime import runtime

    target = errors[0]
    # As if this record had been linked and then deleted in QuickBooks (the seeds' most common reason).
    runtime().sync_deps(tenant).links.put(Link(tenant, target["entity"], target["entity_id"], "999999"))
    page.locator("#nav").get_by_role("link", name="Unsynced entities").click()
    label = f"{target['entity']} {target['entity_id']}"
    page.get_by_role("button", name=f"Resync {label}", exact=True).click()
    # The page shows the API's answer as it is: today a key with '#' finds no route (reported on issue 13).
    retry = driver.admin("POST", f"/admin/errors/{quote(target['id'], safe='')}/retry", tenant)
    expected = f"{label}: resync started." if retry.status_code == 202 else retry.json()["error"]["message"]
    page.locator("#main [role=status]").filter(has_text=expected).wait_for()
    page.get_by_role("button", name=f"Clear ID of {label}", exact=True).click()
    dialog = page.get_by_role("dialog")
    assert "deleted or made inactive in QuickBooks" in dialog.inner_text()
    check_screen(page, "09-unsynced-clear-id")
    dialog.get_by_role("button", name="Cancel").click()
    assert runtime().sync_deps(tenant).links.get(tenant, target["entity"], target["entity_id"]) is not None
    page.get_by_role("button", name=f"Clear ID of {label}", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Clear ID").click()
    page.locator("#main [role=status]").filter(has_text=f"{label}: QuickBooks ID cleared.").wait_for()
    assert runtime().sync_deps(tenant).links.get(tenant, target["entity"], target["entity_id"]) is None
    page.get_by_role("button", name=f"Dismiss {label}", exact=True).click()
    dismissed = driver.admin("POST", f"/admin/errors/{quote(target['id'], safe='')}/dismiss", tenant).status_code
    if dismissed == 404:  # issue 13's route has not landed: the page says so plainly
        page.locator("#main [role=status]").filter(has_text="This action is not available yet.").wait_for()
    check_screen(page, "10-unsynced")

    page.locator("#nav").get_by_role("link", name="Conflicts").click()
    page.get_by_role("heading", name="Onboarding conflicts").wait_for()
    check_screen(page, "11-conflicts")

    page.locator("#nav").get_by_role("link", name="Sync wizard").click()
    page.get_by_role("heading", name=re.compile("Sync wizard")).wait_for()
    if driver.admin("GET", "/admin/review", tenant).status_code == 404:
        page.get_by_text("The sync wizard is not available yet.").wait_for()
    check_screen(page, "12-sync-wizard")

    # Tablet width: the integration page still fits.
    page.set_viewport_size(TABLET)
    page.locator("#nav").get_by_role("link", name="Integration", exact=True).click()
    page.get_by_role("heading", name="QuickBooks Online Integration").wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    check_screen(page, "13-integration-tablet")
    page.set_viewport_size(LAPTOP)

    # Disconnect, top right, confirmed; the page returns to Connect.
    disconnect = page.get_by_role("button", name="Disconnect")
    box, width = disconnect.bounding_box(), page.viewport_size["width"]
    assert box["x"] > width / 2 and box["y"] < 200  # upper right
    disconnect.click()
    page.get_by_role("dialog").get_by_role("button", name="Disconnect").click()
    page.get_by_role("button", name="Connect to QuickBooks").wait_for()
    assert driver.admin("GET", "/admin/connection", tenant).json()["status"] == "disconnected"


def test_job_types_tab_is_absent_without_class_tracking_and_keyboard_moves_between_tabs(local_stack, page):
    stack, driver = local_stack
    realm = _setup(driver, "t-web-noclass", "Web Plumbing", class_tracking=False, clients=5)
    _connect(page, stack, "t-web-noclass", realm)
    assert page.get_by_role("tab").all_inner_texts() == ["Sync Settings", "Scheduler"]
    page.get_by_text("The Job Types tab is not shown because class tracking is turned off").wait_for()
    page.get_by_role("tab", name="Sync Settings").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.textContent") == "Scheduler"
    assert page.get_by_role("tab", name="Scheduler").get_attribute("aria-selected") == "true"


def _held(entity_id, side, entity, name, change):
    return {"id": f"{side}-{entity}-{entity_id}", "side": side, "entity": entity, "entity_id": entity_id,
            "name": name, "change": change, "checked": True, "state": "waiting", "held_at": "2026-11-02T10:00:00+00:00",
            "decided_at": None}


AS_OF = "2026-11-02T10:05:00+00:00"
REVIEW = {"import": [_held("7", "import", "customer", "Carefree Lawns", "update")],
          "export": [_held("inv-1", "export", "invoice", "Invoice 1001", "create"),
                     _held("inv-2", "export", "invoice", "Invoice 1002", "create")]}


@pytest.mark.parametrize("rule", ["keep", "clear"])
def test_sync_wizard_approves_checked_with_one_rule_for_the_unchecked(local_stack, page, rule):
    """The wizard against the admin API's review routes, in their documented shapes (docs/admin-api.md; answered
    here by the test so that the lists are fixed): everything checked by default, the badge counts what waits,
    Approve Checked sends the checked ids with the chosen rule for all unchecked ones and the lists' as_of, and the
    pending, successful and failed syncs are shown. The same screen against the real stack's engine:
    tests/integration/test_review_mode.py."""
    from urllib.parse import parse_qs, urlparse

    stack, driver = local_stack
    tenant = f"t-web-review-{rule}"
    realm = _setup(driver, tenant, f"Review {rule}", class_tracking=False, clients=5)
    approvals: list[dict] = []

    def review(route):
        url = urlparse(route.request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if route.request.method == "POST":
            approvals.append(json.loads(route.request.post_data))
            route.fulfill(status=200, json={"approved": len(approvals[-1]["checked"]), "cleared": 0, "kept": 0,
                                            "not_waiting": []})
        elif url.path.endswith("/count"):
            route.fulfill(status=200, json={"waiting": 3, "pending": 1})
        elif url.path.endswith("/pending"):
            approved = {**_held("c9", "export", "customer", "Oak Tree Care", "update"), "state": "approved"}
            route.fulfill(status=200, json={"side": None, "items": [approved], "next_cursor": None, "as_of": AS_OF})
        elif url.path.endswith("/results"):
            rows = [] if query["outcome"] == "succeeded" else [
                {"id": "export-invoice-inv-0", "side": "export", "entity": "invoice", "entity_id": "inv-0",
                 "name": "Invoice 1000", "change": "create", "outcome": "failed",
                 "message": "6140: Duplicate Document Number Error", "at": AS_OF}]
            route.fulfill(status=200, json={"items": rows, "next_cursor": None})
        else:
            route.fulfill(status=200, json={"side": query["side"], "items": REVIEW[query["side"]],
                                            "next_cursor": None, "as_of": AS_OF})

    def enabled_connection(route):
        response = route.fetch()
        body = response.json()
        body["onboarding"] = {"enabled": True, "run_id": None}
        route.fulfill(response=response, json=body)

    page.route(re.compile(r".*/admin/review(/[a-z]+)?(\?.*)?$"), review)
    _connect(page, stack, tenant, realm)
    page.route(re.compile(r".*/admin/connection$"), enabled_connection)
    page.goto(f"{stack.gateway_url}/app/#/review")  # the token stays with the tab
    page.reload()  # boots again, now reading the enabled connection
    page.get_by_role("heading", name=re.compile("Sync wizard")).wait_for()
    page.locator("#nav .badge").filter(has_text="3").wait_for()
    boxes = page.locator(".review-list input[type=checkbox]")
    assert boxes.count() == 3 and all(boxes.nth(i).is_checked() for i in range(3))
    assert "Oak Tree Care" in page.locator("#review-pending").locator("..").inner_text()
    assert "6140: Duplicate Document Number Error" in page.locator("#review-failed").locator("..").inner_text()
    page.get_by_role("checkbox", name=re.compile("Invoice 1002")).uncheck()
    page.get_by_label("Unchecked entries").select_option(rule)
    if rule == "clear":
        check_screen(page, "14-sync-wizard-review")
    page.get_by_role("button", name="Approve Checked").click()
    expected = " Unchecked entries were cleared." if rule == "clear" else \
        " Unchecked entries will show again after the next sync."
    page.locator("#main").get_by_text(f"2 approved; they are pending until the next sync.{expected}").wait_for()
    assert approvals == [{"checked": ["import-customer-7", "export-invoice-inv-1"], "unchecked": rule,
                          "as_of": AS_OF}]
