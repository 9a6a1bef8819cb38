import io

from openpyxl import load_workbook

from shared.domain.admin import AdminService
from shared.domain.connections import Caller
from shared.domain.records import ErrorEntry


class _Errors:
    def list(self, tenant_id, include_resolved=False):
        return [ErrorEntry(tenant_id, "client", "c1", "to_quickbooks", "6240", "Duplicate Name Exists Error",
                           '=HYPERLINK("http://evil")'),
                ErrorEntry(tenant_id, "invoice", "i1", "to_quickbooks", "6000", "Business validation", "-1+1")]


def test_the_excel_error_log_lists_every_entry_and_never_carries_a_formula():
    service = AdminService(None, None, None, _Errors(), None, None, None, None)
    book = load_workbook(io.BytesIO(service.errors_xlsx(Caller("t1", "admin"))))
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[:4] for r in rows[1:]] == [("client", "c1", "to_quickbooks", "6240"),
                                         ("invoice", "i1", "to_quickbooks", "6000")]
    assert all(not str(cell).startswith(("=", "+", "-", "@")) for row in rows for cell in row if cell is not None)
    assert book.active.freeze_panes == "A2"
