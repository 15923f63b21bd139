"""Reading an XML capture safely, telling its EPCIS version and validating 2.0 with GS1's XSD."""

from __future__ import annotations

import codecs
import functools
import re
from pathlib import Path

from lxml import etree

from webapp.epcis.xml.errors import EpcisXmlError

EPCIS_2_NAMESPACE = "urn:epcglobal:epcis:xsd:2"
EPCIS_1_NAMESPACE = "urn:epcglobal:epcis:xsd:1"
XSD_ROOT = Path(__file__).resolve().parents[1] / "gs1_xsd" / "EPCglobal-epcis-2_0.xsd"

#: Largest XML capture read. GS1 leaves the limit to the server (GS1-EPCIS-Capture-Limit).
MAX_EPCIS_XML_BYTES = 10 * 1024 * 1024


def parse_safely(content: bytes) -> etree._Element:
    if not content.strip():
        raise EpcisXmlError("The file is empty.")
    if len(content) > MAX_EPCIS_XML_BYTES:
        raise EpcisXmlError(
            f"The file is larger than {MAX_EPCIS_XML_BYTES // (1024 * 1024)} MiB; "
            "split the events over several captures."
        )
    # Refused before parsing, so an entity bomb costs nothing. The doctype check after parsing
    # is the backstop for encodings the byte check cannot read (libxml2 also caps entity
    # amplification, which turns such a bomb into a syntax error).
    if declares_dtd(content):
        raise EpcisXmlError("DTDs and entity declarations are not accepted in an EPCIS document.")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as error:
        reason = re.sub(r", line \d+, column \d+$", "", error.msg or "")
        raise EpcisXmlError(
            f"The file is not well-formed XML: {reason}", line=error.lineno
        ) from None
    if root.getroottree().docinfo.doctype:
        raise EpcisXmlError("DTDs and entity declarations are not accepted in an EPCIS document.")
    return root


_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


def declares_dtd(content: bytes) -> bool:
    text: bytes | str = content  # ASCII-compatible encodings: the markup is ASCII bytes
    for start, codec in _WIDE_ENCODINGS:
        if content.startswith(start):
            text = content.decode(codec, errors="replace")
            break
    if isinstance(text, str):
        return "<!DOCTYPE" in text or "<!ENTITY" in text
    return b"<!DOCTYPE" in text or b"<!ENTITY" in text


def epcis_version(root: etree._Element) -> str:
    name = etree.QName(root)
    if name.namespace not in (EPCIS_2_NAMESPACE, EPCIS_1_NAMESPACE):
        raise EpcisXmlError(
            f"The root element {name.localname} is in namespace '{name.namespace or ''}', not "
            f"EPCIS 2.0 ({EPCIS_2_NAMESPACE}) or EPCIS 1.2 ({EPCIS_1_NAMESPACE}).",
            line=root.sourceline,
        )
    if name.localname != "EPCISDocument":
        raise EpcisXmlError(
            f"A capture is an EPCISDocument, not {name.localname}.", line=root.sourceline
        )
    version = "2.0" if name.namespace == EPCIS_2_NAMESPACE else "1.2"
    declared = root.get("schemaVersion") or ""
    if declared.split(".")[0] != version[0]:
        raise EpcisXmlError(
            f"schemaVersion '{declared}' does not match the namespace of EPCIS {version}.",
            line=root.sourceline,
        )
    return version


@functools.cache
def _schema_2_0() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_ROOT), parser))


def validate_2_0(root: etree._Element) -> None:
    schema = _schema_2_0()
    if not schema.validate(root):
        error = schema.error_log[0]
        raise EpcisXmlError(
            f"The document does not follow the EPCIS 2.0 XML schema: {error.message}",
            line=error.line,
            path=error.path,
        )
