import copy
import json

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from shared.domain.settings import (
    MISSING_STATE_MESSAGE,
    MissingState,
    QuickBooksContext,
    SyncSettings,
    default_settings,
    resolve_state,
    schedule_expression,
    validate_settings,
)
from shared.errors import AppError, SettingsInvalid
from shared.http import install_error_handlers

CTX = QuickBooksContext(
    accounts={"1": ("Services", "Income", True), "2": ("Old Sales", "Income", False),
              "80": ("Cost of Goods Sold", "Cost of Goods Sold", True), "81": ("Supplies", "Expense", True),
              "35": ("Checking", "Bank", True), "4": ("Undeposited Funds", "Other Current Asset", True),
              "90": ("Accounts Receivable (A/R)", "Accounts Receivable", True)},
    classes={"10", "11"}, class_tracking_enabled=True, vendors={"56"}, tax_codes={"TAX", "NON", "2", "5"})

VALID = {
    "clients": {"enabled": True, "direction": "two_way", "use_default_state": True, "default_state": "AZ",
                "default_country": "US"},
    "sites": {"enabled": True, "use_client_address_state": True},
    "items": {"enabled": True, "direction": "platform_to_quickbooks", "income_account_id": "1",
              "expense_account_id": "80"},
    "invoices": {"enabled": True, "income_account_id": "1", "expense_account_id": "81", "tax_mode": "platform",
                 "tax_code_id": "2", "tax_codes_by_region": {"NV": "5"}, "job_locations": True},
    "payments": {"enabled": True, "deposit_account_id": "35"},
    "job_types": {"enabled": True, "always_create_class": True,
                  "class_mapping": {"jt_1": {"mode": "class", "class_id": "10"}, "jt_2": {"mode": "create"},
                                    "jt_3": {"mode": "none"}}},
    "schedule": {"frequency": "daily", "time": "14:30", "timezone": "America/Phoenix"},
    "review_mode": False,
}


_DELETE = object()


def _with(changes: dict) -> dict:
    payload = copy.deepcopy(VALID)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = payload
        for part in parents:
            node = node.setdefault(part, {})
        if value is _DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return payload


def _problems(payload: dict, ctx: QuickBooksContext = CTX) -> dict[str, str]:
    with pytest.raises(SettingsInvalid) as caught:
        validate_settings(payload, ctx)
    problems = caught.value.details
    assert all(set(p) == {"field", "message"} and p["message"] for p in problems)
    return {p["field"]: p["message"] for p in problems}


def test_a_complete_valid_payload_is_accepted_and_round_trips():
    settings = validate_settings(VALID, CTX)
    assert settings.invoices.income_account_id == "1" and settings.payments.deposit_account_id == "35"
    assert settings.job_types.class_mapping.get("jt_1").class_id == "10"
    assert settings.job_types.class_mapping.get("jt_9") is None
    stored = json.loads(json.dumps(settings.model_dump(mode="json")))
    assert SyncSettings.model_validate(stored) == settings
    assert validate_settings(stored, CTX) == settings


def test_default_settings_are_valid_and_sensible():
    defaults = default_settings()
    assert validate_settings(defaults.model_dump(mode="json"), QuickBooksContext()) == defaults
    assert validate_settings({}, QuickBooksContext()) == defaults
    assert defaults.clients.enabled is True and defaults.clients.direction == "two_way"
    assert not defaults.invoices.enabled and not defaults.payments.enabled and not defaults.review_mode
    assert schedule_expression(defaults) == ("rate(1 hour)", "UTC")


def test_settings_are_immutable():
    with pytest.raises(ValueError):
        default_settings().invoices.enabled = True  # type: ignore[misc]


