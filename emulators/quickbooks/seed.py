"""A new company as QuickBooks creates one: chart of accounts, sales tax codes, preferences and company info, plus
(unless `seed: false`) a few classes, vendors, employees, items of each type and customers with sub-customers.

Account Ids follow the US sandbox company where the fixtures show them: Services "1", Undeposited Funds "4",
Checking "35", Sales of Product Income "79", Cost of Goods Sold "80", Inventory Asset "81" (item-query-service-and-
inventory.json, payment-query.json); emulators/datagen references 1, 79, 80 and 81. Preferences and CompanyInfo take
the shape of preferences-query.json and companyinfo-read.json."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from emulators.quickbooks.wire import company_date, qbo_time

USD = {"value": "USD", "name": "United States Dollar"}

CLASSIFICATION = {
    "Bank": "Asset", "Other Current Asset": "Asset", "Accounts Receivable": "Asset", "Fixed Asset": "Asset",
    "Other Asset": "Asset", "Accounts Payable": "Liability", "Credit Card": "Liability",
    "Other Current Liability": "Liability", "Long Term Liability": "Liability", "Equity": "Equity",
    "Income": "Revenue", "Other Income": "Revenue", "Expense": "Expense", "Other Expense": "Expense",
    "Cost of Goods Sold": "Expense",
}

ACCOUNTS = (
    ("1", "Services", "Income", "ServiceFeeIncome"),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("7", "Advertising", "Expense", "AdvertisingPromotional"),
    ("11", "Insurance", "Expense", "Insurance"),
    ("24", "Utilities", "Expense", "Utilities"),
    ("29", "Job Expenses", "Expense", "CostOfLabor"),
    ("33", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("35", "Checking", "Bank", "Checking"),
    ("36", "Savings", "Bank", "Savings"),
    ("41", "Mastercard", "Credit Card", "CreditCard"),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory"),
    ("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("86", "Discounts given", "Income", "DiscountsRefundsGiven"),
    ("89", "Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("90", "Truck", "Fixed Asset", "Vehicles"),
)
UNDEPOSITED_FUNDS = "4"


def meta(now: float) -> dict:
    return {"CreateTime": qbo_time(now), "LastUpdatedTime": qbo_time(now)}


def account_doc(account_id: str, name: str, account_type: str, sub_type: str, now: float) -> dict:
    return {"Name": name, "SubAccount": False, "FullyQualifiedName": name, "Active": True,
            "Classification": CLASSIFICATION[account_type], "AccountType": account_type, "AccountSubType": sub_type,
            "CurrentBalance": Decimal(0), "CurrentBalanceWithSubAccounts": Decimal(0), "CurrencyRef": dict(USD),
            "domain": "QBO", "sparse": False, "Id": account_id, "SyncToken": "0", "MetaData": meta(now)}


def tax_docs(now: float) -> tuple[list[dict], list[dict]]:
    """US sales tax as taxcode-query.xml shows it: system codes TAX and NON (no SyncToken, no domain) and a user
    code "2" grouping rate "3" at 8% (the TxnTaxCodeRef/TaxRateRef pair in cdc-response.json)."""
    system = [{"Id": code, "MetaData": meta(now), "Name": code, "Description": code, "Taxable": code == "TAX",
               "TaxGroup": False, "Active": True} for code in ("TAX", "NON")]
    california = {"Name": "California", "Description": "California", "Active": True, "Hidden": False,
                  "Taxable": True, "TaxGroup": True,
                  "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3", "name": "California"},
                                                          "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0}]},
                  "PurchaseTaxRateList": {"TaxRateDetail": []}, "domain": "QBO", "sparse": False, "Id": "2",
                  "SyncToken": "0", "MetaData": meta(now)}
    rate = {"Name": "California", "Description": "Sales Tax", "Active": True, "RateValue": Decimal(8),
            "AgencyRef": {"value": "1"}, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly",
            "EffectiveTaxRate": [{"RateValue": Decimal(8), "EffectiveDate": "2014-01-01T00:00:00-08:00"}],
            "domain": "QBO", "sparse": False, "Id": "3", "SyncToken": "0", "MetaData": meta(now)}
    return [*system, california], [rate]


# The payment methods a new QuickBooks Online company lists (Sales > Payment methods).
PAYMENT_METHODS = (("Cash", "NON_CREDIT_CARD"), ("Check", "NON_CREDIT_CARD"), ("Visa", "CREDIT_CARD"),
                   ("MasterCard", "CREDIT_CARD"), ("Discover", "CREDIT_CARD"), ("American Express", "CREDIT_CARD"),
                   ("Diners Club", "CREDIT_CARD"))


def payment_method_doc(method_id: str, name: str, kind: str, now: float) -> dict:
    return {"Name": name, "Active": True, "Type": kind, "domain": "QBO", "sparse": False, "Id": method_id,
            "SyncToken": "0", "MetaData": meta(now)}


_PREFERENCES: dict[str, Any] = {
    "AccountingInfoPrefs": {"UseAccountNumbers": False, "TrackDepartments": False, "ClassTrackingPerTxn": False,
                            "ClassTrackingPerTxnLine": False, "FirstMonthOfFiscalYear": "January",
                            "TaxYearMonth": "January", "TaxForm": "6", "CustomerTerminology": "Customers"},
    "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True,
                                "QuantityOnHand": True, "RevenueRecognition": False,
                                "RevenueRecognitionFrequency": "MONTHLY"},
    "SalesFormsPrefs": {"UsingProgressInvoicing": False, "CustomTxnNumbers": False, "EmailCopyToCompany": False,
                        "AllowDeposit": False, "AllowDiscount": True, "DefaultDiscountAccount": "86",
                        "AllowEstimates": True, "ETransactionEnabledStatus": "NotApplicable",
                        "ETransactionAttachPDF": False, "ETransactionPaymentEnabled": False,
                        "IPNSupportEnabled": False, "AllowServiceDate": False, "AllowShipping": False,
                        "DefaultTerms": {"value": "3"}, "AutoApplyCredit": True, "AutoApplyPayments": True,
                        "UsingPriceLevels": False,
                        "DefaultCustomerMessage": "Thank you for your business and have a great day!"},
    "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True},
    "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "ShowBillRateToAll": False,
                          "WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True},
    "TaxPrefs": {"UsingSalesTax": True, "TaxGroupCodeRef": {"value": "2"}},
    "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
    "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
    "OtherPrefs": {"NameValue": [{"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
                                 {"Name": "ProjectsEnabled", "Value": "false"},
                                 {"Name": "DateFormat", "Value": "Month Date Year separated by a slash"},
                                 {"Name": "NumberFormat", "Value": "US Number Format"}]},
}


def merge(base: dict, overrides: dict) -> dict:
    """Deep merge: nested objects merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preferences_doc(now: float, overrides: dict | None) -> dict:
    doc = merge(_PREFERENCES, overrides or {})
    return {**doc, "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0", "MetaData": meta(now)}


