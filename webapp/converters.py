"""URL path converters. Importing this module registers them."""

from __future__ import annotations

from django.urls import register_converter

from webapp.limits import MAX_ID


class Uint256Converter:
    """An id as the contracts hold it: ASCII digits up to 2**256 - 1 (larger: no such page)."""

    regex = "[0-9]{1,78}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_ID:
            raise ValueError(f"{value} is larger than any id on the chain")
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(Uint256Converter, "uint")
