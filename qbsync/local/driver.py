"""Drives a running local stack the way its users do: an admin through the gateway (JWT, OAuth consent, settings,
enable, sync now) and the emulators through their control APIs. The demo, the integration tests and the benchmark
share it, so each exercises the same paths as a real deployment."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import requests

from qbsync.local.devauth import issue_token
from shared.domain.platform_hints import tenant_webhook_secret

LOAD_SLICE = 2000


class DriverError(RuntimeError):
    pass


def _check(response: requests.Response, what: str) -> dict:
    if response.status_code >= 400:
        raise DriverError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.json() if response.content else {}


@dataclass
class Driver:
    urls: dict
    state_dir: str
    fsp_api_key: str
    fsp_master_secret: str
    timeout_s: float = 600.0
    poll_s: float = 0.2

    def __post_init__(self) -> None:
        self.http = requests.Session()

    # -- emulators -------------------------------------------------------------------------------------------------
    def create_realm(self, company_name: str, seed: bool = False) -> str:
        body = {"company_name": company_name, "seed": seed}
        return _check(self.http.post(f"{self.urls['quickbooks']}/_emulator/realms", json=body), "create realm")[
            "realm_id"]

    def load_quickbooks(self, realm: str, entities_json: str) -> dict:
        response = self.http.post(f"{self.urls['quickbooks']}/_emulator/realms/{realm}/load", data=entities_json,
                                  headers={"Content-Type": "application/json"})
        return _check(response, "load QuickBooks data")

    def quickbooks_entities(self, realm: str, entity: str) -> list[dict]:
        response = self.http.get(f"{self.urls['quickbooks']}/_emulator/realms/{realm}/entities/{entity}")
        return json.loads(response.text, parse_float=Decimal)[entity] if response.ok else _check(response, entity)

    def set_preferences(self, realm: str, prefs: dict) -> None:
        _check(self.http.put(f"{self.urls['quickbooks']}/_emulator/realms/{realm}/preferences", json=prefs), "prefs")

    def quickbooks_requests(self, reset: bool = False) -> dict:
        url = f"{self.urls['quickbooks']}/_emulator/requests"
        body = _check(self.http.get(url), "request log")
        if reset:
            self.http.delete(url)
        return body

    def platform_api(self, method: str, tenant_id: str, path: str, body: dict | None = None) -> dict:
        """A call to the platform's API as the platform's own users make them (the office editing a client)."""
        response = self.http.request(method, f"{self.urls['fieldservice']}/v1/tenants/{tenant_id}/{path}", json=body,
                                     headers={"Authorization": f"Bearer {self.fsp_api_key}"})
        return _check(response, path)

    def create_tenant(self, tenant_id: str, fieldservice: dict | None = None) -> None:
        body = {"tenant_id": tenant_id, "api_key": self.fsp_api_key, "name": tenant_id,
                "webhook_secret": tenant_webhook_secret(self.fsp_master_secret, tenant_id)}
        _check(self.http.post(f"{self.urls['fieldservice']}/_emulator/tenants", json=body), "create tenant")
        # In slices, parents before children: the emulator caps a request body, as any API does.
        for kind in ("job_types", "items", "clients", "sites", "invoices", "payments"):
            rows = (fieldservice or {}).get(kind, [])
            for i in range(0, len(rows), LOAD_SLICE):
                _check(self.http.post(f"{self.urls['fieldservice']}/_emulator/tenants/{tenant_id}/load",
                                      data=json.dumps({kind: rows[i:i + LOAD_SLICE]}, default=str),
                                      headers={"Content-Type": "application/json"}), f"load platform {kind}")

    def platform_records(self, tenant_id: str, kind: str) -> list[dict]:
        body = _check(self.http.get(f"{self.urls['fieldservice']}/_emulator/tenants/{tenant_id}/state",
                                    params={"kind": kind}), "platform state")
        return body["records"][kind]

    def platform_put(self, tenant_id: str, kind: str, body: dict) -> dict:
        """A platform user's change (create or edit any field, any status) through the emulator's control API."""
        return _check(self.http.post(f"{self.urls['fieldservice']}/_emulator/tenants/{tenant_id}/records/{kind}",
                                     data=json.dumps(body, default=str), headers={"Content-Type": "application/json"}),
                      f"put platform {kind}")

    def quickbooks_call(self, realm: str, method: str, path: str, body: dict | None = None,
                        params: dict | None = None) -> dict:
        """A QuickBooks user's change, through the API (`/v3/company/{realm}/{path}`) with a token of its own."""
        if not hasattr(self, "_qbo_tokens"):
            self._qbo_tokens: dict[str, str] = {}
        if realm not in self._qbo_tokens:
            issued = _check(self.http.post(f"{self.urls['quickbooks']}/_emulator/realms/{realm}/tokens", json={}),
                            "token")
            self._qbo_tokens[realm] = issued["access_token"]
        response = self.http.request(method, f"{self.urls['quickbooks']}/v3/company/{realm}/{path}",
                                     params={"minorversion": "75", **(params or {})},
                                     data=None if body is None else json.dumps(body, default=str),
                                     headers={"Authorization": f"Bearer {self._qbo_tokens[realm]}",
                                              "Accept": "application/json", "Content-Type": "application/json"})
        return json.loads(response.text, parse_float=Decimal) if response.ok else _check(response, path)

    # -- the admin, through the gateway ----------------------------------------------------------------------------
    def token(self, tenant_id: str, role: str = "admin") -> str:
        return issue_token(tenant_id=tenant_id, role=role, state_dir=self.state_dir)

    def admin(self, method: str, path: str, tenant_id: str, role: str = "admin", **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(tenant_id, role)}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.urls['gateway']}{path}", headers=headers,
                                 timeout=max(120.0, self.timeout_s / 4), **kwargs)

    def connect(self, tenant_id: str, realm: str) -> str:
        """Connect QuickBooks as an admin would: ask for the consent URL, consent at Intuit (the emulator consents
        for the named company), follow the redirect to our callback."""
        start = _check(self.admin("GET", "/oauth/connect", tenant_id), "connect")
        consent = self.http.get(f"{start['authorization_url']}&{urlencode({'realmId': realm})}",
                                allow_redirects=False)
        if consent.status_code != 302:
            raise DriverError(f"consent: HTTP {consent.status_code} {consent.text[:300]}")
        callback = self.http.get(consent.headers["Location"], allow_redirects=False)
        if callback.status_code != 200:
            raise DriverError(f"callback: HTTP {callback.status_code} {callback.text[:300]}")
        return callback.text

    def settings(self, tenant_id: str, changes: dict) -> dict:
        current = _check(self.admin("GET", "/admin/settings", tenant_id), "read settings")
        merged = {**current["settings"], **{k: {**current["settings"].get(k, {}), **v} if isinstance(v, dict) else v
                                            for k, v in changes.items()}}
        return _check(self.admin("PUT", "/admin/settings", tenant_id,
                                 json={"settings": merged, "version": current["version"]}), "save settings")

    def wait(self, tenant_id: str, run_id: str, progress=None) -> dict:
        deadline = time.monotonic() + self.timeout_s
        last = None
        while time.monotonic() < deadline:
            run = _check(self.admin("GET", f"/admin/sync-runs/{run_id}", tenant_id), "read run")
            if progress and (run.get("phase"), run.get("percent")) != last:
                last = (run.get("phase"), run.get("percent"))
                progress(run)
            if run.get("status") != "running":
                return run
            time.sleep(self.poll_s)
        raise DriverError(f"run {run_id} did not finish within {self.timeout_s:.0f} s")

    def enable(self, tenant_id: str, progress=None) -> dict:
        run = _check(self.admin("POST", "/admin/enable", tenant_id), "enable")
        return self.wait(tenant_id, run["run_id"], progress)

    def sync_now(self, tenant_id: str, progress=None) -> dict:
        """Sync Now, waiting for the run that covers it: a run that folded into one already going names it."""
        run = _check(self.admin("POST", "/admin/sync", tenant_id), "sync now")
        done = self.wait(tenant_id, run["run_id"], progress)
        while (done.get("summary") or {}).get("folded_into"):
            done = self.wait(tenant_id, done["summary"]["folded_into"], progress)
        return done
