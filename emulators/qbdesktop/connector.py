"""A QuickBooks Web Connector (QBWC) simulator: it reads a .qwc file, polls the AppURL on its schedule through a SOAP
client that zeep builds from Intuit's WSDL (TroubleshootWebServiceFS, the `?wsdl` of Intuit's own test service), and
hands each qbXML request to the company file, as QBWC hands it to QuickBooks over COM.

The call sequence is QBWC's (qbd-facts.md "Callbacks", PG ch.2 figures 2-2..2-5): serverVersion -> clientVersion ->
authenticate -> [connectionError* | (sendRequestXML -> receiveResponseXML)* | sendRequestXML "" -> getLastError]
-> closeConnection. Faults reproduce what a real desktop does to a session: QuickBooks not running or a modal dialog
(connectionError with QuickBooks' HRESULT), a ProcessRequest failure (receiveResponseXML with hresult and message),
and a session cut after QuickBooks applied a request but before the reply reached the service."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as SafeET

from emulators.qbdesktop.company import Company, QbxmlError

WSDL = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "qbd" / "wsdl" / "TroubleshootWebServiceFS.wsdl"
BINDING = "{http://developer.intuit.com/}TroubleshootWebServiceFSSoap"
QBWC_VERSION = "2.3.0.215"  # qbd-facts.md "Callbacks" (clientVersion example)
MAX_CONNECTION_RETRIES = 2  # PG ch.8: "Don't retry ... more than a couple of times"
MAX_ROUND_TRIPS = 10_000  # a service that never says 100 would otherwise keep a real QBWC busy forever; we stop
FAULT_KINDS = {"connection_error", "process_error", "cut_after_apply", "edit_before"}


class ConnectorError(Exception):
    pass


@dataclass
class Registration:
    """What QBWC keeps per application after "Add an application" and the password prompt (F "The .QWC file")."""

    app_url: str
    user_name: str
    owner_id: str
    file_id: str
    password: str = ""
    app_name: str = ""
    run_every_s: int | None = None
    company_file: str = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Desktop Demo.QBW"

    @classmethod
    def from_qwc(cls, qwc: str, password: str) -> Registration:
        root = SafeET.fromstring(qwc)
        if root.tag != "QBWCXML":
            raise ConnectorError("not a QWC file: the root element must be QBWCXML")

        def text(tag: str, required: bool = True) -> str:
            value = (root.findtext(tag) or "").strip()
            if required and not value:
                raise ConnectorError(f"the QWC file has no {tag}")
            return value

        url = text("AppURL")
        host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
        if not url.startswith("https://") and host not in ("localhost", "127.0.0.1"):
            # PG ch.1/ch.4: "If you don't use HTTPS, the web connector won't connect" (localhost excepted)
            raise ConnectorError("QBWC refuses an AppURL that is not https (localhost excepted)")
        if text("QBType") != "QBFS":
            raise ConnectorError("only QBType QBFS (QuickBooks financial software) is simulated")
        interval = None
        scheduler = root.find("Scheduler")
        if scheduler is not None and len(scheduler):
            first = scheduler[0]  # the first of RunEveryNMinutes / RunEveryNSeconds wins (F)
            interval = int(first.text or "0") * (60 if first.tag == "RunEveryNMinutes" else 1)
        return cls(app_url=url, user_name=text("UserName"), owner_id=text("OwnerID"), file_id=text("FileID"),
                   password=password, app_name=text("AppName"), run_every_s=interval)


@dataclass
class SessionLog:
    calls: list[dict] = field(default_factory=list)
    outcome: str = ""

    def add(self, op: str, **detail) -> None:
        self.calls.append({"op": op, **detail})

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "calls": self.calls}


class WebConnector:
    def __init__(self, company: Company, registration: Registration, *, noop_pause_s: float = 5.0,
                 http_timeout_s: float = 60.0):
        self.company = company
        self.registration = registration
        self.noop_pause_s = noop_pause_s  # PG ch.10: a NoOp from getLastError pauses 5 s
        self._faults: list[dict] = []
        self._faults_lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._service = self._soap_client(http_timeout_s)
        self.history: list[dict] = []
        self.sessions_run = 0

    def _soap_client(self, timeout: float):
        from zeep import Client, Settings
        from zeep.transports import Transport

        settings = Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True)
        client = Client(str(WSDL), transport=Transport(timeout=timeout, operation_timeout=timeout), settings=settings)
        return client.create_service(BINDING, self.registration.app_url)

    # -- faults ---------------------------------------------------------------------------------------------------
    def add_fault(self, fault: dict) -> dict:
        if fault.get("kind") not in FAULT_KINDS:
            raise ConnectorError(f"kind must be one of {sorted(FAULT_KINDS)}")
        entry = {"times": 1, **fault}
        with self._faults_lock:
            self._faults.append(entry)
        return entry

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def faults(self) -> list[dict]:
        with self._faults_lock:
            return [dict(f) for f in self._faults]

    def _take(self, kind: str, request: str = "") -> dict | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault["kind"] == kind and fault.get("match", "") in request:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- one session ----------------------------------------------------------------------------------------------
    def run_session(self) -> dict:
        """One update, as when the user clicks "Update Selected" or the scheduler fires. Returns the call log."""
        with self._session_lock:
            log = SessionLog()
            try:
                self._session(log)
            finally:
                self.company.end_session()
            result = log.as_dict()
            self.sessions_run += 1
            self.history.append(result)
            del self.history[:-50]
            return result

    def _session(self, log: SessionLog) -> None:
        svc, reg = self._service, self.registration
        log.add("serverVersion", result=svc.serverVersion())
        client_version = svc.clientVersion(strVersion=QBWC_VERSION) or ""
        log.add("clientVersion", result=client_version)
        if client_version.startswith(("E:", "O:")):
            log.outcome = f"update cancelled by the service: {client_version}"
            return
        answer = list(svc.authenticate(strUserName=reg.user_name, strPassword=reg.password) or [])
        log.add("authenticate", result=answer)
        if len(answer) < 2:
            log.outcome = "QBWC1012: authentication failed (the service answered fewer than two strings)"
            return
        ticket, status = answer[0] or "", (answer[1] or "")
        if status.casefold() in ("nvu", "none", "busy"):
            messages = {"nvu": "Invalid password for username", "none": "No Data Exchange",
                        "busy": "Application Busy"}  # PG ch.10 examples
            log.add("closeConnection", result=svc.closeConnection(ticket=ticket))
            log.outcome = messages[status.casefold()]
            return
        company_file = status or reg.company_file
        if not self._open_company(log, ticket):
            return
        if (reg.owner_id, "FileID") not in self.company.data_ext:  # QBWC stamps the FileID on first connect (F)
            with self.company.lock:
                self.company.data_ext[(reg.owner_id, "FileID")] = reg.file_id
        hcp = self.company.hcp_response(reg.owner_id)
        for _ in range(MAX_ROUND_TRIPS):
            request = svc.sendRequestXML(ticket=ticket, strHCPResponse=hcp, strCompanyFileName=company_file,
                                         qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0) or ""
            hcp = ""
            log.add("sendRequestXML", request=request)
            if request in ("", "NoOp"):
                last = svc.getLastError(ticket=ticket) or ""
                log.add("getLastError", result=last)
                if last == "NoOp":
                    time.sleep(self.noop_pause_s)
                    continue
                break
            response, hresult, message = self._process(request)
            if response and self._take("cut_after_apply", request):
                log.outcome = "session cut after QuickBooks processed the request (no receiveResponseXML)"
                log.add("cut", response=response)
                return
            percent = svc.receiveResponseXML(ticket=ticket, response=response, hresult=hresult, message=message)
            log.add("receiveResponseXML", response=response, hresult=hresult, message=message, result=percent)
            if percent is None or percent < 0:
                log.add("getLastError", result=svc.getLastError(ticket=ticket))
                break
            if percent >= 100:
                break
        result = svc.closeConnection(ticket=ticket)
        log.add("closeConnection", result=result)
        log.outcome = log.outcome or (result or "OK")

    def _open_company(self, log: SessionLog, ticket: str) -> bool:
        """OpenConnection/BeginSession; on failure QBWC asks the service (connectionError) whether to retry."""
        for _ in range(MAX_CONNECTION_RETRIES + 1):
            fault = self._take("connection_error")
            if fault is None:
                return True
            hresult = fault.get("hresult", "0x80040408")
            message = fault.get("message", "Could not start QuickBooks.")  # F HRESULTs (qbws#9 log)
            answer = self._service.connectionError(ticket=ticket, hresult=hresult, message=message) or ""
            log.add("connectionError", hresult=hresult, message=message, result=answer)
            if answer.casefold() == "done":
                log.add("closeConnection", result=self._service.closeConnection(ticket=ticket))
                log.outcome = message
                return False
        log.add("closeConnection", result=self._service.closeConnection(ticket=ticket))
        log.outcome = "gave up reconnecting to QuickBooks"
        return False

    def _process(self, request: str) -> tuple[str, str, str]:
        edit = self._take("edit_before", request)
        if edit is not None:  # a QuickBooks user saves a record while the session runs (between our read and write)
            self.company.process('<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq '
                                 f'onError="stopOnError">{edit.get("qbxml", "")}</QBXMLMsgsRq></QBXML>')
        fault = self._take("process_error", request)
        if fault is not None:
            return "", fault.get("hresult", "0x80040402"), fault.get("message", "Unexpected error. Check the "
                                                                                "qbsdklog.txt file for details.")
        try:
            return self.company.process(request), "", ""
        except QbxmlError as err:
            return "", err.hresult, err.message

    # -- the scheduler --------------------------------------------------------------------------------------------
    def start_schedule(self, every_s: float | None = None) -> None:
        interval = every_s or self.registration.run_every_s
        if not interval:
            raise ConnectorError("no schedule: the QWC has no Scheduler and none was given")
        self.stop_schedule()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(float(interval),), name="qbwc-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop_schedule(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def scheduled(self) -> bool:
        return self._thread is not None

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.run_session()
            except Exception as exc:  # noqa: BLE001 - QBWC logs a failed update and tries again next time
                self.history.append({"outcome": f"error: {type(exc).__name__}: {exc}", "calls": []})
