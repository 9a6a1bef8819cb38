"""The QuickBooks Online query language for the emulator: ``parse`` a statement once, ``evaluate`` it over stored rows.

Grammar (keywords case-insensitive)::

    SELECT * | COUNT(*) | *, f1 | f1, f2 FROM Entity
        [WHERE path op value [AND path op value]*]
        [ORDERBY | ORDER BY path [ASC|DESC] [, path [ASC|DESC]]*]
        [STARTPOSITION n] [MAXRESULTS m]            -- either order, each at most once
    op    = '=' | '!=' | '<' | '<=' | '>' | '>=' | IN (v, ...) | LIKE 'pattern'
    value = 'quoted' (backslash escapes the next character) | number | true | false | bare word
    path  = Name | Parent.Child  (a Ref such as CustomerRef compares its "value")

What each choice rests on (R = observed in a recorded live response, D = Intuit documentation, S = Intuit SDK code,
C = client libraries or issue threads, X = the emulator's own choice, documented because nothing better was found):

- Syntax, AND only, no OR / JOIN / GROUP BY, '%' the only LIKE wildcard, backslash escapes, operators
  IN = < > <= >= LIKE, ``' '`` stands for null (D: developer.intuit.com/app/developer/qbo/docs/learn/
  explore-the-quickbooks-online-api/data-queries; developer.intuit.com/hub/blog/2017/02/08/deep-dive-sql-queries).
- ``!=`` is accepted: Intuit's Java SDK writes it for ``neq`` (S: intuit/QuickBooks-V3-Java-SDK,
  ipp-v3-java-devkit/.../query/Operation.java). ``<>`` and BETWEEN are not accepted.
- ``ORDER BY`` is accepted next to ``ORDERBY``: the server's own parser lists both "order" and "orderby" as expected
  tokens (C: mcohen01/node-quickbooks#56), and python-quickbooks ``all()`` sends ``ORDER BY``.
- MAXRESULTS before STARTPOSITION works (R: minimul/qbo_api spec/vcr/all/alt_select.yml). Default MAXRESULTS 100,
  ceiling 1000 (D). Above 1000 is an error, not a cap: code 4001 "Invalid query", detail
  "QueryValidationError: value 1500 is too large. Max allowed value is 1000" (C: ruckus/quickbooks-ruby#24).
- Faults: parse errors are code 4000 "Error parsing query" with a JavaCC-style "QueryParserError: Encountered ..."
  detail (C: node-quickbooks#56, quickbooks-node-promise#1, QuickBooks-V3-PHP-SDK#8 for the empty query); an unknown
  entity is code 4001 "Invalid query", "QueryValidationError: invalid context declaration: Custmoer" (R: fixture
  fault-4001-invalid-query.json). The server's exact text for OR is not known; the emulator reports it as a
  parse error at the OR token (X).
- The entity is matched case-insensitively and answered in canonical case: the docs say "case sensitive", but
  node-quickbooks sends ``select * from item`` successfully (C: node-quickbooks#74).
- ``SELECT * FROM Customer`` returns active rows only unless the WHERE names Active (D: deep-dive blog; R, consistent:
  COUNT 41 equals the 41 active rows of customers.yml). ``Active IN (true, false)`` returns both (R: alt_select.yml).
- Default order when there is no ORDERBY (R): name lists (Customer, Item, Account, Vendor, ...) ascending by
  FullyQualifiedName, falling back to DisplayName then Name, so a job follows its parent (customer-query-all.json,
  customer-query-2026.json, item-query-service-and-inventory.json, alt_select.yml); transactions (Bill, Payment,
  Invoice, ...) by MetaData.LastUpdatedTime descending (bill-query-with-totalcount.json, payment-query.json). Ties
  and every explicit ORDERBY are broken by Id ascending so that paging is deterministic (X).
- String ``=``, IN, LIKE and ordering are case-insensitive (X, not confirmed against a live company; the sync code
  casefolds what its DisplayName IN lookups return). '%' may appear anywhere in a LIKE pattern, always a wildcard.
- Id and Ref values ("42", CustomerRef) compare numerically when both sides are numbers, so ``Id < '100'`` and
  ORDERBY Id are numeric; fields named *Time or *Date (MetaData.LastUpdatedTime, TxnDate) compare as instants,
  offsets honoured ("2026-01-15T09:12:03-08:00"), a literal without an offset and a bare date taken as UTC (the real
  server presumably uses the company's time zone, which a query module does not know); every other string is text,
  so DocNumber '007' is not '7' (X). Decimal, int and float compare numerically; booleans match true/false and
  'true'/'false'.
- A row without the field (or with null) does not match, except for ``!=``; the null literal ``' '`` matches it.
- Projections (``SELECT Id, DisplayName``): the old docs say they are unsupported, the Java SDK generates them.
  ``Query.fields`` is ("Id", *selected) and ``project`` returns those plus domain and ``sparse: true`` (X).
  ``SELECT *, Sku`` (python-quickbooks for Item) is treated as ``*``.
- STARTPOSITION below 1 is read as 1; MAXRESULTS 0 gives an empty page (X).

Speed: ``parse`` is cached and compiles every condition to one Python callable; ``evaluate`` is one pass over the
rows plus a sort of the matches only; numbers and date-times parsed from strings are cached.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "DEFAULT_MAX_RESULTS", "ENTITIES", "MAX_RESULTS", "NAME_LISTS", "Condition", "Query", "QueryError",
    "evaluate", "parse", "project",
]

MAX_RESULTS = 1000
DEFAULT_MAX_RESULTS = 100

ENTITIES = (
    "Account", "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyCurrency", "CompanyInfo",
    "CreditCardPayment", "CreditMemo", "Customer", "CustomerType", "Department", "Deposit", "Employee", "Estimate",
    "Exchangerate", "Invoice", "Item", "JournalCode", "JournalEntry", "Payment", "PaymentMethod", "Preferences",
    "Purchase", "PurchaseOrder", "RecurringTransaction", "RefundReceipt", "SalesReceipt", "TaxAgency",
    "TaxClassification", "TaxCode", "TaxRate", "Term", "TimeActivity", "Transfer", "Vendor", "VendorCredit",
)
_ENTITY_BY_LOWER = {e.lower(): e for e in ENTITIES}

# Entities QuickBooks lists alphabetically by name; everything else is a transaction, newest change first.
NAME_LISTS = frozenset({
    "Account", "Budget", "Class", "CompanyCurrency", "Customer", "CustomerType", "Department", "Employee", "Item",
    "JournalCode", "PaymentMethod", "TaxAgency", "TaxClassification", "TaxCode", "TaxRate", "Term", "Vendor",
})
_SINGLETONS = frozenset({"CompanyInfo", "Preferences"})

# Stored rows use these exact spellings, so a query that spells one differently is mapped at parse time and the
# per-row lookup stays a single dict.get (a case-insensitive scan of every row's keys would cost ~2 µs a row).
_KNOWN_FIELDS = {
    f.lower(): f for f in (
        "Id", "SyncToken", "MetaData", "CreateTime", "LastUpdatedTime", "DisplayName", "FullyQualifiedName", "Name",
        "CompanyName", "GivenName", "FamilyName", "PrintOnCheckName", "PrimaryEmailAddr", "Address", "Active",
        "ParentRef", "CustomerRef", "VendorRef", "ItemRef", "AccountRef", "ClassRef", "DepartmentRef", "TermRef",
        "SalesTermRef", "PaymentMethodRef", "CurrencyRef", "DepositToAccountRef", "APAccountRef", "ARAccountRef",
        "IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef", "Job", "Level", "IsProject", "Type",
        "AccountType", "AccountSubType", "Classification", "SubAccount", "AcctNum", "TxnDate", "DueDate",
        "DocNumber", "TotalAmt", "Balance", "BalanceWithJobs", "Taxable", "Sku", "PrivateNote", "EmailStatus",
        "PrintStatus", "TrackQtyOnHand", "QtyOnHand", "UnitPrice",
    )
}
_REF_PARTS = ("value", "name")  # inside a Ref; lower case, unlike the top-level Name
_KNOWN_SPELLINGS = frozenset((*_KNOWN_FIELDS.values(), *_REF_PARTS))

_MISSING: Any = object()


class QueryError(Exception):
    """A statement QuickBooks would refuse. ``code`` is the Fault code: "4000" for parse errors, "4001" for
    validation errors (unknown entity, MAXRESULTS too large); both come back as HTTP 400 ValidationFault."""

    def __init__(self, message: str, detail: str, code: str = "4000"):
        super().__init__(f"{message}: {detail}")
        self.message = message
        self.detail = detail
        self.code = code


def _parse_error(detail: str) -> QueryError:
    return QueryError("Error parsing query", "QueryParserError: " + detail, "4000")


def _invalid(detail: str) -> QueryError:
    return QueryError("Invalid query", "QueryValidationError: " + detail, "4001")


# -- values ---------------------------------------------------------------------------------------------------------

_NUM_RE = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?", re.ASCII | re.DOTALL)


@functools.lru_cache(maxsize=1 << 16)
def _num(s: str) -> Decimal | None:
    return Decimal(s) if _NUM_RE.fullmatch(s) else None


@functools.lru_cache(maxsize=1 << 16)
def _epoch(s: str) -> float | None:
    if not _DATE_RE.fullmatch(s):
        return None
    try:
        dt = datetime.fromisoformat(s)
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class _Lit:
    """One literal, pre-converted to every form a row value might be compared in."""

    raw: str
    cf: str
    num: Decimal | None
    epoch: float | None
    boolean: bool | None
    null: bool


def _lit(value: str | Decimal | bool) -> _Lit:
    if isinstance(value, bool):
        text = "true" if value else "false"
        return _Lit(text, text, None, None, value, False)
    if isinstance(value, Decimal):
        return _Lit(str(value), str(value), value, None, None, False)
    return _Lit(value, value.casefold(), _num(value), _epoch(value),
                {"true": True, "false": False}.get(value.lower()), value == " ")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool)


# -- field access ---------------------------------------------------------------------------------------------------

def _canonical_path(text: str) -> str:
    out: list[str] = []
    for seg in text.split("."):
        low = seg.lower()
        out.append(low if out and out[-1].endswith("Ref") and low in _REF_PARTS else _KNOWN_FIELDS.get(low, seg))
    return ".".join(out)


def _find_key(obj: dict, key: str, exact_only: bool) -> Any:
    """The key of ``obj`` that ``key`` names (exactly, else case-insensitively unless exact_only), or _MISSING."""
    if key in obj:
        return key
    if not exact_only:
        lowered = key.lower()
        for k in obj:
            if isinstance(k, str) and k.lower() == lowered:
                return k
    return _MISSING


def _lookup(obj: dict, key: str, exact_only: bool) -> Any:
    k = _find_key(obj, key, exact_only)
    return _MISSING if k is _MISSING else obj[k]


def _getter(path: str) -> Callable[[dict], Any]:
    """Row -> value at ``path`` (a Ref's "value" when the path ends on a Ref object), or _MISSING."""
    steps = tuple((seg, seg in _KNOWN_SPELLINGS) for seg in path.split("."))
    if len(steps) == 1 and steps[0][1]:
        key = steps[0][0]

        def get_top(row: dict) -> Any:  # the common case, kept to one dict.get
            v = row.get(key)
            if v is None:
                return _MISSING
            if isinstance(v, dict):
                v = v.get("value")
                return _MISSING if v is None else v
            return v
        return get_top

    if all(exact_only for _, exact_only in steps):
        keys = tuple(seg for seg, _ in steps)

        def get_known(row: dict) -> Any:
            v: Any = row
            for k in keys:
                if not isinstance(v, dict):
                    return _MISSING
                v = v.get(k)
                if v is None:
                    return _MISSING
            if isinstance(v, dict):
                v = v.get("value")
                return _MISSING if v is None else v
            return v
        return get_known

    def get(row: dict) -> Any:
        v: Any = row
        for seg, exact_only in steps:
            if not isinstance(v, dict):
                return _MISSING
            v = _lookup(v, seg, exact_only)
            if v is _MISSING or v is None:
                return _MISSING
        if isinstance(v, dict):
            v = v.get("value", _MISSING)
            if v is None:
                return _MISSING
        return v

    return get


def _kind(path: str) -> str:
    """How text values at ``path`` compare: "id" (numeric when both sides are numbers), "time" (as instants when
    both sides are dates or date-times), or "text". Only Ids and Refs get the numeric reading, only *Time/*Date
    fields the instant one, so a DocNumber '007' is not '7' and a customer named '2026-01-01' is just text."""
    last = path.rsplit(".", 1)[-1].lower()
    if last in ("id", "value") or last.endswith("ref"):
        return "id"
    if last.endswith(("time", "date")):
        return "time"
    return "text"


# -- conditions -----------------------------------------------------------------------------------------------------

def _equals(lit: _Lit, kind: str) -> Callable[[Any], bool]:
    raw, cf, num, boolean = lit.raw, lit.cf, lit.num, lit.boolean
    num_text = num if kind == "id" else None
    epoch = lit.epoch if kind == "time" else None
    plain_int = raw.isascii() and raw.isdigit() and raw[:1] != "0"

    def eq(v: Any) -> bool:
        if isinstance(v, str):
            if v == raw:
                return True
            if num_text is not None:
                if plain_int and v.isascii() and v.isdigit() and v[:1] != "0":
                    return False  # two plain integers that differ as text differ as numbers: skip the parse
                if (n := _num(v)) is not None:
                    return n == num_text
            elif epoch is not None and (e := _epoch(v)) is not None:
                return e == epoch
            return v.casefold() == cf
        if isinstance(v, bool):
            return v is boolean
        if _is_number(v):
            return num is not None and v == num
        return False

    return eq


def _member(lits: tuple[_Lit, ...], kind: str) -> Callable[[Any], bool]:
    cfs = frozenset(lit.cf for lit in lits)
    nums = frozenset(lit.num for lit in lits if lit.num is not None)
    num_text = nums if kind == "id" else frozenset()
    epochs = frozenset(lit.epoch for lit in lits if lit.epoch is not None) if kind == "time" else frozenset()
    bools = frozenset(lit.boolean for lit in lits if lit.boolean is not None)

    def member(v: Any) -> bool:
        if isinstance(v, str):
            if v.casefold() in cfs:
                return True
            if num_text and _num(v) in num_text:
                return True
            return bool(epochs) and _epoch(v) in epochs
        if isinstance(v, bool):
            return v in bools
        if _is_number(v):
            return v in nums
        return False

    return member


def _ordered(lit: _Lit, kind: str, cmp: Callable[[Any, Any], bool]) -> Callable[[Any], bool]:
    num, boolean, cf = lit.num, lit.boolean, lit.cf
    num_text = num if kind == "id" else None
    epoch = lit.epoch if kind == "time" else None

    def test(v: Any) -> bool:
        if isinstance(v, str):
            if epoch is not None and (e := _epoch(v)) is not None:
                return cmp(e, epoch)
            if num_text is not None and (n := _num(v)) is not None:
                return cmp(n, num_text)
            return cmp(v.casefold(), cf)
        if isinstance(v, bool):
            return boolean is not None and cmp(int(v), int(boolean))
        if _is_number(v):
            return num is not None and cmp(v, num)
        return False

    return test


def _like(pattern: str) -> Callable[[Any], bool]:
    parts = pattern.casefold().split("%")
    if len(parts) == 1:
        whole = parts[0]

        def test(v: Any) -> bool:
            return isinstance(v, str) and v.casefold() == whole
    elif len(parts) == 2:
        head, tail = parts
        least = len(head) + len(tail)

        def test(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            s = v.casefold()
            return len(s) >= least and s.startswith(head) and s.endswith(tail)
    else:
        rx = re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)

        def test(v: Any) -> bool:
            return isinstance(v, str) and rx.fullmatch(v.casefold()) is not None

    return test


_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _compile(path: str, op: str, value: Any) -> Callable[[dict], bool]:
    get = _getter(path)
    kind = _kind(path)
    if op == "LIKE":
        matches = _like(value if isinstance(value, str) else _lit(value).raw)
        return lambda row: matches(get(row))
    if op == "IN":
        lits = tuple(_lit(v) for v in value)
        member = _member(lits, kind)
        null_ok = any(lit.null for lit in lits)

        def is_in(row: dict) -> bool:
            v = get(row)
            return null_ok if v is _MISSING else member(v)
        return is_in
    lit = _lit(value)
    if op in ("=", "!="):
        eq = _equals(lit, kind)
        want = op == "="

        def equality(row: dict) -> bool:
            v = get(row)
            if v is _MISSING:
                return lit.null is want
            return eq(v) is want
        return equality
    ordered = _ordered(lit, kind, _COMPARE[op])

    def compare(row: dict) -> bool:
        v = get(row)
        return v is not _MISSING and ordered(v)
    return compare


@dataclass(frozen=True)
class Condition:
    """``path op value``: value is a str, Decimal or bool, or a tuple of them for IN."""

    path: str
    op: str
    value: Any
    test: Callable[[dict], bool] = field(compare=False, repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.test is None:
            object.__setattr__(self, "test", _compile(self.path, self.op, self.value))


def _all_of(conditions: tuple[Condition, ...]) -> Callable[[dict], bool]:
    tests = tuple(c.test for c in conditions)
    if not tests:
        return lambda row: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        a, b = tests
        return lambda row: a(row) and b(row)
    return lambda row: all(t(row) for t in tests)


@dataclass(frozen=True)
class Query:
    """A parsed statement. ``entity`` is canonical ("Customer"); ``fields`` is None for ``*`` and COUNT, else
    ("Id", *selected top-level names); ``start_position`` is 1-based; ``match(row)`` is every WHERE condition."""

    entity: str
    count: bool = False
    fields: tuple[str, ...] | None = None
    where: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()  # (dotted path, descending); () means QuickBooks' default order
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    match: Callable[[dict], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "match", _all_of(self.where))

    @property
    def names_active(self) -> bool:
        """True when a condition is on Active, which lifts QuickBooks' active-only default."""
        return any(c.path.split(".", 1)[0].lower() == "active" for c in self.where)


# -- tokens ---------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[*(),])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)
_KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDERBY", "ORDER", "BY", "ASC", "DESC",
    "STARTPOSITION", "MAXRESULTS", "COUNT", "TRUE", "FALSE", "JOIN", "GROUP", "HAVING", "LIMIT", "OFFSET", "BETWEEN",
})
_NAMED_TOKENS = {"AND": "<AND>", "OR": "<OR>"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | number | ident | keyword | op | punct | eof
    text: str
    pos: int

    def is_kw(self, *words: str) -> bool:
        return self.kind == "keyword" and self.text.upper() in words


def _line_col(sql: str, pos: int) -> tuple[int, int]:
    line = sql.count("\n", 0, pos) + 1
    column = pos - (sql.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _tokens(sql: str) -> Iterator[_Tok]:
    """Lazily, as JavaCC does, so that 'Cutlery 'R Us' fails at R (a parse error) the way QuickBooks reports it,
    not at the unterminated quote after it."""
    pos = 0
    while pos < len(sql):
        m = _TOKEN_RE.match(sql, pos)
        if m is None:
            line, column = _line_col(sql, pos)
            ch = sql[pos]
            if ch == "'":
                end_line, end_column = _line_col(sql, len(sql))
                raise _parse_error(f"Invalid content. Lexical error at line {end_line}, column {end_column}.  "
                                   f"Encountered: <EOF> after : \"{sql[pos:]}\"")
            raise _parse_error(f"Invalid content. Lexical error at line {line}, column {column}.  "
                               f"Encountered: \"{ch}\" ({ord(ch)}), after : \"\"")
        kind = m.lastgroup or ""
        if kind != "ws":
            text = m.group()
            if kind == "ident" and text.upper() in _KEYWORDS:
                kind = "keyword"
            yield _Tok(kind, text, pos)
        pos = m.end()
    yield _Tok("eof", "", len(sql))


# -- parser ---------------------------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, sql: str):
        self.sql = sql
        self.stream = _tokens(sql)
        self.tok = next(self.stream)

    def take(self) -> _Tok:
        t = self.tok
        if t.kind != "eof":
            self.tok = next(self.stream)
        return t

    def fail(self, expected: Iterable[str]) -> QueryError:
        t = self.tok
        line, column = _line_col(self.sql, t.pos)
        if t.kind == "eof":
            shown = "<EOF>"
        else:
            image = _NAMED_TOKENS.get(t.text.upper()) if t.kind == "keyword" else None
            image = image or {"ident": "<IDENTIFIER>", "string": "<STRING>", "number": "<NUMBER>"}.get(
                t.kind, f'"{t.text.lower()}"')
            shown = f" {image} \"{t.text} \""
        wanted = "".join(f"\n    {e} ..." for e in expected)
        return _parse_error(f'Encountered "{shown}" at line {line}, column {column}.\nWas expecting one of:{wanted}')

    def keyword(self, *words: str) -> _Tok:
        if not self.tok.is_kw(*words):
            raise self.fail(f'"{w.lower()}"' for w in words)
        return self.take()

    def punct(self, ch: str) -> None:
        if not (self.tok.kind == "punct" and self.tok.text == ch):
            raise self.fail([f'"{ch}"'])
        self.take()

    def ident(self) -> str:
        if self.tok.kind != "ident":
            raise self.fail(["<IDENTIFIER>"])
        return self.take().text

    def value(self) -> str | Decimal | bool:
        t = self.tok
        if t.kind == "string":
            self.take()
            return _ESCAPE_RE.sub(r"\1", t.text[1:-1])
        if t.kind == "number":
            self.take()
            return Decimal(t.text)
        if t.is_kw("TRUE", "FALSE"):
            self.take()
            return t.text.upper() == "TRUE"
        if t.kind == "ident":  # the docs allow value_without_quote
            self.take()
            return t.text
        raise self.fail(["<STRING>", "<NUMBER>", '"true"', '"false"'])

    def integer(self) -> int:
        t = self.tok
        if t.kind != "number" or not t.text.isdigit():
            raise self.fail(["<INTEGER>"])
        self.take()
        return int(t.text) if len(t.text) <= 18 else 10**18  # int() refuses very long digit strings

    def select_list(self) -> tuple[bool, tuple[str, ...] | None]:
        if self.tok.is_kw("COUNT"):
            self.take()
            self.punct("(")
            self.punct("*")
            self.punct(")")
            return True, None
        star = False
        names: list[str] = []
        while True:
            if self.tok.kind == "punct" and self.tok.text == "*":
                self.take()
                star = True
            elif self.tok.kind == "ident":
                names.append(_canonical_path(self.take().text).split(".", 1)[0])
            else:
                raise self.fail(['"*"', '"count"', "<IDENTIFIER>"])
            if not (self.tok.kind == "punct" and self.tok.text == ","):
                break
            self.take()
        if star:
            return False, None
        seen = {"id"}
        fields = ["Id"]
        for n in names:
            if n.lower() not in seen:
                seen.add(n.lower())
                fields.append(n)
        return False, tuple(fields)

    def condition(self) -> Condition:
        path = _canonical_path(self.ident())
        t = self.tok
        if t.kind == "op":
            self.take()
            return Condition(path, t.text, self.value())
        if t.is_kw("IN"):
            self.take()
            self.punct("(")
            values = [self.value()]
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.take()
                values.append(self.value())
            self.punct(")")
            return Condition(path, "IN", tuple(values))
        if t.is_kw("LIKE"):
            self.take()
            return Condition(path, "LIKE", self.value())
        raise self.fail(['"="', '"!="', '"<"', '"<="', '">"', '">="', '"in"', '"like"'])

    def order_list(self) -> tuple[tuple[str, bool], ...]:
        keys = []
        while True:
            path = _canonical_path(self.ident())
            desc = False
            if self.tok.is_kw("ASC", "DESC"):
                desc = self.take().text.upper() == "DESC"
            keys.append((path, desc))
            if not (self.tok.kind == "punct" and self.tok.text == ","):
                return tuple(keys)
            self.take()

    def statement(self) -> Query:
        self.keyword("SELECT")
        count, fields = self.select_list()
        self.keyword("FROM")
        entity_text = self.ident()
        where: list[Condition] = []
        if self.tok.is_kw("WHERE"):
            self.take()
            where.append(self.condition())
            while self.tok.is_kw("AND"):
                self.take()
                where.append(self.condition())
        order_by: tuple[tuple[str, bool], ...] = ()
        if self.tok.is_kw("ORDERBY"):
            self.take()
            order_by = self.order_list()
        elif self.tok.is_kw("ORDER"):
            self.take()
            self.keyword("BY")
            order_by = self.order_list()
        paging: dict[str, int] = {}
        while self.tok.is_kw("STARTPOSITION", "MAXRESULTS") and self.tok.text.upper() not in paging:
            word = self.take().text.upper()
            paging[word] = self.integer()
        if self.tok.kind != "eof":
            expected = ["<EOF>"]
            if where and not order_by and not paging:
                expected.append("<AND>")
            if not order_by and not paging:
                expected += ['"order"', '"orderby"']
            expected += [f'"{w.lower()}"' for w in ("MAXRESULTS", "STARTPOSITION") if w not in paging]
            raise self.fail(expected)

        entity = _ENTITY_BY_LOWER.get(entity_text.lower())
        if entity is None:
            raise _invalid(f"invalid context declaration: {entity_text}")
        max_results = paging.get("MAXRESULTS", DEFAULT_MAX_RESULTS)
        if max_results > MAX_RESULTS:
            raise _invalid(f"value {max_results} is too large. Max allowed value is {MAX_RESULTS}")
        return Query(entity=entity, count=count, fields=fields, where=tuple(where), order_by=order_by,
                     start_position=max(1, paging.get("STARTPOSITION", 1)), max_results=max_results)


@functools.lru_cache(maxsize=2048)
def parse(sql: str) -> Query:
    """Parse one statement; raises QueryError with QuickBooks' fault code, message and detail."""
    if not sql or not sql.strip():
        raise _parse_error("The query provided was empty")
    return _Parser(sql).statement()


# -- ordering -------------------------------------------------------------------------------------------------------

def _sort_value(v: Any, kind: str) -> tuple:
    """A key that orders any mix of values: absent first, then booleans, numbers, instants, text."""
    if v is _MISSING or v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if _is_number(v):
        return (2, v)
    if isinstance(v, str):
        if kind == "id" and (n := _num(v)) is not None:
            return (2, n)
        if kind == "time" and (e := _epoch(v)) is not None:
            return (3, e)
        return (4, v.casefold())
    return (5, 0)


def _id_key(row: dict) -> tuple:
    v = row.get("Id")
    try:
        return (2, int(v))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return _sort_value(v, "id")


def _path_key(path: str) -> Callable[[dict], tuple]:
    if path == "Id":
        return _id_key
    get = _getter(path)
    kind = _kind(path)
    return lambda row: _sort_value(get(row), kind)


def _name_key(row: dict) -> tuple:
    for key in ("FullyQualifiedName", "DisplayName", "Name"):
        v = row.get(key)
        if isinstance(v, str):
            return (4, v.casefold())
    return (0, 0)


def _order(query: Query) -> list[tuple[Callable[[dict], tuple], bool]]:
    if query.order_by:
        return [(_path_key(path), desc) for path, desc in query.order_by]
    if query.entity in NAME_LISTS:
        return [(_name_key, False)]
    if query.entity in _SINGLETONS:
        return []
    return [(_path_key("MetaData.LastUpdatedTime"), True)]


def _sort(rows: list[dict], query: Query) -> None:
    keys = _order(query)
    if keys and keys[0][0] is _id_key:
        rows.sort(key=_id_key, reverse=keys[0][1])  # Ids are unique: nothing after the first key matters
        return
    rows.sort(key=_id_key)
    for key, desc in reversed(keys):
        rows.sort(key=key, reverse=desc)  # stable, also when reversed: ties keep the Id order


# -- evaluation -----------------------------------------------------------------------------------------------------

def evaluate(query: Query, rows: Iterable[dict], *, default_active_only: bool) -> tuple[list[dict], int]:
    """(the page after WHERE, ORDER and paging, how many rows matched before paging). For COUNT the page is [].

    ``default_active_only``: leave out rows whose Active is False unless the WHERE names Active (pass True for
    entities that have Active: QuickBooks' ``SELECT * FROM Customer`` lists active customers only). The page holds
    the stored dicts themselves, not copies."""
    match = query.match
    if default_active_only and not query.names_active:
        hits = [r for r in rows if r.get("Active") is not False and match(r)]
    elif query.where:
        hits = [r for r in rows if match(r)]
    else:
        hits = list(rows)
    total = len(hits)
    start = query.start_position - 1
    if query.count or start >= total or query.max_results <= 0:
        return [], total
    _sort(hits, query)
    return hits[start:start + query.max_results], total


def project(query: Query, row: dict) -> dict:
    """The row as QuickBooks returns it for this SELECT: whole for ``*``, otherwise the selected top-level fields
    (matched case-insensitively) plus Id and domain, marked ``sparse: true``."""
    if query.fields is None:
        return row
    out: dict[str, Any] = {}
    if "domain" in row:
        out["domain"] = row["domain"]
    out["sparse"] = True
    for name in query.fields:
        k = _find_key(row, name, False)
        if k is not _MISSING:
            out[k] = row[k]
    return out
