"""Seeded datasets for both sides of the sync that look like real field-service businesses and plant the hard cases
users of peer products hit (see docs/fieldservice.md, "Generator").

`generate(seed, clients)` returns a Dataset:
- `fieldservice`: records per kind (`clients`, `sites`, `job_types`, `items`, `invoices`, `payments`) in the FSP
  emulator's load format (the contract's record shape; POST it to `/_emulator/tenants/{t}/load`);
- `quickbooks`: entities per type (`Customer`, `Item`, `Class`) in QuickBooks' own JSON shape, with `Id`s assigned
  (sequential per entity type, as a fresh company would) and `ParentRef`s pointing at those Ids. A loader that must
  assign its own Ids maps them through `Id`; Money fields are Decimal (`quickbooks_json()` writes exact numbers);
- `expectations`: what a correct onboarding and sync should conclude (format in docs/fieldservice.md).

Same seed and arguments -> identical output: one `random.Random(seed)`, fixed base time, no set iteration."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from emulators.datagen import words

BASE = datetime(2024, 6, 3, 15, 0, tzinfo=UTC)
CENT = Decimal("0.01")
QBO_TYPE = {"service": "Service", "inventory": "Inventory", "non_inventory": "NonInventory",
            "equipment": "Inventory"}  # equipment maps to inventory (seeds)
INCOME = {"value": "79", "name": "Sales of Product Income"}
SERVICES_INCOME = {"value": "1", "name": "Services"}
COGS = {"value": "80", "name": "Cost of Goods Sold"}
ASSET = {"value": "81", "name": "Inventory Asset"}
_SUFFIX_WORDS = re.compile(r"\b(inc|llc|co|corp|ltd|group)\b\.?", re.I)
_PUNCT = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class Dataset:
    seed: int
    fieldservice: dict[str, list[dict]]
    quickbooks: dict[str, list[dict]]
    expectations: dict[str, Any]

    def quickbooks_json(self) -> str:
        """The QuickBooks side as JSON, Decimals written as exact JSON numbers (never through a float)."""
        text = json.dumps(self.quickbooks, ensure_ascii=False, default=lambda d: f"__dec__{d}")
        return re.sub(r'"__dec__(-?[0-9.]+)"', r"\1", text)

    def fieldservice_json(self) -> str:
        return json.dumps(self.fieldservice, ensure_ascii=False)


def name_key(name: str) -> str:
    """How the generator decides two names are "the same business": case, punctuation, spacing and legal suffixes
    ignored. Pairs planted as matches agree on it; names meant to be distinct never collide on it."""
    return " ".join(_PUNCT.sub("", _SUFFIX_WORDS.sub("", name.lower().replace("&", " and "))).split())


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _qbo_time(moment: datetime) -> str:
    return (moment - timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%S-08:00")


class _Generator:
    def __init__(self, seed: int, clients: int, overlap: float, quickbooks_customers: int | None,
                 sub_customer_share: float, invoices_per_client: float):
        if clients < 0 or not 0 <= overlap <= 1:
            raise ValueError("clients must be >= 0 and overlap within [0, 1]")
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.n_clients, self.overlap = clients, overlap
        self.n_qbo = clients if quickbooks_customers is None else quickbooks_customers
        self.sub_share, self.invoices_per_client = sub_customer_share, invoices_per_client
        self.fsp: dict[str, list[dict]] = {k: [] for k in ("job_types", "items", "clients", "sites", "invoices",
                                                           "payments")}
        self.qbo: dict[str, list[dict]] = {"Customer": [], "Item": [], "Class": []}
        self.keys: set[str] = set()
        self.qbo_names: set[str] = set()
        self.ids: dict[str, int] = {}
        self.sites_of: dict[str, list[dict]] = {}
        self.client_state: dict[str, str | None] = {}
        self.exp: dict[str, Any] = {
            "matches": [], "ambiguous": [], "quickbooks_only": [], "platform_only": [], "job_locations": [],
            "project_jobs": [], "nested_jobs": [], "site_matches": [],
            "missing_state": {"platform": [], "quickbooks": []}, "inactive": {"platform": [], "quickbooks": []},
            "non_ascii": {"platform": [], "quickbooks": []}, "forbidden_characters": [], "too_long_for_quickbooks": [],
            "items": {"matches": [], "platform_only": [], "quickbooks_only": []},
            "job_types": {"matching_classes": [], "without_class": []},
            "invoices": {"ready": [], "zero_total": [], "not_ready": [], "paid": [], "void": []},
            "payments": {"on_ready": [], "on_other": []},
        }

    # -- ids and time ---------------------------------------------------------------------------------------------
    def _fsp_id(self, prefix: str) -> str:
        self.ids[prefix] = self.ids.get(prefix, 0) + 1
        return f"{prefix}_{self.ids[prefix]:06d}"

    def _qbo_id(self, entity: str) -> str:
        self.ids[entity] = self.ids.get(entity, 0) + 1
        return str(self.ids[entity])

    def _moment(self, after: datetime | None = None, days: int = 360) -> datetime:
        start = after or BASE
        return start + timedelta(seconds=self.rng.randrange(1, days * 86400), microseconds=self.rng.randrange(10**6))

    def _stamps(self, after: datetime | None = None) -> tuple[datetime, datetime]:
        created = self._moment(after)
        return created, self._moment(created, 30)

    # -- businesses -----------------------------------------------------------------------------------------------
    def _address(self, city: tuple[str, str, str] | None = None) -> dict:
        rng = self.rng
        name, state, zip3 = city or rng.choice(words.CITIES)
        return {"line1": f"{rng.randrange(100, 9999)} {rng.choice(words.STREET_DIRECTIONS)}{rng.choice(words.STREETS)}",
                "line2": rng.choice(("Suite 100", "Unit 4", "Apt 12")) if rng.random() < 0.08 else None,
                "city": name, "state": state, "postal_code": f"{zip3}{rng.randrange(10, 99)}", "country": "US"}

    def _phone(self) -> str:
        rng = self.rng
        area = rng.choice(("480", "602", "623", "520", "512", "303", "702", "619"))
        return f"({area}) 555-{rng.randrange(10000):04d}"

    def _claim(self, name: str) -> bool:
        key = name_key(name)
        if not key or key in self.keys:
            return False
        self.keys.add(key)
        return True

    def _company_name(self, style: str = "any") -> str:
        rng = self.rng
        for attempt in range(12):
            last, trade, suffix = rng.choice(words.LAST), rng.choice(words.TRADES), rng.choice(words.SUFFIXES)
            if style == "punctuation":
                name = rng.choice((f"{last}'s {trade}, LLC", f"{rng.choice(words.ADJECTIVES)} {trade}, Inc.",
                                   f"{last} & {rng.choice(words.LAST)}, P.C."))
            elif style == "inc":
                name = f"{rng.choice(words.ADJECTIVES)} {last} {trade} Inc."
            elif attempt < 4:
                name = rng.choice((f"{last} {trade}{suffix}", f"{rng.choice(words.ADJECTIVES)} {trade}{suffix}",
                                   f"{last} & {rng.choice(words.LAST)}{suffix}",
                                   f"{rng.choice(words.CITIES)[0]} {trade}{suffix}"))
            else:
                name = f"{rng.choice(words.ADJECTIVES)} {last} {trade} of {rng.choice(words.CITIES)[0]}{suffix}"
            if self._claim(name):
                return name
        raise RuntimeError("name space exhausted; add words")

    def _person(self) -> tuple[str, str]:
        rng = self.rng
        for _ in range(20):
            first, last = rng.choice(words.FIRST), rng.choice(words.LAST)
            if rng.random() < 0.3:
                first = f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}."
            if self._claim(f"{first} {last}"):
                return first, last
        raise RuntimeError("name space exhausted; add words")

    def business(self, style: str = "any", company: str | None = None,
                 city: tuple[str, str, str] | None = None) -> dict:
        rng = self.rng
        individual = company is None and style == "any" and rng.random() < 0.22
        first, last = rng.choice(words.FIRST), rng.choice(words.LAST)
        if individual:
            first, last = self._person()
        elif company is None:
            company = self._company_name(style)
        slug = re.sub(r"[^a-z0-9]+", "", (company or f"{first}{last}").lower())[:20] or "mail"
        email = (f"{first.split()[0].lower()}.{last.lower()}{rng.randrange(100)}@{rng.choice(words.EMAIL_DOMAINS)}"
                 if individual else f"{rng.choice(('office', 'billing', 'info', first.lower()))}@{slug}.com")
        return {"company": company, "first": first, "last": last, "email": email, "phone": self._phone(),
                "address": self._address(city), "taxable": rng.random() < 0.85}

    # -- records --------------------------------------------------------------------------------------------------
    def fsp_client(self, b: dict, *, company: str | None = None, active: bool | None = None,
                   no_state: bool | None = None) -> dict:
        rng = self.rng
        created, updated = self._stamps()
        address = dict(b["address"])
        if no_state if no_state is not None else rng.random() < 0.03:
            address["state"] = None
        client = {"id": self._fsp_id("cli"), "company_name": company if company is not None else b["company"],
                  "contact": {"first_name": b["first"], "last_name": b["last"], "email": b["email"],
                              "phone": b["phone"]},
                  "billing_address": address, "active": active if active is not None else rng.random() >= 0.04,
                  "created_at": _ts(created), "updated_at": _ts(updated)}
        self.fsp["clients"].append(client)
        self.client_state[client["id"]] = address["state"]
        if address["state"] is None:
            self.exp["missing_state"]["platform"].append(client["id"])
        if not client["active"]:
            self.exp["inactive"]["platform"].append(client["id"])
        name = client["company_name"] or f"{b['first']} {b['last']}"
        if not name.isascii():
            self.exp["non_ascii"]["platform"].append(client["id"])
        self.sites_of[client["id"]] = []
        self.fsp_site(client, b["address"], created, name="Main" if client["company_name"] else "Home")
        for _ in range(rng.choice((0, 0, 0, 0, 1, 2))):
            self.fsp_site(client, self._address(), created)
        return client

    def fsp_site(self, client: dict, address: dict, after: datetime, name: str | None = None) -> dict:
        created, updated = self._stamps(after)
        site = {"id": self._fsp_id("site"), "client_id": client["id"], "name": name or address["line1"],
                "address": dict(address), "contact": None, "active": client["active"],
                "created_at": _ts(created), "updated_at": _ts(updated)}
        self.fsp["sites"].append(site)
        self.sites_of[client["id"]].append(site)
        return site

    def _qbo_address(self, address: dict, no_state: bool) -> dict:
        out = {"Id": self._qbo_id("PhysicalAddress"), "Line1": address["line1"], "City": address["city"],
               "PostalCode": address["postal_code"]}
        if address.get("line2"):
            out["Line2"] = address["line2"]
        if not no_state:
            out["CountrySubDivisionCode"] = address["state"]
        country = self.rng.choice((None, None, None, None, None, "USA", "USA", "US", "United States"))
        if country:
            out["Country"] = country
        return out

    def qbo_customer(self, b: dict, display: str, *, active: bool | None = None, no_state: bool | None = None,
                     parent: dict | None = None, ship: dict | None = None, bill_with_parent: bool = False) -> dict:
        rng = self.rng
        if display.lower() in self.qbo_names:
            raise RuntimeError(f"duplicate DisplayName {display!r}")
        self.qbo_names.add(display.lower())
        created, updated = self._stamps()
        no_state = no_state if no_state is not None else rng.random() < 0.04
        customer: dict[str, Any] = {
            "Taxable": b["taxable"], "BillAddr": self._qbo_address(b["address"], no_state),
            "Job": parent is not None, "BillWithParent": bill_with_parent, "Balance": Decimal("0.00"),
            "BalanceWithJobs": Decimal("0.00"), "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "PreferredDeliveryMethod": rng.choice(("Print", "Email", "None")), "domain": "QBO", "sparse": False,
            "Id": self._qbo_id("Customer"), "SyncToken": str(rng.randrange(0, 4)),
            "MetaData": {"CreateTime": _qbo_time(created), "LastUpdatedTime": _qbo_time(updated)},
            "GivenName": b["first"], "FamilyName": b["last"],
            "FullyQualifiedName": f"{parent['FullyQualifiedName']}:{display}" if parent else display,
            "DisplayName": display, "PrintOnCheckName": b["company"] or f"{b['first']} {b['last']}",
            "Active": active if active is not None else rng.random() >= 0.04,
            "PrimaryPhone": {"FreeFormNumber": b["phone"]}, "PrimaryEmailAddr": {"Address": b["email"]},
        }
        if b["company"]:
            customer["CompanyName"] = b["company"]
        if ship is not None:
            customer["ShipAddr"] = self._qbo_address(ship, False)
        elif rng.random() < 0.5 and parent is None:
            customer["ShipAddr"] = dict(customer["BillAddr"], Id=self._qbo_id("PhysicalAddress"))
        if parent is not None:
            customer["ParentRef"] = {"value": parent["Id"]}
            customer["Level"] = parent.get("Level", 0) + 1
        self.qbo["Customer"].append(customer)
        if no_state:
            self.exp["missing_state"]["quickbooks"].append(customer["Id"])
        if not customer["Active"]:
            self.exp["inactive"]["quickbooks"].append(customer["Id"])
        if not display.isascii():
            self.exp["non_ascii"]["quickbooks"].append(customer["Id"])
        return customer

    @staticmethod
    def display_of(b: dict) -> str:
        return b["company"] or f"{b['first']} {b['last']}"

    # -- the populations ------------------------------------------------------------------------------------------
    def variation(self, qbo_name: str, kind: str) -> str:
        rng = self.rng
        if kind == "case":
            return qbo_name.upper() if rng.random() < 0.6 else qbo_name.lower()
        if kind == "punctuation":
            return re.sub(r"[.,']", "", qbo_name)
        if kind == "inc_suffix":
            return qbo_name[:-1] if qbo_name.endswith("Inc.") else f"{qbo_name}."
        if kind == "trailing_space":
            return rng.choice((f"{qbo_name} ", f"{qbo_name}  ", f" {qbo_name}", qbo_name.replace(" ", "  ", 1)))
        return qbo_name

    def pair(self, b: dict, kind: str, **client_kw: Any) -> tuple[dict, dict]:
        display = self.display_of(b)
        customer = self.qbo_customer(b, display)
        platform_name = self.variation(b["company"], kind) if b["company"] else None
        client = self.fsp_client(b, company=platform_name, **client_kw)
        self.exp["matches"].append({"fsp_client_id": client["id"], "qbo_customer_id": customer["Id"],
                                    "variation": kind if b["company"] else "individual",
                                    "fsp_name": client["company_name"] or display, "qbo_name": display})
        return client, customer

    def populate(self) -> None:
        rng = self.rng
        n_overlap = round(min(self.n_clients, self.n_qbo) * self.overlap)
        scale = max(1, self.n_clients // 250)
        planted_pairs = self.plant(scale)
        kinds = ("exact",) * 8 + ("case", "case", "punctuation", "punctuation", "inc_suffix", "inc_suffix",
                                  "trailing_space", "trailing_space")
        for _ in range(max(0, n_overlap - planted_pairs)):
            kind = rng.choice(kinds)
            style = {"punctuation": "punctuation", "inc_suffix": "inc"}.get(kind, "any")
            self.pair(self.business(style), kind)
        qbo_top = sum(1 for c in self.qbo["Customer"] if not c["Job"])
        for _ in range(max(0, self.n_qbo - qbo_top)):
            b = self.business()
            self.exp["quickbooks_only"].append(self.qbo_customer(b, self.display_of(b))["Id"])
        for _ in range(max(0, self.n_clients - len(self.fsp["clients"]))):
            self.exp["platform_only"].append(self.fsp_client(self.business())["id"])
        self.sub_customers()

    def plant(self, scale: int) -> int:
        """The named hard cases; returns how many matched pairs they used."""
        if self.n_clients < 8 or self.n_qbo < 8:
            return 0
        rng, pairs = self.rng, 0
        # "Carefree": one customer whose QuickBooks jobs are its service locations, partly known on the platform.
        carefree = self.business(company="Carefree", city=("Carefree", "AZ", "853"))
        self.keys.add(name_key("Carefree"))
        client, parent = self.pair(carefree, "exact", active=True, no_state=False)
        pairs += 1
        self.location_jobs(parent, carefree, count=4, client=client, known_on_platform=2)
        # The same business twice on the platform, once in QuickBooks: a human has to choose.
        for _ in range(scale):
            b = self.business()
            customer = self.qbo_customer(b, self.display_of(b))
            twins = [self.fsp_client(b)["id"], self.fsp_client(b, company=b["company"] and f"{b['company']} ")["id"]]
            self.exp["ambiguous"].append({"reason": "duplicate_on_platform", "fsp_client_ids": twins,
                                          "qbo_customer_ids": [customer["Id"]]})
            pairs += 1
        # One company twice in QuickBooks (DisplayName must differ, CompanyName need not), once on the platform.
        for _ in range(scale):
            b = self.business("any", company=self._company_name())
            first = self.qbo_customer(b, b["company"])
            second = self.qbo_customer(b, f"{b['company']} ({b['address']['city']})")
            client = self.fsp_client(b)
            self.exp["ambiguous"].append({"reason": "duplicate_in_quickbooks", "fsp_client_ids": [client["id"]],
                                          "qbo_customer_ids": [first["Id"], second["Id"]]})
            pairs += 1
        # Non-ASCII names on both sides, matched and one-sided.
        for i in range(max(2, scale)):
            company = words.NON_ASCII[i % len(words.NON_ASCII)]
            if i >= len(words.NON_ASCII):
                company = f"{company} {rng.choice(words.CITIES)[0]}"
            if not self._claim(company):
                continue
            b = self.business(company=company)
            b["first"], b["last"] = words.NON_ASCII_PEOPLE[i % len(words.NON_ASCII_PEOPLE)]
            if i % 3 == 2:
                self.exp["quickbooks_only"].append(self.qbo_customer(b, company)["Id"])
            else:
                self.pair(b, "exact")
                pairs += 1
        # Names QuickBooks refuses (":" tab newline) or cannot hold (DisplayName > 100 characters).
        for i in range(max(3, scale)):
            b = self.business()
            base = b["company"] or f"{b['first']} {b['last']}"
            bad = (f"{base}: Service Dept", f"{base}\tHQ", f"{base}\nAttn: Billing")[i % 3]
            client = self.fsp_client(b, company=bad)
            self.exp["forbidden_characters"].append(client["id"])
            self.exp["platform_only"].append(client["id"])
        b = self.business()
        long_name = f"{b['company'] or b['last']} " + " ".join(rng.choice(words.TRADES) for _ in range(10))
        client = self.fsp_client(b, company=long_name[:180])
        self.exp["too_long_for_quickbooks"].append(client["id"])
        self.exp["platform_only"].append(client["id"])
        return pairs

    def location_jobs(self, parent: dict, b: dict, count: int, client: dict | None = None,
                      known_on_platform: int = 0) -> None:
        jobs = []
        for i in range(count):
            address = self._address((b["address"]["city"], b["address"]["state"], b["address"]["postal_code"][:3]))
            display = address["line1"]
            while display.lower() in self.qbo_names:
                display = f"{address['line1']} #{self.rng.randrange(2, 99)}"
            job = self.qbo_customer(b, display, parent=parent, ship=address, bill_with_parent=True, active=True,
                                    no_state=False)
            site_id = None
            if client is not None and i < known_on_platform:
                site_id = self.fsp_site(client, address, BASE)["id"]
                self.exp["site_matches"].append({"fsp_site_id": site_id, "qbo_customer_id": job["Id"]})
            jobs.append({"qbo_customer_id": job["Id"], "line1": address["line1"], "fsp_site_id": site_id})
        self.exp["job_locations"].append({"qbo_parent_id": parent["Id"],
                                          "fsp_client_id": client["id"] if client else None, "jobs": jobs})

    def sub_customers(self) -> None:
        rng = self.rng
        top = [c for c in self.qbo["Customer"] if not c["Job"] and c["FullyQualifiedName"] != "Carefree"]
        client_of = {m["qbo_customer_id"]: m["fsp_client_id"] for m in self.exp["matches"]}
        clients = {c["id"]: c for c in self.fsp["clients"]}
        wanted = round(self.n_qbo * self.sub_share) - len(self.exp["job_locations"])
        for parent in rng.sample(top, max(0, min(len(top), wanted))):
            b = {"company": parent.get("CompanyName"), "first": parent["GivenName"], "last": parent["FamilyName"],
                 "email": parent["PrimaryEmailAddr"]["Address"], "phone": parent["PrimaryPhone"]["FreeFormNumber"],
                 "taxable": parent["Taxable"], "address": self._address()}
            roll = rng.random()
            if roll < 0.8:
                client = clients.get(client_of.get(parent["Id"], ""))
                self.location_jobs(parent, b, rng.choice((1, 2, 2, 3, 4)), client=client,
                                   known_on_platform=rng.choice((0, 0, 1)) if client else 0)
                continue
            display = f"{parent['DisplayName'][:60]} - {rng.choice(words.PROJECTS)}"
            if display.lower() in self.qbo_names:
                continue
            job = self.qbo_customer(b, display, parent=parent, bill_with_parent=True, active=True, no_state=False)
            job.pop("ShipAddr", None)
            self.exp["project_jobs"].append({"qbo_customer_id": job["Id"], "qbo_parent_id": parent["Id"],
                                             "fsp_client_id": client_of.get(parent["Id"])})
            if roll > 0.95:
                child = self.qbo_customer(b, f"{display} - Phase 2", parent=job, bill_with_parent=True, active=True,
                                          no_state=False)
                self.exp["nested_jobs"].append({"qbo_customer_id": child["Id"], "qbo_parent_id": job["Id"],
                                                "level": child["Level"]})

    # -- catalog ---------------------------------------------------------------------------------------------------
    def catalog(self) -> None:
        rng = self.rng
        for i, name in enumerate(words.JOB_TYPES):
            created, updated = self._stamps()
            job_type = {"id": self._fsp_id("jt"), "name": name, "active": i != len(words.JOB_TYPES) - 1,
                        "created_at": _ts(created), "updated_at": _ts(updated)}
            self.fsp["job_types"].append(job_type)
            if i < 5:
                cls = self._qbo_class(name)
                self.exp["job_types"]["matching_classes"].append({"job_type_id": job_type["id"],
                                                                  "qbo_class_id": cls["Id"]})
            else:
                self.exp["job_types"]["without_class"].append(job_type["id"])
        self._qbo_class("Overhead")
        for i, (name, kind, price, cost, taxable) in enumerate(words.ITEMS):
            created, updated = self._stamps()
            item = {"id": self._fsp_id("item"), "name": name, "type": kind, "description": f"{name} ({kind})",
                    "sku": f"SKU-{1000 + i}" if kind != "service" else None, "price": price, "cost": cost,
                    "taxable": taxable, "active": i != 5, "created_at": _ts(created), "updated_at": _ts(updated)}
            self.fsp["items"].append(item)
            if i % 2 == 0:
                qbo_name = name.lower() if i == 0 else name  # a case-only difference still matches by name
                qbo = self._qbo_item(qbo_name, QBO_TYPE[kind], price, cost, taxable)
                self.exp["items"]["matches"].append({"fsp_item_id": item["id"], "qbo_item_id": qbo["Id"]})
            else:
                self.exp["items"]["platform_only"].append(item["id"])
        for name, qbo_type, price, cost, taxable in words.QBO_ONLY_ITEMS:
            self.exp["items"]["quickbooks_only"].append(self._qbo_item(name, qbo_type, price, cost, taxable)["Id"])
        rng.shuffle(self.fsp["items"])

    def _qbo_class(self, name: str) -> dict:
        created, updated = self._stamps()
        cls = {"Name": name, "SubClass": False, "FullyQualifiedName": name, "Active": True, "domain": "QBO",
               "sparse": False, "Id": self._qbo_id("Class"), "SyncToken": "0",
               "MetaData": {"CreateTime": _qbo_time(created), "LastUpdatedTime": _qbo_time(updated)}}
        self.qbo["Class"].append(cls)
        return cls

    def _qbo_item(self, name: str, qbo_type: str, price: str, cost: str | None, taxable: bool) -> dict:
        created, updated = self._stamps()
        item: dict[str, Any] = {
            "Name": name, "Description": name, "Active": True, "FullyQualifiedName": name, "Taxable": taxable,
            "UnitPrice": Decimal(price), "Type": qbo_type,
            "IncomeAccountRef": SERVICES_INCOME if qbo_type == "Service" else INCOME,
            "PurchaseCost": Decimal(cost or "0"), "TrackQtyOnHand": qbo_type == "Inventory", "domain": "QBO",
            "sparse": False, "Id": self._qbo_id("Item"), "SyncToken": "0",
            "MetaData": {"CreateTime": _qbo_time(created), "LastUpdatedTime": _qbo_time(updated)},
        }
        if qbo_type != "Service":
            item["ExpenseAccountRef"] = COGS
        if qbo_type == "Inventory":
            item.update(QtyOnHand=Decimal(self.rng.randrange(0, 200)), AssetAccountRef=ASSET,
                        InvStartDate=_qbo_time(created)[:10])
        self.qbo["Item"].append(item)
        return item

    # -- invoices and payments ------------------------------------------------------------------------------------
    def invoices(self) -> None:
        rng = self.rng
        items = [i for i in self.fsp["items"] if i["active"]]
        job_types = [j["id"] for j in self.fsp["job_types"] if j["active"]]
        counts, weights = (0, 1, 2, 3, 4), (0.15, 0.25, 0.25, 0.2, 0.15)
        scale = self.invoices_per_client / 2.0  # the weights above average 2.0 invoices per client
        statuses = ("draft", "approved", "ready_for_sync", "ready_for_sync", "ready_for_sync", "ready_for_sync",
                    "ready_for_sync", "paid", "paid", "void")
        number = 1000
        for client in self.fsp["clients"]:
            n = rng.choices(counts, weights)[0]
            n = int(n * scale + (rng.random() < (n * scale) % 1))
            sites = self.sites_of[client["id"]]
            for _ in range(n):
                number += 1
                status = rng.choice(statuses)
                site = rng.choice(sites) if sites else None
                zero = status == "ready_for_sync" and rng.random() < 0.03
                self._invoice(client, site, status, zero, str(number), items, rng.choice(job_types))

    def _invoice(self, client: dict, site: dict | None, status: str, zero: bool, number: str, items: list[dict],
                 job_type_id: str) -> None:
        rng = self.rng
        created, updated = self._stamps(datetime.fromisoformat(client["created_at"].replace("Z", "+00:00")))
        lines, subtotal, taxable_total = [], Decimal(0), Decimal(0)
        for n, item in enumerate(rng.sample(items, rng.choice((1, 1, 2, 2, 3, 4)))):
            quantity = rng.choice(("1", "1", "1", "2", "3", "0.5", "1.5", "4"))
            unit_price = "0.00" if zero else item["price"]
            amount = _money(Decimal(quantity) * Decimal(unit_price))
            lines.append({"id": str(n + 1), "item_id": item["id"], "description": item["name"],
                          "quantity": quantity, "unit_price": unit_price, "amount": f"{amount:f}",
                          "taxable": item["taxable"]})
            subtotal += amount
            taxable_total += amount if item["taxable"] else 0
        state = (site["address"]["state"] if site else None) or self.client_state[client["id"]]
        tax = _money(taxable_total * Decimal(words.SALES_TAX.get(state or "", "0")))
        total = subtotal + tax
        invoice = {"id": self._fsp_id("inv"), "number": number, "external_number": None,
                   "client_id": client["id"], "site_id": site["id"] if site else None,
                   "job_id": f"job_{number}", "job_type_id": job_type_id, "status": status,
                   "issued_on": created.date().isoformat(), "due_on": (created + timedelta(days=30)).date().isoformat(),
                   "currency": "USD", "lines": lines, "subtotal": f"{subtotal:f}", "tax_total": f"{tax:f}",
                   "total": f"{total:f}", "amount_paid": "0.00", "balance": f"{total:f}",
                   "memo": "Warranty visit, no charge" if zero else None,
                   "created_at": _ts(created), "updated_at": _ts(updated)}
        self.fsp["invoices"].append(invoice)
        bucket = {"draft": "not_ready", "approved": "not_ready", "paid": "paid", "void": "void"}.get(status, "ready")
        self.exp["invoices"]["zero_total" if zero else bucket].append(invoice["id"])
        if total == 0 or status in {"draft", "void"}:
            return
        paid = Decimal(0)
        if status == "paid" or rng.random() < 0.3:
            half = _money(total / 2)
            amounts = [total] if status == "paid" or rng.random() < 0.6 else [half, total - half]
            for amount in amounts:
                paid += amount
                self._payment(invoice, amount, updated, "on_ready" if status == "ready_for_sync" else "on_other")
        invoice["amount_paid"], invoice["balance"] = f"{_money(paid):f}", f"{_money(total - paid):f}"

    def _payment(self, invoice: dict, amount: Decimal, after: datetime, bucket: str) -> None:
        rng = self.rng
        created, updated = self._stamps(after)
        method = rng.choice(("check", "check", "credit_card", "credit_card", "ach", "cash"))
        reference = {"check": f"{rng.randrange(1000, 9999)}", "credit_card": f"AUTH{rng.randrange(10**6):06d}",
                     "ach": f"ACH-{rng.randrange(10**8):08d}"}.get(method)
        payment = {"id": self._fsp_id("pay"), "invoice_id": invoice["id"], "client_id": invoice["client_id"],
                   "amount": f"{amount:f}", "paid_on": created.date().isoformat(), "method": method,
                   "reference": reference, "created_at": _ts(created), "updated_at": _ts(updated), "deleted_at": None}
        self.fsp["payments"].append(payment)
        self.exp["payments"][bucket].append(payment["id"])

    def build(self, seed: int) -> Dataset:
        self.catalog()
        self.populate()
        self.invoices()
        self.exp["counts"] = {
            "platform": {k: len(v) for k, v in self.fsp.items()},
            "quickbooks": {k: len(v) for k, v in self.qbo.items()},
            "quickbooks_top_level_customers": sum(1 for c in self.qbo["Customer"] if not c["Job"]),
            "quickbooks_sub_customers": sum(1 for c in self.qbo["Customer"] if c["Job"]),
            "quickbooks_parents_with_jobs": len({c["ParentRef"]["value"] for c in self.qbo["Customer"]
                                                 if c["Job"] and c.get("Level") == 1}),
        }
        return Dataset(seed, self.fsp, self.qbo, self.exp)


def generate(seed: int, clients: int, overlap: float = 0.5, *, quickbooks_customers: int | None = None,
             sub_customer_share: float = 0.2, invoices_per_client: float = 2.0) -> Dataset:
    """`clients` platform clients and `quickbooks_customers` (default: as many) top-level QuickBooks customers, of
    which `overlap` (a share of the smaller side) are the same business with realistic differences;
    `sub_customer_share` of the QuickBooks customers have jobs (sub-customers), mostly service locations."""
    return _Generator(seed, clients, overlap, quickbooks_customers, sub_customer_share,
                      invoices_per_client).build(seed)
