"""QuickBooks' wire conventions: exact-decimal JSON, money and quantity formatting, and its timestamps.

Money is Decimal from the request bytes to the response bytes: bodies are parsed with `parse_float=Decimal` and
written with each Decimal's own digits. Live bodies keep two decimals on non-zero money (`100.00`), print zero as
`0` and do not pad rates or quantities (`UnitPrice:75`, `Qty:4.5`) (tests/fixtures/qbo/SOURCES.md, "Observations")."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

COMPANY_TZ = ZoneInfo("America/Los_Angeles")  # the sandbox companies' DefaultTimeZone (companyinfo-read.json)
CENT = Decimal("0.01")
_MARK = "\u0000dec:"
_MARK_RE = re.compile(r'"\\u0000dec:(-?[0-9.]+)"')


def _default(value: Any) -> str:
    if isinstance(value, Decimal):
        return _MARK + format(value, "f")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(doc: Any) -> str:
    """JSON with every Decimal written as a JSON number with exactly its digits (never through a float)."""
    return _MARK_RE.sub(r"\1", json.dumps(doc, default=_default, ensure_ascii=False, separators=(",", ":")))


def loads(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Decimal)


def dec(value: Any) -> Decimal:
    """A number as QuickBooks reads it: JSON numbers and numeric strings (python-quickbooks sends Decimals as
    strings) are both accepted. Raises ValueError for anything else."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    try:
        result = Decimal(value) if isinstance(value, int | Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return result


def money(value: Decimal) -> Decimal:
    """Amounts as QuickBooks writes them: two decimals unless zero, which is `0`."""
    if value == 0:
        return Decimal(0)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> Decimal:
    """Rates and quantities: no padding, no exponent (`75`, `4.5`)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def qbo_time(epoch: float) -> str:
    """MetaData times: company-local seconds with the offset, e.g. `2026-01-15T09:12:03-08:00`."""
    return datetime.fromtimestamp(int(epoch), COMPANY_TZ).isoformat()


def response_time(epoch: float) -> str:
    """The top-level `time` of a response: company-local with milliseconds, e.g. `2020-09-29T05:58:16.187-07:00`."""
    return datetime.fromtimestamp(epoch, COMPANY_TZ).isoformat(timespec="milliseconds")


def webhook_time(epoch: float) -> str:
    """`lastUpdated` in classic notifications: UTC with milliseconds and `Z` (webhook-classic.json)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"


def company_date(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, COMPANY_TZ).date()


def parse_time(value: str) -> float:
    """An ISO date or date-time as QuickBooks accepts in `changedSince`; a value without an offset is company time."""
    text = value.strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=COMPANY_TZ)
    return parsed.timestamp()
