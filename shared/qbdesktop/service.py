"""The Web Connector callbacks (qbd-facts.md "Callbacks", PG ch.10): sessions, authentication and the drain.

authenticate answers `[ticket, ""]` (work to do, use the open company file), `[ticket, "none"]` (valid user, nothing
to do), `[ticket, "nvu"]` (not a valid user or wrong password) or `[ticket, "busy"]` (another session of this
connection is still running). Tickets are random per session and stored with their tenant, so sessions of different
companies never share state (consolibyte#319)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.data.desktop_repo import DesktopRepo
from shared.domain.records import SyncRun
from shared.qbdesktop import passwords, qbxml
from shared.qbdesktop.drain import Drain
from shared.qbdesktop.phases import desktop_run_id

SERVER_VERSION = "qbsync-qbwc/1.0 (qbXML 13.0, US)"
MIN_QBWC = (2, 1)  # QBWC 2.1+ sends serverVersion/clientVersion and the HCP response we rely on
LOCK = "qbwc-session"


def lease_s() -> int:
    """One session per connection at a time; the lease is renewed on every callback, so a session QBWC abandoned (cut
    mid-way) stops blocking the next poll this long after its last call (QBWC_SESSION_LEASE_SECONDS, default 90)."""
    return int(os.environ.get("QBWC_SESSION_LEASE_SECONDS", "90"))

SUPPORTED_COUNTRY = "US"


class WebConnectorService:
    def __init__(self, repo: DesktopRepo, runs: Any, drain_for: Callable[[str], Drain]):
        self.repo, self.runs, self.drain_for = repo, runs, drain_for

    def serverVersion(self) -> str:  # noqa: N802 - the WSDL's operation names
        return SERVER_VERSION

    def clientVersion(self, strVersion: str | None) -> str:  # noqa: N802, N803
        parts = [int(p) for p in (strVersion or "").split(".")[:2] if p.isdigit()]
        if len(parts) == 2 and tuple(parts) < MIN_QBWC:
            return f"W:This service is tested with QuickBooks Web Connector {MIN_QBWC[0]}.{MIN_QBWC[1]} or later."
        return ""

    def authenticate(self, strUserName: str | None, strPassword: str | None) -> list[str]:  # noqa: N802, N803
        ticket = str(uuid.uuid4())
        login = self.repo.login(strUserName or "") if strUserName else None
        valid = passwords.verify_password(strPassword or "", login.password_hash if login else None)
        if login is None or not valid:
            return [ticket, "nvu"]
        tenant = login.tenant_id
        if not self.runs.acquire_lock(tenant, LOCK, ticket, lease_s()):
            return [ticket, "busy"]
        drain = self.drain_for(tenant)
        if drain.remaining() == 0:
            connection = self.repo.connection(tenant)
            if not (connection and (connection.state or {}).get("onboarded")):
                self.runs.release_lock(tenant, LOCK, ticket)
                return [ticket, "none"]
            # The Web Connector's own schedule is the Desktop schedule: each poll with nothing queued is a sync run
            # (a daily sync: the first poll after the day's time).
            if not drain.sync_due():
                self.runs.release_lock(tenant, LOCK, ticket)
                return [ticket, "none"]
            run_id = desktop_run_id("sync")
            drain.request_sync(run_id)
            if drain.remaining() == 0:
                self.runs.release_lock(tenant, LOCK, ticket)
                return [ticket, "none"]
            drain.record_run(SyncRun(tenant_id=tenant, run_id=run_id, kind="sync", status="running",
                                     started_at=datetime.now(UTC), phase="Web Connector session"))
        self.repo.open_session(ticket, tenant)
        self.repo.update_connection(tenant, last_session_at=datetime.now(UTC))
        return [ticket, ""]

    def _session(self, ticket: str | None):
        return self.repo.session(ticket or "") if ticket else None

    def sendRequestXML(self, ticket: str | None, strHCPResponse: str | None, strCompanyFileName: str | None,  # noqa: N802, N803
                       qbXMLCountry: str | None, qbXMLMajorVers: int | None, qbXMLMinorVers: int | None) -> str:  # noqa: N803
        session = self._session(ticket)
        if session is None or session.closed:
            return ""
        self.runs.acquire_lock(session.tenant_id, LOCK, ticket or "", lease_s())
        if strHCPResponse:
            problem = self._check_company(session, strHCPResponse, qbXMLCountry, qbXMLMajorVers)
            if problem:
                session.last_error = problem
                self.repo.save_session(session)
                self.repo.update_connection(session.tenant_id, last_error=problem)
                return ""
        found = self.drain_for(session.tenant_id).next_request(ticket or "")
        if found is None:
            session.in_flight = None
            session.last_error = "Nothing more to synchronize."
            self.repo.save_session(session)
            return ""
        item, request = found
        session.in_flight = item.sk
        self.repo.save_session(session)
        return request

    def _check_company(self, session, hcp: str, country: str | None, major: int | None) -> str | None:
        connection = self.repo.connection(session.tenant_id)
        try:
            facts = qbxml.hcp_facts(hcp)
        except qbxml.QbxmlParseError:
            return "QuickBooks' company information could not be read."
        if (country or "").upper() != SUPPORTED_COUNTRY:
            return f"Only the US edition of QuickBooks Desktop is supported (this file is {country})."
        if major is not None and major < 13:
            return "This QuickBooks is too old: qbXML 13.0 (QuickBooks 2014) or later is needed."
        if connection and facts["file_ids"] and connection.file_id.casefold() not in \
                {f.casefold() for f in facts["file_ids"] if f}:
            return ("The company file open in QuickBooks is not the one this connection was set up with. Open the "
                    "right company file, or download a new .qwc file for this one.")
        session.facts = {"class_tracking": facts["class_tracking"], "product": facts["product"]}
        if connection:
            self.repo.change_state(session.tenant_id,
                                   lambda state: {**state, "class_tracking": facts["class_tracking"]},
                                   company_name=facts.get("company_name"), last_error=None)
        return None

    def receiveResponseXML(self, ticket: str | None, response: str | None, hresult: str | None,  # noqa: N802
                           message: str | None) -> int:
        session = self._session(ticket)
        if session is None or not session.in_flight:
            return -101
        self.runs.acquire_lock(session.tenant_id, LOCK, ticket or "", lease_s())
        drain = self.drain_for(session.tenant_id)
        item = drain.d.repo.get_work(session.tenant_id, session.in_flight)
        if item is not None:
            if hresult:
                drain.refused(item, hresult, message or "")
            else:
                try:
                    drain.apply(item, response or "")
                except qbxml.QbxmlParseError as exc:
                    session.last_error = f"QuickBooks' answer could not be read: {exc}"
                    self.repo.save_session(session)
                    return -101
        session.in_flight = None
        session.done = int(session.done or 0) + 1
        self.repo.save_session(session)
        left = drain.remaining()
        return 100 if left == 0 else min(99, int(100 * session.done / (session.done + left)))

    def connectionError(self, ticket: str | None, hresult: str | None, message: str | None) -> str:  # noqa: N802
        session = self._session(ticket)
        if session is not None:
            text = f"QuickBooks could not be opened: {message} ({hresult})"
            session.last_error = text
            self.repo.save_session(session)
            self.repo.update_connection(session.tenant_id, last_error=text)
        return "done"  # never retry blindly; the next scheduled poll tries again (PG ch.8)

    def getLastError(self, ticket: str | None) -> str:  # noqa: N802
        session = self._session(ticket)
        return (session.last_error or "") if session is not None else "Unknown ticket."

    def closeConnection(self, ticket: str | None) -> str:  # noqa: N802
        session = self._session(ticket)
        if session is None:
            return "OK"
        session.closed = 1
        self.repo.save_session(session)
        self.drain_for(session.tenant_id).settle_runs(int(session.done or 0))
        self.runs.release_lock(session.tenant_id, LOCK, ticket or "")
        return f"OK: {int(session.done or 0)} QuickBooks request(s) processed."