def company_info_doc(realm_id: str, name: str, now: float) -> dict:
    address = {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA",
               "PostalCode": "87999"}
    return {"CompanyName": name, "LegalName": name, "CompanyAddr": dict(address),
            "CustomerCommunicationAddr": dict(address), "LegalAddr": dict(address),
            "CustomerCommunicationEmailAddr": {"Address": "owner@example.com"}, "PrimaryPhone": {},
            "CompanyStartDate": company_date(now).isoformat(), "FiscalYearStartMonth": "January", "Country": "US",
            "Email": {"Address": "owner@example.com"}, "WebAddr": {}, "SupportedLanguages": "en",
            "DefaultTimeZone": "America/Los_Angeles",
            "NameValue": [{"Name": "CompanyType", "Value": "Other"},
                          {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                          {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
                          {"Name": "QBOIndustryType", "Value": "Landscaping Services"},
                          {"Name": "EmulatorRealmId", "Value": realm_id}],
            "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0", "MetaData": meta(now)}


def _addr(line1: str, city: str, state: str, postal: str) -> dict:
    return {"Line1": line1, "City": city, "CountrySubDivisionCode": state, "PostalCode": postal}


# Create bodies run through the same validation as API creates, in this order (parents before jobs).
SAMPLE: tuple[tuple[str, dict], ...] = (
    ("Class", {"Name": "Installation"}),
    ("Class", {"Name": "Maintenance"}),
    ("Class", {"Name": "Repair"}),
    ("Vendor", {"DisplayName": "Norton Lumber and Building Materials", "CompanyName": "Norton Lumber",
                "PrimaryPhone": {"FreeFormNumber": "(650) 555-9923"}}),
    ("Vendor", {"DisplayName": "Cal Telephone", "CompanyName": "Cal Telephone"}),
    ("Employee", {"GivenName": "Emily", "FamilyName": "Platt", "PrimaryPhone": {"FreeFormNumber": "(540) 555-9645"}}),
    ("Employee", {"GivenName": "John", "FamilyName": "Johnson"}),
    ("Item", {"Name": "Labor", "Type": "Service", "Description": "Labor, per hour", "UnitPrice": Decimal(85),
              "Taxable": False, "IncomeAccountRef": {"value": "1"}}),
    ("Item", {"Name": "Trip Charge", "Type": "Service", "UnitPrice": Decimal(45), "Taxable": False,
              "IncomeAccountRef": {"value": "1"}}),
    ("Item", {"Name": "Shop Supplies", "Type": "NonInventory", "UnitPrice": Decimal("12.50"), "Taxable": True,
              "IncomeAccountRef": {"value": "79"}, "ExpenseAccountRef": {"value": "80"}}),
    ("Item", {"Name": "Filter Cartridge", "Type": "Inventory", "UnitPrice": Decimal("24.99"), "Taxable": True,
              "PurchaseCost": Decimal("11.40"), "TrackQtyOnHand": True, "QtyOnHand": Decimal(40),
              "InvStartDate": "2024-01-01", "IncomeAccountRef": {"value": "79"},
              "ExpenseAccountRef": {"value": "80"}, "AssetAccountRef": {"value": "81"}}),
    ("Customer", {"DisplayName": "Amy's Bird Sanctuary", "CompanyName": "Amy's Bird Sanctuary",
                  "GivenName": "Amy", "FamilyName": "Lauterbach",
                  "BillAddr": _addr("4581 Finch St.", "Bayshore", "CA", "94326"),
                  "PrimaryEmailAddr": {"Address": "Birds@Intuit.com"}}),
    ("Customer", {"DisplayName": "Freeman Sporting Goods", "CompanyName": "Freeman Sporting Goods",
                  "GivenName": "Kirby", "FamilyName": "Freeman",
                  "BillAddr": _addr("370 Easy St.", "Middlefield", "CA", "94482")}),
    ("Customer", {"DisplayName": "0969 Ocean View Road", "Job": True, "BillWithParent": True,
                  "ParentRef": {"value": "@Freeman Sporting Goods"},
                  "ShipAddr": _addr("0969 Ocean View Road", "Middlefield", "CA", "94482")}),
    ("Customer", {"DisplayName": "55 Twin Lane", "Job": True, "BillWithParent": True,
                  "ParentRef": {"value": "@Freeman Sporting Goods"},
                  "ShipAddr": _addr("55 Twin Lane", "Middlefield", "CA", "94482")}),
    ("Customer", {"DisplayName": "Jeff's Jalopies", "GivenName": "Jeff", "FamilyName": "Chin",
                  "BillAddr": _addr("12 Willow Rd.", "Menlo Park", "CA", "94305")}),
)
