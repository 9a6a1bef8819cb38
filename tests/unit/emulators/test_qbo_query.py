"""The emulator's QuickBooks query language against recorded QuickBooks responses, hand cases, and properties."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.quickbooks.query import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS,
    Query,
    QueryError,
    evaluate,
    parse,
    project,
)
from shared.quickbooks.adapter import quote

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbo"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)


def run(sql: str, rows: list[dict], active_only: bool = True) -> tuple[list[dict], int]:
    return evaluate(parse(sql), rows, default_active_only=active_only)


def ids(rows: list[dict]) -> list[str]:
    return [r["Id"] for r in rows]


def shuffled(rows: list[dict], seed: int = 7) -> list[dict]:
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out


# -- recorded QuickBooks behaviour ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "entity"), [
    ("customer-query-all.json", "Customer"),  # FullyQualifiedName order: jobs follow their parent
    ("customer-query-2026.json", "Customer"),
    ("item-query-service-and-inventory.json", "Item"),
    ("bill-query-with-totalcount.json", "Bill"),  # newest LastUpdatedTime first
    ("payment-query.json", "Payment"),
])
def test_default_order_reproduces_recorded_responses(fixture, entity):
    recorded = load(fixture)["QueryResponse"][entity]
    page, total = run(f"SELECT * FROM {entity} STARTPOSITION 1 MAXRESULTS 1000", shuffled(recorded))
    assert ids(page) == ids(recorded)
    assert total == len(recorded)


def test_count_matches_recorded_total():
    customers = load("customer-query-all.json")["QueryResponse"]["Customer"]
    expected = load("query-count.json")["QueryResponse"]["totalCount"]
    page, total = run("SELECT COUNT(*) FROM Customer", customers)
    assert (page, total) == ([], expected)
    inactive = {**customers[0], "Id": "999", "Active": False}
    assert run("SELECT COUNT(*) FROM Customer", [*customers, inactive])[1] == expected


def test_recorded_paging_with_id_in_and_active_in():
    """minimul/qbo_api spec/vcr/all/alt_select.yml: MAXRESULTS before STARTPOSITION, spaces inside IN ( ... )."""
    customers = shuffled(load("customer-query-all.json")["QueryResponse"]["Customer"])
    where = "WHERE Id IN ('5', '6', '7', '8', '9', '10') AND Active IN ( true, false )"
    assert run("SELECT count(*) FROM Customer WHERE Id IN ('5', '6', '7', '8', '9', '10')", customers)[1] == 6
    pages = [ids(run(f"SELECT * FROM Customer {where} MAXRESULTS 2 STARTPOSITION {s}", customers)[0])
             for s in (1, 3, 5, 7)]
    recorded = ids(load("customer-query-page-with-subcustomer.json")["QueryResponse"]["Customer"])
    assert pages == [["5", "6"], recorded, ["9", "10"], []]


def test_unknown_entity_fault_matches_recorded_fault():
    fault = load("fault-4001-invalid-query.json")["Fault"]["Error"][0]
    with pytest.raises(QueryError) as err:
        parse("SELECT * FROM Custmoer")
    assert (err.value.code, err.value.message, err.value.detail) == (fault["code"], fault["Message"], fault["Detail"])


def test_unquoted_apostrophe_fails_where_quickbooks_does():
    """node-quickbooks#56: QuickBooks reports the token after the broken literal, at its 1-based column."""
    with pytest.raises(QueryError) as err:
        parse("select * from vendor where DisplayName = 'Cutlery 'R Us' startposition 1 maxresults 1000")
    assert (err.value.code, err.value.message) == ("4000", "Error parsing query")
    assert err.value.detail.startswith('QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.')


# -- grammar --------------------------------------------------------------------------------------------------------

