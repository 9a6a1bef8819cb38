"""Helpers for the QuickBooks Desktop emulator tests: qbXML message sets posted as a person working in QuickBooks."""

from pathlib import Path

import requests
from lxml import etree

from emulators.qbdesktop import schema

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "qbd"


def message_set(body: str, on_error: str = "stopOnError", version: str = "13.0") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="{version}"?><QBXML>'
            f'<QBXMLMsgsRq onError="{on_error}">{body}</QBXMLMsgsRq></QBXML>')


class Desk:
    """The emulator at `url`; `qbxml` returns the response's QBXMLMsgsRs, checked against Intuit's schema."""

    def __init__(self, url: str):
        self.url = url

    def raw(self, text: str) -> requests.Response:
        return requests.post(f"{self.url}/_emulator/qbxml", data=text.encode(), timeout=30)

    def qbxml(self, body: str, **kwargs) -> etree._Element:
        response = self.raw(message_set(body, **kwargs))
        assert response.status_code == 200, response.text
        doc = etree.fromstring(response.content)
        assert schema.validate(doc) is None, schema.validate(doc)
        return doc.find("QBXMLMsgsRs")

    def one(self, body: str) -> etree._Element:
        (rs,) = list(self.qbxml(body))
        return rs

    def ok(self, body: str) -> etree._Element:
        rs = self.one(body)
        assert rs.get("statusCode") == "0", rs.attrib
        return rs[0]

    def state(self) -> dict:
        return requests.get(f"{self.url}/_emulator/state", timeout=30).json()
