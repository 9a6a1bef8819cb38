"""Sales tax on an invoice sent to QuickBooks, by the tax mode chosen in settings (docs/settings.md).

- "platform states tax" (`invoices.tax_mode = platform`): the platform's tax total goes as
  `TxnTaxDetail.TotalTax`, so the QuickBooks total equals the platform's to the cent. Without automated sales tax
  the transaction also names the tax code chosen for the invoice's region (`invoices.tax_codes_by_region`, else
  `invoices.tax_code_id`), which says which agency the tax is owed to.
- "QuickBooks computes" (`quickbooks`): lines carry TaxCodeRef TAX/NON from the platform's taxable flag and the
  transaction the region's tax code (if one is chosen); QuickBooks computes the tax and it is written back.
- Automated sales tax (`Preferences.TaxPrefs.PartnerTaxEnabled`, US companies created after 2017-11-10): "The AST
  engine assigns the appropriate tax code to sales transaction objects and automatically calculates the tax amount.
  Whenever an explicit tax amount is sent in the transaction request the AST engine honors the amount and prorates
  it across tax rates in the AST-assigned tax code" (Intuit developer blog, "Using QuickBooks Online API for
  automated sales tax", 2017-12-11). So no tax code is sent; the stated amount is sent in `platform` mode, and in
  `quickbooks` mode the ship-to address (the site's), which AST computes from ("Manage sales tax for US locales")."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.quickbooks.port import MoneyPrefs


def money(value: Any) -> Decimal:
    # Half up, as QuickBooks rounds Qty x UnitPrice (and as invoices are written by hand); never banker's rounding.
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class TaxPlan:
    txn_tax_code_id: str | None
    total_tax: Decimal | None  # None: QuickBooks computes it
    write_back: bool  # QuickBooks' tax goes back to the platform invoice

    def line_code(self, taxable: bool) -> str:
        return "TAX" if taxable else "NON"


def plan_tax(invoice: Any, settings: Any, prefs: MoneyPrefs, region: str | None) -> TaxPlan:
    """The tax part of one invoice draft. `region` is the State/province code of the invoice's site, else of its
    client's billing address (None when no per-region code is configured)."""
    s = settings.invoices
    code = s.tax_codes_by_region.get(region or "", s.tax_code_id)
    if prefs.automated_sales_tax:
        code = None
    if s.tax_mode == "platform":
        stated = money(invoice.tax_total)
        return TaxPlan(code if stated else None, stated, write_back=False)
    return TaxPlan(code, None, write_back=True)
