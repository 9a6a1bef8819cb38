"""The script behind the figures in docs/emulator-quickbooks.md still runs (small sizes; no timing asserted)."""

import pytest

from emulators.quickbooks import perf

pytestmark = pytest.mark.integration


def test_perf_script_runs(capsys):
    figures = perf.main(["--customers", "300", "--invoices", "600"])
    assert {"walk_all_customers_ms", "displayname_eq_ms", "id_in_30_ms", "cdc_1000_of_30000_ms"} <= set(figures)
    assert "page_1000_invoices_ms" in capsys.readouterr().out
