"""Timestamps as QuickBooks writes and reads them (MetaData times, CDC's changedSince, a response's `time`). No
dependencies, so domain code can use them without importing the adapter's HTTP stack."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def qbo_time(moment: datetime) -> str:
    """A timestamp as QuickBooks' queries and CDC take it (ISO 8601 with offset, seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_qbo_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
