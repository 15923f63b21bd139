"""EPCIS XML captures, 2.0 and 1.2, read into the EPCIS 2.0 JSON-LD document a JSON capture is.

The capture endpoint accepts JSON and XML; everything after parsing (JSON Schema validation, the
event hash, the event store) sees one model, so an XML document and its JSON twin must become the
same dict. `parse_epcis_xml` does that in four steps:

1. Parse safely: bounded size, no DTD, no entities, no network (a partner's file is untrusted).
2. Tell the version by the root element's namespace: `urn:epcglobal:epcis:xsd:2` is EPCIS 2.0,
   `urn:epcglobal:epcis:xsd:1` is EPCIS 1.0-1.2.
3. Validate 2.0 against GS1's XSD (vendored in `gs1_xsd/`). GS1's 1.2 XSD is not vendored; a 1.2
   document gets the structural checks of the conversion below (known elements in their places,
   the required ones present), which is what the converter relies on.
4. Convert, following the XML/JSON mapping of EPCIS 2.0 (section 9 and GS1's
   epcis-event-hash-generator, whose XML and JSON readers must give the same hash):
   - 1.2's `<extension>` / `<baseExtension>` wrappers vanish (eventID, errorDeclaration, quantity
     lists, source/destination lists and ilmd all sit on the event in 2.0), and 1.2's
     TransformationEvent moves out of `<EventList><extension>`;
   - `<epcList><epc>` becomes a list of strings, `<quantityList><quantityElement>` a list of
     `{"epcClass", "quantity", "uom"}`, `<bizTransaction type=...>` `{"type", "bizTransaction"}`,
     `<source type=...>` `{"type", "source"}`, `<readPoint><id>` `{"id"}`;
   - sensorMetadata/sensorReport attributes become keys, numbers as numbers;
   - CBV values written as URIs in XML (`urn:epcglobal:cbv:bizstep:shipping`,
     `https://ref.gs1.org/cbv/BizStep-shipping`) become the bare terms JSON uses (`shipping`),
     which the JSON-LD context maps back to the same URIs; sensor types `gs1:Temperature` become
     `Temperature` likewise;
   - elements of other namespaces (user extensions) become `prefix:name` keys, the prefix
     declared in the document's `@context`;
   - master data in the header becomes `epcisHeader.epcisMasterData`; the Standard Business
     Document Header has no JSON form and is left behind;
   - 1.2's QuantityEvent, withdrawn in 2.0, is refused with the 2.0 way to say it.

Every refusal is one `EpcisXmlError`, with the line and element path where they are known.
"""

from __future__ import annotations

from typing import Any

from webapp.epcis.xml.converter import EPCIS_CONTEXT, Converter
from webapp.epcis.xml.errors import EpcisXmlError
from webapp.epcis.xml.reading import (
    EPCIS_1_NAMESPACE,
    EPCIS_2_NAMESPACE,
    MAX_EPCIS_XML_BYTES,
    XSD_ROOT,
    epcis_version,
    parse_safely,
    validate_2_0,
)

__all__ = [
    "EPCIS_1_NAMESPACE",
    "EPCIS_2_NAMESPACE",
    "EPCIS_CONTEXT",
    "MAX_EPCIS_XML_BYTES",
    "XSD_ROOT",
    "EpcisXmlError",
    "parse_epcis_xml",
]


def parse_epcis_xml(content: bytes) -> dict[str, Any]:
    """The EPCIS 2.0 JSON-LD document (as a JSON capture would give) for an XML capture."""
    root = parse_safely(content)
    version = epcis_version(root)
    if version == "2.0":
        validate_2_0(root)
    return Converter(root, version).document()
