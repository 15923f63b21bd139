"""The API's JSON parser: DRF's, with a size and a nesting cap (contracts/proofs/safe_json.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from contracts.proofs.safe_json import JsonRefused, JsonTooLarge, json_loads_bounded
from webapp.limits import MAX_JSON_BODY_BYTES, MAX_JSON_BODY_DEPTH


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = f"Request bodies are limited to {MAX_JSON_BODY_BYTES:,} bytes."
    default_code = "payload_too_large"


class BoundedJSONParser(JSONParser):
    """Reads at most MAX_JSON_BODY_BYTES (+1, to tell a larger body) and refuses documents
    nested deeper than MAX_JSON_BODY_DEPTH before the decoder sees them."""

    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            return {}
        data = stream.read(MAX_JSON_BODY_BYTES + 1)
        try:
            return json_loads_bounded(
                data, max_bytes=MAX_JSON_BODY_BYTES, max_depth=MAX_JSON_BODY_DEPTH
            )
        except JsonTooLarge as exc:
            raise PayloadTooLarge() from exc
        except JsonRefused as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}") from None
