"""The domain passes typed drafts and reads typed results: QuickBooks' field names and query language live in
shared/quickbooks (the adapter and shapes.py), never in shared/domain (decision 42)."""

import re
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "shared" / "domain"
# Field names of the bodies the domain used to build, as string literals (a key or a lookup).
QUICKBOOKS_FIELDS = ("DisplayName", "CompanyName", "GivenName", "FamilyName", "PrimaryEmailAddr", "PrimaryPhone",
                     "FreeFormNumber", "BillAddr", "ShipAddr", "CountrySubDivisionCode", "Line1", "PostalCode",
                     "ParentRef", "BillWithParent", "SyncToken", "sparse")
QUERY = re.compile(r"\b(SELECT|STARTPOSITION|MAXRESULTS)\b")


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