@pytest.mark.parametrize(("changes", "field", "says"), [
    # Clients: mandatory, and "Use default State" needs a State.
    ({"clients.enabled": False}, "clients.enabled", "always sync"),
    ({"clients.direction": "one_way"}, "clients.direction", "'two_way'"),
    ({"clients.default_state": None}, "clients.default_state", "default State"),
    ({"clients.default_state": "ZZ"}, "clients.default_state", "not a State code"),
    ({"clients.default_state": "ON"}, "clients.default_state", "United States"),
    ({"clients.default_country": "MX"}, "clients.default_country", "'US' or 'CA'"),
    # Invoices need both accounts, of the right kinds, active, existing.
    ({"invoices.income_account_id": None}, "invoices.income_account_id", "Use this Income Account"),
    ({"invoices.expense_account_id": _DELETE}, "invoices.expense_account_id", "Use this Expense Account"),
    ({"invoices.income_account_id": "81"}, "invoices.income_account_id", "an Expense account"),
    ({"invoices.income_account_id": "2"}, "invoices.income_account_id", "inactive"),
    ({"invoices.income_account_id": "404"}, "invoices.income_account_id", "not found"),
    ({"invoices.expense_account_id": "35"}, "invoices.expense_account_id", "a Bank account"),
    ({"invoices.tax_mode": "vendor"}, "invoices.tax_mode", "'quickbooks' or 'platform'"),
    # Payments need invoices and a Bank or Other Current Asset account.
    ({"invoices": {"enabled": False}}, "payments.enabled", "Turn on Invoices"),
    ({"payments.deposit_account_id": None}, "payments.deposit_account_id", "Deposit payments to this account"),
    ({"payments.deposit_account_id": "90"}, "payments.deposit_account_id", "Bank or an Other Current Asset"),
    ({"payments.deposit_account_id": "404"}, "payments.deposit_account_id", "not found"),
    # Items sent to QuickBooks need accounts.
    ({"items.income_account_id": None}, "items.income_account_id", "income account"),
    ({"items.expense_account_id": "1"}, "items.expense_account_id", "an Income account"),
    # Job types: only with invoices; mapped classes must exist; a class only in "class" mode.
    ({"invoices": {"enabled": False}, "payments": {"enabled": False}}, "job_types.enabled", "need Invoices"),
    ({"job_types.class_mapping": {"jt_1": {"mode": "class"}}}, "job_types.class_mapping.jt_1.class_id",
     "Choose the QuickBooks class"),
    ({"job_types.class_mapping": {"jt_1": {"mode": "class", "class_id": "99"}}},
     "job_types.class_mapping.jt_1.class_id", "not found"),
    ({"job_types.class_mapping": {"jt_1": {"mode": "none", "class_id": "10"}}},
     "job_types.class_mapping.jt_1.class_id", "remove it"),
    ({"job_types.class_mapping": {"jt_1": {"mode": "pick"}}}, "job_types.class_mapping.jt_1.mode", "'create'"),
    ({"job_types.class_mapping": {"jt_1": {}}}, "job_types.class_mapping.jt_1.mode", "required"),
    # Schedule: required shape, daily on the hour or half hour, a real time zone.
    ({"schedule.time": None}, "schedule.time", "time of day"),
    ({"schedule.time": "14:15"}, "schedule.time", "half hour"),
    ({"schedule.time": "24:00"}, "schedule.time", "half hour"),
    ({"schedule.time": "2:30"}, "schedule.time", "HH:MM"),
    ({"schedule.frequency": "every_2h"}, "schedule.time", "only applies to a daily sync"),
    ({"schedule.frequency": "every_4h"}, "schedule.frequency", "'every_3h'"),
    ({"schedule.timezone": "Mars/Olympus"}, "schedule.timezone", "time zone"),
    ({"schedule.timezone": "../../etc/passwd"}, "schedule.timezone", "time zone"),
    # Shape: unknown settings and wrong types are named too.
    ({"colour": "blue"}, "colour", "not recognised"),
    ({"invoices.auto": True}, "invoices.auto", "not recognised"),
    ({"invoices.enabled": "yes"}, "invoices.enabled", "true or false"),
    ({"review_mode": 1}, "review_mode", "true or false"),
    ({"payments.deposit_account_id": 35}, "payments.deposit_account_id", "text"),
    ({"schedule": "hourly"}, "schedule", "group of settings"),
])
def test_each_rule_names_its_field(changes, field, says):
    problems = _problems(_with(changes))
    assert field in problems, problems
    assert says in problems[field]
    assert "Input should" not in problems[field]  # plain language, not the validator's


def test_review_mode_is_accepted_now_that_the_sync_holds_changes_for_review():
    # That it acts: tests/unit/domain/test_review_gate.py (the engine holds every change while it is on).
    assert validate_settings(_with({"review_mode": True}), CTX).review_mode is True


def test_job_types_need_class_tracking_in_quickbooks():
    ctx = QuickBooksContext(accounts=CTX.accounts, classes=CTX.classes, class_tracking_enabled=False,
                            tax_codes=CTX.tax_codes)
    problems = _problems(VALID, ctx)
    assert list(problems) == ["job_types.enabled"] and "class tracking" in problems["job_types.enabled"]
    off = _with({"job_types": {"enabled": False, "class_mapping": {"jt_1": {"mode": "class", "class_id": "10"}}}})
    assert validate_settings(off, ctx).job_types.enabled is False


def test_disabled_features_do_not_check_their_accounts():
    payload = _with({"invoices": {"enabled": False, "income_account_id": "404"}, "payments": {"enabled": False},
                     "job_types": {"enabled": False}, "items": {"enabled": False}})
    assert validate_settings(payload, CTX).invoices.income_account_id == "404"


