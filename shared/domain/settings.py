"""A connection's sync settings: their shape, the rules the settings page enforces, the sync schedule they imply, and
the "Use default State" rule. Every setting comes from the peer products' help pages (docs/settings.md).

The models check each value on its own and stay lenient about combinations, so settings stored under older rules
still load for a sync run; `validate_settings` is the gate for saving and checks combinations and QuickBooks ids."""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from shared.errors import SettingsInvalid

_MISSING_STATE_TEMPLATE = ("The Client record has an unknown State for Country <{country}>. Please add a State to the "
                           "QuickBooks record or enable the 'Use default State' in the sync settings and synchronize "
                           "again.")
MISSING_STATE_MESSAGE = _MISSING_STATE_TEMPLATE.format(country="United States")

# States, DC, territories and military codes; provinces and territories. Only these countries require a State.
SUBDIVISIONS: dict[str, frozenset[str]] = {
    "US": frozenset({
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA",
        "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK",
        "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "PR", "VI", "GU",
        "AS", "MP", "AA", "AE", "AP"}),
    "CA": frozenset({"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"}),
}
_COUNTRY_NAMES = {"US": "United States", "CA": "Canada"}
_COUNTRY_ALIASES = {"us": "US", "usa": "US", "u s": "US", "u s a": "US", "united states": "US",
                    "united states of america": "US", "ca": "CA", "can": "CA", "canada": "CA"}

