"""The one settings API for a QuickBooks Desktop tenant: Desktop's rules, checked against the lists the Web
Connector's last session read, and no QuickBooks Online connection needed (fakes, no AWS)."""

from types import SimpleNamespace

import pytest

from shared.domain.admin import AdminService
from shared.domain.connections import ADMIN_ROLE, Caller
from shared.errors import NotConnected, SettingsInvalid
from shared.qbdesktop.lists import DesktopCompanies, list_row

STATE = {"class_tracking": False, "lists": {
    "accounts": [list_row("accounts", {"ListID": "80000006-1", "FullName": "Services", "AccountType": "Income"}),
                 list_row("accounts", {"ListID": "80000009-1", "FullName": "Cost of Goods Sold",
                                       "AccountType": "CostOfGoodsSold"})],
    "classes": [], "vendors": []}}


class DesktopRepoFake:
    def __init__(self, connections):
        self.connections = connections

    def connection(self, tenant_id):
        state = self.connections.get(tenant_id)
        return None if state is None else SimpleNamespace(state=state)


class SettingsStore:
    def __init__(self):
        self.saved = {}

    def get(self, tenant_id):
        return self.saved.get(tenant_id)

    def put(self, tenant_id, body, version, who):
        self.saved[tenant_id] = (body, version + 1)
        return version + 1


class NoOnlineConnections:
    def get(self, tenant_id):
        return None


def _service(connections):
    settings = SettingsStore()
    service = AdminService(NoOnlineConnections(), settings, None, None, None, None, None, None,
                           desktop=DesktopCompanies(DesktopRepoFake(connections)))
    return service, settings


ADMIN = Caller("desk", ADMIN_ROLE)


def test_a_desktop_tenant_saves_settings_checked_by_desktops_rules():
    service, store = _service({"desk": STATE})
    body = {"settings": {"invoices": {"enabled": True, "income_account_id": "80000006-1"}}, "version": 0}
    assert service.put_settings(ADMIN, body)["version"] == 1
    assert store.saved["desk"][0]["invoices"]["income_account_id"] == "80000006-1"
    accounts = service.quickbooks_list(ADMIN, "accounts", "Cost of Goods Sold")
    assert accounts == [{"Id": "80000009-1", "Name": "Cost of Goods Sold", "AccountType": "Cost of Goods Sold",
                         "Active": True}]


def test_desktop_refusals_store_nothing():
    service, store = _service({"desk": STATE})
    body = {"settings": {"invoices": {"enabled": True, "income_account_id": "80000006-1"},
                         "job_types": {"enabled": True}}, "version": 0}
    with pytest.raises(SettingsInvalid) as caught:
        service.put_settings(ADMIN, body)
    assert [p["field"] for p in caught.value.details] == ["job_types.enabled"]  # class tracking is off
    assert store.saved == {}


def test_without_either_connection_settings_still_need_quickbooks():
    service, _ = _service({})
    with pytest.raises(NotConnected):
        service.put_settings(ADMIN, {"settings": {}, "version": 0})


def test_a_list_the_web_connector_does_not_read_is_a_404_for_a_desktop_tenant():
    from shared.errors import NotFound

    service, _ = _service({"desk": STATE})
    assert [a["Id"] for a in service.quickbooks_list(ADMIN, "accounts", account_type="Income")] == ["80000006-1"]
    with pytest.raises(NotFound):
        service.quickbooks_list(ADMIN, "tax-codes")
