"""Platform failures as types. Each carries the platform's error `code`, used as-is in our error log.

Every failure is one of two kinds, told apart by type and never by message: `PlatformRefused`, the platform's answer
about this request (a 4xx other than 429), which a step logs against its record; and `PlatformUnavailable` (429, 5xx,
timeouts), which belongs to the run: it raises out of the task and `run_task` turns it into `Throttled`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class FieldServiceError(Exception):
    """Any platform failure; the adapter raises only the two kinds below, and a step catches one of them."""

    def __init__(self, message: str, *, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class PlatformRefused(FieldServiceError):
    """A 4xx other than 429: the platform refused this request for itself; retrying it as it is would not help."""


class PlatformUnavailable(FieldServiceError):
    """429, 5xx, timeouts and dropped connections, after the adapter's own retries: nothing to do with the record."""


class NotFound(PlatformRefused):
    pass


class ValidationFailed(PlatformRefused):
    """400/422: the request was refused as invalid; `fields` says which parts and why."""

    def __init__(self, message: str, *, code: str = "validation_failed", status: int | None = None,
                 fields: tuple[FieldError, ...] = ()):
        super().__init__(message, code=code, status=status)
        self.fields = fields

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        return f"{self.message} (" + "; ".join(f"{f.field}: {f.message}" for f in self.fields) + ")"


class Unauthorized(PlatformRefused):
    """401/403: the API key is missing, revoked or belongs to another tenant."""


class Conflict(PlatformRefused):
    """409: idempotency key reused with another body, or a status change the platform forbids."""


class RateLimited(PlatformUnavailable):
    def __init__(self, message: str, *, code: str = "rate_limited", status: int | None = 429,
                 retry_after: float | None = None):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class Unavailable(PlatformUnavailable):
    """5xx, timeouts and dropped connections, after the adapter's own retries."""
