"""The admin API's contract: every request body, query and response as Pydantic models. Powertools' event handler
validates requests against them and generates the OpenAPI document from them (contracts/admin.openapi.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

ID_PATTERN = r"^[A-Za-z0-9_-]{1,512}$"  # the URL-safe ids this API hands out (unsynced entities, review entries)
RECORD_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"  # a platform record id in a path


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------------------------------------
class ErrorDetail(_Out):
    field: str
    message: str


class ErrorInfo(_Out):
    code: str = Field(description="machine-readable: bad_request, forbidden, not_found, conflict, settings_invalid, "
                                  "needs_reconnect, not_connected, quickbooks_error, ...")
    message: str
    details: list[ErrorDetail] | None = None
    quickbooks: dict[str, Any] | None = Field(None, description="QuickBooks' own code and detail (quickbooks_error)")


class ErrorBody(_Out):
    """Every 4xx/5xx answer of the admin API has this shape (shared/errors.py AppError.to_body)."""

    error: ErrorInfo


class GatewayError(BaseModel):
    """401 comes from API Gateway's JWT authorizer before any handler runs, in API Gateway's own shape."""

    message: str


UNAUTHORIZED = {"description": "no or invalid token (API Gateway's JWT authorizer)",
                "content": {"application/json": {"model": GatewayError}}}


# -- runs --------------------------------------------------------------------------------------------------------
class Run(_Out):
    run_id: str
    kind: str = Field(description="onboarding | sync")
    status: str = Field(description="running | succeeded | failed")
    phase: str | None
    percent: int
    counts: dict[str, int]
    summary: dict[str, Any] | None
    started_at: str
    finished_at: str | None


class RunStarted(Run):
    started: bool = Field(description="true: a new run started; false: a run already going covers the request")


class RunPage(_Out):
    items: list[Run]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# -- connection status -------------------------------------------------------------------------------------------
class Attention(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    message: str


class Onboarding(_Out):
    enabled: bool
    run_id: str | None
    status: str | None
    phase: str | None
    percent: int | None


class Counts(_Out):
    unsynced: int = Field(description="open unsynced entities an admin has not dismissed")
    pending: int = Field(description="review entries approved and waiting for the next run")
    waiting_for_review: int = Field(description="review entries waiting for an admin (the wizard's badge)")


class TokenHealth(_Out):
    refresh_expires_at: str | None = Field(description="the rolling 100-day refresh token expiry")
    hard_expires_at: str | None = Field(description="the grant's 5-year cap (x_refresh_token_hard_expires_in)")
    days_until_hard_expiry: int | None
    reconnect_needed: bool


class Schedule(_Out):
    expression: str = Field(description="EventBridge Scheduler expression: rate(1 hour) ... or cron(M H * * ? *)")
    timezone: str
    state: str = Field(description="ENABLED | DISABLED (paused while a reconnect is needed)")


class DesktopState(_Out):
    """A QuickBooks Desktop connection's Web Connector side (docs/qbdesktop.md)."""

    phase: str = Field(description='"Pending until the Web Connector runs" while work waits for a poll, else '
                                   '"Up to date"')
    last_session_at: str | None = Field(description="when the Web Connector last polled")
    last_error: str | None = Field(description="the last connector or company-file problem, e.g. QuickBooks not open")
    queued_requests: int = Field(description="QuickBooks requests waiting for the next poll")
    failed_requests: int = Field(description="requests QuickBooks refused (in the error log; POST "
                                             "/admin/desktop/retry)")
    file_id: str


class ConnectionStatus(_Out):
    tenant_id: str
    status: Literal["connected", "needs_reconnect", "disconnected", "not_connected"]
    quickbooks: Literal["online", "desktop"] = Field("online", description="desktop: synced through the Web "
                                                                           "Connector (then `desktop` is set)")
    realm_id: str | None = None
    company_name: str | None = None
    connected_since: str | None = None
    disconnected_at: str | None = None
    last_sync_at: str | None = Field(None, description="when a sync run last finished")
    next_sync_at: str | None = Field(None, description="the schedule's next start, if it is enabled")
    last_run: Run | None = None
    onboarding: Onboarding | None = None
    counts: Counts
    unsynced_entities: int = Field(description="same as counts.unsynced (kept for older clients)")
    needs_attention: list[Attention]
    token: TokenHealth | None = None
    schedule: Schedule | None = None
    desktop: DesktopState | None = None


