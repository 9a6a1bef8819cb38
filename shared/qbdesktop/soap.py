"""SOAP 1.1 document/literal exactly as Intuit's Web Connector WSDL defines it (QBWebConnectorSvc.wsdl beside this
file, Intuit's TroubleshootWebServiceFS WSDL with its SOAP 1.2 binding removed).

Input comes from the internet, so it is parsed with defusedxml (no DTDs, no entities, no external references) and
checked against the operation's declared parameters; anything else is a `SoapFault` (HTTP 500 with a soap:Fault, as
SOAP 1.1 requires) and changes nothing. Parameter names are matched case-insensitively because qbwc/qbwc sends
`strCompanyFilename` (qbd-facts.md "Callbacks"); the operation is taken from the body element, never from the
SOAPAction header (qbd-facts.md "Transport and SOAP")."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - used only to build responses; parsing goes through defusedxml
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
INTUIT = "http://developer.intuit.com/"
MAX_SOAP_BYTES = 1024 * 1024  # a qbXML response page of 100 customers is ~150 KB; API Gateway allows 10 MB
WSDL_PATH = Path(__file__).with_name("QBWebConnectorSvc.wsdl")

# operation -> (parameter names in WSDL order, int parameters). Interactive-mode calls are not in any public WSDL and
# are not served (qbd-facts.md).
OPERATIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "serverVersion": ((), frozenset()),
    "clientVersion": (("strVersion",), frozenset()),
    "authenticate": (("strUserName", "strPassword"), frozenset()),
    "connectionError": (("ticket", "hresult", "message"), frozenset()),
    "sendRequestXML": (("ticket", "strHCPResponse", "strCompanyFileName", "qbXMLCountry", "qbXMLMajorVers",
                        "qbXMLMinorVers"), frozenset({"qbXMLMajorVers", "qbXMLMinorVers"})),
    "receiveResponseXML": (("ticket", "response", "hresult", "message"), frozenset()),
    "getLastError": (("ticket",), frozenset()),
    "closeConnection": (("ticket",), frozenset()),
}
# PG ch.10 documents serverVersion(ticket) as getServerVersion; accept that stray child too.
_TOLERATED = {"serverVersion": {"strversion", "ticket"}}


class SoapFault(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Call:
    operation: str
    params: dict[str, str | int | None]


def parse_call(body: bytes) -> Call:
    if len(body) > MAX_SOAP_BYTES:
        raise SoapFault("soap:Client", "The request is too large.")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise SoapFault("soap:Client", f"The request is not well-formed XML ({type(exc).__name__}).") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("soap:VersionMismatch" if root.tag.endswith("}Envelope") else "soap:Client",
                        "Expected a SOAP 1.1 Envelope.")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    if body_el is None or len(body_el) != 1:
        raise SoapFault("soap:Client", "The SOAP Body must hold exactly one operation element.")
    op_el = body_el[0]
    namespace, _, operation = op_el.tag[1:].partition("}") if op_el.tag.startswith("{") else ("", "", op_el.tag)
    if namespace != INTUIT or operation not in OPERATIONS:
        raise SoapFault("soap:Client", f"Unknown operation {operation!r} in namespace {namespace!r}.")
    names, ints = OPERATIONS[operation]
    by_lower = {n.lower(): n for n in names}
    params: dict[str, str | int | None] = dict.fromkeys(names)
    for child in op_el:
        child_ns, _, local = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", child.tag)
        if child_ns not in (INTUIT, ""):
            raise SoapFault("soap:Client", f"Unexpected element {local!r}.")
        name = by_lower.get(local.lower())
        if name is None:
            if local.lower() in _TOLERATED.get(operation, set()):
                continue
            raise SoapFault("soap:Client", f"Unexpected parameter {local!r} for {operation}.")
        if len(child):
            raise SoapFault("soap:Client", f"Parameter {name!r} must be text.")
        text = child.text or ""
        if name in ints:
            try:
                params[name] = int(text.strip())
            except ValueError as exc:
                raise SoapFault("soap:Client", f"Parameter {name!r} must be an integer.") from exc
        else:
            params[name] = text
    return Call(operation, params)


def _envelope() -> tuple[ET.Element, ET.Element]:
    env = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_ENV, "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
                                        "xmlns:xsd": "http://www.w3.org/2001/XMLSchema"})
    return env, ET.SubElement(env, "soap:Body")


def _serialize(env: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(env, encoding="utf-8", xml_declaration=False)


def response(operation: str, result: str | int | list[str]) -> bytes:
    """`<opResponse xmlns="http://developer.intuit.com/"><opResult>...`; authenticate's result is an ArrayOfString,
    receiveResponseXML's an xs:int, the rest xs:string. The qbXML travels as escaped text (PG ch.5)."""
    env, body = _envelope()
    wrapper = ET.SubElement(body, f"{operation}Response", {"xmlns": INTUIT})
    result_el = ET.SubElement(wrapper, f"{operation}Result")
    if isinstance(result, list):
        for value in result:
            ET.SubElement(result_el, "string").text = value  # empty strings stay present (<string />)
    else:
        result_el.text = str(result)
    return _serialize(env)


def fault(err: SoapFault) -> bytes:
    env, body = _envelope()
    fault_el = ET.SubElement(body, "soap:Fault")
    ET.SubElement(fault_el, "faultcode").text = err.code
    ET.SubElement(fault_el, "faultstring").text = err.message
    return _serialize(env)


def wsdl(app_url: str) -> str:
    from xml.sax.saxutils import quoteattr

    return WSDL_PATH.read_text(encoding="utf-8").replace('"{{APP_URL}}"', quoteattr(app_url))
