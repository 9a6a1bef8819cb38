"""The emulator's data: companies (realms) with their entities in wire form, change history for CDC, stored
`requestid` responses, and the OAuth grants. One re-entrant lock guards every mutation.

Stored entity dicts are never mutated once stored: a change stores a new dict. A reader can therefore take a
snapshot of a company's rows under the lock and filter or serialize it outside."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from emulators.quickbooks.oauth import OAuthStore

NAME_LISTS = ("Account", "Class", "TaxCode", "TaxRate", "Customer", "Vendor", "Employee", "Item", "PaymentMethod")
TRANSACTIONS = ("Invoice", "Payment")
SINGLETONS = ("CompanyInfo", "Preferences")
ENTITIES = NAME_LISTS + TRANSACTIONS + SINGLETONS
PARTIES = ("Customer", "Vendor", "Employee")
# Which Id sequence each entity draws from: customers, vendors and employees share one in QuickBooks (a vendor
# created after customer 70 gets 71: customer-create-response.json, batch-response.json), transactions share one.
SEQUENCE = {"Customer": "Name", "Vendor": "Name", "Employee": "Name", "Invoice": "Txn", "Payment": "Txn",
            "Item": "Item", "Account": "Account", "Class": "Class", "TaxCode": "TaxCode", "TaxRate": "TaxRate",
            "PaymentMethod": "PaymentMethod"}


class Clock:
    """Epoch seconds from an injectable source plus an offset the control API can advance (token expiry, throttle
    windows and MetaData times all read it)."""

    def __init__(self, source: Callable[[], float] | None = None):
        self._source = source or time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._source() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def name_group(entity: str) -> str:
    """The uniqueness scope of a name: DisplayName is unique across customers, vendors and employees (qbo-facts.md
    "Entities"); items, accounts and classes each have their own."""
    return "Party" if entity in PARTIES else entity


def name_of(entity: str, doc: dict) -> str | None:
    return doc.get("DisplayName") if entity in PARTIES else doc.get("FullyQualifiedName") or doc.get("Name")


class Company:
    def __init__(self, realm_id: str, name: str):
        self.realm_id, self.name = realm_id, name
        self.entities: dict[str, dict[str, dict]] = {e: {} for e in ENTITIES}
        self.changed: dict[str, dict[str, float]] = {e: {} for e in ENTITIES}  # id -> last change (CDC)
        self.deleted: dict[str, dict[str, float]] = {e: {} for e in ENTITIES}  # id -> deletion time (CDC)
        self.counters: dict[str, int] = {}
        self.request_ids: dict[str, dict] = {}  # requestid -> the first response, verbatim
        self.next_doc_number = 1001
        self.voided: set[str] = set()
        # Derived indexes, rebuilt from the entities on restore and load.
        self.names: dict[tuple[str, str], str] = {}  # (name group, lower-cased name) -> id
        self.doc_numbers: dict[str, set[str]] = {}  # invoice DocNumber -> ids of invoices carrying it
        self.payments_of: dict[str, set[str]] = {}  # invoice id -> ids of payments applied to it
        self.children: dict[str, set[str]] = {}  # customer id -> ids of its direct sub-customers

    @property
    def preferences(self) -> dict:
        return self.entities["Preferences"]["1"]

    def pref(self, section: str, key: str, default: Any = None) -> Any:
        return (self.preferences.get(section) or {}).get(key, default)

    def new_id(self, entity: str) -> str:
        sequence = SEQUENCE[entity]
        while True:
            self.counters[sequence] = self.counters.get(sequence, 0) + 1
            candidate = str(self.counters[sequence])
            if all(candidate not in self.entities[e] and candidate not in self.deleted[e]
                   for e, s in SEQUENCE.items() if s == sequence):
                return candidate

    def advance_counter(self, entity: str, entity_id: str) -> None:
        if entity_id.isdigit() and entity in SEQUENCE:
            sequence = SEQUENCE[entity]
            self.counters[sequence] = max(self.counters.get(sequence, 0), int(entity_id))

    def put(self, entity: str, doc: dict, now: float) -> None:
        """Store a new version of an entity and keep the indexes in step."""
        entity_id = doc["Id"]
        previous = self.entities[entity].get(entity_id)
        if previous is not None:
            self._unindex(entity, previous)
        self.entities[entity][entity_id] = doc
        self._index(entity, doc)
        self.changed[entity][entity_id] = now

    def remove(self, entity: str, entity_id: str, now: float) -> dict:
        doc = self.entities[entity].pop(entity_id)
        self._unindex(entity, doc)
        self.changed[entity].pop(entity_id, None)
        self.deleted[entity][entity_id] = now
        return doc

    def _index(self, entity: str, doc: dict) -> None:
        name = name_of(entity, doc) if entity in NAME_LISTS else None
        if name:
            self.names[(name_group(entity), name.lower())] = doc["Id"]
        if entity == "Invoice" and doc.get("DocNumber"):
            self.doc_numbers.setdefault(doc["DocNumber"], set()).add(doc["Id"])
        if entity == "Payment":
            for line in doc.get("Line") or []:
                for link in line.get("LinkedTxn") or []:
                    self.payments_of.setdefault(link["TxnId"], set()).add(doc["Id"])
        if entity == "Customer" and doc.get("ParentRef"):
            self.children.setdefault(doc["ParentRef"]["value"], set()).add(doc["Id"])

    def _unindex(self, entity: str, doc: dict) -> None:
        name = name_of(entity, doc) if entity in NAME_LISTS else None
        if name and self.names.get((name_group(entity), name.lower())) == doc["Id"]:
            del self.names[(name_group(entity), name.lower())]
        if entity == "Invoice" and doc.get("DocNumber"):
            self.doc_numbers.get(doc["DocNumber"], set()).discard(doc["Id"])
        if entity == "Payment":
            for line in doc.get("Line") or []:
                for link in line.get("LinkedTxn") or []:
                    self.payments_of.get(link["TxnId"], set()).discard(doc["Id"])
        if entity == "Customer" and doc.get("ParentRef"):
            self.children.get(doc["ParentRef"]["value"], set()).discard(doc["Id"])

    def rebuild_indexes(self) -> None:
        self.names, self.doc_numbers, self.payments_of, self.children = {}, {}, {}, {}
        for entity, rows in self.entities.items():
            for doc in rows.values():
                self._index(entity, doc)

    def summary(self) -> dict:
        return {"realm_id": self.realm_id, "company_name": self.name,
                "counts": {e: len(rows) for e, rows in self.entities.items() if e not in SINGLETONS}}

    def to_json(self) -> dict:
        return {"realm_id": self.realm_id, "name": self.name, "entities": self.entities, "changed": self.changed,
                "deleted": self.deleted, "counters": self.counters, "request_ids": self.request_ids,
                "next_doc_number": self.next_doc_number, "voided": sorted(self.voided)}

    @classmethod
    def from_json(cls, doc: dict) -> Company:
        company = cls(doc["realm_id"], doc["name"])
        for entity, rows in doc["entities"].items():
            company.entities[entity] = rows
        for field in ("changed", "deleted"):  # epochs: the file is read with parse_float=Decimal
            for entity, times in doc[field].items():
                getattr(company, field)[entity] = {i: float(t) for i, t in times.items()}
        company.counters, company.request_ids = doc["counters"], doc["request_ids"]
        company.next_doc_number, company.voided = doc["next_doc_number"], set(doc["voided"])
        company.rebuild_indexes()
        return company


class State:
    def __init__(self, clock: Clock):
        self.clock = clock
        self.lock = threading.RLock()
        self.companies: dict[str, Company] = {}
        self.oauth = OAuthStore()
        self.version = 0  # bumped on every change; the saver writes when it moved

    def company(self, realm_id: str) -> Company | None:
        return self.companies.get(realm_id)

    def touch(self) -> None:
        self.version += 1

    def snapshot(self) -> dict:
        """A copy that serializes safely outside the lock: containers are copied, and stored entity dicts are never
        mutated after storing. The OAuth records are small and mutated in place, so they are copied deeply."""
        with self.lock:
            companies = {}
            for rid, company in self.companies.items():
                doc = company.to_json()
                for field in ("entities", "changed", "deleted"):
                    doc[field] = {e: dict(rows) for e, rows in doc[field].items()}
                doc["counters"], doc["request_ids"] = dict(doc["counters"]), dict(doc["request_ids"])
                companies[rid] = doc
            return {"companies": companies, "oauth": copy.deepcopy(self.oauth.to_json()),
                    "clock_offset": self.clock.offset}

    def restore(self, doc: dict) -> None:
        with self.lock:
            self.companies = {rid: Company.from_json(c) for rid, c in doc.get("companies", {}).items()}
            self.oauth = OAuthStore.from_json(doc.get("oauth") or {})
            self.clock.offset = float(doc.get("clock_offset", 0.0))
            self.touch()

    def reset(self) -> None:
        with self.lock:
            self.companies.clear()
            self.oauth.reset()
            self.clock.offset = 0.0
            self.touch()