INCOME_TYPES = ("Income",)
EXPENSE_TYPES = ("Expense", "Cost of Goods Sold")
DEPOSIT_TYPES = ("Bank", "Other Current Asset")  # QuickBooks refuses any other DepositToAccountRef
_TIME = re.compile(r"^([01]\d|2[0-3]):(00|30)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ClientSettings(_Section):
    enabled: Literal[True] = True
    direction: Literal["two_way", "quickbooks_master", "platform_master"] = "two_way"
    use_default_state: bool = False
    default_state: str | None = None
    default_country: Literal["US", "CA"] = "US"

    @field_validator("default_state")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip().upper() or None


class SiteSettings(_Section):
    enabled: bool = True
    use_client_address_state: bool = True


class ItemSettings(_Section):
    enabled: bool = False
    direction: Literal["quickbooks_to_platform", "platform_to_quickbooks"] = "quickbooks_to_platform"
    income_account_id: str | None = None
    expense_account_id: str | None = None
    asset_account_id: str | None = None  # QuickBooks Desktop only: the inventory asset account of Inventory items


class InvoiceSettings(_Section):
    enabled: bool = False
    income_account_id: str | None = None
    expense_account_id: str | None = None
    tax_mode: Literal["quickbooks", "platform"] = "quickbooks"
    tax_code_id: str | None = None  # QuickBooks TaxCode for TxnTaxCodeRef (without automated sales tax)
    tax_codes_by_region: dict[str, str] = Field(default_factory=dict)  # State/province code -> TaxCode id
    job_locations: bool = False
    tax_vendor_id: str | None = None  # QuickBooks Desktop only: "Send Tax Rates to QuickBooks using Vendor"

    @field_validator("tax_codes_by_region")
    @classmethod
    def _regions(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for region, code in value.items():
            key = region.strip().upper()
            if not re.fullmatch(r"[A-Z]{2}", key):
                raise ValueError(f"'{region}' is not a region: use the 2-letter State or province code, like CA.")
            out[key] = code
        return out


class PaymentSettings(_Section):
    enabled: bool = False
    deposit_account_id: str | None = None


class ClassMapping(_Section):
    mode: Literal["class", "create", "none"]
    class_id: str | None = None


class JobTypeSettings(_Section):
    enabled: bool = False
    class_mapping: dict[str, ClassMapping] = Field(default_factory=dict)  # platform job type id -> class choice
    always_create_class: bool = False


class ScheduleSettings(_Section):
    frequency: Literal["every_1h", "every_2h", "every_3h", "daily"] = "every_1h"
    time: str | None = None
    timezone: str = "UTC"

    @field_validator("time")
    @classmethod
    def _half_hour(cls, value: str | None) -> str | None:
        if value is not None and not _TIME.match(value):
            raise ValueError("Choose a time on the hour or half hour, as HH:MM in 24-hour time (for example 08:00 "
                             "or 14:30).")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _time_zones():
            raise ValueError(f"'{value}' is not a time zone name; use one like America/Phoenix or UTC.")
        return value


class SyncSettings(_Section):
    clients: ClientSettings = ClientSettings()
    sites: SiteSettings = SiteSettings()
    items: ItemSettings = ItemSettings()
    invoices: InvoiceSettings = InvoiceSettings()
    payments: PaymentSettings = PaymentSettings()
    job_types: JobTypeSettings = JobTypeSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    review_mode: bool = False


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _adapter(name: str) -> TypeAdapter:
    return TypeAdapter(SyncSettings.model_fields[name].annotation or Any)


@dataclass(frozen=True)
class QuickBooksContext:
    """What QuickBooks holds right now, for checking the ids a settings payload refers to."""

    accounts: Mapping[str, tuple[str, str, bool]] = field(default_factory=dict)  # id -> (name, AccountType, active)
    classes: Set[str] = frozenset()
    class_tracking_enabled: bool = False
    vendors: Set[str] = frozenset()
    tax_codes: Set[str] = frozenset()  # active TaxCode ids
    automated_sales_tax: bool = False  # Preferences.TaxPrefs.PartnerTaxEnabled
    desktop: bool = False  # a QuickBooks Desktop company file (its rules differ: _desktop_rules)
    lists_known: bool = True  # Desktop: the Web Connector has run once, so the lists above are QuickBooks' own


def default_settings() -> SyncSettings:
    """Clients two-way (always on), sites from sub-customers, invoices and payments off, sync every hour, UTC."""
    return SyncSettings()


# -- validation --------------------------------------------------------------------------------------------------

_PLAIN = {
    "missing": "This setting is required.",
    "extra_forbidden": "This setting is not recognised; remove it.",
    "bool_type": "Use true or false.",
    "string_type": "Use text here.",
    "model_type": "Expected a group of settings here.",
    "dict_type": "Expected a group of settings here.",
}


def _plain(where: str, error: Any) -> str:  # a pydantic ErrorDetails
    kind = error["type"]
    if where == "clients.enabled":
        return "Clients always sync: invoices and payments need their QuickBooks customer, so this stays on."
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "literal_error":
        return f"Choose {error['ctx']['expected']}."
    return _PLAIN.get(kind, error["msg"])


def _problems(exc: ValidationError, prefix: str) -> list[dict]:
    out = []
    for error in exc.errors():
        where = ".".join([prefix, *(str(p) for p in error["loc"])])
        out.append({"field": where, "message": _plain(where, error)})
    return out


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "AEIOU" else f"a {noun}"


def _account_problem(ctx: QuickBooksContext, account_id: str | None, kinds: tuple[str, ...],
                     missing: str | None) -> str | None:
    if not account_id:
        return missing
    found = ctx.accounts.get(account_id)
    if found is None:
        return ("This account was not found in QuickBooks; it may have been deleted or made inactive there. "
                "Choose another account.")
    name, account_type, active = found
    if not active:
        return f"The account '{name}' is inactive in QuickBooks. Choose an active account."
    if account_type not in kinds:
        wanted = " or ".join(_a(k) for k in kinds)
        return f"The account '{name}' is {_a(account_type or 'unknown')} account; choose {wanted} account."
    return None


def _rules(s: dict[str, Any], ctx: QuickBooksContext) -> list[dict]:
    """The rules that span fields or need QuickBooks. A section that failed its own checks is absent from `s`, and
    the rules reading it are skipped rather than guessed."""
    out: list[dict] = []

    def check(field_name: str, problem: str | None) -> None:
        if problem:
            out.append({"field": field_name, "message": problem})

    invoices, items, schedule = s.get("invoices"), s.get("items"), s.get("schedule")
    out.extend(_client_rules(s.get("clients")))
    out.extend(_schedule_rules(schedule))
    if ctx.desktop:
        return out + _desktop_rules(s, ctx)
    for where, value in (("invoices.tax_vendor_id", invoices and invoices.tax_vendor_id),
                         ("items.asset_account_id", items and items.asset_account_id)):
        check(where, "This setting applies to QuickBooks Desktop only; remove it." if value else None)
    out.extend(_rules_online(s, ctx))
    return out


def _client_rules(clients: ClientSettings | None) -> list[dict]:
    out: list[dict] = []

    def check(field_name: str, problem: str | None) -> None:
        if problem:
            out.append({"field": field_name, "message": problem})

    if clients is not None:
        country = _COUNTRY_NAMES[clients.default_country]
        if clients.use_default_state and not clients.default_state:
            check("clients.default_state", "Choose the default State for clients that have none, or turn off "
                                           "'Use default State'.")
        elif clients.default_state and clients.default_state not in SUBDIVISIONS[clients.default_country]:
            check("clients.default_state", f"'{clients.default_state}' is not a State code in {country}; use the "
                                           "2-letter code, like AZ.")
    return out


def _schedule_rules(schedule: ScheduleSettings | None) -> list[dict]:
    out: list[dict] = []
    if schedule is not None:
        if schedule.frequency == "daily" and not schedule.time:
            out.append({"field": "schedule.time", "message": "Choose the time of day for the daily sync, on the hour "
                                                             "or half hour (for example 08:00 or 14:30)."})
        elif schedule.frequency != "daily" and schedule.time:
            out.append({"field": "schedule.time", "message": "A time of day only applies to a daily sync; remove "
                                                             "it, or choose 'daily'."})
    return out


def _rules_online(s: dict[str, Any], ctx: QuickBooksContext) -> list[dict]:
    out: list[dict] = []

    def check(field_name: str, problem: str | None) -> None:
        if problem:
            out.append({"field": field_name, "message": problem})

    invoices, payments = s.get("invoices"), s.get("payments")
    items, job_types = s.get("items"), s.get("job_types")
    if invoices is not None and invoices.enabled:
        check("invoices.income_account_id", _account_problem(
            ctx, invoices.income_account_id, INCOME_TYPES,
            "Choose the income account invoice amounts post to ('Use this Income Account')."))
        check("invoices.expense_account_id", _account_problem(
            ctx, invoices.expense_account_id, EXPENSE_TYPES,
            "Choose the expense account items post to ('Use this Expense Account')."))
    if invoices is not None and invoices.enabled:
        out.extend(_tax_rules(invoices, ctx))
    if payments is not None and payments.enabled:
        if invoices is not None and not invoices.enabled:
            check("payments.enabled", "Payments can only sync when Invoices sync too. Turn on Invoices, or turn "
                                      "off Payments.")
        check("payments.deposit_account_id", _account_problem(
            ctx, payments.deposit_account_id, DEPOSIT_TYPES,
            "Choose the account payments are deposited to ('Deposit payments to this account')."))
    if items is not None and items.enabled and items.direction == "platform_to_quickbooks":
        check("items.income_account_id", _account_problem(
            ctx, items.income_account_id, INCOME_TYPES,
            "Choose the income account for items sent to QuickBooks."))
        check("items.expense_account_id", _account_problem(
            ctx, items.expense_account_id, EXPENSE_TYPES,
            "Choose the expense account for items sent to QuickBooks."))
    if job_types is not None and job_types.enabled:
        if not ctx.class_tracking_enabled:
            check("job_types.enabled", "Job Types need class tracking in QuickBooks. Turn on 'Track classes' in "
                                       "QuickBooks (Settings > Account and settings > Advanced > Categories), or "
                                       "turn off Job Types.")
        out.extend(_class_mapping_rules(job_types, invoices, ctx))
    return out


def _desktop_rules(s: dict[str, Any], ctx: QuickBooksContext) -> list[dict]:
    """QuickBooks Desktop (the WORK Desktop seed's Sync Settings and Job Types tabs): one income account for invoice
    lines, tax rates sent as sales tax items of a tax vendor, payments deposited where QuickBooks defaults unless an
    account is chosen, Inventory items with their three accounts; review mode holds Desktop changes as well
    (shared/qbdesktop/drain.py). Ids are Desktop ListIDs from the lists the Web Connector read at its last run
    (docs/qbdesktop.md)."""
    out: list[dict] = []

    def check(field_name: str, problem: str | None) -> None:
        if problem:
            out.append({"field": field_name, "message": problem})

    def account(account_id: str | None, kinds: tuple[str, ...], missing: str | None) -> str | None:
        if account_id and not ctx.lists_known:
            return _NOT_READ_YET
        return _account_problem(ctx, account_id, kinds, missing)

    invoices, payments, items = s.get("invoices"), s.get("payments"), s.get("items")
    job_types = s.get("job_types")
    if invoices is not None and invoices.enabled:
        check("invoices.income_account_id", account(
            invoices.income_account_id, INCOME_TYPES,
            "Choose the income account invoice lines post to ('Send inventory items to Invoice Account')."))
        if invoices.expense_account_id:
            check("invoices.expense_account_id", "QuickBooks Desktop invoice lines post to one account ('Send "
                                                 "inventory items to Invoice Account'); remove the expense account.")
        for where, code in [("invoices.tax_code_id", invoices.tax_code_id),
                            *((f"invoices.tax_codes_by_region.{r}", c)
                              for r, c in sorted(invoices.tax_codes_by_region.items()))]:
            if code:
                check(where, "QuickBooks Desktop taxes an invoice with a sales tax item and each line's Tax or Non "
                             "code, not a tax code; remove it (choose tax_mode 'platform' and a tax vendor to send "
                             "the platform's tax rates).")
        if invoices.tax_mode == "platform" and not invoices.tax_vendor_id:
            check("invoices.tax_vendor_id", "Choose the tax vendor the platform's tax rates are sent with ('Send "
                                            "Tax Rates to QuickBooks using Vendor').")
        elif invoices.tax_mode != "platform" and invoices.tax_vendor_id:
            check("invoices.tax_vendor_id", "A tax vendor sends the platform's tax rates, so it needs tax_mode "
                                            "'platform'; remove it, or choose 'platform'.")
        elif invoices.tax_vendor_id and not ctx.lists_known:
            check("invoices.tax_vendor_id", _NOT_READ_YET)
        elif invoices.tax_vendor_id and invoices.tax_vendor_id not in ctx.vendors:
            check("invoices.tax_vendor_id", "This vendor was not found in QuickBooks; it may have been deleted or "
                                            "made inactive there. Choose another vendor.")
    if payments is not None and payments.enabled:
        if invoices is not None and not invoices.enabled:
            check("payments.enabled", "Payments can only sync when Invoices sync too. Turn on Invoices, or turn "
                                      "off Payments.")
        if payments.deposit_account_id:  # optional: QuickBooks' own default account otherwise (WORK seed)
            check("payments.deposit_account_id", account(payments.deposit_account_id, DEPOSIT_TYPES, None))
    if items is not None and items.enabled and items.direction == "platform_to_quickbooks":
        check("items.income_account_id", account(items.income_account_id, INCOME_TYPES,
                                                 "Choose the income account for items sent to QuickBooks."))
        check("items.expense_account_id", account(
            items.expense_account_id, ("Cost of Goods Sold",),
            "Choose the cost of goods sold account: equipment and inventory go to QuickBooks Desktop as Inventory "
            "items, which need one."))
        check("items.asset_account_id", account(
            items.asset_account_id, ("Other Current Asset",),
            "Choose the inventory asset account: equipment and inventory go to QuickBooks Desktop as Inventory "
            "items, which need one."))
    if job_types is not None and job_types.enabled:
        if not ctx.class_tracking_enabled:
            check("job_types.enabled", "The Job Types tab is not available: class tracking is off in this QuickBooks "
                                       "company file. Turn on 'Use class tracking for transactions' (Edit > "
                                       "Preferences > Accounting) and let the Web Connector run once, or turn off "
                                       "Job Types.")
        out.extend(_class_mapping_rules(job_types, invoices, ctx))
    return out


def _class_mapping_rules(job_types: Any, invoices: Any, ctx: QuickBooksContext) -> list[dict]:
    """What Online and Desktop share about Job Types once class tracking is on: Invoices on, and each job type's
    mapping complete and naming a class QuickBooks has."""
    out = []
    if invoices is not None and not invoices.enabled:
        out.append({"field": "job_types.enabled", "message": "Job Types set the class of synced invoices, so they "
                                                             "need Invoices turned on."})
    for job_type_id, mapping in sorted(job_types.class_mapping.items()):
        where, problem = f"job_types.class_mapping.{job_type_id}.class_id", None
        if mapping.mode != "class":
            problem = ("Only a job type mapped to a chosen class takes a class; remove it, or choose 'class'."
                       if mapping.class_id else None)
        elif not mapping.class_id:
            problem = "Choose the QuickBooks class for this job type, or choose 'Create New Job Class' or 'None'."
        elif mapping.class_id not in ctx.classes:
            problem = _NOT_READ_YET if not ctx.lists_known else (
                "This class was not found in QuickBooks; it may have been deleted or made inactive there. Choose "
                "another class.")
        if problem:
            out.append({"field": where, "message": problem})
    return out


_NOT_READ_YET = ("QuickBooks Desktop's lists are read when the Web Connector runs, and it has not run yet. Run it "
                 "once ('Update Selected' in the Web Connector), then save these settings.")


def _tax_rules(invoices: InvoiceSettings, ctx: QuickBooksContext) -> list[dict]:
    """Tax codes are what the push sends as TxnTaxCodeRef: automated sales tax assigns its own (Intuit: "The AST
    engine assigns the appropriate tax code"), so a chosen code could not act there and is refused."""
    out = []
    chosen = {"invoices.tax_code_id": invoices.tax_code_id} if invoices.tax_code_id else {}
    chosen.update({f"invoices.tax_codes_by_region.{r}": c for r, c in sorted(invoices.tax_codes_by_region.items())})
    if ctx.automated_sales_tax:
        for where in chosen:
            out.append({"field": where, "message": "This QuickBooks company uses automated sales tax, which chooses "
                                                   "the tax code itself; remove the tax code."})
        return out
    for where, code in chosen.items():
        if code not in ctx.tax_codes:
            out.append({"field": where, "message": "This tax code was not found in QuickBooks; it may have been "
                                                   "deleted or made inactive there. Choose another tax code."})
    if invoices.tax_mode == "platform" and not invoices.tax_code_id:
        out.append({"field": "invoices.tax_code_id",
                    "message": "Choose the QuickBooks tax code the platform's tax is recorded under (for regions "
                               "without their own code in 'tax_codes_by_region')."})
    return out


def validate_settings(payload: dict, ctx: QuickBooksContext) -> SyncSettings:
    """The settings to save, or SettingsInvalid (422) listing every problem at once, each with its dotted field.
    A section left out of `payload` takes its defaults."""
    problems: list[dict] = []
    sections: dict[str, Any] = {}
    for name in sorted(set(payload) - set(SyncSettings.model_fields)):
        problems.append({"field": name, "message": _PLAIN["extra_forbidden"]})
    for name, info in SyncSettings.model_fields.items():
        if name not in payload:
            sections[name] = info.get_default(call_default_factory=True)
            continue
        try:
            sections[name] = _adapter(name).validate_python(payload[name], strict=True)
        except ValidationError as exc:
            problems.extend(_problems(exc, name))
    problems.extend(_rules(sections, ctx))
    if problems:
        raise SettingsInvalid(problems)
    return SyncSettings(**sections)


# -- schedule ----------------------------------------------------------------------------------------------------

def schedule_expression(settings: SyncSettings) -> tuple[str, str]:
    """The EventBridge Scheduler expression and its time zone: "rate(1 hour)", "rate(2 hours)", or
    "cron(30 14 * * ? *)" for a daily sync at 14:30."""
    schedule = settings.schedule
    if schedule.frequency == "daily":
        if schedule.time is None:
            raise ValueError("a daily schedule needs a time")
        hours, minutes = (int(part) for part in schedule.time.split(":"))
        return f"cron({minutes} {hours} * * ? *)", schedule.timezone
    every = int(schedule.frequency.removeprefix("every_").removesuffix("h"))
    return (f"rate({every} hour)" if every == 1 else f"rate({every} hours)"), schedule.timezone


# -- "Use default State" -----------------------------------------------------------------------------------------

class MissingState(Exception):
    """A US or Canadian address without a State while 'Use default State' cannot fill it: the record does not sync,
    and the error log shows `message` (the seeds' wording)."""

    code = "missing_state"

    def __init__(self, country: str):
        self.country = country
        self.message = _MISSING_STATE_TEMPLATE.format(country=_COUNTRY_NAMES.get(country, country))
        super().__init__(self.message)


def _country_code(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    key = " ".join(re.sub(r"[^\w\s]", " ", value).split()).casefold()
    return _COUNTRY_ALIASES.get(key, value.strip().upper())


def resolve_state(address_state: str | None, address_country: str | None, settings: SyncSettings) -> str | None:
    """The State to write for an address: its own; else, for a US or Canadian address (no country means the
    default country), the default State when 'Use default State' is on and the default is in that country; None
    when the country has no States to require. Raises MissingState otherwise."""
    if address_state and address_state.strip():
        return address_state.strip()
    clients = settings.clients
    country = _country_code(address_country) or clients.default_country
    if country not in SUBDIVISIONS:
        return None
    if clients.use_default_state and clients.default_state and country == clients.default_country:
        return clients.default_state
    raise MissingState(country)