def test_parse_shape():
    q = parse("select * from customer where DisplayName = 'A' and metadata.lastupdatedtime >= '2026-01-01' "
              "order by DisplayName desc, Id startposition 3 maxresults 7")
    assert (q.entity, q.count, q.fields, q.start_position, q.max_results) == ("Customer", False, None, 3, 7)
    assert [(c.path, c.op, c.value) for c in q.where] == [
        ("DisplayName", "=", "A"), ("MetaData.LastUpdatedTime", ">=", "2026-01-01")]
    assert q.order_by == (("DisplayName", True), ("Id", False))
    assert parse("SELECT * FROM Invoice") == Query("Invoice")
    assert (parse("SELECT * FROM Invoice").max_results, MAX_RESULTS) == (DEFAULT_MAX_RESULTS, 1000)
    assert parse("SELECT COUNT(*) FROM Bill WHERE Balance > 0").count
    assert parse("SELECT * FROM Item ORDERBY name ASC").order_by == (("Name", False),)
    assert parse("SELECT * FROM Invoice WHERE customerref.NAME = 'x'").where[0].path == "CustomerRef.name"
    assert parse("SELECT *, Sku FROM Item").fields is None  # python-quickbooks Item.all()


def test_parse_is_cached():
    sql = "SELECT * FROM Customer WHERE DisplayName = 'cache me'"
    assert parse(sql) is parse(sql)


def test_values_escapes_numbers_booleans_and_bare_words():
    q = parse(r"SELECT * FROM Customer WHERE DisplayName = 'O\'Brien \\ Sons' AND Balance > -1.50 "
              "AND Active = True AND Job IN (false, 'true') AND Type = Service")
    assert [c.value for c in q.where] == ["O'Brien \\ Sons", Decimal("-1.50"), True, (False, "true"), "Service"]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM Customer WHERE Id = '1' OR Id = '2'",
    "SELECT * FROM Customer JOIN Invoice",
    "SELECT * FROM Customer, Invoice",
    "SELECT * FROM Customer GROUP BY Id",
    "SELECT * FROM Customer WHERE",
    "SELECT * FROM Customer WHERE DisplayName",
    "SELECT * FROM Customer WHERE DisplayName <> 'x'",
    "SELECT * FROM Customer WHERE Balance BETWEEN 1 AND 2",
    "SELECT * FROM Customer WHERE DisplayName LIKE %x%",
    "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
    "SELECT * FROM Customer WHERE Id IN ()",
    "SELECT * FROM Customer STARTPOSITION 1 STARTPOSITION 2",
    "SELECT * FROM Customer MAXRESULTS 10 ORDERBY Id",
    "SELECT * FROM Customer STARTPOSITION -1",
    "SELECT * FROM Customer MAXRESULTS 1.5",
    "SELECT * FROM Customer;",
    "SELECT FROM Customer",
    "SELECT * Customer",
    "DELETE FROM Customer",
    "garbage",
    "",
    "   ",
])
def test_parse_errors(sql):
    with pytest.raises(QueryError) as err:
        parse(sql)
    assert (err.value.code, err.value.message) == ("4000", "Error parsing query")
    assert err.value.detail.startswith("QueryParserError: ")


def test_validation_errors():
    with pytest.raises(QueryError) as err:
        parse("SELECT * FROM Customer MAXRESULTS 1500")
    assert (err.value.code, err.value.message, err.value.detail) == (
        "4001", "Invalid query", "QueryValidationError: value 1500 is too large. Max allowed value is 1000")
    assert parse("SELECT * FROM Customer MAXRESULTS 1000").max_results == 1000


VOCABULARY = ["SELECT", "*", "COUNT(*)", "count", "FROM", "Customer", "Invoice", "WHERE", "Id", "DisplayName",
              "MetaData.LastUpdatedTime", "ParentRef", "Active", "=", "!=", "<", ">=", "'x'", "'2026-01-01'", "'",
              "\\", "AND", "OR", "IN", "(", ")", ",", "LIKE", "'%a%'", "ORDERBY", "ORDER", "BY", "DESC",
              "STARTPOSITION", "MAXRESULTS", "0", "5", "1500", "-1", "2.5", "true", "False", "%", ";", "JOIN"]


@given(st.lists(st.sampled_from(VOCABULARY), max_size=14), st.booleans(), st.text(max_size=6))
@settings(max_examples=300, deadline=None)
def test_any_token_soup_parses_or_raises_query_error(tokens, with_prefix, noise):
    sql = ("SELECT * FROM Customer " if with_prefix else "") + " ".join(tokens) + noise
    try:
        query = parse(sql)
    except QueryError as err:
        assert err.code in ("4000", "4001")
        assert err.detail.startswith(("QueryParserError: ", "QueryValidationError: "))
    else:
        page, total = evaluate(query, CUSTOMERS, default_active_only=True)
        assert len(page) <= total


