"""Customers, clients and sites in the compact, JSON-safe form onboarding keeps between tasks, and the conversions
between QuickBooks' shapes and the platform's (both directions).

The compact form carries only what matching and creation need, so a 10,000-customer snapshot stays small."""

from __future__ import annotations

from typing import Any

from shared.domain.names import normalize_address_key, normalize_email, normalize_name
from shared.fieldservice.models import Address, ClientDraft, Contact, SiteDraft

# QuickBooks' Country is free text; the platform wants ISO 3166-1 alpha-2.
_COUNTRIES = {"us": "US", "usa": "US", "united states": "US", "united states of america": "US", "ca": "CA",
              "can": "CA", "canada": "CA", "gb": "GB", "uk": "GB", "united kingdom": "GB", "au": "AU",
              "australia": "AU"}
_COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "AU": "Australia"}
NAME_FIELD_MAX = 100  # GivenName, FamilyName, CompanyName (QuickBooks Customer entity reference)


def country_code(value: str | None, default: str | None = None) -> str | None:
    if not value or not value.strip():
        return default
    return _COUNTRIES.get(value.strip().casefold(), value.strip().upper() if len(value.strip()) == 2 else default)


def country_name(code: str | None) -> str:
    return _COUNTRY_NAMES.get(code or "US", code or "United States")


def _qbo_address(addr: dict | None) -> dict | None:
    if not addr or not any(addr.get(k) for k in ("Line1", "City", "PostalCode")):
        return None
    return {"line1": addr.get("Line1"), "line2": addr.get("Line2"), "city": addr.get("City"),
            "state": addr.get("CountrySubDivisionCode") or None, "postal_code": addr.get("PostalCode"),
            "country": addr.get("Country")}


def _platform_address(addr: Address | None) -> dict | None:
    if addr is None:
        return None
    return {"line1": addr.line1, "line2": addr.line2, "city": addr.city, "state": addr.state,
            "postal_code": addr.postal_code, "country": addr.country}


def compact_customer(row: dict) -> dict:
    parent = (row.get("ParentRef") or {}).get("value")
    return {"id": row["Id"], "sync_token": row.get("SyncToken"), "name": row.get("DisplayName", ""),
            "company": row.get("CompanyName"), "first": row.get("GivenName"), "last": row.get("FamilyName"),
            "email": (row.get("PrimaryEmailAddr") or {}).get("Address"),
            "phone": (row.get("PrimaryPhone") or {}).get("FreeFormNumber"),
            "bill": _qbo_address(row.get("BillAddr")), "ship": _qbo_address(row.get("ShipAddr")),
            "active": row.get("Active", True) is not False, "job": bool(row.get("Job")) and parent is not None,
            "parent_id": parent, "level": int(row.get("Level") or 0)}


def compact_client(client) -> dict:
    contact = client.contact
    return {"id": client.id, "name": client.display_name, "company": client.company_name,
            "first": contact.first_name, "last": contact.last_name, "email": contact.email, "phone": contact.phone,
            "address": _platform_address(client.billing_address), "active": client.active}


def compact_site(site) -> dict:
    return {"id": site.id, "client_id": site.client_id, "name": site.name,
            "address": _platform_address(site.address), "active": site.active}


def address_key(addr: dict | None) -> str:
    if not addr:
        return ""
    return normalize_address_key(addr.get("line1"), addr.get("postal_code"))


def same_person(found: dict, intended: dict) -> bool:
    """A QuickBooks customer found under the DisplayName we meant to create is ours when nothing contradicts it."""
    def norm(body: dict) -> tuple[str, str]:
        return (normalize_email((body.get("PrimaryEmailAddr") or {}).get("Address") or ""),
                normalize_name(body.get("CompanyName") or ""))

    (email_a, company_a), (email_b, company_b) = norm(found), norm(intended)
    return (not email_a or not email_b or email_a == email_b) and (not company_a or not company_b
                                                                   or company_a == company_b)


def _clean(value: str | None, limit: int = NAME_FIELD_MAX) -> str | None:
    if not value:
        return None
    cleaned = " ".join(value.replace(":", "-").split())[:limit].strip()
    return cleaned or None


def quickbooks_address(addr: dict | None, state: str | None) -> dict | None:
    if not addr:
        return None
    out = {"Line1": addr.get("line1"), "Line2": addr.get("line2"), "City": addr.get("city"),
           "CountrySubDivisionCode": state, "PostalCode": addr.get("postal_code"),
           "Country": addr.get("country")}
    return {k: v for k, v in out.items() if v}


def customer_body(client: dict, display_name: str, state: str | None) -> dict[str, Any]:
    """The QuickBooks Customer to create for a platform client (unused name fields are left out, never sent empty)."""
    body: dict[str, Any] = {"DisplayName": display_name, "CompanyName": _clean(client.get("company")),
                            "GivenName": _clean(client.get("first")), "FamilyName": _clean(client.get("last")),
                            "Active": True}
    if client.get("email"):
        body["PrimaryEmailAddr"] = {"Address": client["email"].strip()}
    if client.get("phone"):
        body["PrimaryPhone"] = {"FreeFormNumber": client["phone"].strip()[:30]}
    bill = quickbooks_address(client.get("address"), state)
    if bill:
        body["BillAddr"] = bill
    return {k: v for k, v in body.items() if v is not None}


def sub_customer_body(site: dict, display_name: str, state: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"DisplayName": display_name, "Job": True, "BillWithParent": True, "Active": True}
    ship = quickbooks_address(site.get("address"), state)
    if ship:
        body["ShipAddr"] = ship
        body["BillAddr"] = ship
    return body


def client_draft_dict(customer: dict, state: str | None, country: str | None) -> dict:
    """A JSON-safe ClientDraft (snapshots are JSON); `client_draft` turns it back into the dataclass."""
    bill = customer.get("bill")
    address = None
    if bill:
        address = {**bill, "state": state, "country": country}
    company = customer.get("company")
    first, last = customer.get("first"), customer.get("last")
    if not company and not (first or last):
        company = customer.get("name")  # a DisplayName-only customer keeps its name as the company
    return {"company_name": company, "first_name": first, "last_name": last, "email": customer.get("email"),
            "phone": customer.get("phone"), "address": address, "active": customer.get("active", True)}


def client_draft(d: dict) -> ClientDraft:
    address = Address(**d["address"]) if d.get("address") else None
    return ClientDraft(company_name=d.get("company_name"),
                       contact=Contact(first_name=d.get("first_name"), last_name=d.get("last_name"),
                                       email=d.get("email"), phone=d.get("phone")),
                       billing_address=address, active=d.get("active", True))


def site_draft(row: dict, parent_fsp_id: str) -> SiteDraft:
    return SiteDraft(client_id=parent_fsp_id, name=row["name"], address=Address(**row["address"]),
                     active=row.get("active", True))
