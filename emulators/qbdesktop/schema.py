"""Intuit's qbXML 13.0 schema (tests/fixtures/qbd/xsd/qbxml130/, copied unchanged from the SDK; SOURCES.md there):
requests are validated against it, and every aggregate the emulator answers is put in the schema's element order.

qbXML aggregates are `xsd:sequence`s, and QuickBooks' parser rejects a misplaced element with HRESULT 0x80040400
(qbd-facts.md "qbXML envelope and versions": XSD; consolibyte#226). The order here is read from the schema itself,
never written by hand, so the emulator cannot agree with a wrong builder by accident."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "qbd" / "xsd" / "qbxml130"
XS = "{http://www.w3.org/2001/XMLSchema}"
_lock = threading.Lock()


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "qbxmlops130.xsd")))


def validate(doc: etree._Element) -> str | None:
    """None when `doc` is a valid qbXML 13.0 message, else libxml2's first complaint (line and reason)."""
    with _lock:  # an XMLSchema object keeps its error log on itself: one validation at a time
        schema = _schema()
        if schema.validate(doc):
            return None
        error = schema.error_log.last_error
        return f"line {error.line}: {error.message}" if error else "invalid"


@cache
def _definitions() -> tuple[dict[str, etree._Element], dict[str, etree._Element]]:
    elements: dict[str, etree._Element] = {}
    groups: dict[str, etree._Element] = {}
    for name in ("qbxmltypes130.xsd", "qbxml130.xsd", "qbxmlso130.xsd", "qbxmlops130.xsd"):
        root = etree.parse(str(XSD_DIR / name)).getroot()
        for node in root:
            if node.tag == f"{XS}element":
                elements[node.get("name")] = node
            elif node.tag == f"{XS}group":
                groups[node.get("name")] = node
        # Inline (local) element declarations with their own content, reachable by name when not also global.
        for node in root.iter(f"{XS}element"):
            if node.get("name") and node.find(f"{XS}complexType") is not None:
                elements.setdefault(node.get("name"), node)
    return elements, groups


def _walk(node: etree._Element, out: list[str]) -> None:
    _, groups = _definitions()
    for child in node:
        if child.tag == f"{XS}element":
            name = child.get("ref") or child.get("name")
            if name not in out:
                out.append(name)
        elif child.tag == f"{XS}group":
            _walk(groups[child.get("ref")], out)
        elif child.tag in (f"{XS}sequence", f"{XS}choice", f"{XS}complexType", f"{XS}all"):
            _walk(child, out)


@cache
def child_order(element: str) -> tuple[str, ...]:
    """The names of `element`'s children in schema order (choices flattened in their declared order)."""
    elements, _ = _definitions()
    node = elements.get(element)
    if node is None:
        return ()
    out: list[str] = []
    complex_type = node.find(f"{XS}complexType")
    if complex_type is not None:
        _walk(complex_type, out)
    return tuple(out)


def sort_children(element: etree._Element) -> etree._Element:
    """Reorder `element`'s children (recursively) into schema order; unknown names keep their place at the end."""
    order = {name: i for i, name in enumerate(child_order(element.tag))}
    children = list(element)
    for child in children:
        sort_children(child)
    children.sort(key=lambda c: order.get(c.tag, len(order)))
    element[:] = children
    return element
