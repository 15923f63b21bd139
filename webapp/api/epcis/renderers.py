"""`Accept: application/xml` on the EPCIS events resources: the query answer as an EPCIS 2.0
XML `EPCISQueryDocument` (`webapp.epcis.xml.writer`). The views build the JSON document as
always; this renderer writes it as XML. Anything else they answer (a problem document, an
empty OPTIONS answer) stays JSON, with its JSON content type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer

from webapp.api.problems import PROBLEM
from webapp.epcis.xml.writer import query_document_xml


class EpcisXmlRenderer(BaseRenderer):
    media_type = "application/xml"
    format = "xml"
    charset = None  # the XML declaration names UTF-8

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, dict) and data.get("type") == "EPCISQueryDocument":
            return query_document_xml(data)
        response = (renderer_context or {}).get("response")
        if response is not None and response.get("Content-Type", "").startswith(self.media_type):
            response["Content-Type"] = (
                PROBLEM if response.status_code >= 400 else "application/json"
            )
        return bytes(JSONRenderer().render(data, None, renderer_context))
