"""Platform failures as types. Each carries the platform's error `code`, used as-is in our error log."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str


class FieldServiceError(Exception):
    retryable = False

    def __init__(self, message: str, *, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


class NotFound(FieldServiceError):
    pass


class ValidationFailed(FieldServiceError):
    """400/422: the request was refused as invalid; `fields` says which parts and why."""

    def __init__(self, message: str, *, code: str = "validation_failed", status: int | None = None,
                 fields: tuple[FieldError, ...] = ()):
        super().__init__(message, code=code, status=status)
        self.fields = fields

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        return f"{self.message} (" + "; ".join(f"{f.field}: {f.message}" for f in self.fields) + ")"


class Unauthorized(FieldServiceError):
    """401/403: the API key is missing, revoked or belongs to another tenant."""


class Conflict(FieldServiceError):
    """409: idempotency key reused with another body, or a status change the platform forbids."""


class RateLimited(FieldServiceError):
    retryable = True

    def __init__(self, message: str, *, code: str = "rate_limited", status: int | None = 429,
                 retry_after: float | None = None):
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class Unavailable(FieldServiceError):
    """5xx, timeouts and dropped connections, after the adapter's own retries."""

    retryable = True