# -- semantics ------------------------------------------------------------------------------------------------------

CUSTOMERS = [
    {"Id": "1", "DisplayName": "Amy's Bird Sanctuary", "Active": True, "Job": False, "Balance": Decimal("639.00"),
     "MetaData": {"LastUpdatedTime": "2026-01-15T09:12:03-08:00"}},
    {"Id": "2", "DisplayName": "Bill's Windsurf Shop", "Active": True, "Job": False, "Balance": Decimal("85.00"),
     "MetaData": {"LastUpdatedTime": "2026-01-15T17:12:04Z"}},
    {"Id": "10", "DisplayName": "Cool Cars", "Active": False, "Job": False, "Balance": Decimal("0"),
     "MetaData": {"LastUpdatedTime": "2026-01-15T18:00:00+01:00"}},
    {"Id": "9", "DisplayName": "55 Twin Lane", "Active": True, "Job": True, "ParentRef": {"value": "10"},
     "Balance": 12.5, "MetaData": {"LastUpdatedTime": "2026-01-16T00:00:00-08:00"}},
    {"Id": "100", "DisplayName": "O'Brien \\ Sons", "Active": True, "Job": False},
]


def matched(where: str, active_only: bool = False) -> list[str]:
    page, _ = run(f"SELECT * FROM Customer WHERE {where} ORDERBY Id", CUSTOMERS, active_only)
    return ids(page)


@pytest.mark.parametrize(("where", "expected"), [
    ("DisplayName = 'cool cars'", ["10"]),  # case-insensitive
    ("DisplayName = 'Cool Car'", []),
    (r"DisplayName = 'O\'Brien \\ Sons'", ["100"]),
    ("DisplayName LIKE 'b%'", ["2"]),
    ("DisplayName LIKE '%SHOP'", ["2"]),
    ("DisplayName LIKE '%bird%'", ["1"]),
    ("DisplayName LIKE 'A%S%Y'", ["1"]),
    ("DisplayName LIKE 'Cool Cars'", ["10"]),
    ("DisplayName IN ('cool cars', 'Amy\\'s Bird Sanctuary', 'nobody')", ["1", "10"]),
    ("Id = '10'", ["10"]),
    ("Id = 10", ["10"]),
    ("Id < '10'", ["1", "2", "9"]),  # numeric, not text ("100" < "10" is false, "9" < "10" is true)
    ("Id >= '10'", ["10", "100"]),
    ("Id IN ('1', '100', 42)", ["1", "100"]),
    ("ParentRef = '10'", ["9"]),  # a Ref compares its value
    ("ParentRef.value = '10'", ["9"]),
    ("ParentRef != '10'", ["1", "2", "10", "100"]),  # a missing field matches !=
    ("ParentRef = ' '", ["1", "2", "10", "100"]),  # ' ' is QuickBooks' null
    ("ParentRef IN (' ')", ["1", "2", "10", "100"]),
    ("DisplayName != 'cool cars'", ["1", "2", "9", "100"]),
    ("Balance > '80'", ["1", "2"]),
    ("Balance > 80", ["1", "2"]),
    ("Balance = 85", ["2"]),
    ("Balance = '85.0'", ["2"]),
    ("Balance <= 12.5", ["9", "10"]),
    ("Balance != 0", ["1", "2", "9", "100"]),
    ("Job = true", ["9"]),
    ("Job = 'false'", ["1", "2", "10", "100"]),
    ("Job = FALSE", ["1", "2", "10", "100"]),
    ("Active = false", ["10"]),
    ("Active IN (true, false)", ["1", "2", "9", "10", "100"]),
    # instants, whatever the offset: 09:12:03-08:00 == 17:12:03Z < 17:12:04Z == 2's stamp
    ("MetaData.LastUpdatedTime = '2026-01-15T17:12:03Z'", ["1"]),
    ("MetaData.LastUpdatedTime > '2026-01-15T09:12:03-08:00'", ["2", "9"]),
    ("MetaData.LastUpdatedTime <= '2026-01-15T17:00:00Z'", ["10"]),
    ("MetaData.LastUpdatedTime >= '2026-01-16'", ["9"]),
    ("Metadata.LastUpdatedTime < '2026-01-15T17:12:03.500+00:00'", ["1", "10"]),  # field names any case
    ("displayname = 'cool cars' AND Active = false", ["10"]),
    ("NoSuchField = 'x'", []),
    ("NoSuchField != 'x'", ["1", "2", "9", "10", "100"]),
])
def test_conditions(where, expected):
    assert matched(where) == expected


