"""QuickBooks failures as types, carrying QuickBooks' own code, message and detail for the error log."""

from __future__ import annotations


class QuickBooksError(Exception):
    retryable = False

    def __init__(self, code: str, message: str, detail: str = "", http_status: int | None = None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.detail, self.http_status = str(code), message, detail, http_status


class Throttled(QuickBooksError):
    """HTTP 429 / fault 3001. Intuit asks for a 60 s wait."""

    retryable = True


class Unavailable(QuickBooksError):
    """5xx, timeouts, dropped connections."""

    retryable = True


class AuthFailed(QuickBooksError):
    """401 or fault 1xx: the access token was refused, or the connecting user lost access (120)."""


class StaleObject(QuickBooksError):
    """5010: the SyncToken is old; re-read and retry."""

    retryable = True


class DuplicateName(QuickBooksError):
    """6240: DisplayName already used by a customer, vendor or employee."""


class NotFoundOrInactive(QuickBooksError):
    """610: the object was deleted or made inactive."""


class UnsupportedOperation(QuickBooksError):
    """500 "Unsupported Operation" in a ValidationFault (HTTP 400): QuickBooks does not do what was asked as asked,
    e.g. a CDC whose changedSince is older than its look-back ("Operation cdc with changedSince date ... which is
    older than fixed days is not supported.", Wish-Org/QuickBooksSharp issue #19; code 500 on Intuit's "handling
    common errors" page). Not an outage: an outage is an HTTP 5xx."""


class InvalidReference(QuickBooksError):
    """2500 and other 2xxx validation faults."""


class BusinessValidation(QuickBooksError):
    """6000 and other 6xxx business rules (6140 duplicate DocNumber, 6540 deposited, ...)."""


def classify(code: str | int, message: str, detail: str = "", http_status: int | None = None) -> QuickBooksError:
    c = str(code)
    if http_status == 429 or c == "3001":
        return Throttled("3001", "ThrottleExceeded", detail or message, http_status)
    if http_status is not None and http_status >= 500 and not c.isdigit():
        return Unavailable(c or str(http_status), message, detail, http_status)
    n = int(c) if c.isdigit() else 0
    if http_status == 401 or 0 < n < 500:
        return AuthFailed(c, message, detail, http_status)
    kinds: dict[int, type[QuickBooksError]] = {5010: StaleObject, 6240: DuplicateName, 610: NotFoundOrInactive}
    if n in kinds:
        return kinds[n](c, message, detail, http_status)
    if n == 500 and (http_status is None or http_status < 500):
        return UnsupportedOperation(c, message, detail, http_status)
    if 2000 <= n < 5000:
        return InvalidReference(c, message, detail, http_status)
    if n >= 6000 and n < 7000:
        return BusinessValidation(c, message, detail, http_status)
    if http_status is not None and http_status >= 500:
        return Unavailable(c, message, detail, http_status)
    return QuickBooksError(c, message, detail, http_status)


def refused(exc: Exception) -> bool:
    """QuickBooks refused this record for itself (validation, duplicate, closed period). Throttling, outages, a
    refused token and a stale SyncToken belong to the run or to a re-read, never to the record's error entry."""
    return isinstance(exc, QuickBooksError) and not isinstance(exc, Throttled | Unavailable | AuthFailed | StaleObject)
