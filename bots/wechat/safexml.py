"""Safe parsing of the XML that WeChat and WeChat Pay send us.

Every byte that reaches wechatpy or xmltodict has first been parsed here with defusedxml,
which refuses DTDs, entity declarations and external references outright: WeChat never
sends any, so their presence means a hostile or broken sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class UnsafeXml(ValueError):
    """The body is not well-formed XML, or carries a DTD, entities or external references."""


def parse_xml(body: bytes | str) -> Element:
    """Parse `body` with defusedxml, refusing anything WeChat would never send."""
    if not body:
        raise UnsafeXml("empty body")
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(f"refused XML construct: {type(exc).__name__}") from exc
    except (ParseError, ValueError) as exc:
        raise UnsafeXml(f"malformed XML: {exc}") from exc


def leaf_fields(root: Element) -> dict[str, str]:
    """The top-level leaf children of a WeChat `<xml>` document as a flat mapping."""
    return {child.tag: (child.text or "") for child in root if len(child) == 0}


def parse_fields(body: bytes | str, *, root_tag: str = "xml") -> dict[str, str]:
    """Parse a flat WeChat XML document (`<xml><Key>value</Key>...</xml>`) safely."""
    root = parse_xml(body)
    if root.tag != root_tag:
        raise UnsafeXml(f"root element must be <{root_tag}>, got <{root.tag}>")
    return leaf_fields(root)


def render_fields(fields: Mapping[str, str | int]) -> str:
    """Render a flat mapping as WeChat-style XML, text in CDATA and integers bare."""
    parts = ["<xml>"]
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            if "]]>" in value:
                raise ValueError(f"field {key!r} cannot contain ']]>'")
            parts.append(f"<{key}><![CDATA[{value}]]></{key}>")
    parts.append("</xml>")
    return "".join(parts)
