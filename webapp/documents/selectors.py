"""Reads of documents."""

from __future__ import annotations

from webapp.documents.models import Document
from webapp.organisations.models import Organisation


def pending_document(*, organisation: Organisation, sha256: str) -> Document | None:
    """A document the organisation uploaded, by its SHA-256 (hex, no prefix)."""
    return Document.objects.filter(sha256=sha256.lower(), uploaded_by=organisation).first()
