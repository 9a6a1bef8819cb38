"""Typed errors shared by every layer. Handlers map them to responses in one place by type, never by message."""

from __future__ import annotations


class AppError(Exception):
    """Base for errors the service expects; `status` is the HTTP status a handler answers with."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_body(self) -> dict:
        body: dict = {"error": {"code": self.code, "message": self.message}}
        if self.details:
            body["error"]["details"] = self.details
        return body


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(AppError):
    status, code = 422, "unprocessable"


class RealmNotGranted(BadRequest):
    """The OAuth callback named a QuickBooks company the consent did not grant (the exchanged grant is revoked)."""

    code = "realm_not_granted"


class NotConnected(Conflict):
    code = "not_connected"


class NeedsReconnect(Conflict):
    """The QuickBooks grant is gone (invalid_grant, revoked, disconnected in QuickBooks): an admin must reconnect."""

    code = "needs_reconnect"


class SettingsInvalid(Unprocessable):
    """Sync settings that break one or more rules; `details` lists every problem at once as
    {"field": "invoices.income_account_id", "message": "..."} so the settings page can mark each field."""

    code = "settings_invalid"

    def __init__(self, problems: list[dict]):
        super().__init__("Some sync settings need attention before they can be saved.", details=problems)


class RetryLater(Exception):  # noqa: N818 - a signal, not a failure
    """The work cannot run now but will shortly (another run holds the tenant's lock): the state machine retries."""