def test_every_problem_is_reported_at_once():
    payload = {
        "clients": {"enabled": False, "direction": "sideways"},
        "invoices": {"enabled": True, "income_account_id": "81"},
        "payments": {"enabled": True, "deposit_account_id": "1"},
        "job_types": {"enabled": True, "class_mapping": {"a": {"mode": "class"}, "b": {"mode": "class",
                                                                                       "class_id": "nope"}}},
        "schedule": {"frequency": "daily", "timezone": "Nowhere/Land"},
        "review_mode": "maybe",
        "extra": {},
    }
    problems = _problems(payload, QuickBooksContext(accounts=CTX.accounts, classes=CTX.classes,
                                                    tax_codes=CTX.tax_codes))
    assert set(problems) == {
        "clients.enabled", "clients.direction", "invoices.income_account_id", "invoices.expense_account_id",
        "payments.deposit_account_id", "job_types.enabled", "job_types.class_mapping.a.class_id",
        "job_types.class_mapping.b.class_id", "schedule.timezone", "review_mode", "extra"}


def test_default_state_is_read_in_capitals_and_canada_has_provinces():
    settings = validate_settings(_with({"clients.default_state": " az "}), CTX)
    assert settings.clients.default_state == "AZ"
    canada = validate_settings(_with({"clients.default_state": "ON", "clients.default_country": "CA"}), CTX)
    assert canada.clients.default_state == "ON"


def test_settings_invalid_is_a_422_whose_body_names_each_field():
    error = SettingsInvalid([{"field": "invoices.income_account_id", "message": "Choose one."}])
    assert isinstance(error, AppError) and error.status == 422
    app = APIGatewayHttpResolver()
    install_error_handlers(app, "test")

    @app.put("/admin/settings")
    def _put():
        validate_settings(_with({"invoices.income_account_id": None, "schedule.time": "9"}), CTX)

    event = {"version": "2.0", "routeKey": "PUT /admin/settings", "rawPath": "/admin/settings",
             "rawQueryString": "", "headers": {}, "isBase64Encoded": False,
             "requestContext": {"http": {"method": "PUT", "path": "/admin/settings"}, "stage": "$default"}}
    response = app.resolve(event, None)
    assert response["statusCode"] == 422
    body = json.loads(response["body"])["error"]
    assert body["code"] == "settings_invalid" and body["message"]
    assert {d["field"] for d in body["details"]} == {"invoices.income_account_id", "schedule.time"}


@pytest.mark.parametrize(("schedule", "expression"), [
    ({"frequency": "every_1h"}, "rate(1 hour)"),
    ({"frequency": "every_2h"}, "rate(2 hours)"),
    ({"frequency": "every_3h"}, "rate(3 hours)"),
    ({"frequency": "daily", "time": "00:00"}, "cron(0 0 * * ? *)"),
    ({"frequency": "daily", "time": "00:30"}, "cron(30 0 * * ? *)"),
    ({"frequency": "daily", "time": "14:30"}, "cron(30 14 * * ? *)"),
    ({"frequency": "daily", "time": "23:00"}, "cron(0 23 * * ? *)"),
])
def test_schedule_expressions(schedule, expression):
    settings = validate_settings({"schedule": {**schedule, "timezone": "America/Phoenix"}}, CTX)
    assert schedule_expression(settings) == (expression, "America/Phoenix")


def test_missing_state_message_is_the_seeds_wording():
    assert MISSING_STATE_MESSAGE == (
        "The Client record has an unknown State for Country <United States>. Please add a State to the QuickBooks "
        "record or enable the 'Use default State' in the sync settings and synchronize again.")


def _clients(**clients) -> SyncSettings:
    return validate_settings({"clients": clients}, CTX)


def test_resolve_state_keeps_a_state_and_fills_a_missing_one_from_the_default():
    on = _clients(use_default_state=True, default_state="AZ")
    assert resolve_state(" CA ", "US", on) == "CA"
    assert resolve_state(None, "USA", on) == "AZ"
    assert resolve_state("", None, on) == "AZ"  # no country: the default country
    assert resolve_state(None, "United States", on) == "AZ"
    assert resolve_state(None, "Mexico", on) is None  # only US and Canadian addresses need a State


def test_resolve_state_raises_the_seeds_message_when_it_cannot_fill_one():
    with pytest.raises(MissingState) as caught:
        resolve_state(None, "US", _clients(use_default_state=False))
    assert caught.value.message == MISSING_STATE_MESSAGE and caught.value.code == "missing_state"
    # A US default State is never written into a Canadian address.
    with pytest.raises(MissingState) as caught:
        resolve_state(None, "Canada", _clients(use_default_state=True, default_state="AZ"))
    assert "<Canada>" in caught.value.message
    assert not isinstance(caught.value, AppError)


