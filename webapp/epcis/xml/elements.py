"""What every part of the XML conversion shares: refusals that point at an element, text and
list elements, and user extensions (elements and attributes of other namespaces), which become
`prefix:name` keys whose namespaces the document's `@context` declares."""

from __future__ import annotations

from typing import Any

from lxml import etree

from webapp.epcis.xml.errors import EpcisXmlError
from webapp.epcis.xml.reading import EPCIS_1_NAMESPACE, EPCIS_2_NAMESPACE

XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XMLNS_PREFIXES = {"xml", "xmlns"}
# Terms of GS1's context: a user extension prefix must not redefine them.
_CONTEXT_TERMS = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}


def children(element: etree._Element) -> list[etree._Element]:
    """An element's child elements (comments and processing instructions left out)."""
    return [child for child in element if isinstance(child.tag, str)]


class ElementReader:
    """Reads the elements of one XML document; `namespaces` collects the user extension
    namespaces met, by the prefix their keys carry."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.tree = root.getroottree()
        #: User extension namespaces, by the prefix their keys carry.
        self.namespaces: dict[str, str] = {}

    def fail(self, element: etree._Element, message: str) -> EpcisXmlError:
        return EpcisXmlError(message, line=element.sourceline, path=self.tree.getpath(element))

    def text(self, element: etree._Element) -> str:
        if children(element):
            raise self.fail(element, f"{etree.QName(element).localname} should hold text only.")
        return (element.text or "").strip()

    def items(self, element: etree._Element, item_name: str) -> list[etree._Element]:
        """The children of a list element, all named `item_name` (1.2's list extensions
        hold nothing standard and are refused)."""
        items = children(element)
        for item in items:
            if etree.QName(item).namespace is not None or etree.QName(item).localname != item_name:
                raise self.fail(
                    item,
                    f"Unexpected element {etree.QName(item).localname} in "
                    f"{etree.QName(element).localname} (expected {item_name}).",
                )
        return items

    # -- user extensions ---------------------------------------------------------------------

    def key(self, element: etree._Element, name: etree.QName, nsmap: dict[str | None, str]) -> str:
        """`prefix:localname` for a namespaced element or attribute, the prefix declared once."""
        namespace = name.namespace or ""
        if namespace in (EPCIS_1_NAMESPACE, EPCIS_2_NAMESPACE):
            raise self.fail(element, f"Unexpected EPCIS element {name.localname}.")
        prefix = next(
            (p for p, uri in nsmap.items() if uri == namespace and p not in _XMLNS_PREFIXES),
            None,
        )
        known = [p for p, uri in self.namespaces.items() if uri == namespace]
        if known:
            prefix = known[0]
        elif (
            prefix is None
            or prefix in self.namespaces
            or _CONTEXT_TERMS.get(prefix, namespace) != namespace
        ):
            number = 1
            while f"ext{number}" in self.namespaces:
                number += 1
            prefix = f"ext{number}"
        if _CONTEXT_TERMS.get(prefix) != namespace:
            self.namespaces[prefix] = namespace
        return f"{prefix}:{name.localname}"

    def put_extension(self, element: etree._Element, out: dict[str, Any]) -> None:
        key = self.key(element, etree.QName(element), element.nsmap)
        value = self.extension_value(element)
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]

    def extension_object(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in children(element):
            if etree.QName(child).namespace is None:
                if etree.QName(child).localname == "extension":
                    out.update(self.extension_object(child))
                    continue
                raise self.fail(
                    child,
                    f"{etree.QName(child).localname} has no namespace; extension elements "
                    "need one.",
                )
            self.put_extension(child, out)
        return out

    def extension_value(self, element: etree._Element) -> Any:
        attributes = {}
        for key, value in element.attrib.items():
            name = etree.QName(key)
            if name.namespace == XSI:
                continue
            if name.namespace is None:
                raise self.fail(
                    element,
                    f"The attribute {name.localname} of an extension element has no JSON form; "
                    "use a child element.",
                )
            attributes[self.key(element, name, element.nsmap)] = value.strip()
        if children(element):
            if (element.text or "").strip():
                raise self.fail(element, "An extension element mixes text and elements.")
            return {**attributes, **self.extension_object(element)}
        if attributes:
            if (element.text or "").strip():
                raise self.fail(
                    element, "An extension element with attributes cannot also hold text."
                )
            return attributes
        return (element.text or "").strip()
