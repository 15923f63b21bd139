"""Store uploaded documents by content hash; serve them only while the hash still holds."""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction

from webapp.documents.models import Document
from webapp.organisations.models import Organisation

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


class DocumentAltered(Exception):
    """The stored file no longer matches the hash recorded for it (and on chain)."""


def document_upload(
    *, organisation: Organisation, name: str, content: bytes, content_type: str
) -> Document:
    """Keep a document; the same bytes uploaded twice by one organisation are one record
    (another organisation's upload of them is its own record)."""
    if not content:
        raise ValidationError({"file": ["The file is empty."]})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationError({"file": ["Documents are limited to 20 MB."]})
    digest = hashlib.sha256(content).hexdigest()
    existing = Document.objects.filter(sha256=digest, uploaded_by=organisation).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        document = Document(
            sha256=digest,
            name=name[:255] or "document",
            content_type=content_type or "application/octet-stream",
            size=len(content),
            uploaded_by=organisation,
        )
        document.file.save(f"{digest}", ContentFile(content), save=False)
        document.save()
    return document


def document_read(*, document: Document) -> bytes:
    """The document's bytes, after checking they still hash to the recorded value."""
    with document.file.open("rb") as fh:
        content = fh.read()
    if hashlib.sha256(content).hexdigest() != document.sha256:
        raise DocumentAltered(
            f"{document.name}: the stored file does not match its recorded hash 0x{document.sha256}"
        )
    return content
