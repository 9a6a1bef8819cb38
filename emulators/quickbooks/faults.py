"""QuickBooks faults with QuickBooks' own codes, messages and detail texts.

Shape: `{"Fault":{"Error":[{"Message","Detail","code","element"}],"type":"ValidationFault"},"time":...}` with HTTP 400
(qbo-facts.md "Errors"; fault-*.json). Where a text was captured, it is used verbatim; the source of each is given
next to it and in docs/emulator-quickbooks.md."""

from __future__ import annotations

_INACTIVE = ("Something you're trying to use has been made inactive. Check the fields with accounts, customers, "
             "items, vendors or employees.")


class Fault(Exception):
    def __init__(self, code: str, message: str, detail: str, element: str | None = "", *, status: int = 400,
                 kind: str = "ValidationFault", with_time: bool = True):
        super().__init__(f"{code} {message}: {detail}")
        self.code, self.message, self.detail, self.element = code, message, detail, element
        self.status, self.kind, self.with_time = status, kind, with_time

    def fault(self) -> dict:
        error = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            error["element"] = self.element
        return {"Error": [error], "type": self.kind}


def stale() -> Fault:
    # batch-response.json bid3: the only 5010 body collected; the user names are the company's.
    return Fault("5010", "Stale Object Error",
                 "Stale Object Error : You and Emulator User were working on this at the same time. Emulator User "
                 "finished before you did, so your work was not saved.")


def not_found() -> Fault:
    # batch-response.json bid2 (a delete of a missing invoice).
    return Fault("610", "Object Not Found", f"Object Not Found : {_INACTIVE}")


def deleted_transaction() -> Fault:
    # Quoted by a QuickBooks integrator (help.mycertainpath.com, "Why am I seeing this error code").
    return Fault("610", "Object Not Found", "Object Not Found : Another user has deleted this transaction.")


def duplicate_name(existing_id: str) -> Fault:
    # fault-6240-duplicate-name.json has no `element`; the `: Id=NN` detail is what current QuickBooks sends (many
    # integrations parse it, e.g. "The name supplied already exists. : Id=58").
    return Fault("6240", "Duplicate Name Exists Error", f"The name supplied already exists. : Id={existing_id}",
                 element=None)


def invalid_reference(element: str) -> Fault:
    # fault-2500-invalid-reference-element.xml.
    return Fault("2500", "Invalid Reference Id", f"Invalid Reference Id : {element}", element)


def required(param: str) -> Fault:
    # Message from python-quickbooks PR #257; detail "Required parameter Line is missing in the request" (same PR).
    return Fault("2020", "Required param missing, need to supply the required value for the API",
                 f"Required parameter {param} is missing in the request", param)


def invalid_id(value: str) -> Fault:
    # fault-2030-invalid-id.json: this body has no `time`.
    return Fault("2030", "Invalid ID", f"Id should be a valid number. Supplied value:{value}", "Id", with_time=False)


def string_length(element: str, maximum: int, supplied: int) -> Fault:
    # quickbooks-ruby spec (code 2050, element "Name") and live bodies quoted by integrators.
    return Fault("2050", "String length is either shorter or longer than supported by specification",
                 f"String length specified does not match the supported length. Min:0 Max:{maximum} supported. "
                 f"Supplied length:{supplied}", element)


def invalid_enumeration(element: str, value: object) -> Fault:
    return Fault("2170", "Invalid Enumeration", f"Invalid Enumeration : {value}", element)


def invalid_number(element: str, value: object) -> Fault:
    return Fault("2010", "Request has invalid or unsupported property",
                 f"Property Name:{element} specified is unsupported or invalid. Supplied value:{value}", element)


def business(detail: str, element: str = "") -> Fault:
    # fault-6000-business-validation-attachable.json and node-quickbooks issue #48.
    return Fault("6000", "A business validation error has occurred while processing your request",
                 f"Business Validation Error: {detail}", element)


def duplicate_doc_number(number: str, txn_type: str, txn_id: str) -> Fault:
    # Quoted verbatim by help.mycertainpath.com and transactionsplus.uservoice.com.
    return Fault("6140", "Duplicate Document Number Error",
                 "Duplicate Document Number Error : You must specify a different number. This number has already "
                 f"been used. DocNumber={number} is assigned to TxnType={txn_type} with TxnId={txn_id}")


def unsupported(detail: str, element: str | None = None) -> Fault:
    # fault-500-unsupported-operation.json / fault-500-void-not-supported-purchase.json.
    return Fault("500", "Unsupported Operation", detail, element)


def invalid_query(detail: str) -> Fault:
    # fault-4001-invalid-query.json (no `element`).
    return Fault("4001", "Invalid query", detail, element=None)


def system_error() -> Fault:
    # The XML SystemFault pasted in intuit/QuickBooks-V3-PHP-SDK issue #127, in JSON form.
    return Fault("10000", "An application error has occurred while processing your request",
                 "System Failure Error: An unexpected error occurred while accessing or saving your data. Please "
                 "wait a few minutes and try again. If the problem persists, contact customer support.",
                 status=500, kind="SystemFault")
