"""Measures the emulator at the size the brief asks for (10,000 customers, 20,000 invoices in one realm) over real
HTTP with the production adapter, and prints the figures docs/emulator-quickbooks.md quotes.

    .venv/bin/python -m emulators.quickbooks.perf [--customers 10000] [--invoices 20000]

Times are wall-clock medians on the machine it runs on; nothing here asserts a time."""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import requests

from emulators.common.server import start
from emulators.quickbooks.app import create_app
from emulators.quickbooks.wire import dumps


def dataset(customers: int, invoices: int) -> dict:
    meta = {"CreateTime": "2026-01-15T09:12:03-08:00", "LastUpdatedTime": "2026-01-15T09:12:03-08:00"}
    rows = [{"Id": str(i), "SyncToken": "0", "MetaData": meta, "DisplayName": f"Customer {i:05d}",
             "FullyQualifiedName": f"Customer {i:05d}", "Active": i % 25 != 0, "Job": False, "Taxable": True,
             "Balance": Decimal(0), "BalanceWithJobs": Decimal(0), "CurrencyRef": {"value": "USD"}}
            for i in range(1, customers + 1)]
    txns = []
    for n in range(invoices):
        amount = Decimal(100 + n % 900) + Decimal("0.25")
        txns.append({"Id": str(customers + n + 1), "SyncToken": "0", "MetaData": meta, "DocNumber": str(1001 + n),
                     "TxnDate": "2026-01-15", "CustomerRef": {"value": str(n % customers + 1)},
                     "Line": [{"Id": "1", "LineNum": 1, "Amount": amount, "DetailType": "SalesItemLineDetail",
                               "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"},
                                                       "TaxCodeRef": {"value": "NON"}}},
                              {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}],
                     "TxnTaxDetail": {"TotalTax": Decimal(0)}, "TotalAmt": amount, "Balance": amount,
                     "LinkedTxn": []})
    item = {"Id": "1", "SyncToken": "0", "MetaData": meta, "Name": "Services", "Type": "Service", "Active": True,
            "Taxable": False, "UnitPrice": Decimal(0), "IncomeAccountRef": {"value": "1", "name": "Services"}}
    return {"Item": [item], "Customer": rows, "Invoice": txns}


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=20_000)
    args = parser.parse_args(argv)
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib refuses http otherwise
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from intuitlib.client import AuthClient
    from intuitlib.enums import Scopes
    from quickbooks import QuickBooks

    from shared.quickbooks.adapter import QuickBooksAdapter
    from shared.quickbooks.client import StatusRecorder

    app = create_app(throttle=False)
    server = start(app, 0)
    url, figures = server.url, {}
    try:
        realm = requests.post(f"{url}/_emulator/realms", json={"seed": False}, timeout=10).json()["realm_id"]
        body = dumps(dataset(args.customers, args.invoices))
        started = time.perf_counter()
        requests.post(f"{url}/_emulator/realms/{realm}/load", data=body, timeout=600).raise_for_status()
        figures["load_ms"] = (time.perf_counter() - started) * 1000
        figures["load_mb"] = len(body) / 1e6

        client = AuthClient("local-client-id", "local-client-secret", "urn:perf",
                            f"{url}/.well-known/openid_configuration")
        consent = requests.get(client.get_authorization_url([Scopes.ACCOUNTING]) + f"&realmId={realm}",
                               allow_redirects=False, timeout=10)
        client.get_bearer_token(parse_qs(urlparse(consent.headers["Location"]).query)["code"][0], realm_id=realm)
        qb = QuickBooks(auth_client=client, company_id=realm, minorversion=75, use_decimal=True)
        qb.sandbox, qb.api_url_v3 = False, f"{url}/v3"
        adapter = QuickBooksAdapter(qb, StatusRecorder(), realm)

        figures["count_customers_ms"] = timed(lambda: adapter.count("Customer"))
        figures["page_1000_customers_ms"] = timed(lambda: adapter.query_page("Customer", start=4001))
        figures["walk_all_customers_ms"] = timed(lambda: list(adapter.query_all("Customer")), repeat=3)
        figures["displayname_eq_ms"] = timed(lambda: adapter.query_page("Customer", "DisplayName = 'Customer 05123'"))
        ids = ", ".join(f"'{i}'" for i in range(100, 3100, 100))
        figures["id_in_30_ms"] = timed(lambda: adapter.query_page("Customer", f"Id IN ({ids})"))
        figures["page_1000_invoices_ms"] = timed(lambda: adapter.query_page("Invoice", start=10001))
        figures["invoices_of_customer_ms"] = timed(lambda: adapter.query_page("Invoice", "CustomerRef = '77'"))
        figures["read_invoice_ms"] = timed(lambda: adapter.read("Invoice", str(args.customers + 5)))
        counter = iter(range(1_000_000))
        figures["create_customer_ms"] = timed(lambda: adapter.create(
            "Customer", {"DisplayName": f"Perf New {next(counter)}"}, request_id=f"perf-{next(counter)}"))
        figures["create_invoice_ms"] = timed(lambda: adapter.create("Invoice", {
            "CustomerRef": {"value": "42"}, "Line": [{"Amount": Decimal("10.00"), "DetailType": "SalesItemLineDetail",
                                                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]},
            request_id=f"perf-inv-{next(counter)}"))
        since = datetime.fromtimestamp(time.time() - 86400, UTC).isoformat()  # everything loaded counts as changed
        figures["cdc_1000_of_30000_ms"] = timed(lambda: adapter.cdc(["Customer", "Invoice"], since), repeat=3)
    finally:
        server.stop()
        app.close()
    for key, value in figures.items():
        print(f"{key:28s} {value:10.1f}")
    return figures


if __name__ == "__main__":
    main()
