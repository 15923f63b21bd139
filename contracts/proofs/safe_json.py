"""Parse JSON from strangers with a size and a nesting cap.

Python's JSON decoder recurses once per nesting level in C. With the recursion limit raised
(py_ecc, imported by web3, sets it to 100,000), a small file of deeply nested brackets
overflows the C stack and kills the process instead of raising. So the depth is measured
first, by a flat scan that never recurses, and the decoder only sees documents that passed.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: A string literal (an unterminated one runs to the end, so the scan stays linear), or a
#: bracket. Brackets inside strings are skipped with the string.
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)


class JsonRefused(ValueError):
    """The document is not JSON, or is larger or deeper than allowed."""


class JsonTooLarge(JsonRefused):
    pass


def nesting_depth(text: str, *, stop_above: int) -> int:
    """The deepest bracket nesting of `text`; stops counting once it passes `stop_above`."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number.")


def json_loads_bounded(data: bytes | str, *, max_bytes: int, max_depth: int) -> Any:
    """Decode `data` as strict JSON (no NaN or Infinity) if it is at most `max_bytes` long
    and nested at most `max_depth` deep; raise JsonRefused with a readable reason if not."""
    if len(data) > max_bytes:
        raise JsonTooLarge(f"The document is larger than {max_bytes:,} bytes.")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"The document is not UTF-8 text: {exc}.") from None
    else:
        text = data
    if nesting_depth(text, stop_above=max_depth) > max_depth:
        raise JsonRefused(f"The document is nested more than {max_depth} levels deep.")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, JsonRefused):
            raise
        raise JsonRefused(f"The document is not valid JSON: {exc}.") from None