def test_tax_codes_are_checked_against_quickbooks_and_refused_under_automated_sales_tax():
    def problems(invoices, ctx=CTX):
        payload = {**VALID, "invoices": {**VALID["invoices"], **invoices}}
        with pytest.raises(SettingsInvalid) as exc:
            validate_settings(payload, ctx)
        return {p["field"]: p["message"] for p in exc.value.details}

    assert "invoices.tax_code_id" in problems({"tax_code_id": None})  # platform-stated tax needs its code
    assert "invoices.tax_codes_by_region.NV" in problems({"tax_codes_by_region": {"NV": "77"}})
    assert "invoices.tax_codes_by_region" in problems({"tax_codes_by_region": {"Nevada": "5"}})
    ast = QuickBooksContext(accounts=CTX.accounts, classes=CTX.classes, class_tracking_enabled=True,
                            tax_codes=CTX.tax_codes, automated_sales_tax=True)
    found = problems({}, ast)
    assert "automated sales tax" in found["invoices.tax_code_id"]
    assert "automated sales tax" in found["invoices.tax_codes_by_region.NV"]
    accepted = validate_settings({**VALID, "invoices": {**VALID["invoices"], "tax_code_id": None,
                                                        "tax_codes_by_region": {}}}, ast)
    assert accepted.invoices.tax_mode == "platform"  # AST: the stated amount is honoured, no code needed


# -- QuickBooks Desktop (WORK Desktop seed: Sync Settings, Job Types, Scheduler) ----------------------------------

DESKTOP = QuickBooksContext(
    accounts={"8000000A-1": ("Services", "Income", True), "8000000B-1": ("Cost of Goods Sold", "Cost of Goods Sold",
                                                                          True),
              "80000004-1": ("Inventory Asset", "Other Current Asset", True), "80000003-1": ("Checking", "Bank", True)},
    classes={"80000020-1"}, class_tracking_enabled=True, vendors={"80000030-1"}, desktop=True)
DESKTOP_VALID = {
    "invoices": {"enabled": True, "income_account_id": "8000000A-1", "job_locations": True, "tax_mode": "platform",
                 "tax_vendor_id": "80000030-1"},
    "payments": {"enabled": True},
    "items": {"enabled": True, "direction": "platform_to_quickbooks", "income_account_id": "8000000A-1",
              "expense_account_id": "8000000B-1", "asset_account_id": "80000004-1"},
    "job_types": {"enabled": True, "class_mapping": {"jt_1": {"mode": "class", "class_id": "80000020-1"}}},
    "schedule": {"frequency": "every_2h"},
}


def _desktop_problems(payload, ctx=DESKTOP):
    with pytest.raises(SettingsInvalid) as caught:
        validate_settings(payload, ctx)
    return {p["field"]: p["message"] for p in caught.value.details}


def test_desktop_settings_use_one_invoice_account_a_tax_vendor_and_inventory_accounts():
    saved = validate_settings(DESKTOP_VALID, DESKTOP)
    assert saved.invoices.tax_vendor_id == "80000030-1" and saved.payments.deposit_account_id is None


def test_desktop_refuses_what_it_cannot_act_on_and_names_the_seeds_settings():
    payload = copy.deepcopy(DESKTOP_VALID)
    payload["invoices"].update(expense_account_id="8000000B-1", tax_code_id="TAX", tax_vendor_id=None)
    problems = _desktop_problems(payload)
    assert "one account" in problems["invoices.expense_account_id"]
    assert "sales tax item" in problems["invoices.tax_code_id"]
    assert "Send Tax Rates to QuickBooks using Vendor" in problems["invoices.tax_vendor_id"]
    assert "review_mode" not in problems  # review mode holds Desktop changes too


def test_desktop_class_tracking_off_makes_job_types_unavailable():
    ctx = QuickBooksContext(accounts=DESKTOP.accounts, vendors=DESKTOP.vendors, classes=DESKTOP.classes,
                            class_tracking_enabled=False, desktop=True)
    assert "class tracking" in _desktop_problems(DESKTOP_VALID, ctx)["job_types.enabled"]


def test_desktop_ids_before_the_web_connector_ever_ran_are_refused_until_it_has():
    problems = _desktop_problems(DESKTOP_VALID, QuickBooksContext(desktop=True, lists_known=False,
                                                                  class_tracking_enabled=True))
    assert "Web Connector" in problems["invoices.income_account_id"]


def test_desktop_only_settings_are_refused_for_quickbooks_online():
    problems = _problems(_with({"invoices.tax_vendor_id": "56", "items.asset_account_id": "4"}), CTX)
    assert set(problems) >= {"invoices.tax_vendor_id", "items.asset_account_id"}