class Disconnected(_Out):
    """The connection after POST /admin/disconnect."""

    model_config = ConfigDict(extra="allow")
    tenant_id: str
    status: str


# -- settings ----------------------------------------------------------------------------------------------------
class SettingsBody(_Out):
    settings: dict[str, Any] = Field(description="see docs/settings.md")
    version: int


class SettingsUpdate(_In):
    settings: dict[str, Any] = Field(description="the whole settings document (docs/settings.md)")
    version: StrictInt = Field(ge=0, le=2**31, description="the version GET /admin/settings returned")


class QuickBooksList(_Out):
    items: list[dict[str, Any]]


class PlatformJobType(_Out):
    id: str = Field(description="the platform's job type id: the key of `job_types.class_mapping`")
    name: str
    active: bool


class PlatformJobTypePage(_Out):
    items: list[PlatformJobType]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


# -- onboarding conflicts ----------------------------------------------------------------------------------------
class ConflictList(_Out):
    items: list[dict[str, Any]]


class ConflictResolution(_In):
    qbo_id: StrictStr = Field(min_length=1, max_length=64)
    fsp_id: StrictStr = Field(min_length=1, max_length=128)
    action: Literal["link", "keep_separate"]


class ConflictResolved(_Out):
    qbo_id: str
    fsp_id: str
    action: str
    by: str
    at: str


# -- unsynced entities -------------------------------------------------------------------------------------------
class UnsyncedEntity(_Out):
    id: str = Field(description="URL-safe id for the retry and dismiss routes")
    entity: str
    entity_id: str
    name: str
    direction: str = Field(description="to_quickbooks | to_platform")
    code: str = Field(description="QuickBooks' (or the platform's) own code")
    message: str
    detail: str
    suggested_fix: str | None
    attempts: int
    first_at: str | None
    last_at: str | None
    run_id: str | None
    resolved: bool
    dismissed: bool
    retry_requested: bool


class UnsyncedPage(_Out):
    items: list[UnsyncedEntity]
    next_cursor: str | None


class RetryMany(_In):
    ids: list[StrictStr] = Field(min_length=1, max_length=100)


class RetryRequested(_Out):
    retry_requested: list[str] = Field(description="the ids marked for the next run")
    run: RunStarted


class Dismissed(_Out):
    id: str
    dismissed: bool


class ClearId(_In):
    confirm: Literal[True] = Field(description="must be true: the next sync creates the record in QuickBooks again")


class Cleared(_Out):
    cleared: str


# -- review mode -------------------------------------------------------------------------------------------------
class ReviewItem(_Out):
    id: str
    side: Literal["import", "export"]
    entity: str
    entity_id: str
    name: str
    change: str
    checked: bool = Field(description="every waiting entry is checked by default")
    state: str = Field(description="waiting | approved")
    held_at: str | None
    decided_at: str | None


class ReviewPage(_Out):
    side: Literal["import", "export"] | None
    items: list[ReviewItem]
    next_cursor: str | None
    as_of: str = Field(description="pass back to approve: entries held after it are not touched by the rule")


class ReviewResult(_Out):
    id: str
    side: str
    entity: str
    entity_id: str
    name: str
    change: str
    outcome: Literal["succeeded", "failed"]
    message: str
    at: str


class ReviewResultPage(_Out):
    items: list[ReviewResult]
    next_cursor: str | None


class ReviewCount(_Out):
    waiting: int = Field(description="the Sync Wizard badge")
    pending: int


class ReviewApproval(_In):
    checked: list[StrictStr] = Field(max_length=5000, description="ids of the entries to approve")
    unchecked: Literal["clear", "keep"] = Field(
        description='"clear": unchecked entries do not come back unless they change again; "keep": they reappear '
                    "at the next run")
    as_of: StrictStr | None = Field(None, max_length=40, description="the list's as_of; later entries stay waiting")


class ReviewDecided(_Out):
    approved: int
    cleared: int
    kept: int
    not_waiting: list[str] = Field(description="checked ids that were no longer waiting (already decided)")


class Redriven(_Out):
    moved: int = Field(description="dead-lettered hints put back on the hints queue")


class OpenAPIDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    openapi: str