def test_active_only_default():
    assert matched("Balance >= 0", active_only=True) == ["1", "2", "9"]
    assert ids(run("SELECT * FROM Customer", CUSTOMERS)[0]) == ["9", "1", "2", "100"]
    assert ids(run("SELECT * FROM Customer", CUSTOMERS, active_only=False)[0]) == ["9", "1", "2", "10", "100"]
    assert matched("Active = false", active_only=True) == ["10"]  # naming Active lifts the default
    assert matched("active IN (true, false)", active_only=True) == ["1", "2", "9", "10", "100"]
    assert run("SELECT COUNT(*) FROM Customer", CUSTOMERS) == ([], 4)


def test_ordering():
    def order(clause: str) -> list[str]:
        return ids(run(f"SELECT * FROM Customer WHERE Active IN (true, false) {clause}", CUSTOMERS)[0])

    assert order("ORDERBY Id") == ["1", "2", "9", "10", "100"]
    assert order("ORDER BY Id DESC") == ["100", "10", "9", "2", "1"]
    assert order("ORDERBY DisplayName") == ["9", "1", "2", "10", "100"]
    assert order("ORDERBY Balance DESC") == ["1", "2", "9", "10", "100"]  # missing last when descending
    assert order("ORDERBY Balance") == ["100", "10", "9", "2", "1"]
    assert order("ORDERBY MetaData.LastUpdatedTime") == ["100", "10", "1", "2", "9"]  # instants, not text
    assert order("ORDERBY Job DESC, DisplayName DESC") == ["9", "100", "10", "2", "1"]
    assert order("ORDERBY Job") == ["1", "2", "10", "100", "9"]  # ties broken by Id ascending


def test_transactions_default_to_newest_change_first_with_id_tiebreak():
    rows = [{"Id": str(i), "MetaData": {"LastUpdatedTime": stamp}} for i, stamp in enumerate(
        ["2026-01-01T00:00:00-08:00", "2026-01-01T09:00:00Z", "2026-01-02T00:00:00Z", "2026-01-01T08:00:00Z"], 1)]
    assert ids(run("SELECT * FROM Invoice", rows, active_only=False)[0]) == ["3", "2", "1", "4"]


def test_paging_edges():
    rows = [{"Id": str(i), "DisplayName": f"n{i:03}"} for i in range(1, 251)]
    page, total = run("SELECT * FROM Customer", rows)
    assert (len(page), total) == (DEFAULT_MAX_RESULTS, 250)
    assert run("SELECT * FROM Customer STARTPOSITION 251", rows) == ([], 250)
    assert ids(run("SELECT * FROM Customer STARTPOSITION 0 MAXRESULTS 1", rows)[0]) == ["1"]
    assert run("SELECT * FROM Customer MAXRESULTS 0", rows) == ([], 250)
    assert run("SELECT * FROM Customer WHERE DisplayName = 'none'", []) == ([], 0)


def test_projection():
    q = parse("SELECT displayname, Balance, DisplayName FROM Customer WHERE Id = '2'")
    assert q.fields == ("Id", "DisplayName", "Balance")
    (row,) = evaluate(q, [{**c, "domain": "QBO", "sparse": False} for c in CUSTOMERS], default_active_only=True)[0]
    assert project(q, row) == {"domain": "QBO", "sparse": True, "Id": "2", "DisplayName": "Bill's Windsurf Shop",
                               "Balance": Decimal("85.00")}
    star = parse("SELECT * FROM Customer")
    assert project(star, CUSTOMERS[0]) is CUSTOMERS[0]


# -- properties -----------------------------------------------------------------------------------------------------

names = st.lists(st.text(max_size=30), min_size=1, max_size=25, unique_by=str.casefold)


