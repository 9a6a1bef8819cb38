"""QuickBooks Desktop's accounts, classes and vendors as the settings API sees them.

Desktop answers only while the Web Connector polls, so the settings page cannot read them live as it does for
QuickBooks Online: every session reads them (`pull_list` work, shared/qbdesktop/drain.py) and the connection keeps
the last answer. Rows have the Online list's keys (Id = ListID, Name = FullName, AccountType, Active), so the same
settings rules (shared/domain/settings.py) check Desktop ids."""

from __future__ import annotations

from shared.domain.settings import QuickBooksContext

LIST_QUERIES = {"accounts": "AccountQuery", "classes": "ClassQuery", "vendors": "VendorQuery"}
# Desktop's AccountType enumeration (qbXML 13.0) in the words the settings rules use for QuickBooks Online.
ACCOUNT_TYPES = {"CostOfGoodsSold": "Cost of Goods Sold", "OtherCurrentAsset": "Other Current Asset",
                 "AccountsReceivable": "Accounts Receivable", "OtherCurrentLiability": "Other Current Liability",
                 "OtherIncome": "Other Income", "OtherExpense": "Other Expense", "FixedAsset": "Fixed Asset",
                 "AccountsPayable": "Accounts Payable", "CreditCard": "Credit Card",
                 "LongTermLiability": "Long Term Liability", "OtherAsset": "Other Asset"}


def list_row(kind: str, ret: dict) -> dict:
    row = {"Id": ret.get("ListID"), "Name": ret.get("FullName") or ret.get("Name"),
           "Active": ret.get("IsActive", "true") != "false"}
    if kind == "accounts":
        row["AccountType"] = ACCOUNT_TYPES.get(ret.get("AccountType") or "", ret.get("AccountType") or "")
    return row


def context(state: dict | None) -> QuickBooksContext:
    """What the last Web Connector session saw, for validating settings (`lists_known` False before the first)."""
    state = state or {}
    lists = state.get("lists") or {}
    return QuickBooksContext(
        accounts={a["Id"]: (a["Name"], a.get("AccountType", ""), a["Active"]) for a in lists.get("accounts", [])},
        classes=frozenset(c["Id"] for c in lists.get("classes", []) if c["Active"]),
        vendors=frozenset(v["Id"] for v in lists.get("vendors", []) if v["Active"]),
        class_tracking_enabled=state.get("class_tracking") is True, desktop=True,
        lists_known=all(kind in lists for kind in LIST_QUERIES))


class DesktopCompanies:
    """The admin API's view of QuickBooks Desktop connections (AdminService's `desktop` port): a tenant connected
    through the Web Connector has its settings checked by Desktop's rules against the lists its last session read."""

    def __init__(self, repo=None):
        self._repo = repo

    def _connection(self, tenant_id: str):
        if self._repo is None:
            from shared.data.desktop_repo import DesktopRepo

            self._repo = DesktopRepo()
        return self._repo.connection(tenant_id)

    def context(self, tenant_id: str) -> QuickBooksContext | None:
        connection = self._connection(tenant_id)
        return None if connection is None else context(connection.state)

    def rows(self, tenant_id: str, kind: str) -> list[dict] | None:
        """A list for the settings page (`GET /admin/quickbooks/<kind>`), None without a Desktop connection."""
        connection = self._connection(tenant_id)
        if connection is None:
            return None
        return list(((connection.state or {}).get("lists") or {}).get(kind) or [])

    def status(self, tenant_id: str) -> dict | None:
        """The connection as `GET /admin/connection` reports it for a Desktop tenant, None without one: the company
        the last session saw, when the connector last polled, its last error, and the work still queued for it."""
        connection = self._connection(tenant_id)
        if connection is None:
            return None
        queued = self._repo.work(tenant_id, include_failed=True)
        state = connection.state or {}
        return {"company_name": connection.company_name, "connected_since": connection.created_at,
                "last_session_at": connection.last_session_at, "last_error": connection.last_error,
                "onboarded": bool(state.get("onboarded")), "file_id": connection.file_id,
                "queued": sum(1 for w in queued if w.status != "failed"),
                "failed": sum(1 for w in queued if w.status == "failed")}
