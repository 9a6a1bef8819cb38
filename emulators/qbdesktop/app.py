"""The QuickBooks Desktop emulator's HTTP face: a control API under `/_emulator/` (docs/emulator-qbdesktop.md).

Real QuickBooks Desktop has no HTTP API: the Web Connector reaches it over COM on the customer's machine. So this app
serves only what a test or the demo needs to arrange and inspect the desktop (the company file, the connector's
registration, schedule and faults) and `POST /_emulator/qbxml`, which stands for a person working in QuickBooks."""

from __future__ import annotations

import json
import threading
from typing import Any

from lxml import etree
from werkzeug.wrappers import Request, Response

from emulators.common.server import StateFile
from emulators.qbdesktop.company import Clock, Company, QbxmlError
from emulators.qbdesktop.connector import ConnectorError, Registration, WebConnector

MAX_BODY = 4 * 1024 * 1024


def element_to_dict(el: etree._Element) -> Any:
    """A Ret aggregate as JSON: leaves are strings, repeated children become lists."""
    if not len(el):
        return el.text or ""
    out: dict[str, Any] = {}
    for child in el:
        value = element_to_dict(child)
        if child.tag in out:
            if not isinstance(out[child.tag], list):
                out[child.tag] = [out[child.tag]]
            out[child.tag].append(value)
        else:
            out[child.tag] = value
    return out


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, indent=1), status=status, content_type="application/json")


class DesktopEmulator:
    def __init__(self, state_file: str | None = None, *, clock: Clock | None = None, save_interval: float = 1.0):
        self.company = Company(clock)
        self.connector: WebConnector | None = None
        self._lock = threading.Lock()
        self._persist = StateFile(state_file, self._snapshot, save_interval, "qbd-saver")
        self._persist.restore(self._restore)

    def _snapshot(self) -> tuple[int, str]:
        with self.company.lock:
            return self.company.version, json.dumps(self.company.snapshot())

    def _restore(self, raw: bytes) -> int:
        self.company.restore(json.loads(raw))
        return self.company.version

    def close(self) -> None:
        if self.connector is not None:
            self.connector.stop_schedule()
        self._persist.close()

    # -- WSGI -----------------------------------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self._route(request)
        except (ConnectorError, ValueError, KeyError) as exc:
            response = _json(400, {"error": str(exc)})
        return response(environ, start_response)

    def _body(self, request: Request) -> bytes:
        if (request.content_length or 0) > MAX_BODY:
            raise ValueError("body too large")
        return request.get_data(cache=False)[:MAX_BODY]

    def _json_body(self, request: Request) -> dict:
        data = json.loads(self._body(request) or b"{}")
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_emulator/state" and method == "GET":
            return _json(200, self.state())
        if path == "/_emulator/qbxml" and method == "POST":
            try:
                return Response(self.company.process(self._body(request).decode("utf-8")), status=200,
                                content_type="text/xml; charset=utf-8")
            except QbxmlError as err:
                return _json(400, {"hresult": err.hresult, "message": err.message})
        if path == "/_emulator/preferences" and method == "POST":
            body = self._json_body(request)
            with self.company.lock:
                if "class_tracking" in body:
                    self.company.class_tracking = bool(body["class_tracking"])
                if "company_name" in body:
                    self.company.name = str(body["company_name"])
                self.company.version += 1
            return _json(200, {"class_tracking": self.company.class_tracking, "company_name": self.company.name})
        if path == "/_emulator/reset" and method == "POST":
            with self._lock:
                if self.connector is not None:
                    self.connector.stop_schedule()
                self.connector = None
                clock = self.company.clock
                self.company = Company(clock)
            return _json(200, {"reset": True})
        if path == "/_emulator/connector" and method == "POST":
            return _json(200, self.register(self._json_body(request)))
        if path == "/_emulator/connector" and method == "GET":
            return _json(200, self.connector_state())
        return self._connector_route(path, method, request)

    def _connector_route(self, path: str, method: str, request: Request) -> Response:
        connector = self.connector
        if not path.startswith("/_emulator/connector/"):
            return _json(404, {"error": f"no route {method} {path}"})
        if connector is None:
            return _json(409, {"error": "no application registered: POST /_emulator/connector first"})
        action = path.removeprefix("/_emulator/connector/")
        if action == "run" and method == "POST":
            return _json(200, connector.run_session())
        if action == "schedule" and method == "POST":
            body = self._json_body(request)
            if body.get("enabled", True):
                connector.start_schedule(body.get("every_seconds"))
            else:
                connector.stop_schedule()
            return _json(200, self.connector_state())
        if action == "faults" and method == "POST":
            return _json(201, connector.add_fault(self._json_body(request)))
        if action == "faults" and method == "GET":
            return _json(200, {"faults": connector.faults()})
        if action == "faults" and method == "DELETE":
            connector.clear_faults()
            return _json(200, {"faults": []})
        if action == "password" and method == "POST":
            connector.registration.password = str(self._json_body(request).get("password", ""))
            return _json(200, {"changed": True})
        return _json(404, {"error": f"no route {method} {path}"})

    # -- operations -----------------------------------------------------------------------------------------------
    def register(self, body: dict) -> dict:
        """Add an application to the Web Connector: from a .qwc file (`qwc`) and the password the user types."""
        if "qwc" not in body:
            raise ValueError("give the .qwc file's text as `qwc` and the password as `password`")
        registration = Registration.from_qwc(str(body["qwc"]), str(body.get("password", "")))
        if body.get("app_url_override"):  # the local stack serves http on 127.0.0.1, not the deployed https URL
            registration.app_url = str(body["app_url_override"])
        with self._lock:
            if self.connector is not None:
                self.connector.stop_schedule()
            self.connector = WebConnector(self.company, registration,
                                          noop_pause_s=float(body.get("noop_pause_seconds", 5.0)))
        return self.connector_state()

    def connector_state(self) -> dict:
        c = self.connector
        if c is None:
            return {"registered": False}
        r = c.registration
        return {"registered": True, "app_url": r.app_url, "user_name": r.user_name, "owner_id": r.owner_id,
                "file_id": r.file_id, "run_every_seconds": r.run_every_s, "scheduled": c.scheduled,
                "faults": c.faults(), "sessions_run": c.sessions_run, "sessions": c.history[-10:]}

    def state(self) -> dict:
        with self.company.lock:
            lists = {kind: [element_to_dict(r) | {"_type": r.tag} for r in rows.values()]
                     for kind, rows in self.company.lists.items()}
            txns = {kind: [element_to_dict(r) for r in rows.values()] for kind, rows in self.company.txns.items()}
            return {"company_name": self.company.name, "class_tracking": self.company.class_tracking,
                    "lists": lists, "transactions": txns, "deleted": list(self.company.deleted),
                    "data_ext": [{"owner_id": o, "name": n, "value": v} for (o, n), v in self.company.data_ext.items()]}


def create_app(state_file: str | None = None, **kwargs) -> DesktopEmulator:
    return DesktopEmulator(state_file, **kwargs)