@given(names, st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_quoted_name_round_trips(display_names, data):
    """Whatever the name, the production quote() makes a literal that finds exactly that customer."""
    rows = [{"Id": str(i), "DisplayName": n, "Active": True} for i, n in enumerate(display_names, 1)]
    target = data.draw(st.sampled_from(rows))
    page, total = run(f"SELECT * FROM Customer WHERE DisplayName = {quote(target['DisplayName'])}", rows)
    assert (ids(page), total) == ([target["Id"]], 1)
    chosen = data.draw(st.lists(st.sampled_from(rows), min_size=1, max_size=5, unique_by=lambda r: r["Id"]))
    where = "DisplayName IN (" + ", ".join(quote(r["DisplayName"]) for r in chosen) + ")"
    page, _ = run(f"SELECT * FROM Customer WHERE {where} MAXRESULTS 1000", rows)
    assert sorted(ids(page), key=int) == sorted((r["Id"] for r in chosen), key=int)


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"Id": str(i), "DisplayName": rng.choice(["a", "B", "c"]) * rng.randint(1, 3), "Active": rng.random() < .9,
             "MetaData": {"LastUpdatedTime": f"2026-01-{rng.randint(1, 3):02d}T00:00:00-08:00"}}
            for i in rng.sample(range(1, 10 * n + 2), n)]


def _all_pages(sql: str, rows: list[dict], size: int) -> list[list[dict]]:
    pages, start = [], 1
    while True:
        page, _ = run(f"{sql} STARTPOSITION {start} MAXRESULTS {size}", rows)
        if page:
            pages.append(page)
        if len(page) < size:
            return pages
        start += size


@given(st.integers(0, 300), st.integers(1, 1000), st.integers(0, 2**32),
       st.sampled_from(["SELECT * FROM Customer", "SELECT * FROM Invoice", "SELECT * FROM Customer ORDERBY Id",
                        "SELECT * FROM Customer WHERE DisplayName LIKE '%a%' ORDERBY DisplayName DESC",
                        "SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime"]))
@settings(max_examples=60, deadline=None)
def test_paging_covers_every_row_once(n, size, seed, sql):
    rows = _rows(n, seed)
    pages = _all_pages(sql, rows, size)
    seen = [r["Id"] for page in pages for r in page]
    _, total = run(sql.replace("SELECT *", "SELECT COUNT(*)"), rows)
    assert len(seen) == len(set(seen)) == total
    assert all(len(p) == size for p in pages[:-1])
    whole, _ = run(f"{sql} MAXRESULTS 1000", rows)
    assert seen[:1000] == ids(whole)  # pages are slices of one fixed order


def test_paging_many_rows_with_large_pages():
    rows = _rows(2600, 3)
    for size in (1000, 999, 1):
        if size == 1:
            rows = rows[:120]
        pages = _all_pages("SELECT * FROM Customer ORDERBY Id", rows, size)
        seen = [r["Id"] for p in pages for r in p]
        expected = sorted((r["Id"] for r in rows if r["Active"]), key=int)
        assert seen == expected


# -- large tables (speed is measured in emulators/quickbooks/perf.py, never timed here) --------------------------------

def test_queries_over_20000_rows_answer_every_shape():
    rng = random.Random(5)
    invoices = [{"Id": str(i), "CustomerRef": {"value": str(rng.randrange(1, 3000))}, "TotalAmt": Decimal("10.00"),
                 "MetaData": {"LastUpdatedTime": f"2026-01-{i % 28 + 1:02d}T10:{i % 60:02d}:00-08:00"}}
                for i in range(1, 20001)]
    customers = [{"Id": str(i), "DisplayName": f"Customer {i}", "FullyQualifiedName": f"Customer {i}",
                  "Active": i % 9 != 0} for i in range(1, 20001)]
    checks = [
        ("SELECT * FROM Invoice WHERE CustomerRef = '123' STARTPOSITION 1 MAXRESULTS 1000", invoices, False),
        ("SELECT * FROM Customer WHERE DisplayName = 'customer 777'", customers, True),
        ("SELECT * FROM Customer WHERE Active IN (true, false) ORDERBY Id STARTPOSITION 19001 MAXRESULTS 1000",
         customers, True),
        ("SELECT * FROM Invoice STARTPOSITION 1 MAXRESULTS 1000", invoices, False),
    ]
    for sql, rows, active_only in checks:
        page, total = run(sql, rows, active_only)
        assert total >= len(page) > 0
    assert ids(run(checks[1][0], customers)[0]) == ["777"]
    assert [r["Id"] for r in run(checks[2][0], customers)[0]][:2] == ["19001", "19002"]
