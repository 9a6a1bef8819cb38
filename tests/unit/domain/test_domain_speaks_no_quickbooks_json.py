"""The domain passes typed drafts and reads typed results: QuickBooks' field names and query language live in
shared/quickbooks (the adapter and shapes.py), never in shared/domain (decision 42)."""

import ast
import re
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain"
# Field names of the bodies the domain used to build, as string literals (a key or a lookup).
QUICKBOOKS_FIELDS = ("DisplayName", "CompanyName", "GivenName", "FamilyName", "PrimaryEmailAddr", "PrimaryPhone",
                     "FreeFormNumber", "BillAddr", "ShipAddr", "CountrySubDivisionCode", "Line1", "PostalCode",
                     "ParentRef", "BillWithParent", "SyncToken", "sparse",
                     # ... and of the rows QuickBooks sends on its own (CDC, reads), now typed by the port
                     "Deleted", "MetaData", "LastUpdatedTime", "TotalAmt", "Balance", "UnitPrice", "CustomerRef")
QUERY = re.compile(r"\b(SELECT|STARTPOSITION|MAXRESULTS)\b")
# The modules that hold QuickBooks' JSON: the domain gets typed values from the port and never parses a row itself.
JSON_MODULES = ("shared.quickbooks.shapes", "shared.quickbooks.adapter")


def _sources():
    return sorted(DOMAIN.glob("*.py"))


def test_the_guard_reads_the_domain_sources():
    assert len(_sources()) > 10 and (DOMAIN / "clients.py") in _sources()


@pytest.mark.parametrize("name", QUICKBOOKS_FIELDS)
def test_no_quickbooks_field_name_in_the_domain(name):
    literal = re.compile(rf"""["']{name}["']""")
    found = [f"{p.name}:{n}" for p in _sources() for n, line in enumerate(p.read_text().splitlines(), 1)
             if literal.search(line)]
    assert found == [], f"QuickBooks' {name} belongs in shared/quickbooks (shapes.py), found in {found}"


def test_no_query_language_in_the_domain():
    found = [f"{p.name}:{n}" for p in _sources() for n, line in enumerate(p.read_text().splitlines(), 1)
             if QUERY.search(line)]
    assert found == []


def test_the_guard_would_catch_a_body_built_in_the_domain(tmp_path):
    sample = 'body = {"DisplayName": name, "SyncToken": token, "sparse": True}\n'
    assert all(re.search(rf"""["']{name}["']""", sample) for name in ("DisplayName", "SyncToken", "sparse"))
    assert QUERY.search("SELECT * FROM Customer STARTPOSITION 1")


def _imported(source: str) -> set[str]:
    """Every module a source imports, at any depth (a function's own imports too), `from a import b` as `a.b`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", JSON_MODULES)
def test_no_domain_module_imports_quickbooks_json_parsers(module):
    found = [p.name for p in _sources() if module in _imported(p.read_text())]
    assert found == [], f"{module} is the adapter's; the port answers typed values (decision 42): {found}"


def test_the_import_guard_would_catch_an_import_at_any_depth():
    sample = ("from shared.quickbooks.shapes import sync_token\n"
              "def f():\n    from shared.quickbooks.adapter import invoice_state\n"
              "from shared.quickbooks import shapes\n")
    found = _imported(sample)
    assert all(m in found for m in JSON_MODULES)
    assert "shared.quickbooks.shapes" in _imported("from shared.quickbooks import shapes\n")
