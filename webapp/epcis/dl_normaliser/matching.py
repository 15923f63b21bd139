"""The reference's regular expressions, compiled once; a value meets only the expressions whose
literal start it has."""

from __future__ import annotations

import functools
import re

_METACHARACTERS = set("\\.^$*+?{}[]|()")
_QUANTIFIERS = set("*+?{")


@functools.cache
def _compiled(pattern: str) -> tuple[str, re.Pattern[str]]:
    text = pattern[1:] if pattern.startswith("^") else pattern
    literal = ""
    for char in text:
        if char in _METACHARACTERS:
            if char in _QUANTIFIERS:
                literal = literal[:-1]
            break
        literal += char
    return literal, re.compile(pattern)


def match(pattern: str, text: str) -> re.Match[str] | None:
    literal, compiled = _compiled(pattern)
    if not text.startswith(literal):
        return None
    return compiled.match(text)
