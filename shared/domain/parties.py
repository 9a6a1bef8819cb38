"""Customers, clients and sites in the compact, JSON-safe form onboarding keeps between tasks, and the conversions
between the QuickBooks port's typed values and the platform's (both directions).

The compact form carries only what matching and creation need, so a 10,000-customer snapshot stays small."""

from __future__ import annotations

from shared.domain.names import normalize_address_key, normalize_email, normalize_name
from shared.fieldservice.models import Address, ClientDraft, Contact, SiteDraft
from shared.quickbooks.port import CustomerDraft, CustomerState, PostalAddress

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


def _platform_address(addr: Address | None) -> dict | None:
    if addr is None:
        return None
    return {"line1": addr.line1, "line2": addr.line2, "city": addr.city, "state": addr.state,
            "postal_code": addr.postal_code, "country": addr.country}


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


def same_person(found: CustomerState, intended: CustomerDraft) -> bool:
    """A QuickBooks customer found under the DisplayName we meant to create is ours when nothing contradicts it."""
    email_a, company_a = normalize_email(found.email or ""), normalize_name(found.company or "")
    email_b, company_b = normalize_email(intended.email or ""), normalize_name(intended.company or "")
    return (not email_a or not email_b or email_a == email_b) and (not company_a or not company_b
                                                                   or company_a == company_b)


def _clean(value: str | None, limit: int = NAME_FIELD_MAX) -> str | None:
    if not value:
        return None
    cleaned = " ".join(value.replace(":", "-").split())[:limit].strip()
    return cleaned or None


def postal_address(addr: dict | None, state: str | None) -> PostalAddress | None:
    """A compact address as QuickBooks is to hold it, with the State resolved by the caller."""
    if not addr:
        return None
    return PostalAddress(line1=addr.get("line1"), line2=addr.get("line2"), city=addr.get("city"), state=state,
                         postal_code=addr.get("postal_code"), country=addr.get("country"))


def customer_draft(client: dict, display_name: str, state: str | None) -> CustomerDraft:
    """The QuickBooks customer to create for a platform client (compact form); unused name fields stay None."""
    email, phone = (client.get("email") or "").strip(), (client.get("phone") or "").strip()[:30]
    return CustomerDraft(display_name=display_name, company=_clean(client.get("company")),
                         first=_clean(client.get("first")), last=_clean(client.get("last")), email=email or None,
                         phone=phone or None, bill=postal_address(client.get("address"), state))


def sub_customer_draft(site: dict, display_name: str, state: str | None,
                       parent_id: str | None = None) -> CustomerDraft:
    """The QuickBooks job for a platform site (billed with its parent; the site's address is both addresses)."""
    ship = postal_address(site.get("address"), state)
    return CustomerDraft(display_name=display_name, job=True, parent_id=parent_id, ship=ship, bill=ship)


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
