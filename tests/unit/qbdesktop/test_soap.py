"""The Web Connector's SOAP 1.1 document/literal messages, per Intuit's WSDL; hostile input is a fault."""

from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

from shared.qbdesktop import soap

SOAP = Path(__file__).resolve().parents[2] / "fixtures" / "qbd" / "soap"


def test_the_documented_requests_parse_into_their_parameters():
    auth = soap.parse_call((SOAP / "authenticate-request.xml").read_bytes())
    assert auth.operation == "authenticate" and set(auth.params) == {"strUserName", "strPassword"}
    send = soap.parse_call((SOAP / "sendRequestXML-request.xml").read_bytes())
    assert send.params["qbXMLMajorVers"] == 13 and send.params["qbXMLCountry"] == "US"
    assert send.params["strHCPResponse"].startswith("<?xml")  # unescaped once, as the qbXML it carries
    received = soap.parse_call((SOAP / "receiveResponseXML-request-hresult.xml").read_bytes())
    assert received.params["hresult"].startswith("0x")


def _envelope(inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{inner}'
            "</soap:Body></soap:Envelope>").encode()


def test_parameter_names_match_case_insensitively_and_server_version_takes_none_or_a_ticket():
    call = soap.parse_call(_envelope('<sendRequestXML xmlns="http://developer.intuit.com/"><ticket>t</ticket>'
                                     "<strCompanyFilename>C:\\a.QBW</strCompanyFilename><qbXMLMajorVers>13"
                                     "</qbXMLMajorVers></sendRequestXML>"))
    assert call.params["strCompanyFileName"] == "C:\\a.QBW" and call.params["qbXMLMinorVers"] is None
    assert soap.parse_call(_envelope('<serverVersion xmlns="http://developer.intuit.com/"/>')).params == {}
    assert soap.parse_call(_envelope('<serverVersion xmlns="http://developer.intuit.com/"><ticket>x</ticket>'
                                     "</serverVersion>")).operation == "serverVersion"


@pytest.mark.parametrize("body", [
    b"not xml",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
    b'<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><x/>',
    b"<Envelope/>",
    _envelope('<authenticate xmlns="http://example.com/"/>'),
    _envelope('<dropTables xmlns="http://developer.intuit.com/"/>'),
    _envelope('<authenticate xmlns="http://developer.intuit.com/"><evil>1</evil></authenticate>'),
    _envelope('<authenticate xmlns="http://developer.intuit.com/"><strUserName><a/></strUserName></authenticate>'),
    _envelope('<sendRequestXML xmlns="http://developer.intuit.com/"><qbXMLMajorVers>x</qbXMLMajorVers>'
              "</sendRequestXML>"),
    _envelope('<getLastError xmlns="http://developer.intuit.com/"/><closeConnection '
              'xmlns="http://developer.intuit.com/"/>'),
    b"<x>" + b"a" * (soap.MAX_SOAP_BYTES + 1) + b"</x>",
])
def test_anything_else_is_a_soap_fault(body):
    with pytest.raises(soap.SoapFault):
        soap.parse_call(body)


def test_responses_are_the_wsdls_shapes():
    auth = SafeET.fromstring(soap.response("authenticate", ["ticket-1", ""]))
    strings = auth.findall(".//{http://developer.intuit.com/}authenticateResult/{http://developer.intuit.com/}string")
    assert [s.text for s in strings] == ["ticket-1", None]  # the empty second string is present (quickbooks-js#28)
    done = SafeET.fromstring(soap.response("receiveResponseXML", 100))
    assert done.findtext(".//{http://developer.intuit.com/}receiveResponseXMLResult") == "100"
    qbxml_text = '<?xml version="1.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>'
    sent = soap.response("sendRequestXML", qbxml_text)
    assert b"&lt;QBXML&gt;" in sent  # escaped text, never a nested envelope (PG ch.5)
    assert SafeET.fromstring(sent).findtext(".//{http://developer.intuit.com/}sendRequestXMLResult") == qbxml_text
    fault = SafeET.fromstring(soap.fault(soap.SoapFault("soap:Client", "bad")))
    assert fault.findtext(".//faultcode") == "soap:Client"


def test_the_wsdl_names_our_url_and_only_the_soap11_binding():
    text = soap.wsdl("https://api.example.com/qbwc")
    assert 'location="https://api.example.com/qbwc"' in text and "soap12:address" not in text
