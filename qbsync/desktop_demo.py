"""`qbsync demo --desktop`: the QuickBooks Desktop path on the local stack, after the QuickBooks Online demo.

The generated QuickBooks company is typed into the Desktop emulator's company file (as its user would have it), the
admin connects through /admin/desktop (password, .qwc), the Web Connector simulator adds the .qwc and polls /qbwc
until the queue is empty; then both sides are checked against the emulators' own state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from xml.sax.saxutils import escape

import requests

from emulators.datagen.generator import Dataset
from qbsync.local.driver import Driver

TENANT = "demo-desktop"
MAX_SESSIONS = 20


def _addr(tag: str, a: dict | None) -> str:
    if not a or not a.get("Line1"):
        return ""
    parts = [("Addr1", a.get("Line1")), ("City", a.get("City")), ("State", a.get("CountrySubDivisionCode")),
             ("PostalCode", a.get("PostalCode")), ("Country", a.get("Country"))]
    return f"<{tag}>" + "".join(f"<{t}>{escape(str(v)[:31])}</{t}>" for t, v in parts if v) + f"</{tag}>"


def company_file_requests(customers: list[dict]) -> list[str]:
    """The generated QuickBooks customers as CustomerAdd requests, parents first (qbXML 13.0 field order)."""
    names: dict[str, str] = {}
    out = []
    for c in sorted(customers, key=lambda c: (c.get("Level") or 0, int(c["Id"]))):
        name = c["DisplayName"].replace(":", "-")[:41].strip()
        parent = (c.get("ParentRef") or {}).get("value")
        if parent and parent not in names:
            continue
        full = f"{names[parent]}:{name}" if parent else name
        if full.casefold() in {n.casefold() for n in names.values()}:
            continue
        names[c["Id"]] = full
        body = f"<Name>{escape(name)}</Name><IsActive>{'true' if c.get('Active', True) else 'false'}</IsActive>"
        if parent:
            body += f"<ParentRef><FullName>{escape(names[parent])}</FullName></ParentRef>"
        if c.get("CompanyName") and not parent:
            body += f"<CompanyName>{escape(c['CompanyName'][:41])}</CompanyName>"
        for tag, key in (("FirstName", "GivenName"), ("LastName", "FamilyName")):
            if c.get(key) and not parent:
                body += f"<{tag}>{escape(c[key][:25])}</{tag}>"
        body += _addr("BillAddress", c.get("BillAddr")) + _addr("ShipAddress", c.get("ShipAddr"))
        if (c.get("PrimaryPhone") or {}).get("FreeFormNumber"):
            body += f"<Phone>{escape(c['PrimaryPhone']['FreeFormNumber'][:21])}</Phone>"
        if (c.get("PrimaryEmailAddr") or {}).get("Address"):
            body += f"<Email>{escape(c['PrimaryEmailAddr']['Address'])}</Email>"
        out.append(f"<CustomerAddRq><CustomerAdd>{body}</CustomerAdd></CustomerAddRq>")
    return out


def _message_set(body: str) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq '
            f'onError="continueOnError">{body}</QBXMLMsgsRq></QBXML>')


def run_desktop(data: Dataset, driver: Driver, stack, say: Callable[[str], None]) -> list[str]:
    qbd, problems = stack.qbd_url, []
    requests.post(f"{qbd}/_emulator/preferences", json={"company_name": "Demo Desktop Company"}, timeout=30)
    for request in company_file_requests(data.quickbooks["Customer"]):
        requests.post(f"{qbd}/_emulator/qbxml", data=_message_set(request).encode(), timeout=30)
    driver.create_tenant(TENANT, data.fieldservice)
    book = requests.get(f"{qbd}/_emulator/state", timeout=30).json()
    say(f"Desktop company file: {len(book['lists']['Customer'])} customers and jobs; platform tenant {TENANT}: "
        f"{len(driver.platform_records(TENANT, 'clients'))} clients")
    login = driver.admin("POST", "/admin/desktop/connect", TENANT).json()
    qwc = driver.admin("GET", "/admin/desktop/qwc", TENANT).text
    requests.post(f"{qbd}/_emulator/connector", json={"qwc": qwc, "password": login["password"],
                                                      "app_url_override": f"{stack.gateway_url}/qbwc"}, timeout=30)
    first = requests.post(f"{qbd}/_emulator/connector/run", timeout=600).json()  # reads accounts, classes, vendors
    accounts = driver.admin("GET", "/admin/quickbooks/accounts", TENANT).json()["items"]
    income = next(a["Id"] for a in accounts if a["Name"] == "Services")
    current = driver.admin("GET", "/admin/settings", TENANT).json()
    saved = driver.admin("PUT", "/admin/settings", TENANT, json={"version": current["version"], "settings": {
        **current["settings"], "invoices": {**current["settings"]["invoices"], "enabled": True,
                                            "income_account_id": income},
        "payments": {**current["settings"]["payments"], "enabled": True}}})
    if saved.status_code != 200:
        problems.append(f"Desktop: settings refused: {saved.text[:300]}")
    say(f"D1. Connected: Web Connector user {login['user_name']}, .qwc added, first poll {first['outcome']}; "
        "settings saved on /admin/settings (invoices to 'Services', payments)")
    run = driver.admin("POST", "/admin/desktop/onboard", TENANT).json()
    say(f"D2. Onboarding requested: {run['phase']}")
    for n in range(1, MAX_SESSIONS + 1):
        log = requests.post(f"{qbd}/_emulator/connector/run", timeout=600).json()
        trips = sum(1 for c in log["calls"] if c["op"] == "receiveResponseXML")
        say(f"D3. Web Connector session {n}: {trips} qbXML round trip(s), {log['outcome']}")
        status = driver.admin("GET", "/admin/desktop/status", TENANT).json()
        if n >= 2 and status["pending"] == 0:
            break
    problems += check_desktop(data, driver, qbd)
    errors = driver.admin("GET", "/admin/errors", TENANT).json()["items"]
    say(f"D4. Desktop error log: {len(errors)} record(s)" + "".join(
        f"\n     {e['entity']} {e['entity_id']} -> {e['code']}: {e['message'][:100]}" for e in errors[:6]))
    return problems


def check_desktop(data: Dataset, driver: Driver, qbd: str) -> list[str]:
    problems = []
    book = requests.get(f"{qbd}/_emulator/state", timeout=30).json()
    invoices = book["transactions"]["Invoice"]
    platform = driver.platform_records(TENANT, "invoices")
    synced = {i["id"]: i for i in platform if i.get("external_number")}
    refs = [i["RefNumber"] for i in invoices]
    if len(refs) != len(set(refs)) or len(invoices) != len(synced):
        problems.append(f"Desktop: {len(invoices)} QuickBooks invoices for {len(synced)} synced platform invoices")
    for inv in synced.values():
        if Decimal(inv["total"]) == 0 or inv["status"] not in ("ready_for_sync", "paid"):
            problems.append(f"Desktop: invoice {inv['id']} ({inv['status']}, {inv['total']}) should not have synced")
        if inv["external_number"] not in refs:
            problems.append(f"Desktop: invoice {inv['id']} number {inv['external_number']} is not in QuickBooks")
    clients = driver.platform_records(TENANT, "clients")
    if len({c["company_name"] for c in clients if c["company_name"]}) < 1:
        problems.append("Desktop: no clients on the platform after onboarding")
    names = [c["FullName"].casefold() for c in book["lists"]["Customer"]]
    if len(names) != len(set(names)):
        problems.append("Desktop: duplicate customers in QuickBooks")
    return problems
