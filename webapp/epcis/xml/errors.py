"""The one error an XML capture can get."""

from __future__ import annotations


class EpcisXmlError(ValueError):
    """An XML capture that cannot be read; the message says why and, when known, where."""

    def __init__(self, message: str, *, line: int | None = None, path: str | None = None):
        self.reason = message
        self.line = line
        self.path = path
        where = []
        if line:
            where.append(f"line {line}")
        if path:
            where.append(f"at {path}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
